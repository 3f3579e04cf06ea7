/*
 * test_kernels_avx2 - the AVX2 level of the kernel table against the scalar
 * level (lib/kernels/x86/x86_avx2.h).
 *
 *  - Activation quantizers: the same bytes as the scalar ones, for normal,
 *    tie-heavy, tiny, huge, zero, signed-zero, inf and NaN inputs.
 *  - gemm of every type over many shapes (n_in from one block to 27648,
 *    odd row counts, 1..17 and 64 tokens) on random blocks with extreme
 *    f16 scales and zero blocks: within 1e-5 of sum |w * a| of the scalar
 *    gemm (types with minimums: plus the minimums' products, harness.h),
 *    and for Q2_K, Q3_K and Q6_K the scalar's bits exactly (their tiles
 *    keep quant_dot.c's per-block f32 arithmetic; the other quantized
 *    types sum per lane and chunk, gemm_lane.h, lane_type);
 *    bit-identical whatever the row split [r0, r1) and the token
 *    grouping. Where the CPU has AVX-VNNI the level uses it for the lane
 *    types; every case then also requires the plain AVX2 kernels' bits
 *    from them.
 *  - The ggml blocks of ../shared/testdata/quant/<type>.gguf: gemm against
 *    the scalar gemm and ggml's w.dot_a.ref.
 *
 * With QWQ_AVX2_TIMING=1 it also prints decode GB/s and prefill GOP/s per
 * type at the AVX2 level (1 and 2 threads) beside a memory-read probe;
 * timings are information only, never checked.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "gguf/gguf.h"
#include "harness.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "util/util.h"

/* ---- random data ----------------------------------------------------------------- */

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rnd_u64(void) { /* splitmix64 */
    return test_splitmix64(&rng_state);
}
static double rnd_unit(void) { return (double)(rnd_u64() >> 11) / (double)(1ull << 53); } /* [0, 1) */
static double rnd_sym(void) { return 2.0 * rnd_unit() - 1.0; }                              /* [-1, 1) */
static int rnd_int(int n) { return (int)(rnd_u64() % (uint64_t)n); }
static double rnd_normal(void) {
    double s = 0;
    for (int i = 0; i < 4; i++) s += rnd_sym();
    return s * 0.866;
}

static const uint32_t all_types[] = {QTYPE_Q8_0, QTYPE_Q4_0, QTYPE_Q4_K, QTYPE_Q6_K, QTYPE_Q5_K,
                                     QTYPE_Q5_0, QTYPE_Q4_1, QTYPE_Q5_1, QTYPE_Q2_K, QTYPE_Q3_K,
                                     QTYPE_F16,  QTYPE_BF16, QTYPE_F32};
enum { N_TYPES = sizeof all_types / sizeof all_types[0] };

/* A random finite f16 scale: mostly ordinary magnitudes, sometimes the
 * extremes (65504, the smallest subnormal, the smallest normal) or zero. */
static uint16_t rnd_scale(void) {
    int k = rnd_int(32);
    uint16_t sign = (uint16_t)(rnd_int(2) << 15);
    if (k == 0) return sign | 0x7bff;                     /* 65504 */
    if (k == 1) return sign | 0x0001;                     /* 2^-24 */
    if (k == 2) return sign | (uint16_t)(1 + rnd_int(1023)); /* subnormal */
    if (k == 3) return sign | 0x0400;                     /* 2^-14 */
    if (k == 4) return 0;
    if (k == 5) return sign | (uint16_t)(0x5800 + rnd_int(0x2000)); /* 128 .. 65504 */
    return fp16_from_f32((float)(rnd_sym() * pow(2.0, -4 - 8 * rnd_unit())));
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/* n_out rows of n_in random weights of type: random bytes with sane or
 * extreme scales, some all-zero blocks; float types get finite values. */
static void gen_weights(uint32_t type, uint8_t *w, size_t row_bytes, int64_t n_out, int64_t n_in) {
    const qtype_info *qi = qtype_get(type);
    const size_t bytes = row_bytes * (size_t)n_out;
    if (type == QTYPE_F32) {
        float *f = (float *)w;
        for (size_t i = 0; i < (size_t)n_in * (size_t)n_out; i++)
            f[i] = rnd_int(64) == 0 ? 0.0f : (float)(rnd_normal() * pow(10.0, 3 * rnd_sym()));
        return;
    }
    if (type == QTYPE_F16 || type == QTYPE_BF16) {
        for (size_t i = 0; i < (size_t)n_in * (size_t)n_out; i++) {
            uint16_t h;
            if (type == QTYPE_F16) {
                do h = (uint16_t)rnd_u64(); while ((h & 0x7c00) == 0x7c00); /* no inf / NaN */
            } else {
                /* exponents within 2^+-40: products with activations stay finite */
                h = (uint16_t)((rnd_int(2) << 15) | (87 + rnd_int(81)) << 7 | rnd_int(128));
                if (rnd_int(64) == 0) h = (uint16_t)(rnd_int(2) << 15);
            }
            put16(w + 2 * i, h);
        }
        return;
    }
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)rnd_u64();
    const int64_t nb = n_in / qi->block_elems;
    for (int64_t r = 0; r < n_out; r++)
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *blk = w + (size_t)r * row_bytes + (size_t)b * qi->block_bytes;
            if (rnd_int(16) == 0) {
                memset(blk, 0, qi->block_bytes);
                continue;
            }
            for (int k = 0; k < qi->n_scales; k++) put16(blk + qi->scale_off[k], rnd_scale());
        }
}

