/*
 * test_kernels_arm - the aarch64 levels of the kernel table (neon, dotprod)
 * against the scalar level, for every weight type:
 *
 *  - detection and tables: the level the CPU reports (QWQ_EXPECT_SIMD, set
 *    by tests/run.sh for each emulated CPU, names the level it must be),
 *    QWQ_MAX_SIMD honoured, every entry of an ARM table filled and the
 *    ARM kernels actually installed;
 *  - activation quantizers: the bytes of quant.c's for random, extreme,
 *    tie-rounding and non-finite input, n from one block to 27648;
 *  - gemm: within 1e-5 of sum |w * a| of the scalar gemm for many shapes
 *    (n_in from one block to 27648, and 0, unaligned r0 / r1, n_tok 1..17, a y
 *    stride wider than the rows, odd addresses), on random blocks,
 *    extreme blocks (all-ones bits, -128 bytes, huge / subnormal / zero
 *    scales, hand-made activation blocks) and the real blocks of
 *    ../shared/testdata/quant/<type>.gguf; nothing outside [r0, r1) x n_tok
 *    written;
 *  - identical bits whatever the r0 / r1 split and the grouping of tokens
 *    into calls.
 *
 * A level the CPU (or the build: any non-aarch64 host) lacks is skipped
 * (not a missing reference, so not a failure under CI=true); so are the
 * levels above QWQ_MAX_SIMD. tests/run.sh runs this program under
 * qemu-aarch64 for both levels. TEST_VERBOSE=1 prints the worst relative
 * error per type and level.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "harness.h"
#include "kernels/kernels.h"
#include "kernels/qtypes.h"
#include "kernels/quant.h"
#include "util/util.h"

/* ---- helpers ------------------------------------------------------------------ */

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t rnd_u64(void) { /* splitmix64 */
    return test_splitmix64(&rng);
}
static uint32_t rnd_below(uint32_t n) { return (uint32_t)(rnd_u64() % n); }
static double rnd_unit(void) { return (double)(rnd_u64() >> 11) * 0x1p-52 - 1.0; } /* [-1, 1) */
static float rnd_normal(void) {
    double s = 0;
    for (int i = 0; i < 4; i++) s += rnd_unit();
    return (float)(s * 0.8660254);
}

static const uint32_t all_types[] = {QTYPE_Q8_0, QTYPE_Q4_0, QTYPE_Q4_K, QTYPE_Q6_K, QTYPE_Q5_K,
                                     QTYPE_Q5_0, QTYPE_Q4_1, QTYPE_Q5_1, QTYPE_Q2_K, QTYPE_Q3_K,
                                     QTYPE_F16,  QTYPE_BF16, QTYPE_F32};
enum { N_TYPES = sizeof all_types / sizeof all_types[0] };

static const char *tname(uint32_t type) { return qtype_get(type)->name; }
static bool is_float_type(uint32_t t) { return t == QTYPE_F32 || t == QTYPE_F16 || t == QTYPE_BF16; }

/* A level of this test marks a case skipped without the CI rule of
 * test_skip: a CPU without a SIMD level is not a missing reference. */
static void skip_case(const char *why) {
    test_g.case_skipped = 1;
    fprintf(stderr, "SKIP %s: %s\n", test_g.current, why);
}

/* The ARM levels under test: present on this CPU and build, and not above
 * QWQ_MAX_SIMD. */
static const kernel_table *levels[2];
static int n_levels;
static char levels_note[160];

static void find_levels(void) {
    const kernel_table *top = kernels_select(QWQ_SIMD_AUTO); /* honours QWQ_MAX_SIMD */
    n_levels = 0;
    levels_note[0] = 0;
    for (int l = QWQ_SIMD_NEON; l <= QWQ_SIMD_DOTPROD; l++) {
        const kernel_table *t = kernels_level((qwq_simd_level)l);
        if (!t) {
            snprintf(levels_note + strlen(levels_note), sizeof levels_note - strlen(levels_note),
                     "%s absent on this CPU/build; ", kernels_level_name((qwq_simd_level)l));
        } else if (top->level < t->level) {
            snprintf(levels_note + strlen(levels_note), sizeof levels_note - strlen(levels_note),
                     "%s above QWQ_MAX_SIMD; ", kernels_level_name((qwq_simd_level)l));
        } else {
            levels[n_levels++] = t;
        }
    }
}

/* Skips the case when there is nothing to test; true when there is. */
static bool have_levels(void) {
    if (n_levels == 0) {
        skip_case(levels_note);
        return false;
    }
    return true;
}

static const kernel_table *scalar_table(void) { return kernels_level(QWQ_SIMD_SCALAR); }

static size_t row_bytes(uint32_t type, int64_t n) {
    const qtype_info *qi = qtype_get(type);
    return (size_t)n / qi->block_elems * qi->block_bytes;
}

/* ---- weights ------------------------------------------------------------------- */

/* A random f16 scale: normal times 2^[-8, 2], sometimes 0 or negative. */
static uint16_t rnd_scale(void) {
    uint32_t k = rnd_below(40);
    if (k == 0) return 0;
    return fp16_from_f32(rnd_normal() * ldexpf(1.0f, (int)rnd_below(11) - 8));
}

/* Offsets of the f16 scale fields of a block (d, then dmin / m when the
 * type has one); -1 when absent. */
