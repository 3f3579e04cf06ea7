/*
 * Numerics of the forward pass against naive double-precision loops:
 * dot, RMSNorm, RoPE, softmax, SwiGLU (every SIMD level), and the threaded matrix product for
 * every weight type the kernels support (against dequantise-then-loop).
 */
#include <math.h>
#include <stdint.h>

#include "harness.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "kernels/quant.h"
#include "model/model.h"
#include "threads/pool.h"
#include "util/util.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double rnd(void) { /* splitmix64 -> [-1, 1) */
    return (double)(test_splitmix64(&rng_state) >> 11) / (double)(1ull << 52) - 1.0;
}

static void fill(float *x, int n, double scale) {
    for (int i = 0; i < n; i++) x[i] = (float)(rnd() * scale);
}

static void test_dot(void) {
    for (int n = 0; n <= 67; n++) {
        float a[67], b[67];
        fill(a, n, 1);
        fill(b, n, 1);
        double ref = 0, mag = 0;
        for (int i = 0; i < n; i++) {
            ref += (double)a[i] * b[i];
            mag += fabs((double)a[i] * b[i]);
        }
        float got = ops_dot_f32(a, b, n);
        CHECKF(fabs(got - ref) <= 1e-6 * (mag + 1e-30) + 1e-30, "n=%d got %g ref %g", n, (double)got, ref);
    }
}

static void test_rmsnorm(void) {
    enum { N = 100 };
    float x[N], w[N], out[N];
    fill(x, N, 3);
    fill(w, N, 1);
    double ss = 0;
    for (int i = 0; i < N; i++) ss += (double)x[i] * x[i];
    double scale = 1.0 / sqrt(ss / N + 1e-5);
    ops_rmsnorm(out, x, w, N, 1e-5f);
    for (int i = 0; i < N; i++) CHECKF(fabs(out[i] - x[i] * scale * w[i]) < 1e-5, "i=%d", i);
    /* in place gives the same bits */
    float y[N];
    memcpy(y, x, sizeof y);
    ops_rmsnorm(y, y, w, N, 1e-5f);
    CHECK(memcmp(y, out, sizeof y) == 0);
    /* all-zero input stays finite: eps guards the division */
    float z[N] = {0};
    ops_rmsnorm(out, z, w, N, 1e-6f);
    for (int i = 0; i < N; i++) CHECK(out[i] == 0.0f);
}

static void test_rope(void) {
    enum { D = 16, HALF = D / 2 };
    float freq[HALF], c[HALF], s[HALF];
    for (int i = 0; i < HALF; i++) freq[i] = (float)pow(1e6, -2.0 * i / D);
    for (int pos = 0; pos < 300; pos += 37) {
        float v[D], ref[D];
        fill(v, D, 1);
        ops_rope_angles(c, s, freq, HALF, pos);
        for (int i = 0; i < HALF; i++) {
            double th = pos * pow(1e6, -2.0 * i / D);
            ref[i] = (float)(v[i] * cos(th) - v[i + HALF] * sin(th));
            ref[i + HALF] = (float)(v[i] * sin(th) + v[i + HALF] * cos(th));
        }
        double norm_before = 0, norm_after = 0;
        for (int i = 0; i < D; i++) norm_before += (double)v[i] * v[i];
        ops_rope_neox(v, c, s, D);
        for (int i = 0; i < D; i++) {
            norm_after += (double)v[i] * v[i];
            CHECKF(fabs(v[i] - ref[i]) < 1e-5, "pos %d i %d: %g vs %g", pos, i, (double)v[i], (double)ref[i]);
        }
        CHECK(fabs(norm_before - norm_after) < 1e-4); /* a rotation keeps the length */
    }
    /* position 0 is the identity */
    float v[D], keep[D];
    fill(v, D, 1);
    memcpy(keep, v, sizeof v);
    ops_rope_angles(c, s, freq, HALF, 0);
    ops_rope_neox(v, c, s, D);
    CHECK(memcmp(v, keep, sizeof v) == 0);
}

static void test_softmax(void) {
    enum { N = 50 };
    float x[N];
    fill(x, N, 20);
    x[7] = 1000.0f; /* overflow without the max shift */
    double ref[N], sum = 0;
    for (int i = 0; i < N; i++) sum += exp((double)x[i] - 1000.0);
    for (int i = 0; i < N; i++) ref[i] = exp((double)x[i] - 1000.0) / sum;
    ops_softmax(x, N);
    double total = 0;
    for (int i = 0; i < N; i++) {
        CHECKF(fabs(x[i] - ref[i]) < 1e-6, "i %d", i);
        total += x[i];
    }
    CHECK(fabs(total - 1.0) < 1e-5);
}