/* Activations: several distributions per row. */
static void gen_acts(float *x, int64_t n_tok, int64_t n_in) {
    for (int64_t t = 0; t < n_tok; t++) {
        float *r = x + t * n_in;
        int kind = rnd_int(8);
        for (int64_t i = 0; i < n_in; i++) {
            double v = rnd_normal();
            if (kind == 1) v *= 1e-6;
            if (kind == 2) v *= 300;
            if (kind == 3 && rnd_int(50) == 0) v = 40 * rnd_sym();
            if (kind == 4) v = rnd_int(4) ? 0 : v; /* sparse */
            if (kind == 5) v = (rnd_int(17) - 8) * 0.25; /* exact levels: rounding ties */
            r[i] = (float)v;
        }
        if (kind == 6 && n_in >= 32) memset(r + n_in / 2 / 32 * 32, 0, 32 * sizeof(float)); /* a zero block */
        if (kind == 7) memset(r, 0, (size_t)n_in * sizeof(float));
    }
}

/* ---- the comparison --------------------------------------------------------------- */

/* avx2: the level's table (with the AVX-VNNI kernels where the CPU has
 * them); other: the level's other form (the plain AVX2 kernels when avx2
 * has the AVX-VNNI ones and the reverse; NULL without AVX-VNNI), which
 * must give the same bits. */
static const kernel_table *avx2, *scalar, *other;
static kernel_table other_table;

/* 1: the tables; 0: the CPU lacks AVX2 (skip); -1: not an x86-64 build
 * (the level does not exist: nothing to test). */
static int get_tables(void) {
#if !defined(__x86_64__)
    return -1;
#else
    avx2 = kernels_level(QWQ_SIMD_AVX2);
    scalar = kernels_level(QWQ_SIMD_SCALAR);
    if (!avx2 || !scalar) return 0;
    if (!other && kernels_cpu_avxvnni()) {
        kernel_table plain = *scalar, vnni;
        kernels_fill_avx2(&plain);
        vnni = plain;
        if (kernels_fill_avxvnni(&vnni)) {
            other_table = avx2->gemm[QTYPE_Q4_0] == vnni.gemm[QTYPE_Q4_0] ? plain : vnni;
            other = &other_table;
        }
    }
    return 1;
#endif
}

#define NEED_AVX2()                                                                \
    do {                                                                           \
        const int avail_ = get_tables();                                           \
        if (avail_ < 0) return;                                                    \
        if (avail_ == 0) SKIP("the AVX2 level is not available on this CPU/build"); \
    } while (0)

typedef struct case_data {
    uint32_t type;
    int64_t n_in, n_out;
    int32_t n_tok;
    const uint8_t *w; /* n_out rows */
    size_t row_bytes;
    const float *x; /* n_tok rows of n_in */
} case_data;

/* The types in gemm_lane.h's layout: their own f32 order, not the scalar's bits. */
static int lane_type(uint32_t type) {
    return type == QTYPE_Q4_0 || type == QTYPE_Q8_0 || type == QTYPE_Q4_1 || type == QTYPE_Q5_0 || type == QTYPE_Q5_1 ||
           type == QTYPE_Q4_K || type == QTYPE_Q5_K;
}