static void scale_fields(uint32_t type, int *d, int *m) {
    const qtype_info *qi = qtype_get(type);
    *d = qi->scale_off[0];
    *m = qi->n_scales > 1 ? qi->scale_off[1] : -1;
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/* Fills n elements of a weight row. kind 0: random bits with sane scales;
 * 1: every bit set (largest nibbles, -1 / -128 bytes) with scale kind
 * chosen per block among huge, subnormal, zero, negative; 2: all zero
 * bits but the scales; 3: one byte pattern per block from a small set. */
static void make_weight_row(uint32_t type, int kind, uint8_t *w, int64_t n) {
    const qtype_info *qi = qtype_get(type);
    size_t bytes = row_bytes(type, n);
    if (is_float_type(type)) {
        for (int64_t i = 0; i < n; i++) {
            float v = rnd_normal();
            if (kind == 1) v *= ldexpf(1.0f, (int)rnd_below(40) - 20);
            if (kind == 2 && rnd_below(4) == 0) v = rnd_below(2) ? 0.0f : -0.0f;
            if (kind == 3) v = (float)((int)rnd_below(17) - 8) * 0.25f;
            if (type == QTYPE_F32) {
                if (kind == 1 && rnd_below(16) == 0) v = ldexpf(v, -130); /* subnormal */
                memcpy(w + 4 * i, &v, 4);
            } else if (type == QTYPE_F16) {
                uint16_t h = fp16_from_f32(v);
                if (kind == 1 && rnd_below(8) == 0) h = (uint16_t)(rnd_below(0x400) | (rnd_below(2) << 15)); /* subnormal */
                if (kind == 1 && rnd_below(16) == 0) h = rnd_below(2) ? 0x7bff : 0xfbff;                  /* +-65504 */
                put16(w + 2 * i, h);
            } else {
                put16(w + 2 * i, bf16_from_f32(v));
            }
        }
        return;
    }
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)rnd_u64();
    if (kind == 1) memset(w, 0xff, bytes);
    if (kind == 2) memset(w, 0, bytes);
    int od, om;
    scale_fields(type, &od, &om);
    static const uint8_t patterns[] = {0x00, 0xff, 0x80, 0x7f, 0x55, 0xaa, 0x0f, 0xf0, 0x88, 0x11};
    for (int64_t b = 0; b < n / qi->block_elems; b++) {
        uint8_t *blk = w + (size_t)b * qi->block_bytes;
        if (kind == 3) memset(blk, patterns[rnd_below(sizeof patterns)], qi->block_bytes);
        uint16_t d = rnd_scale(), m = rnd_scale();
        if (kind == 1) {
            static const uint16_t ext[] = {0x7bff, 0xfbff, 0x0001, 0x8001, 0x0000, 0x3c00, 0xbc00, 0x0400};
            d = ext[rnd_below(8)];
            m = ext[rnd_below(8)];
        }
        put16(blk + od, d);
        if (om >= 0) put16(blk + om, m);
    }
}

/* ---- activations ------------------------------------------------------------------ */

/* Fills an f32 row. kind 0: N(0, 1); 1: with outliers; 2: tiny and
 * subnormal; 3: large; 4: zero blocks among normal ones; 5: ties (x * id
 * lands on k + 0.5 for q8_0 / q8_1 and on the q8_K grid too); 6: equal
 * magnitudes of both signs at the block maximum; 7 (quantizers only):
 * NaN, +-inf, -0 sprinkled, blocks whose f16 scale overflows. */
enum { ACT_KINDS_FINITE = 7, ACT_KINDS = 8 };

static void make_act_row(int kind, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = rnd_normal();
    switch (kind) {
    case 1:
        for (int64_t i = 0; i < n; i++)
            if (rnd_below(50) == 0) x[i] *= 60.0f;
        break;
    case 2:
        for (int64_t i = 0; i < n; i++) x[i] *= rnd_below(3) ? 1e-30f : 1e-41f;
        break;
    case 3:
        for (int64_t i = 0; i < n; i++) x[i] *= 400.0f; /* large; f16 d and q8_1 s stay finite */
        break;
    case 4:
        for (int64_t b = 0; b + 32 <= n; b += 32)
            if (rnd_below(3) == 0) memset(x + b, 0, 32 * sizeof(float));
        break;
    case 5:
        /* blocks of 32 (and 256) with maximum 127 (or -127 first) and
         * the other values k + 0.5: every q is a rounding tie */
        for (int64_t i = 0; i < n; i++) x[i] = (float)((int)rnd_below(254) - 127) + 0.5f;
        for (int64_t b = 0; b + 32 <= n; b += 32) x[b + rnd_below(32)] = (b / 32) % 2 ? 127.0f : -127.0f;
        break;
    case 6:
        for (int64_t b = 0; b + 32 <= n; b += 32) {
            float v = 2.5f + (float)rnd_below(4);
            uint32_t j = rnd_below(32), k = rnd_below(32);
            x[b + j] = (b / 32) % 2 ? v : -v;
            x[b + k] = -x[b + j];
        }
        break;
    case 7: {
        static const float special[] = {NAN, -NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 1e-45f};
        for (int64_t b = 0; b + 32 <= n; b += 32) /* f16 scales that overflow */
            if (rnd_below(4) == 0)
                for (int j = 0; j < 32; j++) x[b + j] *= 1e20f;
        for (int64_t i = 0; i < n; i++)
            if (rnd_below(64) == 0) x[i] = special[rnd_below(7)];
        /* a signalling NaN now and then */
        if (n > 3) {
            uint32_t snan = 0x7f800001u;
            memcpy(&x[rnd_below((uint32_t)n)], &snan, 4);
        }
        break;
    }
    default: break;
    }
}

/* Hand-made activation rows (not a quantizer's output): random int8
 * including -128, random scales, bsums that match or not. */
