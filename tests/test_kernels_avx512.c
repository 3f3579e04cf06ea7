/*
 * The AVX-512 level of the kernel table against the scalar level:
 *
 * 1. Activation quantizers (q8_0, q8_1, q8_K): the same bytes as the scalar
 *    ones for random rows of every magnitude, exact rounding ties, zeros,
 *    signed zeros, subnormals, NaN and infinities, equal magnitudes of
 *    opposite sign (q8_K's first-maximum rule).
 * 2. gemm of every weight type against the scalar gemm within 1e-5 of
 *    sum |w * a| (dequantized weights times dequantized activations), for
 *    n_in from one block to 27648, rows [r0, r1) not aligned to anything,
 *    n_tok 1..17, 21, 64, 150 and 300, random blocks with extreme f16 scales and zero
 *    blocks; nothing outside the rows and tokens asked for is written.
 * 3. Bit-exact determinism: the same y whatever the row split and the token
 *    grouping (decode and prefill paths give the same bits).
 * 4. The ggml reference blocks of ../shared/testdata/quant, with ggml's
 *    activation a and with the file's 16 rows of x (extremes included;
 *    for the types with minimums the tolerance's magnitude adds
 *    sum |offset * a|, harness.h).
 * 5. The checker itself: a one-block perturbation is detected.
 *
 * Skips when the CPU (or the build) has no AVX-512 level.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "harness.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "util/util.h"

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t rnd_u64(void) { /* splitmix64 */
    return test_splitmix64(&rng);
}
static double rnd_unit(void) { return (double)(rnd_u64() >> 11) / (double)(1ull << 53); } /* [0, 1) */
static double rnd_sym(void) { return 2.0 * rnd_unit() - 1.0; }                            /* [-1, 1) */
static int rnd_int(int n) { return (int)(rnd_u64() % (uint64_t)n); }

static const uint32_t all_types[] = {QTYPE_F32,  QTYPE_F16,  QTYPE_BF16, QTYPE_Q4_0, QTYPE_Q4_1,
                                     QTYPE_Q5_0, QTYPE_Q5_1, QTYPE_Q8_0, QTYPE_Q2_K, QTYPE_Q3_K,
                                     QTYPE_Q4_K, QTYPE_Q5_K, QTYPE_Q6_K};
enum { N_TYPES = sizeof all_types / sizeof all_types[0] };

static const kernel_table *avx512(void) { return kernels_level(QWQ_SIMD_AVX512); }
static const kernel_table *scalar(void) { return kernels_level(QWQ_SIMD_SCALAR); }

#define NEED_AVX512()                                                                  \
    do {                                                                               \
        if (!avx512()) SKIP("this CPU (or build) has no AVX-512 (VNNI) level");     \
    } while (0)

/* ---- 1. quantizers ------------------------------------------------------------------ */

static float special_value(void) {
    switch (rnd_int(10)) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return f32_from_bits(1u + (uint32_t)rnd_int(1000)); /* subnormal */
    case 3: return -f32_from_bits((uint32_t)rnd_int(1 << 23));
    case 4: return INFINITY;
    case 5: return -INFINITY;
    case 6: return NAN;
    case 7: return 3.0e38f;
    case 8: return -1.0e-38f;
    default: return (float)(rnd_sym() * 1e6);
    }
}

/* a row of n floats of kind k */
static void make_row(float *x, int64_t n, int kind) {
    const double scale = pow(10.0, rnd_int(61) - 30);
    for (int64_t i = 0; i < n; i++) {
        switch (kind) {
        case 0: x[i] = (float)(rnd_sym() * scale); break;
        case 1: /* exact ties once scaled: amax 127 -> d = 1 and q = x */
            x[i] = (float)(rnd_int(254) - 127) + (rnd_int(2) ? 0.5f : 0.0f);
            if (i % 32 == 0) x[i] = rnd_int(2) ? 127.0f : -127.0f;
            break;
        case 2: x[i] = rnd_int(8) == 0 ? special_value() : (float)rnd_sym(); break;
        case 3: /* equal magnitudes of both signs, many zero blocks */
            x[i] = (i / 32) % 3 == 0 ? 0.0f : (rnd_int(2) ? 1.0f : -1.0f) * (float)(1 + rnd_int(4)) * 0.25f;
            break;
        case 4: /* ties of q8_K: max first element decides the sign of d */
            x[i] = (float)(rnd_int(9) - 4) * 0.5f;
            if (i % 256 == 7) x[i] = -4.0f;
            if (i % 256 == 9) x[i] = 4.0f;
            break;
        default: x[i] = (float)(rnd_sym() * 1e-3 * (1 + rnd_int(3))); break;
        }
    }
}