static void test_swiglu(void) {
    float g[5] = {-20, -1, 0, 1, 20}, u[5] = {1, 2, 3, 4, 5};
    float ref[5];
    for (int i = 0; i < 5; i++) ref[i] = (float)(g[i] / (1 + exp(-(double)g[i])) * u[i]);
    ops_swiglu(g, u, 5);
    for (int i = 0; i < 5; i++) CHECKF(fabs(g[i] - ref[i]) < 1e-5 * (1 + fabs(ref[i])), "i %d", i);
}

/* The kernel table's swiglu at every level this CPU has: within 4e-7
 * relative (about 3 ulp) of double precision over magnitudes 1e-6 .. 100,
 * the special values, and the same bits whatever the split of the array
 * into calls (a thread's range may start and end anywhere). */
static void test_swiglu_levels(void) {
    enum { N = 1000 };
    static float g0[N], u0[N], whole[N], parts[N];
    const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 88.0f, -88.0f, 90.0f, -90.0f, 104.0f, -104.0f,
                             200.0f, -200.0f, INFINITY, NAN, 1.0f, -1.0f};
    const int NS = (int)(sizeof special / sizeof *special);
    for (int i = 0; i < N; i++) {
        const double mag = pow(10.0, -6.0 + 8.0 * (double)(test_splitmix64(&rng_state) >> 11) / (double)(1ull << 53));
        g0[i] = i < NS ? special[i] : (float)(rnd() * mag);
        u0[i] = i < NS ? 1.0f : (float)rnd();
    }
    int levels = 0;
    for (int level = QWQ_SIMD_SCALAR; level <= QWQ_SIMD_DOTPROD; level++) {
        const kernel_table *kern = kernels_level((qwq_simd_level)level);
        if (!kern) continue;
        levels++;
        memcpy(whole, g0, sizeof whole);
        kern->swiglu(whole, u0, N);
        for (int i = 0; i < N; i++) {
            const double g = g0[i], ref = g / (1.0 + exp(-g)) * u0[i];
            if (isnan(ref)) {
                CHECKF(isnan(whole[i]), "%s: swiglu(%g) = %g, not NaN", kern->name, g, (double)whole[i]);
                continue;
            }
            if (isinf(ref)) {
                CHECKF(whole[i] == ref, "%s: swiglu(%g) = %g, not %g", kern->name, g, (double)whole[i], ref);
                continue;
            }
            /* absolute 1e-35: where e^-|g| leaves the float range (the
             * AVX2 and NEON exponentials stop at e^-87) */
            CHECKF(fabs(whole[i] - ref) <= 4e-7 * fabs(ref) + 1e-35, "%s: swiglu(%.9g) * %.9g = %.9g, double %.9g",
                   kern->name, g, (double)u0[i], (double)whole[i], ref);
        }
        for (int trial = 0; trial < 20; trial++) {
            memcpy(parts, g0, sizeof parts);
            for (int i = 0; i < N;) {
                int n = 1 + (int)(test_splitmix64(&rng_state) % 40);
                if (n > N - i) n = N - i;
                kern->swiglu(parts + i, u0 + i, n);
                i += n;
            }
            CHECKF(memcmp(parts, whole, sizeof whole) == 0, "%s: split calls give other bits", kern->name);
        }
    }
    CHECK(levels >= 1);
}

/* forward_matmul for each weight type, every SIMD level this CPU has and
 * 1..3 threads: (1) the scalar level equals, bit for bit, the scalar dot of
 * each row with the quantised activation row; (2) every level is within
 * 1e-5 of sum |w * a| of the scalar level; (3) all are within the
 * activation-quantisation error of the exact float product. */