static void make_raw_act_row(uint32_t wtype, uint8_t *a, int64_t n) {
    uint32_t at = quant_act_type(wtype);
    if (at == QTYPE_F32) {
        float *x = (float *)a;
        for (int64_t i = 0; i < n; i++) x[i] = rnd_normal() * ldexpf(1.0f, (int)rnd_below(20) - 10);
        return;
    }
    if (at == QTYPE_Q8_0 || at == QTYPE_Q8_1) {
        block_q8_1 *b1 = (block_q8_1 *)a;
        block_q8_0 *b0 = (block_q8_0 *)a;
        for (int64_t b = 0; b < n / 32; b++) {
            int8_t *qs = at == QTYPE_Q8_0 ? b0[b].qs : b1[b].qs;
            for (int j = 0; j < 32; j++) qs[j] = rnd_below(8) ? (int8_t)rnd_u64() : -128;
            if (at == QTYPE_Q8_0) b0[b].d = rnd_scale();
            else {
                b1[b].d = rnd_scale();
                b1[b].s = rnd_scale();
            }
        }
        return;
    }
    block_q8_K *k = (block_q8_K *)a;
    for (int64_t b = 0; b < n / QK_K; b++) {
        for (int j = 0; j < QK_K; j++) k[b].qs[j] = rnd_below(8) ? (int8_t)rnd_u64() : -128;
        bool match = rnd_below(2);
        for (int i = 0; i < 16; i++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += k[b].qs[16 * i + l];
            k[b].bsums[i] = match ? (int16_t)s : (int16_t)(int)rnd_below(4097) - 2048;
        }
        k[b].d = rnd_normal() * ldexpf(1.0f, (int)rnd_below(10) - 12);
    }
}

/* ---- comparison of one gemm call with the scalar one ----------------------------- */

typedef struct problem {
    uint32_t type;
    int64_t n_in, n_out;
    int32_t n_tok;
    size_t wrb, arb;
    uint8_t *w, *w_base;    /* n_out rows; w = w_base + 2 (odd 16-bit address) */
    uint8_t *act, *a_base;  /* n_tok rows */
    float *wdeq, *adeq;     /* dequantized, for sum |w * a| */
    double *mag_extra;      /* per (row, token): |m * s| terms of q4_1 / q5_1 */
} problem;

static void problem_free(problem *p) {
    free(p->w_base);
    free(p->a_base);
    free(p->wdeq);
    free(p->adeq);
    free(p->mag_extra);
    memset(p, 0, sizeof *p);
}

/* Allocates a problem; weights and activations are filled by the caller,
 * then problem_prepare() dequantizes them. */
static bool problem_new(problem *p, uint32_t type, int64_t n_in, int64_t n_out, int32_t n_tok) {
    memset(p, 0, sizeof *p);
    p->type = type;
    p->n_in = n_in;
    p->n_out = n_out;
    p->n_tok = n_tok;
    p->wrb = row_bytes(type, n_in);
    p->arb = quant_act_row_size(type, n_in);
    p->w_base = malloc(p->wrb * (size_t)n_out + 16);
    p->a_base = malloc(p->arb * (size_t)n_tok + 16);
    p->wdeq = malloc(sizeof(float) * (size_t)(n_in * n_out));
    p->adeq = malloc(sizeof(float) * (size_t)(n_in * n_tok));
    p->mag_extra = calloc((size_t)(n_out * n_tok), sizeof(double));
    if (!p->w_base || !p->a_base || !p->wdeq || !p->adeq || !p->mag_extra || !p->arb) {
        problem_free(p);
        return false;
    }
    /* 16-bit aligned, not 4: allowed for every type but f32 and q8_K */
    p->w = p->w_base + (type == QTYPE_F32 ? 4 : 2);
    p->act = p->a_base + (quant_act_type(type) == QTYPE_Q8_0 || quant_act_type(type) == QTYPE_Q8_1 ? 2 : 4);
    return true;
}

/* Dequantizes; zeroes weight rows whose values are not finite or beyond
 * 1e30 (random scale bits can make them so). */
static void problem_prepare(problem *p) {
    uint32_t at = quant_act_type(p->type);
    for (int64_t r = 0; r < p->n_out; r++) {
        float *row = p->wdeq + r * p->n_in;
        dequant_row(p->type, p->w + (size_t)r * p->wrb, row, p->n_in);
        bool ok = true;
        for (int64_t i = 0; i < p->n_in; i++) ok &= isfinite(row[i]) && fabsf(row[i]) < 1e30f;
        if (!ok) {
            memset(p->w + (size_t)r * p->wrb, 0, p->wrb);
            dequant_row(p->type, p->w + (size_t)r * p->wrb, row, p->n_in);
        }
    }
    for (int32_t t = 0; t < p->n_tok; t++) {
        const uint8_t *a = p->act + (size_t)t * p->arb;
        if (at == QTYPE_F32) memcpy(p->adeq + t * p->n_in, a, sizeof(float) * (size_t)p->n_in);
        else dequant_row(at, a, p->adeq + t * p->n_in, p->n_in);
    }
    if (at == QTYPE_Q8_1) {
        int om, od;
        scale_fields(p->type, &od, &om);
        const size_t bb = qtype_get(p->type)->block_bytes;
        for (int64_t r = 0; r < p->n_out; r++)
            for (int32_t t = 0; t < p->n_tok; t++) {
                double e = 0;
                for (int64_t b = 0; b < p->n_in / 32; b++) {
                    uint16_t m;
                    memcpy(&m, p->w + (size_t)r * p->wrb + (size_t)b * bb + om, 2);
                    const block_q8_1 *ab = (const block_q8_1 *)(p->act + (size_t)t * p->arb) + b;
                    e += fabs((double)fp16_to_f32(m) * fp16_to_f32(ab->s));
                }
                p->mag_extra[r * p->n_tok + t] = e;
            }
    }
}

