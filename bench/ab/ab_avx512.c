/*
 * ab_avx512 - two builds of lib/kernels/x86/kernels_avx512.c side by side.
 *
 * bench/ab/run.sh compiles the two sources into var_a and var_b (one weight
 * type's GEMM each) and links them here. This program checks that both give
 * the same output bits on one random matrix, then times them call by call,
 * alternating which goes first, and prints each side's best and median rate
 * and the median (and quartiles) of the per-round speed ratios B/A.
 *
 * Why: the development VM's speed drifts by tens of percent within minutes,
 * so two benchmark runs minutes apart cannot be compared; two calls a
 * fraction of a second apart can.
 *
 *   ab_avx512 TYPE ROWS N_IN TOKENS ROUNDS THREADS
 *
 * TYPE is a weight type name (q4_0, q8_0, q4_K, q6_K, ...); TOKENS 1-3 is
 * the decode path and then the rate is GB/s of weights, else GOP/s. The
 * weights are random bytes with small positive scales (every type's scale
 * fields are set), in 4 KiB pages unless AB_HUGE is set in the environment
 * (then MADV_HUGEPAGE).
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../bench_common.h"

typedef void (*gemm_variant)(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                             int64_t r1, int32_t n_tok, float *y, int64_t ys);
void var_a(const uint8_t *, size_t, const uint8_t *, size_t, int64_t, int64_t, int64_t, int32_t, float *, int64_t);
void var_b(const uint8_t *, size_t, const uint8_t *, size_t, int64_t, int64_t, int64_t, int32_t, float *, int64_t);

/* Block layout of a weight type: elements and bytes per block, offsets of
 * its f16 scale fields (-1: none), and the activation block it takes. */
typedef struct wtype {
    const char *name;
    int elems, bytes, scale0, scale1, act_elems, act_bytes, act_f32_scale;
} wtype;
static const wtype types[] = {
    {"q4_0", 32, 18, 0, -1, 32, 34, 0},  {"q4_1", 32, 20, 0, 2, 32, 36, 0},   {"q5_0", 32, 22, 0, -1, 32, 34, 0},
    {"q5_1", 32, 24, 0, 2, 32, 36, 0},   {"q8_0", 32, 34, 0, -1, 32, 34, 0},  {"q2_K", 256, 84, 80, 82, 256, 292, 1},
    {"q3_K", 256, 110, 108, -1, 256, 292, 1}, {"q4_K", 256, 144, 0, 2, 256, 292, 1}, {"q5_K", 256, 176, 0, 2, 256, 292, 1},
    {"q6_K", 256, 210, 208, -1, 256, 292, 1},
};

static uint16_t to_f16(float f) { /* positive normal values only */
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(((((u >> 23) & 0xff) - 112) << 10) | ((u >> 13) & 0x3ff));
}

typedef struct half_job {
    gemm_variant f;
    const uint8_t *w, *act;
    size_t wrb, arb;
    int64_t n_in, r0, r1;
    int n_tok;
    float *y;
    int64_t ys;
} half_job;

static void *run_half(void *p) {
    half_job *j = p;
    j->f(j->w, j->wrb, j->act, j->arb, j->n_in, j->r0, j->r1, j->n_tok, j->y, j->ys);
    return NULL;
}