static void test_matmul_all_types(void) {
    enum { N_IN = 512, N_OUT = 37, T = 5 };
    uint32_t types[] = {QTYPE_F32, QTYPE_F16, QTYPE_BF16, QTYPE_Q8_0, QTYPE_Q4_0, QTYPE_Q4_1, QTYPE_Q5_0,
                        QTYPE_Q5_1, QTYPE_Q2_K, QTYPE_Q3_K, QTYPE_Q4_K, QTYPE_Q5_K, QTYPE_Q6_K};
    static float wf[N_OUT * N_IN], x[T * N_IN], y[T * N_OUT], y_scalar[T * N_OUT], deq[N_IN], bias[N_OUT];
    static uint8_t act[T * N_IN * 4];
    fill(x, T * N_IN, 1);
    fill(bias, N_OUT, 1);
    int levels_seen = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        const qtype_info *qi = qtype_get(types[ti]);
        REQUIRE(qi->supported);
        size_t row_bytes = N_IN / qi->block_elems * qi->block_bytes;
        uint8_t *w = malloc(row_bytes * N_OUT);
        fill(wf, N_OUT * N_IN, 0.5);
        for (size_t i = 0; i < row_bytes * N_OUT; i++) w[i] = (uint8_t)(rnd() * 128 + 128);
        if (types[ti] == QTYPE_F32) memcpy(w, wf, sizeof wf);
        if (types[ti] == QTYPE_F16 || types[ti] == QTYPE_BF16)
            for (int i = 0; i < N_OUT * N_IN; i++) {
                uint16_t h = types[ti] == QTYPE_F16 ? fp16_from_f32(wf[i]) : bf16_from_f32(wf[i]);
                memcpy(w + 2 * i, &h, 2);
            }
        /* random scale bytes can be huge or NaN: zero such rows */
        for (int o = 0; o < N_OUT; o++) {
            dequant_row(types[ti], w + o * row_bytes, deq, N_IN);
            int ok = 1;
            for (int i = 0; i < N_IN; i++) ok &= isfinite(deq[i]) && fabsf(deq[i]) < 1e4f;
            if (!ok) memset(w + o * row_bytes, 0, row_bytes);
        }
        weight wt = {"w", w, types[ti], N_IN, N_OUT, row_bytes};
        size_t arb = quant_act_row_size(types[ti], N_IN);
        for (int t = 0; t < T; t++) quantize_row_act(types[ti], x + t * N_IN, act + t * arb, N_IN);
        qwq_model dummy;
        memset(&dummy, 0, sizeof dummy);
        dummy.hp.n_embd = N_IN;
        dummy.hp.n_ff = N_IN;
        dummy.hp.n_head = 1;
        dummy.hp.n_head_kv = 1;
        dummy.hp.head_dim = 2;
        for (int level = QWQ_SIMD_SCALAR; level <= QWQ_SIMD_DOTPROD; level++) {
            const kernel_table *kern = kernels_level((qwq_simd_level)level);
            if (!kern) continue;
            if (ti == 0) levels_seen++;
            for (int nt = 1; nt <= 3; nt++) {
                thread_pool *pool = NULL;
                forward_scratch *s = NULL;
                REQUIRE(pool_new(nt, &pool) == QWQ_OK);
                REQUIRE(forward_scratch_new(&dummy, T, 8, nt, &s) == QWQ_OK);
                forward_matmul(s, pool, kern, &wt, x, T, bias, y);
                for (int o = 0; o < N_OUT; o++) {
                    dequant_row(types[ti], w + o * row_bytes, deq, N_IN);
                    for (int t = 0; t < T; t++) {
                        float got = y[t * N_OUT + o];
                        float want = vec_dot(types[ti], w + o * row_bytes, act + t * arb, N_IN) + bias[o];
                        double exact = bias[o], mag = fabs(bias[o]);
                        for (int i = 0; i < N_IN; i++) {
                            exact += (double)deq[i] * x[t * N_IN + i];
                            mag += fabs((double)deq[i] * x[t * N_IN + i]);
                        }
                        if (level == QWQ_SIMD_SCALAR) {
                            CHECKF(got == want, "%s scalar row %d token %d: %g vs %g", qi->name, o, t, (double)got,
                                   (double)want);
                            y_scalar[t * N_OUT + o] = got;
                        } else {
                            CHECKF(fabs(got - y_scalar[t * N_OUT + o]) <= 1e-5 * mag + 1e-30,
                                   "%s %s (%d threads) row %d token %d: %g vs scalar %g", qi->name, kern->name, nt, o,
                                   t, (double)got, (double)y_scalar[t * N_OUT + o]);
                        }
                        /* 8-bit activations: error well under 1% of sum |w a| */
                        CHECKF(fabs(got - exact) <= 1e-2 * mag + 1e-30, "%s %s row %d token %d: %g vs exact %g",
                               qi->name, kern->name, o, t, (double)got, exact);
                    }
                }
                forward_scratch_free(s);
                pool_free(pool);
            }
        }
        free(w);
    }
    fprintf(stderr, "ops: matmul checked at %d SIMD level(s)\n", levels_seen);
}

/* forward_matmuls (several products of one input in one job, rows handed
 * out in chunks to whichever thread is free) gives the bits of separate
 * forward_matmul calls: activation formats shared (Q4_K + Q6_K) or not
 * (Q8_0, Q6_K, F16), decode and prefill, 1..3 threads, matrices of many
 * chunks. */