static double mag_of(const problem *p, int64_t r, int32_t t) {
    const float *w = p->wdeq + r * p->n_in, *a = p->adeq + t * p->n_in;
    double m = p->mag_extra[r * p->n_tok + t];
    for (int64_t i = 0; i < p->n_in; i++) m += fabs((double)w[i] * a[i]);
    return m;
}

/* Quantizes n_tok rows of x with the scalar quantizer into p->act. */
static void problem_quantize(problem *p, const float *x) {
    for (int32_t t = 0; t < p->n_tok; t++)
        scalar_table()->quantize[p->type](x + t * p->n_in, p->act + (size_t)t * p->arb, p->n_in);
}

static const float SENTINEL = -1234.5f;
static double worst[N_TYPES][2];

static int type_index(uint32_t type) {
    for (int i = 0; i < N_TYPES; i++)
        if (all_types[i] == type) return i;
    return 0;
}

/* |got - want| <= 1e-5 sum |w a|, plus one f32 subnormal quantum per
 * element for float types (the scalar rounds every product to f32). */
static bool within(double got, double want, double mag, int64_t n_in, bool float_type) {
    if (got == want) return true;
    double tol = 1e-5 * mag + (float_type ? (double)n_in * 1.5e-45 : 0.0);
    return fabs(got - want) <= tol;
}

/* gemm of rows [r0, r1) and tokens [0, n_tok) at every level under test
 * against the scalar gemm; y has stride n_out + 3 and must keep the
 * sentinel everywhere else. Returns the number of mismatches. */
static int check_gemm(const problem *p, int64_t r0, int64_t r1, int32_t n_tok, const char *what) {
    const int64_t ys = p->n_out + 3;
    const size_t ny = (size_t)(ys * (n_tok + 1));
    float *want = malloc(ny * sizeof(float)), *got = malloc(ny * sizeof(float));
    int bad = 0;
    if (!want || !got) {
        test_fail_at(__FILE__, __LINE__, "out of memory");
        free(want);
        free(got);
        return 1;
    }
    for (size_t i = 0; i < ny; i++) want[i] = SENTINEL;
    scalar_table()->gemm[p->type](p->w, p->wrb, p->act, p->arb, p->n_in, r0, r1, n_tok, want, ys);
    const bool ft = is_float_type(p->type);
    for (int l = 0; l < n_levels; l++) {
        const kernel_table *k = levels[l];
        for (size_t i = 0; i < ny; i++) got[i] = SENTINEL;
        k->gemm[p->type](p->w, p->wrb, p->act, p->arb, p->n_in, r0, r1, n_tok, got, ys);
        for (int32_t t = 0; t <= n_tok; t++) {
            for (int64_t r = 0; r < ys; r++) {
                const size_t i = (size_t)(t * ys + r);
                const bool inside = t < n_tok && r >= r0 && r < r1;
                if (!inside) {
                    if (memcmp(&got[i], &SENTINEL, sizeof(float)) != 0 && bad++ < 3)
                        test_fail_at(__FILE__, __LINE__, "%s %s %s: wrote y[%d][%" PRId64 "] outside rows [%" PRId64
                                     ", %" PRId64 ") x %d tokens",
                                     tname(p->type), k->name, what, t, r, r0, r1, n_tok);
                    continue;
                }
                const double mag = mag_of(p, r, t);
                if (!within(got[i], want[i], mag, p->n_in, ft)) {
                    if (bad++ < 3)
                        test_fail_at(__FILE__, __LINE__,
                                     "%s %s %s n_in %" PRId64 " row %" PRId64 " token %d: %.9g, scalar %.9g, "
                                     "sum|w*a| %.3g (rel %.3g)",
                                     tname(p->type), k->name, what, p->n_in, r, t, (double)got[i], (double)want[i],
                                     mag, mag > 0 ? fabs(got[i] - want[i]) / mag : INFINITY);
                } else if (mag > 0) {
                    double rel = fabs(got[i] - want[i]) / mag;
                    double *wr = &worst[type_index(p->type)][k->level == QWQ_SIMD_DOTPROD];
                    if (rel > *wr) *wr = rel;
                }
            }
        }
    }
    free(want);
    free(got);
    return bad;
}

/* ---- cases ------------------------------------------------------------------------- */

/* The level detected and selected; the tables complete, with ARM kernels
 * in them. */