/* Everything about one (type, weights, activations) case; returns the
 * number of problems found (each also reported unless quiet). When
 * perturb is set, the AVX2 results are altered before the checks (the
 * checks must then find problems). */
static int check_case(const case_data *c, int perturb, const char *what) {
    const uint32_t type = c->type;
    const int64_t n_in = c->n_in, n_out = c->n_out;
    const int32_t T = c->n_tok;
    const qtype_info *qi = qtype_get(type);
    const size_t arb = quant_act_row_size(type, n_in);
    int problems = 0;
#define PROBLEM(...)                                                         \
    do {                                                                     \
        problems++;                                                          \
        if (!perturb && problems <= 5) test_fail_at(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)
    uint8_t *act_s = malloc(arb * (size_t)T + 64), *act_v = malloc(arb * (size_t)T + 64);
    float *ys = malloc(sizeof(float) * (size_t)(n_out * T)), *yv = malloc(sizeof(float) * (size_t)(n_out * T));
    float *y2 = malloc(sizeof(float) * (size_t)(n_out * T));
    float *wdq = malloc(sizeof(float) * (size_t)n_in), *adq = malloc(sizeof(float) * (size_t)(n_in * T));
    float *wmin = malloc(sizeof(float) * (size_t)n_in);
    if (!act_s || !act_v || !ys || !yv || !y2 || !wdq || !adq || !wmin) {
        PROBLEM("out of memory");
        goto done;
    }
    /* quantizers: identical bytes */
    for (int32_t t = 0; t < T; t++) {
        scalar->quantize[type](c->x + t * n_in, act_s + (size_t)t * arb, n_in);
        avx2->quantize[type](c->x + t * n_in, act_v + (size_t)t * arb, n_in);
    }
    if (memcmp(act_s, act_v, arb * (size_t)T) != 0) PROBLEM("%s %s: quantized activations differ", qi->name, what);
    /* the reference */
    scalar->gemm[type](c->w, c->row_bytes, act_s, arb, n_in, 0, n_out, T, ys, n_out);
    avx2->gemm[type](c->w, c->row_bytes, act_v, arb, n_in, 0, n_out, T, yv, n_out);
    if (other) { /* AVX-VNNI or not: the same bits */
        other->gemm[type](c->w, c->row_bytes, act_v, arb, n_in, 0, n_out, T, y2, n_out);
        if (memcmp(y2, yv, sizeof(float) * (size_t)(n_out * T)) != 0)
            PROBLEM("%s %s: the AVX-VNNI and plain AVX2 kernels differ", qi->name, what);
    }
    if (perturb) {
        int64_t i = rnd_int((int)(n_out * T));
        yv[i] = yv[i] * 1.0001f + 1e-3f;
    }
    const uint32_t at = quant_act_type(type);
    for (int32_t t = 0; t < T; t++) {
        if (at == QTYPE_F32) memcpy(adq + t * n_in, act_s + (size_t)t * arb, (size_t)n_in * sizeof(float));
        else dequant_row(at, act_s + (size_t)t * arb, adq + t * n_in, n_in);
    }
    for (int64_t r = 0; r < n_out; r++) {
        dequant_row(type, c->w + (size_t)r * c->row_bytes, wdq, n_in);
        /* with minimums the magnitude counts sum |offset * a| too (harness.h):
         * in ../shared/testdata/quant/q4_k.gguf, row 10 with the extreme
         * row 7 of x as activations (q8_K d = -472), the exact (double)
         * product is 16.9907243, the scalar level (ggml's order) gives
         * 16.9897175 and the lane layout 16.9916706, sum |w * a| is 22.7
         * and both parts about 30040: the scalar itself is 4.4e-5 of
         * sum |w * a| off, so no f32 order meets 1e-5 of it there */
        const int has_min = test_min_offsets(type, c->w + (size_t)r * c->row_bytes, wmin, n_in);
        for (int32_t t = 0; t < T; t++) {
            double mag = 0;
            for (int64_t i = 0; i < n_in; i++) mag += fabs((double)wdq[i] * adq[t * n_in + i]);
            if (has_min)
                for (int64_t i = 0; i < n_in; i++) mag += fabs((double)wmin[i] * adq[t * n_in + i]);
            mag += test_q8_1_min_mag(type, c->w + (size_t)r * c->row_bytes, act_s + (size_t)t * arb, n_in);
            const double got = yv[t * n_out + r], want = ys[t * n_out + r];
            /* quantized types but the lane layout's: the scalar's bits (same
             * per-block f32 arithmetic); all: within the tolerance */
            if (qi->block_elems > 1 && !lane_type(type) &&
                memcmp(&yv[t * n_out + r], &ys[t * n_out + r], sizeof(float)) != 0)
                PROBLEM("%s %s row %lld token %d: avx2 %a scalar %a (not the same bits)", qi->name, what,
                        (long long)r, t, got, want);
            if (!(fabs(got - want) <= 1e-5 * mag + 1e-35))
                PROBLEM("%s %s row %lld token %d: avx2 %.9g scalar %.9g (sum|wa| %.3g, rel %.2g)", qi->name, what,
                        (long long)r, t, got, want, mag, fabs(got - want) / mag);
        }
    }
    /* the same bits whatever the row split */
    for (int rep = 0; rep < 3; rep++) {
        for (int64_t i = 0; i < n_out * T; i++) y2[i] = NAN;
        int64_t r0 = 0;
        while (r0 < n_out) {
            int64_t len = rep == 0 ? 1 : rep == 1 ? 16 : 1 + rnd_int(23);
            int64_t r1 = r0 + len < n_out ? r0 + len : n_out;
            avx2->gemm[type](c->w, c->row_bytes, act_v, arb, n_in, r0, r1, T, y2, n_out);
            r0 = r1;
        }
        if (memcmp(y2, yv, sizeof(float) * (size_t)(n_out * T)) != 0)
            PROBLEM("%s %s: results depend on the row split (%d)", qi->name, what, rep);
    }
    /* ... and the token grouping */
    static const int groups[] = {1, 2, 3, 5, 7};
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        if (groups[g] >= T) break;
        for (int64_t i = 0; i < n_out * T; i++) y2[i] = NAN;
        for (int32_t t0 = 0; t0 < T; t0 += groups[g]) {
            int32_t tn = T - t0 < groups[g] ? T - t0 : groups[g];
            int64_t r0 = rnd_int((int)n_out);
            avx2->gemm[type](c->w, c->row_bytes, act_v + (size_t)t0 * arb, arb, n_in, r0, n_out, tn, y2 + t0 * n_out,
                             n_out);
            avx2->gemm[type](c->w, c->row_bytes, act_v + (size_t)t0 * arb, arb, n_in, 0, r0, tn, y2 + t0 * n_out,
                             n_out);
        }
        if (memcmp(y2, yv, sizeof(float) * (size_t)(n_out * T)) != 0)
            PROBLEM("%s %s: results depend on the token grouping (%d)", qi->name, what, groups[g]);
    }
done:
    free(act_s);
    free(act_v);
    free(ys);
    free(yv);
    free(y2);
    free(wdq);
    free(adq);
    free(wmin);
    return problems;
#undef PROBLEM
}