static void test_fused_matmuls(void) {
    enum { N_IN = 512, N_OUT = 6000, T = 5 };
    const uint32_t sets[2][3] = {{QTYPE_Q8_0, QTYPE_Q6_K, QTYPE_F16}, {QTYPE_Q4_K, QTYPE_Q6_K, 0}};
    const int n_in_set[2] = {3, 2};
    float *x = malloc(sizeof(float) * T * N_IN);
    fill(x, T * N_IN, 1);
    qwq_model dummy;
    memset(&dummy, 0, sizeof dummy);
    dummy.hp.n_embd = dummy.hp.n_ff = N_IN;
    dummy.hp.n_head = dummy.hp.n_head_kv = 1;
    dummy.hp.head_dim = 2;
    for (int si = 0; si < 2; si++) {
        const int n = n_in_set[si];
        weight w[3];
        float *bias[3], *y[3], *want[3];
        for (int i = 0; i < n; i++) {
            const qtype_info *qi = qtype_get(sets[si][i]);
            size_t rb = N_IN / qi->block_elems * qi->block_bytes;
            uint8_t *d = malloc(rb * N_OUT);
            if (sets[si][i] == QTYPE_F16)
                for (size_t k = 0; k < (size_t)N_IN * N_OUT; k++) {
                    uint16_t h = fp16_from_f32((float)(rnd() * 0.5));
                    memcpy(d + 2 * k, &h, 2);
                }
            else
                for (size_t k = 0; k < rb * N_OUT; k++) d[k] = (uint8_t)(rnd() * 128 + 128);
            w[i] = (weight){"w", d, sets[si][i], N_IN, N_OUT, rb};
            bias[i] = malloc(sizeof(float) * N_OUT);
            fill(bias[i], N_OUT, 1);
            y[i] = malloc(sizeof(float) * T * N_OUT);
            want[i] = malloc(sizeof(float) * T * N_OUT);
        }
        for (int level = QWQ_SIMD_SCALAR; level <= QWQ_SIMD_DOTPROD; level++) {
            const kernel_table *kern = kernels_level((qwq_simd_level)level);
            if (!kern) continue;
            for (int nt = 1; nt <= 3; nt++)
                for (int tokens = 1; tokens <= T; tokens += T - 1) {
                    thread_pool *pool = NULL;
                    forward_scratch *s = NULL;
                    REQUIRE(pool_new(nt, &pool) == QWQ_OK);
                    REQUIRE(forward_scratch_new(&dummy, T, 8, nt, &s) == QWQ_OK);
                    matmul_product p[3];
                    for (int i = 0; i < n; i++) {
                        forward_matmul(s, pool, kern, &w[i], x, tokens, i == 1 ? NULL : bias[i], want[i]);
                        p[i] = (matmul_product){&w[i], i == 1 ? NULL : bias[i], y[i]};
                    }
                    forward_matmuls(s, pool, kern, p, n, x, tokens);
                    for (int i = 0; i < n; i++)
                        CHECKF(memcmp(y[i], want[i], sizeof(float) * (size_t)tokens * N_OUT) == 0,
                               "%s: product %d (%s) of %d, %d token(s), %d threads differs from its own call",
                               kern->name, i, qtype_get(sets[si][i])->name, n, tokens, nt);
                    forward_scratch_free(s);
                    pool_free(pool);
                }
        }
        for (int i = 0; i < n; i++) free((void *)w[i].data), free(bias[i]), free(y[i]), free(want[i]);
    }
    free(x);
}

static void work(void *ctx, int w, int nw) {
    int *hits = ctx;
    long b, e;
    pool_split(1000, w, nw, &b, &e);
    for (long i = b; i < e; i++) hits[i]++;
}

static void test_pool_covers_every_item_once(void) {
    for (int nt = 1; nt <= 5; nt++) {
        thread_pool *pool = NULL;
        REQUIRE(pool_new(nt, &pool) == QWQ_OK);
        CHECK(pool_size(pool) == nt);
        static int hits[1000];
        memset(hits, 0, sizeof hits);
        for (int rep = 0; rep < 200; rep++) pool_run(pool, work, hits);
        for (int i = 0; i < 1000; i++) CHECKF(hits[i] == 200, "threads %d item %d hit %d times", nt, i, hits[i]);
        pool_free(pool);
    }
}

int main(void) {
    RUN(test_dot);
    RUN(test_rmsnorm);
    RUN(test_rope);
    RUN(test_softmax);
    RUN(test_swiglu);
    RUN(test_swiglu_levels);
    RUN(test_matmul_all_types);
    RUN(test_fused_matmuls);
    RUN(test_pool_covers_every_item_once);
    return test_summary();
}
