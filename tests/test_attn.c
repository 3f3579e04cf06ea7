/*
 * The attention kernels (kernels/attn.h) of every level this CPU has,
 * against a naive double-precision softmax(q k^T * scale) v over the paged
 * cache: odd head sizes, group sizes, chunk and block edges, peaked and
 * flat softmaxes, one and several segments. Also the invariant the forward
 * pass relies on: a row gives the same bits whatever tile it is computed in
 * (a 4-token tile or token by token) and by the decode path (segments on
 * any number of workers, then merged), so batch and decode agree; and
 * the dealing to a thread pool (attn_batch_share, attn_decode_parts), by
 * round-robin and by the workers' shared counter.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels/kernels.h"
#include "kvcache/kvcache.h"
#include "threads/pool.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static double rnd(void) { /* splitmix64 -> [-1, 1) */
    return (double)(test_splitmix64(&rng_state) >> 11) / (double)(1ull << 52) - 1.0;
}

typedef struct setup {
    int32_t D, G, Hkv, n_pos;
    double q_scale; /* larger: more peaked softmax */
} setup;

/* out[D] of one row in double precision, from the keys and values as they
 * were stored (kvs[p] = key row, then value row, of kv_dim each), not
 * through the cache: the cache's layout is under test too */
static void naive_row(const float *kvs, int32_t kv_dim, int32_t g, int32_t D, const float *q, int32_t n_pos, float scale,
                      double *out) {
    double *s = malloc(sizeof(double) * (size_t)n_pos), m = -INFINITY, sum = 0;
    for (int32_t p = 0; p < n_pos; p++) {
        const float *key = kvs + (size_t)p * 2 * kv_dim + (size_t)g * D;
        double dot = 0;
        for (int32_t d = 0; d < D; d++) dot += (double)q[d] * key[d];
        s[p] = dot * scale;
        if (s[p] > m) m = s[p];
    }
    for (int32_t d = 0; d < D; d++) out[d] = 0;
    for (int32_t p = 0; p < n_pos; p++) {
        double w = exp(s[p] - m);
        sum += w;
        const float *v = kvs + ((size_t)p * 2 + 1) * kv_dim + (size_t)g * D;
        for (int32_t d = 0; d < D; d++) out[d] += w * v[d];
    }
    for (int32_t d = 0; d < D; d++) out[d] /= sum;
    free(s);
}

/* attn.h's dealing on a real pool, workers taking tiles or segments from
 * the shared counter (next) as they come free */
typedef struct dealt_job {
    const kernel_table *kt;
    attn_batch batch;
    attn_decode decode;
    float *work; /* work_floats per worker */
    size_t work_floats;
} dealt_job;
static void batch_worker(void *ctx, int w, int nw) {
    const dealt_job *j = ctx;
    attn_batch_share(j->kt->attention, &j->batch, j->work + (size_t)w * j->work_floats, w, nw);
}
static void parts_worker(void *ctx, int w, int nw) {
    const dealt_job *j = ctx;
    attn_decode_parts(j->kt->attention_part, &j->decode, j->work + (size_t)w * j->work_floats, w, nw);
}
static void merge_worker(void *ctx, int w, int nw) {
    const dealt_job *j = ctx;
    attn_decode_merge(j->kt->attention_merge, &j->decode, w, nw);
}

