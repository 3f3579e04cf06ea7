/*
 * bench_common - what the bench/ tools share: the clock, medians and ranges,
 * the seeded generator, the memory-read loop of the bandwidth probes (one
 * definition, so all measure the same thing), random weights of any type,
 * a GEMM split over a thread pool by rows, and each CPU's speed.
 *
 * The probe loop is a plain streaming read: eight independent 16-byte accumulators (so the
 * loop is never bound by an add chain) and a non-temporal software prefetch
 * 4 KiB ahead, as the decode kernels do; on the development VM the
 * prefetch adds 3-5% to the plain loop. The probe is meant as an upper
 * bound of what a streaming kernel can read, so it gets every help the
 * kernels get (bench/README.md).
 */
#ifndef QWQ_BENCH_COMMON_H
#define QWQ_BENCH_COMMON_H

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"
#include "kernels/qtypes.h"
#include "threads/pool.h"
#include "util/util.h"

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct stats {
    double med, min, max;
    int n;
} stats;

/* median and range of v[0..n) (v is left sorted) */
static inline stats summarize(double *v, int n) {
    stats s = {0, 0, 0, n};
    if (n <= 0) return s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    s.med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    s.min = v[0];
    s.max = v[n - 1];
    return s;
}

/* splitmix64 */
static inline uint64_t rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef uint64_t bench_v2u64 __attribute__((vector_size(16)));

/* Reads [p, end) (64-byte multiples) and returns a checksum of it, which the
 * caller must keep so that the reads are not optimised away. */
static inline uint64_t bench_read_stream(const uint8_t *p, const uint8_t *end) {
    bench_v2u64 a0 = {0, 0}, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (const bench_v2u64 *v = (const bench_v2u64 *)p; v < (const bench_v2u64 *)end; v += 8) {
        /* a prefetch past the end is harmless: it never faults */
        __builtin_prefetch((const char *)v + 4096, 0, 0);
        __builtin_prefetch((const char *)v + 4096 + 64, 0, 0);
        a0 += v[0];
        a1 += v[1];
        a2 += v[2];
        a3 += v[3];
        a4 += v[4];
        a5 += v[5];
        a6 += v[6];
        a7 += v[7];
    }
    bench_v2u64 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    return s[0] ^ s[1];
}

/* Random weights of a type: random bytes, then finite small scales (or
 * finite small floats), so that timings never meet inf, NaN or subnormals. */
static inline void bench_fill_weights(uint8_t *buf, size_t bytes, uint32_t type, uint64_t *rng) {
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
        const uint64_t v = rng_next(rng);
        memcpy(buf + i, &v, 8);
    }
    const qtype_info *qi = qtype_get(type);
    if (type == QTYPE_F32) {
        for (size_t i = 0; i + 4 <= bytes; i += 4) {
            uint32_t p;
            memcpy(&p, buf + i, 4);
            p = (p & 0x807fffffu) | 0x3f000000u; /* [0.5, 1) */
            memcpy(buf + i, &p, 4);
        }
        return;
    }
    if (type == QTYPE_F16 || type == QTYPE_BF16) {
        const uint16_t keep = type == QTYPE_F16 ? 0x83ff : 0x807f, exp = type == QTYPE_F16 ? 0x3800 : 0x3f00;
        for (size_t i = 0; i + 2 <= bytes; i += 2) {
            uint16_t p;
            memcpy(&p, buf + i, 2);
            p = (uint16_t)((p & keep) | exp);
            memcpy(buf + i, &p, 2);
        }
        return;
    }
    for (size_t b = 0; b + qi->block_bytes <= bytes; b += qi->block_bytes)
        for (int f = 0; f < qi->n_scales; f++) {
            uint16_t h = fp16_from_f32((float)((double)(rng_next(rng) >> 11) / 9007199254740992.0 * 0.01 + 1e-4));
            memcpy(buf + b + qi->scale_off[f], &h, 2);
        }
}

/* One GEMM over a pool: output rows split into contiguous shares on
 * 16-row boundaries (pool_run(pool, bench_gemm_work, &job)). */
typedef struct bench_gemm_job {
    gemm_fn fn;
    const uint8_t *w;
    size_t wrb;
    const uint8_t *act;
    size_t arb;
    int64_t n_in, n_out;
    int32_t n_tok;
    float *y;
} bench_gemm_job;

