#include "kernels/kernels.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/quant.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

/* ---- the scalar reference gemm: quant.c's dot products -------------------- */

static void gemm_scalar(uint32_t type, const uint8_t *w, size_t w_row_bytes, const uint8_t *act,
                        size_t act_row_bytes, int64_t n_in, int64_t r0, int64_t r1, int32_t n_tok, float *y,
                        int64_t y_stride) {
    quant_dot_fn dot = quant_kernels_scalar(type)->dot;
    for (int64_t r = r0; r < r1; r++)
        for (int32_t t = 0; t < n_tok; t++)
            y[t * y_stride + r] = dot(w + (size_t)r * w_row_bytes, act + (size_t)t * act_row_bytes, n_in);
}

#define SCALAR_GEMM(T)                                                                                    \
    static void gemm_scalar_##T(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, \
                                int64_t r0, int64_t r1, int32_t n_tok, float *y, int64_t ys) {             \
        gemm_scalar(QTYPE_##T, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);                             \
    }
SCALAR_GEMM(F32)
SCALAR_GEMM(F16)
SCALAR_GEMM(BF16)
SCALAR_GEMM(Q4_0)
SCALAR_GEMM(Q4_1)
SCALAR_GEMM(Q5_0)
SCALAR_GEMM(Q5_1)
SCALAR_GEMM(Q8_0)
SCALAR_GEMM(Q2_K)
SCALAR_GEMM(Q3_K)
SCALAR_GEMM(Q4_K)
SCALAR_GEMM(Q5_K)
SCALAR_GEMM(Q6_K)

void kernels_fill_scalar(kernel_table *t) {
    memset(t, 0, sizeof *t);
    t->level = QWQ_SIMD_SCALAR;
    t->name = "scalar";
#define SET(T)                                                               \
    t->gemm[QTYPE_##T] = gemm_scalar_##T;                                    \
    t->quantize[QTYPE_##T] = quant_kernels_scalar(QTYPE_##T)->quantize_act;
    SET(F32) SET(F16) SET(BF16) SET(Q4_0) SET(Q4_1) SET(Q5_0) SET(Q5_1) SET(Q8_0)
    SET(Q2_K) SET(Q3_K) SET(Q4_K) SET(Q5_K) SET(Q6_K)
#undef SET
    t->attention = attn_scalar;
    t->attention_part = attn_part_scalar;
    t->attention_merge = attn_merge_scalar;
    t->swiglu = ops_swiglu;
}

/* ---- detection ------------------------------------------------------------- */

#if defined(__x86_64__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

qwq_simd_level kernels_detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return QWQ_SIMD_SCALAR;
    bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29), avx = c & (1u << 28);
    if (!osxsave || !avx) return QWQ_SIMD_SCALAR;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 6) != 6) return QWQ_SIMD_SCALAR; /* the OS saves SSE and AVX state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return QWQ_SIMD_SCALAR;
    bool avx2 = b & (1u << 5);
    if (!(avx2 && fma && f16c)) return QWQ_SIMD_SCALAR;
    bool avx512 = (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) && (b & (1u << 31)) /* F DQ BW VL */
                  && (c & (1u << 11))                                                            /* VNNI */
                  && (xcr0 & 0xe6) == 0xe6; /* the OS saves opmask and ZMM state */
    /* not AVX512-BF16: no kernel uses it (kernels_avx512.c says why), and
     * asking for it turned away Ice Lake and Cascade Lake */
    return avx512 ? QWQ_SIMD_AVX512 : QWQ_SIMD_AVX2;
}

bool kernels_cpu_avxvnni(void) {
    unsigned a, b, c, d;
    if (kernels_detect() < QWQ_SIMD_AVX2) return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || a < 1) return false; /* leaf 7's last sub-leaf */
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
    return a & (1u << 4);
}
#elif defined(__aarch64__)
qwq_simd_level kernels_detect(void) {
#if defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) ? QWQ_SIMD_DOTPROD : QWQ_SIMD_NEON;
#else
    return QWQ_SIMD_NEON;
#endif
}
#else
qwq_simd_level kernels_detect(void) { return QWQ_SIMD_SCALAR; }
#endif

const char *kernels_level_name(qwq_simd_level level) {
    switch (level) {
    case QWQ_SIMD_SCALAR: return "scalar";
    case QWQ_SIMD_AVX2: return "avx2";
    case QWQ_SIMD_AVX512: return "avx512";
    case QWQ_SIMD_NEON: return "neon";
    case QWQ_SIMD_DOTPROD: return "dotprod";
    default: return "auto";
    }
}