static void run_setup(const setup *su, thread_pool *pool) {
    const int32_t D = su->D, G = su->G, Hkv = su->Hkv, H = G * Hkv, N = su->n_pos, kv_dim = Hkv * D;
    kv_cache kv;
    REQUIRE(kv_init(&kv, 2, Hkv, D, N + 40) == QWQ_OK);
    REQUIRE(kv_prepare(&kv, 0, N) == QWQ_OK);
    /* every layer's rows, kept for the reference: [layer][pos] { key, value } */
    float *kvs = malloc(sizeof(float) * 2 * (size_t)N * 2 * (size_t)kv_dim);
    REQUIRE(kvs != NULL);
    for (int32_t l = 0; l < 2; l++)
        for (int32_t p = 0; p < N; p++) {
            float *k = kvs + ((size_t)l * N + (size_t)p) * 2 * kv_dim, *v = k + kv_dim;
            for (int32_t i = 0; i < kv_dim; i++) k[i] = (float)rnd(), v[i] = (float)rnd();
            kv_store(&kv, l, p, k, v);
        }
    /* queries of the last T tokens (positions N - T .. N - 1) */
    const int32_t T = N < 9 ? N : 9;
    const size_t row = (size_t)H * D;
    float *q = malloc(sizeof(float) * (size_t)T * row);
    for (size_t i = 0; i < (size_t)T * row; i++) q[i] = (float)(rnd() * su->q_scale);
    float *got = malloc(sizeof(float) * (size_t)T * row), *one = malloc(sizeof(float) * (size_t)T * row);
    double *ref = malloc(sizeof(double) * (size_t)D);
    float *work = malloc(sizeof(float) * attn_work_floats(G, D));
    float *part = malloc(sizeof(float) * attn_decode_part_floats(N, H, D));
    float *dec = malloc(sizeof(float) * row), *pwork = malloc(sizeof(float) * attn_part_work_floats(H));
    const size_t thread_floats = attn_thread_work_floats(H, Hkv, D);
    float *twork = malloc(sizeof(float) * thread_floats * (size_t)pool_size(pool));
    float *pooled = malloc(sizeof(float) * (size_t)T * row);
    REQUIRE(part && dec && pwork && twork && pooled);
    const float scale = attn_scale(D);
    const int32_t layer = 1;
    for (int lv = QWQ_SIMD_SCALAR; lv <= QWQ_SIMD_DOTPROD; lv++) {
        const kernel_table *kt = kernels_level((qwq_simd_level)lv);
        if (!kt) continue;
        double worst = 0;
        for (int32_t g = 0; g < Hkv; g++) {
            /* tiles of up to ATTN_TILE_TOKENS tokens, then token by token */
            for (int pass = 0; pass < 2; pass++) {
                const int32_t step = pass == 0 ? ATTN_TILE_TOKENS : 1;
                float *dst = pass == 0 ? got : one;
                for (int32_t t0 = 0; t0 < T; t0 += step) {
                    attn_tile a = {.kv = &kv,
                                   .layer = layer,
                                   .kv_head = g,
                                   .head_dim = D,
                                   .group = G,
                                   .n_tok = T - t0 < step ? T - t0 : step,
                                   .first_pos = N - T + t0,
                                   .scale = scale,
                                   .q = q + (size_t)t0 * row + (size_t)g * G * D,
                                   .q_stride = row,
                                   .out = dst + (size_t)t0 * row + (size_t)g * G * D,
                                   .out_stride = row};
                    kt->attention(&a, work);
                }
            }
            for (int32_t t = 0; t < T; t++)
                for (int32_t h = 0; h < G; h++) {
                    const size_t off = (size_t)t * row + ((size_t)g * G + (size_t)h) * D;
                    naive_row(kvs + (size_t)layer * N * 2 * kv_dim, kv_dim, g, D, q + off, N - T + t + 1, scale, ref);
                    for (int32_t d = 0; d < D; d++) {
                        double e = fabs(got[off + d] - ref[d]);
                        if (e > worst) worst = e;
                    }
                    CHECKF(memcmp(got + off, one + off, sizeof(float) * (size_t)D) == 0,
                           "%s D=%d G=%d n=%d: token %d head %d differs between a tile and alone",
                           kt->name, D, G, N, t, h);
                }
        }
        /* the decode path, every token, on 1 and on 3 workers (run one after
         * the other): the same bits as the tiles */
        for (int32_t t = 0; t < T; t++)
            for (int nw = 1; nw <= 3; nw += 2) {
                memset(dec, 0xff, sizeof(float) * row);
                const attn_decode d = {&kv, layer, H, Hkv, D, N - T + t + 1, q + (size_t)t * row, dec, part, NULL};
                for (int w = 0; w < nw; w++) attn_decode_parts(kt->attention_part, &d, pwork, w, nw);
                for (int w = 0; w < nw; w++) attn_decode_merge(kt->attention_merge, &d, w, nw);
                CHECKF(memcmp(dec, got + (size_t)t * row, sizeof(float) * row) == 0,
                       "%s D=%d G=%d Hkv=%d n=%d: token %d decoded by segments on %d workers differs from its tile",
                       kt->name, D, G, Hkv, N - T + t + 1, t, nw);
            }
        /* the pool's workers taking tiles and segments from a shared
         * counter: the batch, then each token decoded, the same bits */
        atomic_long next;
        dealt_job j = {.kt = kt,
                      .batch = {&kv, layer, H, Hkv, D, T, N - T, q, pooled, &next},
                      .work = twork,
                      .work_floats = thread_floats};
        memset(pooled, 0xff, sizeof(float) * (size_t)T * row);
        atomic_init(&next, 0);
        pool_run(pool, batch_worker, &j);
        CHECKF(memcmp(pooled, got, sizeof(float) * (size_t)T * row) == 0,
               "%s D=%d G=%d Hkv=%d n=%d: the batch dealt to %d threads differs from its tiles", kt->name, D, G, Hkv,
               N, pool_size(pool));
        for (int32_t t = 0; t < T; t++) {
            memset(dec, 0xff, sizeof(float) * row);
            j.decode = (attn_decode){&kv, layer, H, Hkv, D, N - T + t + 1, q + (size_t)t * row, dec, part, &next};
            atomic_init(&next, 0);
            pool_run(pool, parts_worker, &j);
            pool_run(pool, merge_worker, &j);
            CHECKF(memcmp(dec, got + (size_t)t * row, sizeof(float) * row) == 0,
                   "%s D=%d G=%d Hkv=%d n=%d: token %d decoded by %d threads differs from its tile", kt->name, D, G,
                   Hkv, N - T + t + 1, t, pool_size(pool));
        }
        /* values in [-1, 1]: an f32 weighted mean is good to a few 1e-7,
         * plus the f32 rounding of scores of size ~ q_scale * sqrt(D) / 3
         * that the exponential carries into the weights */
        const double tol = 2e-6 * (1.0 + su->q_scale * sqrt((double)D) / 64.0);
        CHECKF(worst < tol, "%s D=%d G=%d Hkv=%d n=%d qscale=%g: max error %g", kt->name, D, G, Hkv, N,
               su->q_scale, worst);
    }
    free(part), free(dec), free(pwork), free(twork), free(pooled);
    free(work), free(ref), free(one), free(got), free(q), free(kvs);
    kv_free(&kv);
}