static int run_random_case(uint32_t type, int64_t n_in, int64_t n_out, int32_t n_tok, int perturb) {
    const qtype_info *qi = qtype_get(type);
    const size_t row_bytes = (size_t)(n_in / qi->block_elems) * qi->block_bytes;
    uint8_t *w = malloc(row_bytes * (size_t)n_out + 64);
    float *x = malloc(sizeof(float) * (size_t)(n_in * n_tok));
    if (!w || !x) {
        free(w);
        free(x);
        test_fail_at(__FILE__, __LINE__, "out of memory");
        return 1;
    }
    gen_weights(type, w, row_bytes, n_out, n_in);
    gen_acts(x, n_tok, n_in);
    char what[96];
    snprintf(what, sizeof what, "n_in %lld n_out %lld n_tok %d", (long long)n_in, (long long)n_out, n_tok);
    case_data c = {type, n_in, n_out, n_tok, w, row_bytes, x};
    int problems = check_case(&c, perturb, what);
    free(w);
    free(x);
    return problems;
}

/* ---- cases --------------------------------------------------------------------------- */

static void test_quantizers_bit_identical(void) {
    NEED_AVX2();
    static const uint32_t wtypes[] = {QTYPE_Q8_0, QTYPE_Q4_1, QTYPE_Q4_K}; /* q8_0, q8_1, q8_K */
    enum { N = 4096 };
    static float x[N];
    static uint8_t qs[N * 2], qv[N * 2];
    int compared = 0;
    for (int kind = 0; kind < 14; kind++)
        for (int rep = 0; rep < 40; rep++) {
            for (int i = 0; i < N; i++) {
                double v = rnd_normal();
                switch (kind) {
                case 0: break;
                case 1: v *= 1e-30; break;                                 /* subnormal products */
                case 2: v *= 1e30; break;                                  /* huge */
                case 3: v = (rnd_int(255) - 127) + 0.5 * rnd_int(2); break; /* ties at d = 1 */
                case 4: v = (rnd_int(255) - 127) * 0.5; break;
                case 5: v = rnd_int(3) ? 0.0 : v; break;
                case 6: v = rnd_int(2) ? -0.0 : 0.0; break;
                case 7: v = rnd_int(64) ? v : (rnd_int(2) ? INFINITY : -INFINITY); break;
                case 8: v = rnd_int(64) ? v : NAN; break;
                case 9: v = rnd_int(2) ? 1.0 : -1.0; break;                /* equal magnitudes, both signs */
                case 10: v = (i % 32 == 0) ? 127.0 : (rnd_int(255) - 127) * 0.5; break;
                case 11: v = (i % 256 == 5) ? -127.0 : (rnd_int(255) - 127) + 0.5; break; /* q8_K ties */
                case 12: v = 65504.0 * rnd_sym(); break;
                case 13: v = rnd_int(2) ? 3.4e38 * rnd_sym() : v; break;
                }
                x[i] = (float)v;
            }
            for (size_t k = 0; k < sizeof wtypes / sizeof wtypes[0]; k++) {
                const uint32_t t = wtypes[k];
                for (int n = quant_kernels_scalar(t)->row_align; n <= N; n *= 4) {
                    size_t bytes = quant_act_row_size(t, n);
                    memset(qs, 0xa5, bytes);
                    memset(qv, 0x5a, bytes);
                    scalar->quantize[t](x, qs, n);
                    avx2->quantize[t](x, qv, n);
                    compared++;
                    if (memcmp(qs, qv, bytes) != 0) {
                        size_t at = 0;
                        while (qs[at] == qv[at]) at++;
                        test_fail_at(__FILE__, __LINE__, "%s activations, input kind %d, n %d: byte %zu differs (%02x vs %02x)",
                                     qtype_get(quant_act_type(t))->name, kind, n, at, qs[at], qv[at]);
                        return;
                    }
                }
            }
        }
    /* each quantizer of the table, by weight type, is the right one */
    for (int i = 0; i < N_TYPES; i++) {
        const uint32_t t = all_types[i];
        int n = 512;
        size_t bytes = quant_act_row_size(t, n);
        memset(qs, 0, bytes);
        memset(qv, 1, bytes);
        scalar->quantize[t](x, qs, n);
        avx2->quantize[t](x, qv, n);
        CHECKF(memcmp(qs, qv, bytes) == 0, "%s: table quantizer differs", qtype_get(t)->name);
    }
    fprintf(stderr, "avx2: %d quantized rows compared\n", compared);
}