static void test_detection_and_tables(void) {
    const char *expect = getenv("QWQ_EXPECT_SIMD");
    qwq_simd_level cpu = kernels_detect();
    if (expect && *expect)
        CHECKF(strcmp(kernels_level_name(cpu), expect) == 0, "detected %s, expected %s (QWQ_EXPECT_SIMD)",
               kernels_level_name(cpu), expect);
#if defined(__aarch64__)
    CHECK(cpu == QWQ_SIMD_NEON || cpu == QWQ_SIMD_DOTPROD);
    const kernel_table *neon = kernels_level(QWQ_SIMD_NEON), *dp = kernels_level(QWQ_SIMD_DOTPROD);
    CHECKF(neon != NULL, "no neon table on aarch64 (lib/kernels/arm not built?)");
    CHECKF((dp != NULL) == (cpu == QWQ_SIMD_DOTPROD), "dotprod table %s, CPU level %s", dp ? "present" : "absent",
           kernels_level_name(cpu));
    const char *cap = getenv("QWQ_MAX_SIMD");
    const kernel_table *sel = kernels_select(QWQ_SIMD_AUTO);
    if (cap && strcmp(cap, "neon") == 0) CHECKF(sel->level == QWQ_SIMD_NEON, "QWQ_MAX_SIMD=neon selected %s", sel->name);
    else if (cap && strcmp(cap, "scalar") == 0) CHECK(sel->level == QWQ_SIMD_SCALAR);
    else if (!cap || !*cap) CHECKF(sel->level == cpu, "selected %s on a %s CPU", sel->name, kernels_level_name(cpu));
    CHECK(kernels_select(QWQ_SIMD_NEON)->level == QWQ_SIMD_NEON);
    CHECK(kernels_select(QWQ_SIMD_AVX512)->level == QWQ_SIMD_SCALAR); /* a cap from the other family */
#else
    CHECK(kernels_level(QWQ_SIMD_NEON) == NULL && kernels_level(QWQ_SIMD_DOTPROD) == NULL);
#endif
    if (n_levels == 0) return; /* nothing more to check (see test_arm_levels) */
    const kernel_table *s = scalar_table();
    for (int l = 0; l < n_levels; l++) {
        const kernel_table *k = levels[l];
        CHECK(strcmp(k->name, kernels_level_name(k->level)) == 0);
        const kernel_table *below = k->level == QWQ_SIMD_DOTPROD ? kernels_level(QWQ_SIMD_NEON) : s;
        for (int i = 0; i < N_TYPES; i++) {
            uint32_t t = all_types[i];
            CHECKF(k->gemm[t] && k->quantize[t], "%s: %s entry missing", k->name, tname(t));
            /* every type has its own gemm at neon; dotprod replaces the
             * integer ones */
            if (k->level == QWQ_SIMD_NEON || !is_float_type(t))
                CHECKF(k->gemm[t] != below->gemm[t], "%s: %s gemm is the level below's", k->name, tname(t));
            if (k->level == QWQ_SIMD_NEON && !is_float_type(t))
                CHECKF(k->quantize[t] != s->quantize[t], "%s: %s quantizer is the scalar one", k->name, tname(t));
        }
        /* and nothing for types without kernels */
        for (uint32_t t = 0; t < QTYPE_COUNT; t++)
            if (!quant_kernels_scalar(t)) CHECKF(!k->gemm[t] && !k->quantize[t], "%s: entry for type %u", k->name, t);
    }
}

/* Quantizer bytes identical to the scalar ones. */
static void test_quantizers_bytes(void) {
    if (!have_levels()) return;
    static const int64_t sizes[] = {256, 512, 768, 1024, 2816, 5120, 27648};
    const int64_t max_n = 27648;
    float *x = malloc(sizeof(float) * max_n);
    uint8_t *want = malloc((size_t)max_n * 4 + 64), *got = malloc((size_t)max_n * 4 + 64);
    REQUIRE(x && want && got);
    int diffs = 0;
    for (int l = 0; l < n_levels; l++) {
        for (int i = 0; i < N_TYPES; i++) {
            const uint32_t t = all_types[i];
            for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
                for (int kind = 0; kind < ACT_KINDS; kind++) {
                    /* all kinds at the small sizes, two at the large ones */
                    if (sizes[si] > 1024 && kind % 4 != (int)si % 4) continue;
                    const int64_t n = sizes[si];
                    const size_t bytes = quant_act_row_size(t, n);
                    make_act_row(kind, x, n);
                    memset(want, 0xa5, bytes + 16);
                    memset(got, 0x5a, bytes + 16);
                    scalar_table()->quantize[t](x, want, n);
                    levels[l]->quantize[t](x, got, n);
                    if (memcmp(want, got, bytes) != 0) {
                        size_t at = 0;
                        while (want[at] == got[at]) at++;
                        if (diffs++ < 5)
                            test_fail_at(__FILE__, __LINE__,
                                         "%s quantizer for %s, n %" PRId64 ", input kind %d: byte %zu is %02x, "
                                         "scalar %02x",
                                         levels[l]->name, tname(t), n, kind, at, got[at], want[at]);
                    }
                    for (int j = 0; j < 16; j++)
                        if (got[bytes + (size_t)j] != 0x5a && diffs++ < 5)
                            test_fail_at(__FILE__, __LINE__, "%s quantizer for %s wrote past %zu bytes",
                                         levels[l]->name, tname(t), bytes);
                }
            }
        }
        /* one block, each activation type, many inputs */
        for (int rep = 0; rep < 300; rep++) {
            const uint32_t t = (uint32_t[]){QTYPE_Q8_0, QTYPE_Q4_1, QTYPE_Q4_K}[rep % 3];
            const int64_t n = t == QTYPE_Q4_K ? 256 : 32;
            make_act_row(rep / 3 % ACT_KINDS, x, n);
            if (rep % 7 == 0) x[rnd_below((uint32_t)n)] = 0.0f;
            if (rep % 11 == 0) memset(x, 0, sizeof(float) * (size_t)n);
            const size_t bytes = quant_act_row_size(t, n);
            scalar_table()->quantize[t](x, want, n);
            levels[l]->quantize[t](x, got, n);
            if (memcmp(want, got, bytes) != 0 && diffs++ < 5)
                test_fail_at(__FILE__, __LINE__, "%s quantizer for %s: one-block input %d differs", levels[l]->name,
                             tname(t), rep);
        }
    }
    CHECKF(diffs == 0, "%d quantized rows differ from the scalar bytes", diffs);
    free(x);
    free(want);
    free(got);
}