static void test_attention_levels(void) {
    static const setup cases[] = {
        {128, 5, 2, 1, 1},   {128, 5, 2, 9, 1},   {128, 5, 2, 16, 1},  {128, 5, 2, 17, 3},  {128, 5, 2, 63, 1},
        {128, 5, 2, 64, 1},  {128, 5, 2, 65, 8},  {128, 5, 2, 130, 1}, {128, 5, 2, 300, 20}, {64, 7, 1, 200, 2},
        {64, 1, 3, 70, 1},   {40, 3, 2, 90, 1},   {48, 2, 2, 33, 1},   {256, 2, 1, 140, 1},  {128, 8, 1, 257, 0},
        {16, 4, 4, 129, 30},
        /* several segments (ATTN_SEGMENT 256): their edges, merges with a
         * peaked softmax whose max moves between segments */
        {128, 5, 8, 700, 1}, {128, 5, 2, 513, 20}, {128, 8, 2, 1025, 4}, {64, 7, 2, 520, 1}, {40, 3, 2, 600, 1},
        {256, 2, 1, 270, 1}, {16, 4, 4, 300, 30}, {128, 1, 3, 260, 8},
    };
    thread_pool *pool = NULL;
    REQUIRE(pool_new(3, &pool) == QWQ_OK);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_setup(&cases[i], pool);
    pool_free(pool);
}

int main(void) {
    RUN(test_attention_levels);
    return test_summary();
}