/* Every type, many shapes, token counts and splits. */
static void test_gemm_random(void) {
    NEED_AVX2();
    static const int64_t n_in_q[] = {32, 64, 96, 288, 1056, 5120, 27648};
    static const int64_t n_in_k[] = {256, 512, 768, 5120, 27648};
    static const int64_t n_in_f[] = {1, 7, 8, 9, 31, 100, 256, 257, 1000, 2051, 4097, 5120, 27648};
    static const int32_t toks_small[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 64};
    static const int32_t toks_large[] = {1, 2, 3, 17, 64};
    int cases = 0;
    for (int ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = all_types[ti];
        const qtype_info *qi = qtype_get(type);
        const int64_t *ns = qi->block_elems == 256 ? n_in_k : qi->block_elems == 32 ? n_in_q : n_in_f;
        const int nn = qi->block_elems == 256 ? 5 : qi->block_elems == 32 ? 7 : 13;
        int problems = 0;
        for (int k = 0; k < nn && !problems; k++) {
            const int64_t n_in = ns[k];
            const int large = n_in > 2048;
            const int32_t *toks = large ? toks_large : toks_small;
            const int ntoks = large ? 5 : 18;
            for (int j = 0; j < ntoks && !problems; j++) {
                const int64_t n_out = large ? 19 : (j % 3 == 0 ? 37 : j % 3 == 1 ? 1 : 18);
                problems += run_random_case(type, n_in, n_out, toks[j], 0);
                cases++;
            }
        }
        CHECKF(problems == 0, "%s: %d problems", qi->name, problems);
    }
    fprintf(stderr, "avx2: %d random gemm cases\n", cases);
}