static inline void bench_gemm_work(void *ctx, int wk, int nw) {
    enum { ROW_GRAIN = 16 };
    const bench_gemm_job *j = ctx;
    long b, e;
    pool_split((long)((j->n_out + ROW_GRAIN - 1) / ROW_GRAIN), wk, nw, &b, &e);
    int64_t r0 = (int64_t)b * ROW_GRAIN, r1 = (int64_t)e * ROW_GRAIN;
    if (r1 > j->n_out) r1 = j->n_out;
    if (r0 < r1) j->fn(j->w, j->wrb, j->act, j->arb, j->n_in, r0, r1, j->n_tok, j->y, j->n_out);
}

/* "key": [v0, v1, ...], on one line of a JSON object (each value printed with fmt) */
static inline void bench_json_samples(FILE *f, const char *ind, const char *key, const double *v, int n,
                                      const char *fmt) {
    char buf[64];
    fprintf(f, "%s\"%s\": [", ind, key);
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, fmt, v[i]);
        fprintf(f, "%s%s", i ? ", " : "", buf);
    }
    fprintf(f, "],\n");
}

/* ---- each CPU's speed ------------------------------------------------------------ */

/* A chain of dependent integer adds retires one add per cycle on every
 * x86-64 and aarch64 core, so adds per second on a CPU are the clock that
 * CPU gives this process. Under a hypervisor a vCPU whose host core is
 * shared or throttled runs slower without any steal time showing: on the
 * development VM one of the two vCPUs ran at 67-75% of the other for
 * minutes (2.4-2.7 against 3.5-3.6 G adds/s, vpdpbusd in the same
 * proportion), while /proc/stat showed no steal, and every 2-thread figure
 * then waits for the slower. Measured on a thread pinned to each CPU in
 * turn, about 20 ms each. */
enum { BENCH_MAX_CPUS = 64 };

typedef struct bench_cpu_speed_job {
    int cpu;
    double gadds; /* G adds/s; 0 when the thread could not run there */
} bench_cpu_speed_job;

static void *bench_cpu_speed_thread(void *arg) {
    bench_cpu_speed_job *j = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(j->cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) return NULL;
    sched_yield(); /* be on that CPU before the clock starts */
    uint64_t x = 0;
    double best = 0;
    for (int rep = 0; rep < 4; rep++) { /* the best of 4 x 5 ms: a tick or an interrupt is not the CPU */
        const double t0 = now_s();
        uint64_t n = 0;
        do {
            for (int i = 0; i < 4096; i++) {
#if defined(__x86_64__)
                __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                                 "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
                                 : "+r"(x));
#elif defined(__aarch64__)
                __asm__ volatile("add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\t"
                                 "add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1"
                                 : "+r"(x));
#else
                x += 8; /* no portable dependent chain: the figure is only a rough rate */
                __asm__ volatile("" : "+r"(x));
#endif
            }
            n += 8 * 4096;
        } while (now_s() - t0 < 0.005);
        const double r = (double)n / (now_s() - t0) / 1e9;
        if (r > best) best = r;
    }
    j->gadds = x ? best : 0;
    return NULL;
}

/* Each online CPU's speed in G dependent adds per second (speed[i] for CPU
 * i, 0 where it could not be measured); returns the number of CPUs (at
 * most BENCH_MAX_CPUS). */
static inline int bench_cpu_speeds(double speed[BENCH_MAX_CPUS]) {
    int n = pool_online_cpus();
    if (n > BENCH_MAX_CPUS) n = BENCH_MAX_CPUS;
    for (int c = 0; c < n; c++) {
        bench_cpu_speed_job j = {c, 0};
        pthread_t th;
        if (pthread_create(&th, NULL, bench_cpu_speed_thread, &j) == 0) pthread_join(th, NULL);
        speed[c] = j.gadds;
    }
    return n;
}

/* "3.27 / 3.57" into buf */
static inline void bench_format_speeds(const double *speed, int n, char *buf, size_t size) {
    size_t o = 0;
    buf[0] = 0;
    for (int c = 0; c < n && o < size; c++) {
        int w = snprintf(buf + o, size - o, "%s%.2f", c ? " / " : "", speed[c]);
        if (w < 0) break;
        o += (size_t)w;
    }
}

/* the slowest CPU's speed over the fastest's (1 when unknown) */
static inline double bench_speed_spread(const double *speed, int n) {
    double lo = 0, hi = 0;
    for (int c = 0; c < n; c++) {
        if (speed[c] <= 0) continue;
        if (lo == 0 || speed[c] < lo) lo = speed[c];
        if (speed[c] > hi) hi = speed[c];
    }
    return hi > 0 ? lo / hi : 1;
}

#endif