/* The n_in of the shape tests, in elements, for a type. */
static int shape_list(uint32_t type, int64_t *out) {
    static const int64_t k_sizes[] = {256, 512, 768, 1280, 3584, 5120, 27648};
    static const int64_t b_sizes[] = {32, 64, 96, 160, 256, 1024, 3584, 27648};
    static const int64_t f_sizes[] = {1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 33, 100, 127, 128, 129, 255, 257, 1000, 3584, 27648};
    const int64_t *s;
    int n;
    if (is_float_type(type)) { s = f_sizes; n = sizeof f_sizes / sizeof *f_sizes; }
    else if (qtype_get(type)->block_elems == QK_K) { s = k_sizes; n = sizeof k_sizes / sizeof *k_sizes; }
    else { s = b_sizes; n = sizeof b_sizes / sizeof *b_sizes; }
    memcpy(out, s, sizeof(int64_t) * (size_t)n);
    return n;
}

/* Many shapes: n_in per shape_list, rows and tokens scaled so that each
 * shape is about the same work; r0 / r1 unaligned; n_tok 1..17. */
static void check_type_shapes(uint32_t type) {
    if (!have_levels()) return;
    int64_t sizes[32];
    int ns = shape_list(type, sizes);
    int bad = 0;
    for (int si = 0; si < ns && bad == 0; si++) {
        const int64_t n_in = sizes[si];
        /* ~ 300k multiply-adds per (shape, level) */
        int64_t rows_x_tok = 300000 / n_in;
        if (rows_x_tok < 4) rows_x_tok = 4;
        int32_t n_tok = si == 1 ? 17 : 1 + (int32_t)((si * 5 + (int)type) % 17);
        if (n_tok > rows_x_tok) n_tok = (int32_t)(rows_x_tok > 17 ? 17 : rows_x_tok);
        if (n_in >= 27648) n_tok = 1 + si % 3;
        int64_t n_out = rows_x_tok / n_tok + 3;
        if (n_out > 100) n_out = 100;
        problem p;
        REQUIRE(problem_new(&p, type, n_in, n_out, n_tok));
        float *x = malloc(sizeof(float) * (size_t)(n_in * n_tok));
        REQUIRE(x);
        for (int64_t r = 0; r < n_out; r++) make_weight_row(type, r % 7 == 6 ? 3 : 0, p.w + (size_t)r * p.wrb, n_in);
        for (int32_t t = 0; t < n_tok; t++) make_act_row(t % ACT_KINDS_FINITE, x + t * n_in, n_in);
        problem_quantize(&p, x);
        problem_prepare(&p);
        /* the whole matrix, then unaligned row ranges with fewer tokens */
        char what[64];
        snprintf(what, sizeof what, "rows [0, %" PRId64 ")", n_out);
        bad += check_gemm(&p, 0, n_out, n_tok, what);
        int64_t r0 = 1 + rnd_below((uint32_t)(n_out / 2)), r1 = r0 + 1 + rnd_below((uint32_t)(n_out - r0));
        snprintf(what, sizeof what, "rows [%" PRId64 ", %" PRId64 ")", r0, r1);
        bad += check_gemm(&p, r0, r1, 1 + (int32_t)rnd_below((uint32_t)n_tok), what);
        /* the second shape: every n_tok from 1 to 17, each on its own
         * unaligned row range */
        for (int32_t nt = 1; si == 1 && nt <= n_tok; nt++) {
            r0 = rnd_below((uint32_t)n_out);
            r1 = r0 + 1 + rnd_below((uint32_t)(n_out - r0));
            snprintf(what, sizeof what, "rows [%" PRId64 ", %" PRId64 "), %d tokens", r0, r1, nt);
            bad += check_gemm(&p, r0, r1, nt, what);
        }
        free(x);
        problem_free(&p);
    }
    if (getenv("TEST_VERBOSE")) {
        for (int l = 0; l < n_levels; l++)
            fprintf(stderr, "  %-5s %-7s worst |diff| / sum|w*a| = %.3g\n", tname(type), levels[l]->name,
                    worst[type_index(type)][levels[l]->level == QWQ_SIMD_DOTPROD]);
    }
}

#define TYPE_CASE(T) \
    static void test_gemm_shapes_##T(void) { check_type_shapes(QTYPE_##T); }
TYPE_CASE(Q8_0)
TYPE_CASE(Q4_0)
TYPE_CASE(Q4_K)
TYPE_CASE(Q6_K)
TYPE_CASE(Q5_K)
TYPE_CASE(Q5_0)
TYPE_CASE(Q4_1)
TYPE_CASE(Q5_1)
TYPE_CASE(Q2_K)
TYPE_CASE(Q3_K)
TYPE_CASE(F16)
TYPE_CASE(BF16)
TYPE_CASE(F32)

/* Extreme weight blocks (every bit set, all zero, byte patterns, huge /
 * subnormal / zero / negative scales) against hand-made activation blocks
 * (int8 -128, random scales, bsums that do not match qs) and quantizer
 * output of extreme input. */