/* The checks find a wrong result: a test that cannot fail is no test. */
static void test_checks_can_fail(void) {
    NEED_AVX2();
    for (int ti = 0; ti < N_TYPES; ti++)
        CHECKF(run_random_case(all_types[ti], 512, 5, 3, 1) > 0, "%s: a perturbed result passed",
               qtype_get(all_types[ti])->name);
}

/* Rows and tokens outside the ranges are never written. */
static void test_gemm_writes_only_its_range(void) {
    NEED_AVX2();
    enum { NI = 512, NO = 40, T = 6 };
    for (int ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = all_types[ti];
        const qtype_info *qi = qtype_get(type);
        const size_t rb = NI / qi->block_elems * qi->block_bytes, arb = quant_act_row_size(type, NI);
        uint8_t *w = malloc(rb * NO), *act = malloc(arb * T);
        static float x[NI * T], y[NO * T];
        REQUIRE(w && act);
        gen_weights(type, w, rb, NO, NI);
        gen_acts(x, T, NI);
        for (int t = 0; t < T; t++) avx2->quantize[type](x + t * NI, act + t * arb, NI);
        for (int i = 0; i < NO * T; i++) y[i] = -7.0f;
        avx2->gemm[type](w, rb, act, arb, NI, 5, 29, 4, y, NO);
        int bad = 0;
        for (int t = 0; t < T; t++)
            for (int r = 0; r < NO; r++) {
                int inside = t < 4 && r >= 5 && r < 29;
                bad += inside == (y[t * NO + r] == -7.0f);
            }
        avx2->gemm[type](w, rb, act, arb, NI, 7, 7, 4, y, NO);
        avx2->gemm[type](w, rb, act, arb, NI, 0, NO, 0, y, NO);
        for (int t = 4; t < T; t++)
            for (int r = 0; r < NO; r++) bad += y[t * NO + r] != -7.0f;
        CHECKF(bad == 0, "%s: %d outputs wrong", qi->name, bad);
        free(w);
        free(act);
    }
}

/* The ggml reference blocks. */
static const struct {
    const char *file;
    uint32_t type;
} files[] = {
    {"quant/q8_0.gguf", QTYPE_Q8_0}, {"quant/q4_0.gguf", QTYPE_Q4_0}, {"quant/q4_k.gguf", QTYPE_Q4_K},
    {"quant/q6_k.gguf", QTYPE_Q6_K}, {"quant/q5_k.gguf", QTYPE_Q5_K}, {"quant/q5_0.gguf", QTYPE_Q5_0},
    {"quant/q4_1.gguf", QTYPE_Q4_1}, {"quant/q5_1.gguf", QTYPE_Q5_1}, {"quant/q2_k.gguf", QTYPE_Q2_K},
    {"quant/q3_k.gguf", QTYPE_Q3_K}, {"quant/f16.gguf", QTYPE_F16},   {"quant/bf16.gguf", QTYPE_BF16},
};