static void test_quantizers_bit_identical(void) {
    NEED_AVX512();
    static float x[27648];
    static uint8_t a[27648 * 2], b[27648 * 2];
    const uint32_t wtypes[] = {QTYPE_Q8_0, QTYPE_Q4_1, QTYPE_Q4_K}; /* -> q8_0, q8_1, q8_K */
    const int64_t lens[] = {256, 512, 768, 4096, 5120, 27648};
    int rows = 0;
    for (size_t wi = 0; wi < sizeof wtypes / sizeof *wtypes; wi++) {
        const uint32_t wt = wtypes[wi];
        act_quantize_fn mine = avx512()->quantize[wt], ref = scalar()->quantize[wt];
        CHECK(mine != ref); /* the level has its own quantizer */
        for (int kind = 0; kind < 6; kind++)
            for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
                for (int rep = 0; rep < (lens[li] > 5120 ? 2 : 12); rep++) {
                    const int64_t n = lens[li];
                    const size_t bytes = quant_act_row_size(wt, n);
                    make_row(x, n, kind);
                    memset(a, 0xA5, bytes);
                    memset(b, 0x5A, bytes);
                    mine(x, a, n);
                    ref(x, b, n);
                    rows++;
                    if (memcmp(a, b, bytes) != 0) {
                        size_t at = 0;
                        while (a[at] == b[at]) at++;
                        test_fail_at(__FILE__, __LINE__, "%s activations, kind %d, n %" PRId64 ": first differing byte %zu (%02x vs %02x)",
                                     qtype_get(quant_act_type(wt))->name, kind, n, at, a[at], b[at]);
                        return;
                    }
                }
    }
    CHECK(rows > 300);
}

/* ---- weights --------------------------------------------------------------------------- */