static void test_gemm_extreme_blocks(void) {
    if (!have_levels()) return;
    int bad = 0;
    for (int i = 0; i < N_TYPES; i++) {
        const uint32_t type = all_types[i];
        const int64_t n_in = is_float_type(type) ? 515 : 2 * (int64_t)qtype_get(type)->block_elems * 3;
        const int64_t n_out = 12;
        const int32_t n_tok = 6;
        problem p;
        REQUIRE(problem_new(&p, type, n_in, n_out, n_tok));
        for (int64_t r = 0; r < n_out; r++) make_weight_row(type, 1 + r % 3, p.w + (size_t)r * p.wrb, n_in);
        float *x = malloc(sizeof(float) * (size_t)(n_in * n_tok));
        REQUIRE(x);
        for (int32_t t = 0; t < n_tok; t++) make_act_row(t % 2 ? 3 : 2, x + t * n_in, n_in);
        problem_quantize(&p, x);
        for (int32_t t = 0; t < n_tok; t += 2) make_raw_act_row(type, p.act + (size_t)t * p.arb, n_in);
        problem_prepare(&p);
        bad += check_gemm(&p, 0, n_out, n_tok, "extreme blocks");
        bad += check_gemm(&p, 3, 7, 5, "extreme blocks, rows [3, 7)");
        free(x);
        problem_free(&p);
    }
    CHECK(bad == 0);
}

/* The same bits whatever the row split and the grouping of tokens. */
static void test_gemm_split_invariance(void) {
    if (!have_levels()) return;
    for (int i = 0; i < N_TYPES; i++) {
        const uint32_t type = all_types[i];
        const int64_t n_in = is_float_type(type) ? 301 : (int64_t)qtype_get(type)->block_elems * 3;
        const int64_t n_out = 37, ys = n_out;
        const int32_t n_tok = 17;
        problem p;
        REQUIRE(problem_new(&p, type, n_in, n_out, n_tok));
        for (int64_t r = 0; r < n_out; r++) make_weight_row(type, 0, p.w + (size_t)r * p.wrb, n_in);
        float *x = malloc(sizeof(float) * (size_t)(n_in * n_tok));
        float *full = malloc(sizeof(float) * (size_t)(ys * n_tok)), *part = malloc(sizeof(float) * (size_t)(ys * n_tok));
        REQUIRE(x && full && part);
        for (int32_t t = 0; t < n_tok; t++) make_act_row(t % ACT_KINDS_FINITE, x + t * n_in, n_in);
        problem_quantize(&p, x);
        problem_prepare(&p);
        for (int l = 0; l < n_levels; l++) {
            const gemm_fn g = levels[l]->gemm[type];
            g(p.w, p.wrb, p.act, p.arb, n_in, 0, n_out, n_tok, full, ys);
            for (int variant = 0; variant < 6; variant++) {
                for (int64_t k = 0; k < ys * n_tok; k++) part[k] = SENTINEL;
                /* rows in random pieces (variant 0: one row at a time) and
                 * tokens in random groups (variant 1: one at a time) */
                int64_t r0 = 0;
                while (r0 < n_out) {
                    int64_t r1 = variant == 0 ? r0 + 1 : r0 + 1 + rnd_below(variant < 3 ? 20 : 7);
                    if (r1 > n_out) r1 = n_out;
                    int32_t t0 = 0;
                    while (t0 < n_tok) {
                        int32_t nt = variant == 1 ? 1 : 1 + (int32_t)rnd_below(variant % 2 ? 6 : 17);
                        if (t0 + nt > n_tok) nt = n_tok - t0;
                        g(p.w, p.wrb, p.act + (size_t)t0 * p.arb, p.arb, n_in, r0, r1, nt, part + t0 * ys, ys);
                        t0 += nt;
                    }
                    r0 = r1;
                }
                CHECKF(memcmp(full, part, sizeof(float) * (size_t)(ys * n_tok)) == 0,
                       "%s %s: split variant %d gives other bits", tname(type), levels[l]->name, variant);
            }
        }
        free(x);
        free(full);
        free(part);
        problem_free(&p);
    }
}

/* n_in = 0: every (row, token) of the range is 0, as at the scalar level. */
static void test_gemm_empty_rows(void) {
    if (!have_levels()) return;
    static const uint8_t none[64];
    for (int i = 0; i < N_TYPES; i++) {
        const uint32_t type = all_types[i];
        float want[6 * 9], got[6 * 9];
        for (int k = 0; k < 6 * 9; k++) want[k] = SENTINEL;
        scalar_table()->gemm[type](none, 0, none, 0, 0, 2, 7, 5, want, 9);
        for (int l = 0; l < n_levels; l++) {
            for (int k = 0; k < 6 * 9; k++) got[k] = SENTINEL;
            levels[l]->gemm[type](none, 0, none, 0, 0, 2, 7, 5, got, 9);
            CHECKF(memcmp(want, got, sizeof got) == 0, "%s %s: n_in 0 differs from scalar", tname(type),
                   levels[l]->name);
        }
    }
}

/* The real blocks of ../shared/testdata/quant/<type>.gguf: w (16 rows of
 * 1024) against a and the 16 rows of x as 17 tokens, quantized by the
 * level (bytes as the scalar's) and multiplied. */