static void test_gemm_ggml_blocks(void) {
    NEED_AVX2();
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        char path[1024];
        if (!testdata_path(path, sizeof path, files[fi].file)) return;
        gguf_file *f = NULL;
        if (gguf_open(path, &f) != QWQ_OK) {
            test_fail_at(__FILE__, __LINE__, "gguf_open(%s): %s", path, err_message());
            continue;
        }
        const gguf_tensor *tw = gguf_find_tensor(f, "w"), *tx = gguf_find_tensor(f, "x");
        const gguf_tensor *ta = gguf_find_tensor(f, "a"), *taq = gguf_find_tensor(f, "a.q");
        const gguf_tensor *taqd = gguf_find_tensor(f, "a.q.dequant"), *tref = gguf_find_tensor(f, "w.dot_a.ref");
        if (!tw || !tx || !ta || !taq || !taqd || !tref || tw->type != files[fi].type) {
            test_fail_at(__FILE__, __LINE__, "%s: unexpected tensors", path);
            gguf_close(f);
            continue;
        }
        const int64_t n_in = (int64_t)tw->ne[0], n_out = (int64_t)tw->ne[1];
        const uint32_t type = tw->type;
        const size_t rb = (size_t)tw->n_bytes / (size_t)n_out;
        /* activations: a and the 16 rows of x (extremes included) */
        const int32_t T = 1 + (int32_t)tx->ne[1];
        float *x = malloc(sizeof(float) * (size_t)(n_in * T));
        REQUIRE(x);
        memcpy(x, ta->data, sizeof(float) * (size_t)n_in);
        memcpy(x + n_in, tx->data, sizeof(float) * (size_t)(n_in * (T - 1)));
        case_data c = {type, n_in, n_out, T, tw->data, rb, x};
        CHECKF(check_case(&c, 0, "ggml blocks") == 0, "%s", path);
        /* ggml's own activation a.q (f32 a.q.dequant for float weights)
         * against w.dot_a.ref */
        const size_t arb = quant_act_row_size(type, n_in);
        const void *act = quant_act_type(type) == QTYPE_F32 ? taqd->data : taq->data;
        REQUIRE(quant_act_type(type) == QTYPE_F32 || (size_t)taq->n_bytes == arb);
        float y[64];
        avx2->gemm[type](tw->data, rb, act, arb, n_in, 0, n_out, 1, y, n_out);
        const float *ref = tref->data, *aqd = taqd->data;
        float *wdq = malloc(sizeof(float) * (size_t)n_in);
        REQUIRE(wdq);
        /* q4_1/q5_1 use the f16-rounded s of the q8_1 block: ggml's own
         * dot is within 5.6e-4 of the reference (README) */
        const double tol = type == QTYPE_Q4_1 || type == QTYPE_Q5_1 ? 1e-3 : 1e-5;
        for (int64_t r = 0; r < n_out; r++) {
            dequant_row(type, (const uint8_t *)tw->data + r * rb, wdq, n_in);
            double mag = 0;
            for (int64_t i = 0; i < n_in; i++) mag += fabs((double)wdq[i] * aqd[i]);
            CHECKF(fabs(y[r] - ref[r]) <= tol * mag + 1e-35, "%s row %lld: %.9g vs ggml ref %.9g", path, (long long)r,
                   (double)y[r], (double)ref[r]);
        }
        free(wdq);
        free(x);
        gguf_close(f);
    }
}

/* ---- timing (QWQ_AVX2_TIMING=1; information only) ------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct timing_job {
    const kernel_table *k;
    uint32_t type;
    const uint8_t *w;
    size_t rb, arb;
    const uint8_t *act;
    int64_t n_in, r0, r1;
    int32_t n_tok;
    float *y;
    int64_t ys;
    const uint64_t *probe;
    size_t probe_n;
    uint64_t probe_sum;
    uint8_t *const *copies; /* the weights, several times: run k reads copies[k % n_copies] */
    int n_copies;
} timing_job;

static void *timing_gemm(void *p) {
    timing_job *j = p;
    j->k->gemm[j->type](j->w, j->rb, j->act, j->arb, j->n_in, j->r0, j->r1, j->n_tok, j->y, j->ys);
    return NULL;
}

static void *timing_probe(void *p) {
    timing_job *j = p;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= j->probe_n; i += 4) {
        s0 += j->probe[i];
        s1 += j->probe[i + 1];
        s2 += j->probe[i + 2];
        s3 += j->probe[i + 3];
    }
    j->probe_sum = s0 + s1 + s2 + s3;
    return NULL;
}

/* Best time of reps runs of fn over nt threads splitting [0, n_rows) in
 * multiples of 16 (or the probe buffer in halves). */
static double time_threads(void *(*fn)(void *), timing_job base, int nt, int64_t n_rows, int reps) {
    double best = 1e30;
    for (int rep = 0; rep < reps; rep++) {
        timing_job jobs[2];
        pthread_t th[2];
        for (int i = 0; i < nt; i++) {
            jobs[i] = base;
            if (base.n_copies) jobs[i].w = base.copies[rep % base.n_copies];
            int64_t chunks = (n_rows + 15) / 16;
            jobs[i].r0 = chunks * i / nt * 16;
            jobs[i].r1 = chunks * (i + 1) / nt * 16 < n_rows ? chunks * (i + 1) / nt * 16 : n_rows;
            jobs[i].probe = base.probe + base.probe_n / (size_t)nt * (size_t)i;
            jobs[i].probe_n = base.probe_n / (size_t)nt;
        }
        double t0 = now_s();
        for (int i = 1; i < nt; i++) pthread_create(&th[i], NULL, fn, &jobs[i]);
        fn(&jobs[0]);
        for (int i = 1; i < nt; i++) pthread_join(th[i], NULL);
        double t = now_s() - t0;
        if (t < best) best = t;
    }
    return best;
}