/* rows split in two halves (on a 16-row boundary) when threads == 2 */
static double timed_call(gemm_variant f, int threads, half_job base, int64_t rows) {
    half_job h1 = base, h2 = base;
    h1.f = h2.f = f;
    h1.r0 = 0, h1.r1 = threads == 1 ? rows : rows / 2 / 16 * 16;
    h2.r0 = h1.r1, h2.r1 = rows;
    const double t0 = now_s();
    pthread_t th;
    const int two = threads == 2 && pthread_create(&th, NULL, run_half, &h2) == 0;
    run_half(&h1);
    if (two) pthread_join(th, NULL);
    else if (h2.r0 < h2.r1) run_half(&h2);
    return now_s() - t0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: ab_avx512 TYPE ROWS N_IN TOKENS ROUNDS THREADS\n");
        return 2;
    }
    const wtype *ty = NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(argv[1], types[i].name)) ty = &types[i];
    const int64_t rows = atoll(argv[2]), n_in = atoll(argv[3]);
    const int n_tok = atoi(argv[4]), rounds = atoi(argv[5]), threads = atoi(argv[6]);
    if (!ty || rows < 32 || n_in < ty->elems || n_in % ty->elems || n_tok < 1 || rounds < 1 || rounds > 1000 ||
        (threads != 1 && threads != 2)) {
        fprintf(stderr, "ab_avx512: bad arguments (types: q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K; "
                        "N_IN a multiple of the block; THREADS 1 or 2)\n");
        return 2;
    }
    const size_t wrb = (size_t)(n_in / ty->elems) * (size_t)ty->bytes;
    const size_t arb = (size_t)(n_in / ty->act_elems) * (size_t)ty->act_bytes;
    const size_t wbytes = wrb * (size_t)rows, huge = (size_t)2 << 20;
    uint8_t *w = aligned_alloc(huge, (wbytes + huge - 1) / huge * huge);
    uint8_t *act = malloc(arb * (size_t)n_tok);
    float *ya = malloc(sizeof(float) * (size_t)rows * (size_t)n_tok), *yb = malloc(sizeof(float) * (size_t)rows * (size_t)n_tok);
    double *ra = malloc(sizeof(double) * (size_t)rounds * 3), *rb = ra + rounds, *ratio = rb + rounds;
    if (!w || !act || !ya || !yb || !ra) return fprintf(stderr, "ab_avx512: out of memory\n"), 1;
    if (getenv("AB_HUGE")) (void)madvise(w, wbytes, MADV_HUGEPAGE);

    uint64_t rng = 1;
    for (size_t i = 0; i < wbytes; i += 8) {
        const uint64_t v = rng_next(&rng);
        memcpy(w + i, &v, wbytes - i < 8 ? wbytes - i : 8);
    }
    for (size_t b = 0; b < wbytes / (size_t)ty->bytes; b++) {
        uint8_t *blk = w + b * (size_t)ty->bytes;
        const uint16_t s0 = to_f16(0.001f + (float)(rng_next(&rng) % 1000) * 1e-5f), s1 = to_f16(0.002f);
        memcpy(blk + ty->scale0, &s0, 2);
        if (ty->scale1 >= 0) memcpy(blk + ty->scale1, &s1, 2);
    }
    for (size_t i = 0; i < arb * (size_t)n_tok; i++) act[i] = (uint8_t)rng_next(&rng);
    for (size_t b = 0; b < arb * (size_t)n_tok / (size_t)ty->act_bytes; b++) {
        uint8_t *blk = act + b * (size_t)ty->act_bytes;
        if (ty->act_f32_scale) {
            const float d = 0.01f;
            memcpy(blk, &d, 4);
            memset(blk + 4 + 256, 0, 32); /* bsums: not the sums, but harmless for timing */
        } else {
            const uint16_t d = to_f16(0.01f);
            memcpy(blk, &d, 2);
            if (ty->act_bytes == 36) memcpy(blk + 2, &d, 2);
        }
    }

    const half_job base = {NULL, w, act, wrb, arb, n_in, 0, 0, n_tok, NULL, rows};
    half_job ja = base, jb = base;
    ja.y = ya, jb.y = yb;
    timed_call(var_a, threads, ja, rows);
    timed_call(var_b, threads, jb, rows);
    double maxd = 0;
    for (size_t i = 0; i < (size_t)rows * (size_t)n_tok; i++) maxd = fmax(maxd, fabs((double)ya[i] - (double)yb[i]));
    const int same = !memcmp(ya, yb, sizeof(float) * (size_t)rows * (size_t)n_tok);
    printf("%s %lldx%lld, %d token(s), %d thread(s), %s pages: outputs %s (max difference %g)\n", ty->name,
           (long long)rows, (long long)n_in, n_tok, threads, getenv("AB_HUGE") ? "2 MiB" : "4 KiB",
           same ? "bit-identical" : "DIFFER", maxd);

    const int decode = n_tok < 4;
    const double work = decode ? (double)wbytes : 2.0 * (double)rows * (double)n_in * (double)n_tok;
    for (int i = 0; i < rounds; i++) {
        const int a_first = i % 2 == 0;
        double ta, tb;
        if (a_first) ta = timed_call(var_a, threads, ja, rows), tb = timed_call(var_b, threads, jb, rows);
        else tb = timed_call(var_b, threads, jb, rows), ta = timed_call(var_a, threads, ja, rows);
        ra[i] = work / ta / 1e9, rb[i] = work / tb / 1e9, ratio[i] = ta / tb;
    }
    const stats sa = summarize(ra, rounds), sb = summarize(rb, rounds);
    (void)summarize(ratio, rounds);
    const char *unit = decode ? "GB/s" : "GOP/s";
    printf("A: best %.1f median %.1f %s | B: best %.1f median %.1f %s | B/A median %.3f (quartiles %.3f %.3f, %d rounds)\n",
           sa.max, sa.med, unit, sb.max, sb.med, unit, ratio[rounds / 2], ratio[rounds / 4], ratio[3 * rounds / 4], rounds);
    return same ? 0 : 3;
}