static void check_testdata(const char *file, uint32_t type) {
    char path[1024], rel[128];
    snprintf(rel, sizeof rel, "quant/%s", file);
    if (!testdata_path(path, sizeof path, rel)) return; /* a missing reference: test_skip's rule */
    if (!have_levels()) return;
    gguf_file *f = NULL;
    if (gguf_open(path, &f) != QWQ_OK) {
        test_fail_at(__FILE__, __LINE__, "gguf_open(%s): %s", path, err_message());
        return;
    }
    const gguf_tensor *tw = gguf_find_tensor(f, "w"), *tx = gguf_find_tensor(f, "x"), *ta = gguf_find_tensor(f, "a");
    if (!tw || !tx || !ta || tw->type != type || tw->ne[0] != 1024 || tw->ne[1] != 16 || tx->type != QTYPE_F32 ||
        tx->ne[0] != 1024 || tx->ne[1] != 16 || ta->type != QTYPE_F32 || ta->ne[0] != 1024) {
        test_fail_at(__FILE__, __LINE__, "%s: tensors w / x / a missing or of another shape", path);
        gguf_close(f);
        return;
    }
    const int64_t n_in = 1024, n_out = 16;
    const int32_t n_tok = 17;
    problem p;
    REQUIRE(problem_new(&p, type, n_in, n_out, n_tok));
    memcpy(p.w, tw->data, p.wrb * (size_t)n_out);
    float *x = malloc(sizeof(float) * (size_t)(n_in * n_tok));
    uint8_t *mine = malloc(p.arb);
    REQUIRE(x && mine);
    memcpy(x, ta->data, sizeof(float) * (size_t)n_in);
    memcpy(x + n_in, tx->data, sizeof(float) * (size_t)(n_in * 16));
    problem_quantize(&p, x);
    for (int l = 0; l < n_levels; l++)
        for (int32_t t = 0; t < n_tok; t++) {
            levels[l]->quantize[type](x + t * n_in, mine, n_in);
            CHECKF(memcmp(mine, p.act + (size_t)t * p.arb, p.arb) == 0, "%s %s: quantized activation %d differs",
                   levels[l]->name, file, t);
        }
    problem_prepare(&p);
    int bad = check_gemm(&p, 0, n_out, n_tok, "testdata");
    bad += check_gemm(&p, 5, 13, 3, "testdata rows [5, 13)");
    CHECK(bad == 0);
    free(x);
    free(mine);
    problem_free(&p);
    gguf_close(f);
}

#define FILE_CASE(name, file, T) \
    static void test_testdata_##name(void) { check_testdata(file, T); }
FILE_CASE(q8_0, "q8_0.gguf", QTYPE_Q8_0)
FILE_CASE(q4_0, "q4_0.gguf", QTYPE_Q4_0)
FILE_CASE(q4_K, "q4_k.gguf", QTYPE_Q4_K)
FILE_CASE(q6_K, "q6_k.gguf", QTYPE_Q6_K)
FILE_CASE(q5_K, "q5_k.gguf", QTYPE_Q5_K)
FILE_CASE(q5_0, "q5_0.gguf", QTYPE_Q5_0)
FILE_CASE(q4_1, "q4_1.gguf", QTYPE_Q4_1)
FILE_CASE(q5_1, "q5_1.gguf", QTYPE_Q5_1)
FILE_CASE(q2_K, "q2_k.gguf", QTYPE_Q2_K)
FILE_CASE(q3_K, "q3_k.gguf", QTYPE_Q3_K)
FILE_CASE(f16, "f16.gguf", QTYPE_F16)
FILE_CASE(bf16, "bf16.gguf", QTYPE_BF16)

/* The comparison itself can fail: a result moved by twice the tolerance is
 * caught, one moved by half of it is not. */
static void test_checker_can_fail(void) {
    CHECK(within(1.0, 1.0, 0.0, 32, false));
    CHECK(!within(1.0 + 2e-5, 1.0, 1.0, 32, false));
    CHECK(within(1.0 + 0.5e-5, 1.0, 1.0, 32, false));
    CHECK(!within(1e-30, 0.0, 0.0, 32, false));
    CHECK(!within(NAN, 1.0, 1.0, 32, false));
}

/* Stands for all the cases below on a CPU without ARM levels. */
static void test_arm_levels(void) { (void)have_levels(); }

int main(void) {
    find_levels();
    RUN(test_checker_can_fail);
    RUN(test_detection_and_tables);
    if (n_levels == 0) {
        RUN(test_arm_levels);
        return test_summary();
    }
    fprintf(stderr, "kernels_arm: testing");
    for (int l = 0; l < n_levels; l++) fprintf(stderr, " %s", levels[l]->name);
    fprintf(stderr, " against scalar%s%s\n", levels_note[0] ? "; " : "", levels_note);
    RUN(test_quantizers_bytes);
    RUN(test_gemm_shapes_Q8_0);
    RUN(test_gemm_shapes_Q4_0);
    RUN(test_gemm_shapes_Q4_K);
    RUN(test_gemm_shapes_Q6_K);
    RUN(test_gemm_shapes_Q5_K);
    RUN(test_gemm_shapes_Q5_0);
    RUN(test_gemm_shapes_Q4_1);
    RUN(test_gemm_shapes_Q5_1);
    RUN(test_gemm_shapes_Q2_K);
    RUN(test_gemm_shapes_Q3_K);
    RUN(test_gemm_shapes_F16);
    RUN(test_gemm_shapes_BF16);
    RUN(test_gemm_shapes_F32);
    RUN(test_gemm_extreme_blocks);
    RUN(test_gemm_split_invariance);
    RUN(test_gemm_empty_rows);
    RUN(test_testdata_q8_0);
    RUN(test_testdata_q4_0);
    RUN(test_testdata_q4_K);
    RUN(test_testdata_q6_K);
    RUN(test_testdata_q5_K);
    RUN(test_testdata_q5_0);
    RUN(test_testdata_q4_1);
    RUN(test_testdata_q5_1);
    RUN(test_testdata_q2_K);
    RUN(test_testdata_q3_K);
    RUN(test_testdata_f16);
    RUN(test_testdata_bf16);
    return test_summary();
}