static void test_timing(void) {
    const char *e = getenv("QWQ_AVX2_TIMING");
    if (!e || !*e || *e == '0') return;
    NEED_AVX2();
    const size_t probe_bytes = (size_t)1 << 30;
    uint64_t *probe = malloc(probe_bytes);
    REQUIRE(probe);
    for (size_t i = 0; i < probe_bytes / 8; i++) probe[i] = i;
    timing_job pj = {0};
    pj.probe = probe;
    pj.probe_n = probe_bytes / 8;
    for (int nt = 1; nt <= 2; nt++) {
        double t = time_threads(timing_probe, pj, nt, 0, 5);
        fprintf(stderr, "probe: %d thread(s) %.1f GB/s\n", nt, (double)probe_bytes / t * 1e-9);
    }
    free(probe);
    const char *only = getenv("QWQ_AVX2_TIMING_TYPE");
    for (int ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = all_types[ti];
        const qtype_info *qi = qtype_get(type);
        if (only && *only && strcmp(only, qi->name) != 0) continue;
        /* decode: a 27648 x 5120 matrix (ffn_up's shape), one token; copies
         * of it (>= 512 MiB in all) so that no run finds it in the L3 */
        const int64_t n_in = 5120, n_out = 27648;
        const size_t rb = (size_t)(n_in / qi->block_elems) * qi->block_bytes, arb = quant_act_row_size(type, n_in);
        const size_t wbytes = rb * (size_t)n_out;
        enum { MAX_COPIES = 8 };
        int n_copies = (int)(((size_t)512 << 20) / wbytes) + 1;
        if (n_copies > MAX_COPIES) n_copies = MAX_COPIES;
        uint8_t *copies[MAX_COPIES] = {0};
        for (int k = 0; k < n_copies; k++) {
            copies[k] = malloc(wbytes);
            REQUIRE(copies[k]);
            if (k == 0) gen_weights(type, copies[0], rb, n_out, n_in);
            else memcpy(copies[k], copies[0], wbytes);
        }
        uint8_t *w = copies[0], *act = malloc(arb * 64);
        float *x = malloc(sizeof(float) * (size_t)(n_in * 64)), *y = malloc(sizeof(float) * (size_t)(n_out * 64));
        REQUIRE(act && x && y);
        gen_acts(x, 64, n_in);
        double tq = now_s();
        for (int t = 0; t < 64; t++) avx2->quantize[type](x + t * n_in, act + (size_t)t * arb, n_in);
        tq = now_s() - tq;
        timing_job j = {avx2, type, w, rb, arb, act, n_in, 0, n_out, 1, y, n_out, NULL, 0, 0, copies, n_copies};
        fprintf(stderr, "%-5s quantize %.2f GB/s of f32", qi->name, 64.0 * n_in * 4 / tq * 1e-9);
        for (int nt = 1; nt <= 2; nt++) {
            j.n_tok = 1;
            double t = time_threads(timing_gemm, j, nt, n_out, 2 * n_copies > 6 ? 2 * n_copies : 6);
            fprintf(stderr, " | decode %dT %.1f GB/s", nt, (double)wbytes / t * 1e-9);
        }
        for (int nt = 1; nt <= 2; nt++) {
            /* prefill: 64 tokens over 2048 rows */
            j.n_tok = 64;
            j.n_copies = 0;
            double t = time_threads(timing_gemm, j, nt, 2048, 3);
            fprintf(stderr, " | prefill %dT %.1f GOP/s", nt, 2.0 * (double)n_in * 2048 * 64 / t * 1e-9);
        }
        fprintf(stderr, "\n");
        for (int k = 0; k < n_copies; k++) free(copies[k]);
        free(act);
        free(x);
        free(y);
    }
}

int main(void) {
    RUN(test_quantizers_bit_identical);
    RUN(test_gemm_random);
    RUN(test_checks_can_fail);
    RUN(test_gemm_writes_only_its_range);
    RUN(test_gemm_ggml_blocks);
    RUN(test_timing);
    return test_summary();
}