/* a finite f16 of any magnitude (subnormals and 65504 included) */
static uint16_t rnd_f16(int extreme) {
    if (!extreme) return fp16_from_f32((float)(rnd_sym() * 0.01));
    uint16_t sign = (uint16_t)(rnd_int(2) << 15);
    switch (rnd_int(8)) {
    case 0: return sign | 0x7BFF;                                  /* 65504 */
    case 1: return sign | (uint16_t)(1 + rnd_int(0x3FF));         /* subnormal */
    case 2: return sign | 0x0400;                                  /* smallest normal */
    case 3: return 0;
    default: return sign | (uint16_t)((1 + rnd_int(30)) << 10 | rnd_int(1024));
    }
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/* Random weight rows: random quant bytes, scales of every magnitude
 * (extreme) or small ones, and some all-zero blocks. Float types get
 * values of a wide but overflow-free range. */
static void make_weights(uint32_t type, uint8_t *w, int64_t rows, int64_t n_in, int extreme) {
    const qtype_info *qi = qtype_get(type);
    const size_t row_bytes = (size_t)n_in / qi->block_elems * qi->block_bytes;
    for (size_t i = 0; i < row_bytes * (size_t)rows; i++) w[i] = (uint8_t)rnd_u64();
    const int64_t n = n_in * rows;
    if (type == QTYPE_F32) {
        for (int64_t i = 0; i < n; i++) {
            float v = (float)(rnd_sym() * pow(2.0, extreme ? rnd_int(60) - 30 : 0));
            if (extreme && rnd_int(50) == 0) v = 0.0f;
            memcpy(w + 4 * i, &v, 4);
        }
        return;
    }
    if (type == QTYPE_F16) {
        for (int64_t i = 0; i < n; i++) put16(w + 2 * i, extreme ? rnd_f16(1) : fp16_from_f32((float)rnd_sym()));
        return;
    }
    if (type == QTYPE_BF16) {
        for (int64_t i = 0; i < n; i++) {
            float v = (float)(rnd_sym() * pow(2.0, extreme ? rnd_int(80) - 40 : 0));
            uint16_t h = bf16_from_f32(v);
            if (extreme && rnd_int(40) == 0) h = (uint16_t)(rnd_int(2) << 15 | rnd_int(128)); /* subnormal */
            put16(w + 2 * i, h);
        }
        return;
    }
    const size_t nblocks = row_bytes / qi->block_bytes * (size_t)rows;
    for (size_t b = 0; b < nblocks; b++) {
        uint8_t *blk = w + b * qi->block_bytes;
        if (rnd_int(23) == 0) {
            memset(blk, 0, qi->block_bytes);
            continue;
        }
        for (int f = 0; f < qi->n_scales; f++) put16(blk + qi->scale_off[f], rnd_f16(extreme && rnd_int(3) == 0));
    }
}

/* ---- 2./3. gemm against the scalar level, and determinism ----------------------------- */

typedef struct problem {
    uint32_t type;
    int64_t n_in, rows;
    int32_t n_tok;
    size_t wrb, arb;
    uint8_t *w, *act;
    float *x;
    double *mag; /* [t * rows + r]: sum |w * a| */
    float *ref;  /* scalar y, [t * rows + r] */
} problem;

static int problem_new(problem *p, uint32_t type, int64_t n_in, int64_t rows, int32_t n_tok, int extreme) {
    memset(p, 0, sizeof *p);
    const qtype_info *qi = qtype_get(type);
    p->type = type;
    p->n_in = n_in;
    p->rows = rows;
    p->n_tok = n_tok;
    p->wrb = (size_t)n_in / qi->block_elems * qi->block_bytes;
    p->arb = quant_act_row_size(type, n_in);
    p->w = malloc(p->wrb * (size_t)rows); /* exact: ASan builds catch reads past the last row */
    p->act = malloc(p->arb * (size_t)n_tok);
    p->x = malloc(sizeof(float) * (size_t)(n_in * n_tok));
    p->mag = malloc(sizeof(double) * (size_t)(rows * n_tok));
    p->ref = malloc(sizeof(float) * (size_t)(rows * n_tok));
    float *wd = malloc(sizeof(float) * (size_t)n_in), *ad = malloc(sizeof(float) * (size_t)n_in);
    if (!p->w || !p->act || !p->x || !p->mag || !p->ref || !wd || !ad) {
        free(wd);
        free(ad);
        return 0;
    }
    make_weights(type, p->w, rows, n_in, extreme);
    for (int32_t t = 0; t < n_tok; t++) {
        const double sc = pow(10.0, rnd_int(7) - 3);
        float *xt = p->x + (size_t)t * (size_t)n_in;
        for (int64_t i = 0; i < n_in; i++) xt[i] = (float)(rnd_sym() * sc * (rnd_int(97) == 0 ? 30 : 1));
        if (t % 5 == 4) memset(xt, 0, sizeof(float) * (size_t)(n_in < 256 ? n_in : 256)); /* zero blocks */
        scalar()->quantize[type](xt, p->act + (size_t)t * p->arb, n_in);
    }
    /* |w * a| sums from dequantized weights and activations */
    const uint32_t at = quant_act_type(type);
    for (int64_t r = 0; r < rows; r++) {
        dequant_row(type, p->w + (size_t)r * p->wrb, wd, n_in);
        for (int32_t t = 0; t < n_tok; t++) {
            dequant_row(at, p->act + (size_t)t * p->arb, ad, n_in);
            double m = 0;
            for (int64_t i = 0; i < n_in; i++) m += fabs((double)wd[i] * (double)ad[i]);
            p->mag[t * rows + r] = m;
        }
    }
    free(wd);
    free(ad);
    scalar()->gemm[type](p->w, p->wrb, p->act, p->arb, n_in, 0, rows, n_tok, p->ref, rows);
    return 1;
}

static void problem_free(problem *p) {
    free(p->w);
    free(p->act);
    free(p->x);
    free(p->mag);
    free(p->ref);
}

/* y (stride ys) for rows [r0, r1), tokens [0, nt) against the scalar
 * reference; returns the number of failures (reports the first). */
static int check_against_ref(const problem *p, const float *y, int64_t ys, int64_t r0, int64_t r1, int32_t nt,
                             const char *what, double *worst, int report) {
    int bad = 0;
    for (int32_t t = 0; t < nt; t++)
        for (int64_t r = r0; r < r1; r++) {
            const double got = y[t * ys + r], ref = p->ref[t * p->rows + r], mag = p->mag[t * p->rows + r];
            const double err = fabs(got - ref);
            /* a non-finite reference (q8_1's f16 s overflows for large
             * activations, as in ggml) must be non-finite here too */
            const int ok = isfinite(ref) ? err <= 1e-5 * mag : !isfinite(got);
            if (!ok) {
                if (bad++ == 0 && report)
                    test_fail_at(__FILE__, __LINE__, "%s %s n_in %" PRId64 " row %" PRId64 " token %d: %.9g vs scalar %.9g (err %.3g, sum|w*a| %.3g)",
                                 qtype_get(p->type)->name, what, p->n_in, r, t, got, ref, err, mag);
            }
            if (isfinite(ref) && mag > 0 && err / mag > *worst) *worst = err / mag;
        }
    return bad;
}

/* The sentinel in y must survive outside rows [r0, r1) and tokens [0, nt). */
static int check_untouched(const float *y, int64_t ys, int64_t total_rows, int64_t r0, int64_t r1, int32_t total_tok,
                           int32_t nt) {
    for (int32_t t = 0; t < total_tok; t++)
        for (int64_t r = 0; r < ys; r++) {
            const int inside = t < nt && r >= r0 && r < r1;
            if (!inside && f32_to_bits(y[t * ys + r]) != 0x7fc12345u) return 0;
        }
    (void)total_rows;
    return 1;
}

static void fill_sentinel(float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = f32_from_bits(0x7fc12345u);
}

/* One (type, n_in): every n_tok of the list, unaligned rows, against the
 * scalar level; all bit-identical to the full-batch result; then random
 * row splits and token groupings, bit-identical too. */
static void run_problem(uint32_t type, int64_t n_in, int64_t rows, int extreme, const int32_t *toks, int n_toks,
                        double *worst) {
    problem p;
    int32_t max_tok = 0;
    for (int i = 0; i < n_toks; i++)
        if (toks[i] > max_tok) max_tok = toks[i];
    if (!problem_new(&p, type, n_in, rows, max_tok, extreme)) {
        problem_free(&p);
        test_fail_at(__FILE__, __LINE__, "out of memory");
        return;
    }
    const gemm_fn g = avx512()->gemm[type];
    const int64_t ys = rows + 3;
    const size_t ysize = (size_t)ys * (size_t)max_tok;
    float *full = malloc(sizeof(float) * ysize), *y = malloc(sizeof(float) * ysize);
    if (!full || !y) goto out;
    /* the whole batch over all rows */
    fill_sentinel(full, ysize);
    g(p.w, p.wrb, p.act, p.arb, n_in, 0, rows, max_tok, full, ys);
    CHECKF(check_untouched(full, ys, rows, 0, rows, max_tok, max_tok), "%s n_in %" PRId64 ": wrote outside y",
           qtype_get(type)->name, n_in);
    if (check_against_ref(&p, full, ys, 0, rows, max_tok, "full batch", worst, 1)) goto out;
    /* each n_tok on unaligned rows: same bits as the full batch */
    for (int i = 0; i < n_toks; i++) {
        const int32_t nt = toks[i];
        const int64_t r0 = rnd_int((int)(rows / 3) + 1), r1 = rows - rnd_int((int)(rows / 3) + 1);
        fill_sentinel(y, ysize);
        g(p.w, p.wrb, p.act, p.arb, n_in, r0, r1, nt, y, ys);
        CHECKF(check_untouched(y, ys, rows, r0, r1, max_tok, nt), "%s n_in %" PRId64 " n_tok %d rows [%" PRId64 ", %" PRId64 "): wrote outside",
               qtype_get(type)->name, n_in, nt, r0, r1);
        for (int32_t t = 0; t < nt; t++)
            for (int64_t r = r0; r < r1; r++)
                if (f32_to_bits(y[t * ys + r]) != f32_to_bits(full[t * ys + r])) {
                    test_fail_at(__FILE__, __LINE__, "%s n_in %" PRId64 " n_tok %d rows [%" PRId64 ", %" PRId64 "): row %" PRId64 " token %d %.9g differs from the full batch's %.9g",
                                 qtype_get(type)->name, n_in, nt, r0, r1, r, t, y[t * ys + r], full[t * ys + r]);
                    goto out;
                }
    }
    /* random row splits x token groupings */
    for (int rep = 0; rep < 3; rep++) {
        fill_sentinel(y, ysize);
        int32_t t0 = 0;
        while (t0 < max_tok) {
            int32_t nt = 1 + rnd_int(rnd_int(2) ? 5 : 20);
            if (nt > max_tok - t0) nt = max_tok - t0;
            int64_t r0 = 0;
            while (r0 < rows) {
                int64_t rn = 1 + rnd_int(rnd_int(2) ? 7 : 40);
                if (rn > rows - r0) rn = rows - r0;
                g(p.w, p.wrb, p.act + (size_t)t0 * p.arb, p.arb, n_in, r0, r0 + rn, nt, y + t0 * ys, ys);
                r0 += rn;
            }
            t0 += nt;
        }
        if (memcmp(y, full, sizeof(float) * ysize) != 0) {
            test_fail_at(__FILE__, __LINE__, "%s n_in %" PRId64 ": split rows / grouped tokens differ from the full batch",
                         qtype_get(type)->name, n_in);
            goto out;
        }
    }
out:
    free(full);
    free(y);
    problem_free(&p);
}

static void gemm_type(uint32_t type) {
    const qtype_info *qi = qtype_get(type);
    const int64_t blk = qi->block_elems == 1 ? 1 : (qi->block_elems == 32 ? 32 : 256);
    static const int32_t small_toks[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 64};
    static const int32_t big_toks[] = {1, 2, 3, 4, 5, 9, 17};
    /* prefill token blocks: on the stack up to about 20 tokens, on the heap
     * up to 96-134 (by type); 300 takes three heap blocks */
    static const int32_t long_toks[] = {21, 64, 150, 300};
    int64_t sizes[12];
    int ns = 0;
    if (blk == 1) {
        const int64_t s[] = {1, 3, 16, 17, 100, 1023, 1024, 1025, 2048 + 7};
        for (size_t i = 0; i < sizeof s / sizeof *s; i++) sizes[ns++] = s[i];
    } else if (blk == 32) {
        const int64_t s[] = {32, 64, 96, 480, 512, 544, 4064, 4096, 4128};
        for (size_t i = 0; i < sizeof s / sizeof *s; i++) sizes[ns++] = s[i];
    } else {
        const int64_t s[] = {256, 512, 768, 3840, 4096, 4352, 4608};
        for (size_t i = 0; i < sizeof s / sizeof *s; i++) sizes[ns++] = s[i];
    }
    double worst = 0;
    for (int i = 0; i < ns; i++)
        for (int extreme = 0; extreme < 2; extreme++)
            run_problem(type, sizes[i], 13 + rnd_int(30), extreme, small_toks, (int)(sizeof small_toks / sizeof *small_toks), &worst);
    run_problem(type, sizes[ns - 1], 11, 0, long_toks, (int)(sizeof long_toks / sizeof *long_toks), &worst);
    /* QwQ-sized rows */
    run_problem(type, 5120, 21, 1, big_toks, (int)(sizeof big_toks / sizeof *big_toks), &worst);
    run_problem(type, 27648, 9, 0, big_toks, (int)(sizeof big_toks / sizeof *big_toks), &worst);
    if (getenv("TEST_VERBOSE")) fprintf(stderr, "  %-5s max |err| / sum|w*a| = %.3g\n", qi->name, worst);
}

#define GEMM_CASE(T)                           \
    static void test_gemm_##T(void) {          \
        NEED_AVX512();                         \
        gemm_type(QTYPE_##T);                  \
    }
GEMM_CASE(Q8_0)
GEMM_CASE(Q4_0)
GEMM_CASE(Q4_K)
GEMM_CASE(Q6_K)
GEMM_CASE(Q5_K)
GEMM_CASE(Q5_0)
GEMM_CASE(Q4_1)
GEMM_CASE(Q5_1)
GEMM_CASE(Q2_K)
GEMM_CASE(Q3_K)
GEMM_CASE(F16)
GEMM_CASE(BF16)
GEMM_CASE(F32)

static void test_table_complete(void) {
    NEED_AVX512();
    const kernel_table *k = avx512();
    CHECK(k->level == QWQ_SIMD_AVX512);
    CHECK(strcmp(k->name, "avx512") == 0);
    for (int i = 0; i < N_TYPES; i++) {
        CHECKF(k->gemm[all_types[i]] != NULL, "%s", qtype_get(all_types[i])->name);
        CHECKF(k->quantize[all_types[i]] != NULL, "%s", qtype_get(all_types[i])->name);
        /* every type has its own AVX-512 gemm */
        CHECKF(k->gemm[all_types[i]] != scalar()->gemm[all_types[i]], "%s uses the scalar gemm", qtype_get(all_types[i])->name);
    }
}

/* n_in = 0: every y in the rows asked for is 0, as the scalar level has
 * it, and nothing else is written */
static void test_empty_rows(void) {
    NEED_AVX512();
    uint8_t w[64] = {0}, act[64] = {0};
    float y[5 * 9];
    for (int i = 0; i < N_TYPES; i++)
        for (int32_t nt = 1; nt <= 5; nt += 4) {
            fill_sentinel(y, sizeof y / sizeof *y);
            avx512()->gemm[all_types[i]](w, 0, act, 0, 0, 2, 7, nt, y, 9);
            int ok = check_untouched(y, 9, 9, 2, 7, 5, nt);
            for (int32_t t = 0; t < nt; t++)
                for (int r = 2; r < 7; r++) ok &= f32_to_bits(y[t * 9 + r]) == 0;
            CHECKF(ok, "%s n_tok %d: n_in = 0 must give zeros", qtype_get(all_types[i])->name, nt);
        }
}

/* ---- 4. the ggml reference blocks ------------------------------------------------------ */

/* The file's 16 rows of x as activations (extremes: +-60000, 1e-30, ...):
 * the same quantized bytes as the scalar level, y within 1e-5 of the
 * scalar's relative to sum |w * a| (+ sum |offset * a| for the types with
 * minimums, harness.h), and a batch of all 16 gives each token's decoded
 * bits. */
static void check_file_rows(const char *file, uint32_t type, const gguf_tensor *tw, const gguf_tensor *tx) {
    const int64_t C = (int64_t)tw->ne[0], R = (int64_t)tw->ne[1];
    const int32_t T = (int32_t)tx->ne[1];
    const size_t wrb = (size_t)tw->n_bytes / (size_t)R, arb = quant_act_row_size(type, C);
    const uint8_t *w = tw->data;
    uint8_t *aq = malloc(arb * (size_t)T), *aq_ref = malloc(arb * (size_t)T);
    float *y = malloc(sizeof(float) * (size_t)(R * T)), *y1 = malloc(sizeof(float) * (size_t)R);
    float *y_ref = malloc(sizeof(float) * (size_t)(R * T));
    float *wd = malloc(sizeof(float) * (size_t)C), *off = malloc(sizeof(float) * (size_t)C);
    float *ad = malloc(sizeof(float) * (size_t)(C * T));
    if (!aq || !aq_ref || !y || !y1 || !y_ref || !wd || !off || !ad) {
        test_fail_at(__FILE__, __LINE__, "out of memory");
        goto done;
    }
    for (int32_t t = 0; t < T; t++) {
        avx512()->quantize[type]((const float *)tx->data + t * C, aq + (size_t)t * arb, C);
        scalar()->quantize[type]((const float *)tx->data + t * C, aq_ref + (size_t)t * arb, C);
    }
    CHECKF(memcmp(aq, aq_ref, arb * (size_t)T) == 0, "%s: quantized rows of x differ", file);
    avx512()->gemm[type](w, wrb, aq, arb, C, 0, R, T, y, R);
    scalar()->gemm[type](w, wrb, aq_ref, arb, C, 0, R, T, y_ref, R);
    const uint32_t at = quant_act_type(type);
    int bad = 0, bad_bits = 0;
    for (int32_t t = 0; t < T; t++) {
        avx512()->gemm[type](w, wrb, aq + (size_t)t * arb, arb, C, 0, R, 1, y1, R);
        bad_bits += memcmp(y1, y + t * R, sizeof(float) * (size_t)R) != 0;
        if (at == QTYPE_F32) memcpy(ad + t * C, aq_ref + (size_t)t * arb, sizeof(float) * (size_t)C);
        else dequant_row(at, aq_ref + (size_t)t * arb, ad + t * C, C);
    }
    for (int64_t r = 0; r < R; r++) {
        dequant_row(type, w + (size_t)r * wrb, wd, C);
        const int has_min = test_min_offsets(type, w + (size_t)r * wrb, off, C);
        for (int32_t t = 0; t < T; t++) {
            const float *a_t = ad + t * C;
            double mag = 0;
            for (int64_t i = 0; i < C; i++)
                mag += fabs((double)wd[i] * a_t[i]) + (has_min ? fabs((double)off[i] * a_t[i]) : 0);
            const double got = y[t * R + r], want = y_ref[t * R + r];
            if (!(fabs(got - want) <= 1e-5 * mag + 1e-35) && bad++ == 0)
                test_fail_at(__FILE__, __LINE__, "%s row %" PRId64 " x row %d: %.9g vs scalar %.9g (sum|w*a| %.3g)",
                             file, r, t, got, want, mag);
        }
    }
    CHECKF(bad == 0, "%s: %d results of the rows of x out of the tolerance", file, bad);
    CHECKF(bad_bits == 0, "%s: %d rows of x decoded differ from the batch", file, bad_bits);
done:
    free(aq);
    free(aq_ref);
    free(y);
    free(y1);
    free(y_ref);
    free(wd);
    free(off);
    free(ad);
}

static void check_file(const char *file, uint32_t type) {
    NEED_AVX512();
    char path[1024], rel[128];
    snprintf(rel, sizeof rel, "quant/%s", file);
    if (!testdata_path(path, sizeof path, rel)) return;
    gguf_file *f = NULL;
    if (gguf_open(path, &f) != QWQ_OK) {
        test_fail_at(__FILE__, __LINE__, "gguf_open(%s): %s", path, err_message());
        return;
    }
    const gguf_tensor *tw = gguf_find_tensor(f, "w"), *ta = gguf_find_tensor(f, "a"), *td = gguf_find_tensor(f, "w.dot_a");
    const gguf_tensor *twd = gguf_find_tensor(f, "w.dequant");
    /* ggml's f16 / bf16 dots (and w.dot_a.ref) round the activations to
     * f16 / bf16; ours take them unrounded (quant.h), so those compare with
     * the exact product of w.dequant and a, computed here */
    const int is_float = type == QTYPE_F16 || type == QTYPE_BF16;
    if (!tw || !ta || !td || !twd || tw->type != type || ta->type != QTYPE_F32) {
        test_fail_at(__FILE__, __LINE__, "%s: missing or mistyped tensors", file);
        gguf_close(f);
        return;
    }
    const int64_t C = (int64_t)tw->ne[0], R = (int64_t)tw->ne[1];
    const size_t wrb = (size_t)tw->n_bytes / (size_t)R, arb = quant_act_row_size(type, C);
    uint8_t *aq = malloc(arb), *aq_ref = malloc(arb);
    float *y = malloc(sizeof(float) * (size_t)R), *y_ref = malloc(sizeof(float) * (size_t)R), *ad = malloc(sizeof(float) * (size_t)C);
    if (aq && aq_ref && y && y_ref && ad) {
        avx512()->quantize[type](ta->data, aq, C);
        scalar()->quantize[type](ta->data, aq_ref, C);
        CHECKF(memcmp(aq, aq_ref, arb) == 0, "%s: quantized activations differ", file);
        avx512()->gemm[type](tw->data, wrb, aq, arb, C, 0, R, 1, y, R);
        scalar()->gemm[type](tw->data, wrb, aq_ref, arb, C, 0, R, 1, y_ref, R);
        dequant_row(quant_act_type(type), aq_ref, ad, C);
        const float *wdq = twd->data, *dot_ggml = td->data;
        /* ggml's q4_1 / q5_1 activations round s differently (test_quant) */
        const double ggml_tol = type == QTYPE_Q4_1 || type == QTYPE_Q5_1 ? 1e-3 : 1e-5;
        for (int64_t r = 0; r < R; r++) {
            double mag = 0, exact = 0;
            for (int64_t i = 0; i < C; i++) {
                mag += fabs((double)wdq[r * C + i] * ad[i]);
                exact += (double)wdq[r * C + i] * ad[i];
            }
            const double want = is_float ? exact : dot_ggml[r];
            CHECKF(fabs((double)y[r] - y_ref[r]) <= 1e-5 * mag, "%s row %" PRId64 ": %.9g vs scalar %.9g", file, r,
                   y[r], y_ref[r]);
            CHECKF(fabs((double)y[r] - want) <= ggml_tol * mag, "%s row %" PRId64 ": %.9g vs %s %.9g", file, r, y[r],
                   is_float ? "exact" : "ggml", want);
        }
    } else {
        test_fail_at(__FILE__, __LINE__, "out of memory");
    }
    const gguf_tensor *tx = gguf_find_tensor(f, "x");
    if (tx && tx->type == QTYPE_F32 && tx->n_dims == 2 && (int64_t)tx->ne[0] == C && tx->ne[1] >= 1 && tx->ne[1] <= 64)
        check_file_rows(file, type, tw, tx);
    else test_fail_at(__FILE__, __LINE__, "%s: no F32 x of %" PRId64 " columns", file, C);
    free(aq);
    free(aq_ref);
    free(y);
    free(y_ref);
    free(ad);
    gguf_close(f);
}

#define FILE_CASE(name, file, T) \
    static void test_file_##name(void) { check_file(file, T); }
FILE_CASE(f16, "f16.gguf", QTYPE_F16)
FILE_CASE(bf16, "bf16.gguf", QTYPE_BF16)
FILE_CASE(q4_0, "q4_0.gguf", QTYPE_Q4_0)
FILE_CASE(q4_1, "q4_1.gguf", QTYPE_Q4_1)
FILE_CASE(q5_0, "q5_0.gguf", QTYPE_Q5_0)
FILE_CASE(q5_1, "q5_1.gguf", QTYPE_Q5_1)
FILE_CASE(q8_0, "q8_0.gguf", QTYPE_Q8_0)
FILE_CASE(q2_K, "q2_k.gguf", QTYPE_Q2_K)
FILE_CASE(q3_K, "q3_k.gguf", QTYPE_Q3_K)
FILE_CASE(q4_K, "q4_k.gguf", QTYPE_Q4_K)
FILE_CASE(q5_K, "q5_k.gguf", QTYPE_Q5_K)
FILE_CASE(q6_K, "q6_k.gguf", QTYPE_Q6_K)

/* ---- 5. the checks can fail ------------------------------------------------------------ */

/* Changing one weight block must move some result out of the tolerance
 * (so the tolerance above is not vacuous), and one changed activation
 * byte must change the quantized bytes compared above. */
static void test_checker_detects_errors(void) {
    NEED_AVX512();
    for (int i = 0; i < N_TYPES; i++) {
        const uint32_t type = all_types[i];
        problem p;
        if (!problem_new(&p, type, 512, 4, 2, 0)) {
            problem_free(&p);
            test_fail_at(__FILE__, __LINE__, "out of memory");
            return;
        }
        /* flip every byte of the second quarter of row 1 */
        for (size_t b = p.wrb / 4; b < p.wrb / 2; b++) p.w[p.wrb + b] ^= 0x5a;
        float y[8];
        avx512()->gemm[type](p.w, p.wrb, p.act, p.arb, 512, 0, 4, 2, y, 4);
        double worst = 0;
        int bad = check_against_ref(&p, y, 4, 0, 4, 2, "perturbed", &worst, 0);
        CHECKF(bad > 0, "%s: a perturbed row passed the check (worst %.3g)", qtype_get(type)->name, worst);
        problem_free(&p);
    }
    float x[256];
    uint8_t a[300], b[300];
    make_row(x, 256, 0);
    avx512()->quantize[QTYPE_Q4_K](x, a, 256);
    x[17] = 1e30f; /* a new maximum: every byte changes */
    avx512()->quantize[QTYPE_Q4_K](x, b, 256);
    CHECK(memcmp(a, b, quant_act_row_size(QTYPE_Q4_K, 256)) != 0);
}

int main(void) {
    RUN(test_table_complete);
    RUN(test_quantizers_bit_identical);
    RUN(test_gemm_Q8_0);
    RUN(test_gemm_Q4_0);
    RUN(test_gemm_Q4_K);
    RUN(test_gemm_Q6_K);
    RUN(test_gemm_Q5_K);
    RUN(test_gemm_Q5_0);
    RUN(test_gemm_Q4_1);
    RUN(test_gemm_Q5_1);
    RUN(test_gemm_Q2_K);
    RUN(test_gemm_Q3_K);
    RUN(test_gemm_F16);
    RUN(test_gemm_BF16);
    RUN(test_gemm_F32);
    RUN(test_empty_rows);
    RUN(test_file_f16);
    RUN(test_file_bf16);
    RUN(test_file_q4_0);
    RUN(test_file_q4_1);
    RUN(test_file_q5_0);
    RUN(test_file_q5_1);
    RUN(test_file_q8_0);
    RUN(test_file_q2_K);
    RUN(test_file_q3_K);
    RUN(test_file_q4_K);
    RUN(test_file_q5_K);
    RUN(test_file_q6_K);
    RUN(test_checker_detects_errors);
    return test_summary();
}