/* ---- tables ------------------------------------------------------------------ */

/* The tables are built on first use and never change afterwards; building
 * them twice from two threads writes the same bytes, and pthread_once
 * makes even that impossible. */
#include <pthread.h>

static kernel_table tables[QWQ_SIMD_DOTPROD + 1];
static bool table_built[QWQ_SIMD_DOTPROD + 1];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
    kernels_fill_scalar(&tables[QWQ_SIMD_SCALAR]);
    table_built[QWQ_SIMD_SCALAR] = true;
    qwq_simd_level cpu = kernels_detect();
    (void)cpu;
#if defined(__x86_64__) && defined(QWQ_HAVE_AVX2_KERNELS)
    if (cpu >= QWQ_SIMD_AVX2 && cpu <= QWQ_SIMD_AVX512) {
        tables[QWQ_SIMD_AVX2] = tables[QWQ_SIMD_SCALAR];
        kernels_fill_avx2(&tables[QWQ_SIMD_AVX2]);
        /* same bits, faster where the CPU has it; QWQ_AVXVNNI=0 for A/B runs */
        const char *vnni = getenv("QWQ_AVXVNNI");
        if (kernels_cpu_avxvnni() && !(vnni && strcmp(vnni, "0") == 0)) kernels_fill_avxvnni(&tables[QWQ_SIMD_AVX2]);
        tables[QWQ_SIMD_AVX2].level = QWQ_SIMD_AVX2;
        tables[QWQ_SIMD_AVX2].name = "avx2";
        table_built[QWQ_SIMD_AVX2] = true;
    }
#endif
#if defined(__x86_64__) && defined(QWQ_HAVE_AVX2_KERNELS) && defined(QWQ_HAVE_AVX512_KERNELS)
    if (cpu == QWQ_SIMD_AVX512) {
        tables[QWQ_SIMD_AVX512] = tables[QWQ_SIMD_AVX2];
        kernels_fill_avx512(&tables[QWQ_SIMD_AVX512]);
        tables[QWQ_SIMD_AVX512].level = QWQ_SIMD_AVX512;
        tables[QWQ_SIMD_AVX512].name = "avx512";
        table_built[QWQ_SIMD_AVX512] = true;
    }
#endif
#if defined(__aarch64__) && defined(QWQ_HAVE_ARM_KERNELS)
    tables[QWQ_SIMD_NEON] = tables[QWQ_SIMD_SCALAR];
    kernels_fill_neon(&tables[QWQ_SIMD_NEON]);
    tables[QWQ_SIMD_NEON].level = QWQ_SIMD_NEON;
    tables[QWQ_SIMD_NEON].name = "neon";
    table_built[QWQ_SIMD_NEON] = true;
    if (cpu == QWQ_SIMD_DOTPROD) {
        tables[QWQ_SIMD_DOTPROD] = tables[QWQ_SIMD_NEON];
        kernels_fill_dotprod(&tables[QWQ_SIMD_DOTPROD]);
        tables[QWQ_SIMD_DOTPROD].level = QWQ_SIMD_DOTPROD;
        tables[QWQ_SIMD_DOTPROD].name = "dotprod";
        table_built[QWQ_SIMD_DOTPROD] = true;
    }
#endif
}

const kernel_table *kernels_level(qwq_simd_level level) {
    pthread_once(&tables_once, build_tables);
    if (level < QWQ_SIMD_SCALAR || level > QWQ_SIMD_DOTPROD || !table_built[level]) return NULL;
    return &tables[level];
}

static qwq_simd_level env_cap(void) {
    const char *e = getenv("QWQ_MAX_SIMD");
    if (!e || !*e) return QWQ_SIMD_AUTO;
    for (int l = QWQ_SIMD_SCALAR; l <= QWQ_SIMD_DOTPROD; l++)
        if (strcmp(e, kernels_level_name((qwq_simd_level)l)) == 0) return (qwq_simd_level)l;
    return QWQ_SIMD_AUTO;
}

const kernel_table *kernels_select(qwq_simd_level max) {
    if (max == QWQ_SIMD_AUTO) max = env_cap();
    int top = max == QWQ_SIMD_AUTO ? QWQ_SIMD_DOTPROD : max;
    /* x86 levels are 1-2 and arm 3-4: a cap from the other family means
     * the best of this one below it */
    for (int l = top; l > QWQ_SIMD_SCALAR; l--) {
        const kernel_table *t = kernels_level((qwq_simd_level)l);
        if (t) return t;
    }
    return kernels_level(QWQ_SIMD_SCALAR);
}
