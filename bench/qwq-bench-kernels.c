/*
 * qwq-bench-kernels - the gemm kernels alone, per weight type and SIMD level,
 * on QwQ-32B-shaped matrices (n_out x n_in: 5120 x 5120, 27648 x 5120 and
 * 5120 x 27648).
 *
 *   qwq-bench-kernels [--types q4_0,q8_0,q4_K,q6_K,q5_K|all] [--levels avx512,avx2,scalar]
 *                     [--threads 1,2] [-r 5] [-p 512] [--mb 512] [--no-decode] [--no-prefill]
 *                     [--shapes 5120x5120,27648x5120,5120x27648] [--attention 512,2048]
 *                     [--no-attention] [--decode-attention 4096] [--attn-layers 16] [--round-robin]
 *                     [--json]
 *
 * decode: one token (gemm with n_tok = 1) over as many copies of the matrix
 *   as fill --mb MiB (so the weights stream from memory, not from the L3),
 *   one gemm call per copy as the forward pass makes one per matrix, rows
 *   split across the threads in multiples of 16 (as forward.c does).
 *   GB/s = weight bytes / s. Each timed pass is preceded by a pass of the
 *   memory-read probe over the same buffer with the same threads, so the
 *   two are measured side by side; efficiency = median decode GB/s /
 *   median probe GB/s.
 * prefill: -p tokens (512) through one matrix of the shape; activations
 *   quantized once beforehand (not timed). GOP/s = 2 n_in n_out tokens / s.
 * attention: the causal attention of a prompt of N tokens (--attention,
 *   default 512 and 2048; 0 skips it) for one layer of QwQ-32B's shape (40 query heads
 *   of 128 in 8 KV groups), tiles taken by the threads from a shared
 *   counter as the forward pass does, keys and values already in the
 *   cache (random).
 *   GFLOP/s = 4 x 128 x 40 x (1 + 2 + ... + N) / s: the products q.k and
 *   p.v over each token's own positions, softmax not counted.
 * decode attention: one token at position N (--decode-attention, default
 *   4096; 0 skips it) through --attn-layers layers (default 16: 512 MiB of
 *   f32 keys and values at 4096, so they come from memory) of the same
 *   shape, dealt as the forward pass deals it ("segments": attn_decode,
 *   the default from 2 segments on) and as tiles split by KV head
 *   ("heads": attn_batch_share). GB/s = keys and values read / s.
 * --round-robin: the attention benchmarks also deal the tiles and segments
 *   round-robin (attn.h without a counter; "rr" in the table, "dealing":
 *   "...-round-robin" in the JSON), each rep timed right after the shared
 *   counter's, so the two meet the same memory and the same neighbours.
 *
 * Every figure is the median and the min-max of -r runs (default 5) after a
 * warm-up run. Weights are random blocks with small finite scales.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bench_common.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "kvcache/kvcache.h"
#include "threads/pool.h"
#include "util/util.h"

static uint64_t rng_state = 0x853c49e6748fea9bull;

/* uniform in [-1, 1) */
static float rand_pm1(void) { return (float)((double)(rng_next(&rng_state) >> 11) / 4503599627370496.0 - 1.0); }

typedef struct probe_job {
    const uint8_t *buf;
    size_t bytes;
    uint64_t sink[64 * 8];
} probe_job;

/* reads its share of the buffer, split like the gemm rows (contiguous) */
static void probe_work(void *ctx, int wk, int nw) {
    probe_job *j = ctx;
    long b, e;
    pool_split((long)(j->bytes / 4096), wk, nw, &b, &e);
    j->sink[(wk % 64) * 8] += bench_read_stream(j->buf + (size_t)b * 4096, j->buf + (size_t)e * 4096);
}

/* ---- options ------------------------------------------------------------------------------ */

typedef struct shape {
    int64_t n_out, n_in;
} shape;

typedef struct options {
    uint32_t types[QTYPE_COUNT];
    int n_types;
    int levels[8], n_levels;
    int threads[8], n_threads;
    int reps, tokens, json, decode, prefill;
    int attn_pos[8], n_attn_pos;
    int dec_pos[8], n_dec_pos, attn_layers;
    int round_robin; /* also time the attention dealt round-robin */
    size_t mb;
    shape shapes[8];
    int n_shapes;
} options;

static const uint32_t every_type[] = {QTYPE_Q4_0, QTYPE_Q8_0, QTYPE_Q4_K, QTYPE_Q6_K, QTYPE_Q5_K, QTYPE_Q5_0, QTYPE_Q4_1,
                                      QTYPE_Q5_1, QTYPE_Q2_K, QTYPE_Q3_K, QTYPE_F16, QTYPE_BF16, QTYPE_F32};

static int type_by_name(const char *s, size_t n) {
    for (size_t i = 0; i < sizeof every_type / sizeof *every_type; i++) {
        const char *name = qtype_get(every_type[i])->name;
        if (strlen(name) == n && strncasecmp(name, s, n) == 0) return (int)every_type[i];
    }
    return -1;
}

static void usage(void) {
    fprintf(stderr,
            "usage: qwq-bench-kernels [--types q4_0,q8_0,q4_K,q6_K,q5_K|all] [--levels avx512,avx2,scalar]\n"
            "                         [--threads 1,2] [-r REPS] [-p TOKENS] [--mb MIB] [--shapes OUTxIN,...]\n"
            "                         [--no-decode] [--no-prefill] [--attention N,...] [--no-attention]\n"
            "                         [--decode-attention N,...] [--attn-layers L] [--round-robin] [--json]\n");
}

/* "N,N,..." into pos[0..8) (0 adds none); 0 with a message when one is outside 0..max */
static int parse_positions(const char *opt, const char *v, int max, int pos[8], int *n_pos) {
    *n_pos = 0;
    for (const char *s = v; *s && *n_pos < 8;) {
        size_t n = strcspn(s, ",");
        const int p = atoi(s);
        if (p < 0 || p > max) return fprintf(stderr, "%s: positions 0..%d\n", opt, max), 0;
        if (p > 0) pos[(*n_pos)++] = p;
        s += n + (s[n] == ',');
    }
    return 1;
}

static int parse_options(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    const uint32_t def_types[] = {QTYPE_Q4_0, QTYPE_Q8_0, QTYPE_Q4_K, QTYPE_Q6_K, QTYPE_Q5_K};
    memcpy(o->types, def_types, sizeof def_types);
    o->n_types = 5;
    o->n_levels = 0;
    o->threads[0] = 1;
    o->threads[1] = 2;
    o->n_threads = 2;
    o->reps = 5;
    o->tokens = 512;
    o->decode = o->prefill = 1;
    o->mb = 512;
    const shape def_shapes[] = {{5120, 5120}, {27648, 5120}, {5120, 27648}};
    memcpy(o->shapes, def_shapes, sizeof def_shapes);
    o->n_shapes = 3;
    o->attn_pos[0] = 512;
    o->attn_pos[1] = 2048;
    o->n_attn_pos = 2;
    o->dec_pos[0] = 4096;
    o->n_dec_pos = 1;
    o->attn_layers = 16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "--no-decode")) o->decode = 0;
        else if (!strcmp(a, "--no-prefill")) o->prefill = 0;
        else if (!strcmp(a, "--no-attention")) o->n_attn_pos = o->n_dec_pos = 0;
        else if (!strcmp(a, "--round-robin")) o->round_robin = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(), 0;
        else if (!v) return usage(), 0;
        else if (!strcmp(a, "-r")) o->reps = atoi(v), i++;
        else if (!strcmp(a, "-p")) o->tokens = atoi(v), i++;
        else if (!strcmp(a, "--mb")) o->mb = (size_t)atol(v), i++;
        else if (!strcmp(a, "--types")) {
            i++;
            o->n_types = 0;
            if (!strcmp(v, "all")) {
                memcpy(o->types, every_type, sizeof every_type);
                o->n_types = (int)(sizeof every_type / sizeof *every_type);
                continue;
            }
            for (const char *s = v; *s;) {
                size_t n = strcspn(s, ",");
                int t = type_by_name(s, n);
                if (t < 0 || o->n_types >= QTYPE_COUNT) return fprintf(stderr, "unknown type '%.*s'\n", (int)n, s), 0;
                o->types[o->n_types++] = (uint32_t)t;
                s += n + (s[n] == ',');
            }
        } else if (!strcmp(a, "--levels")) {
            i++;
            o->n_levels = 0;
            for (const char *s = v; *s;) {
                size_t n = strcspn(s, ",");
                int found = -1;
                for (int l = QWQ_SIMD_SCALAR; l <= QWQ_SIMD_DOTPROD; l++)
                    if (strlen(kernels_level_name((qwq_simd_level)l)) == n &&
                        !strncmp(kernels_level_name((qwq_simd_level)l), s, n))
                        found = l;
                if (found < 0 || o->n_levels >= 8) return fprintf(stderr, "unknown level '%.*s'\n", (int)n, s), 0;
                o->levels[o->n_levels++] = found;
                s += n + (s[n] == ',');
            }
        } else if (!strcmp(a, "--threads")) {
            i++;
            o->n_threads = 0;
            for (const char *s = v; *s && o->n_threads < 8;) {
                size_t n = strcspn(s, ",");
                o->threads[o->n_threads++] = atoi(s);
                s += n + (s[n] == ',');
            }
        } else if (!strcmp(a, "--attention")) {
            if (!parse_positions(a, v, 65536, o->attn_pos, &o->n_attn_pos)) return 0;
            i++;
        } else if (!strcmp(a, "--decode-attention")) {
            if (!parse_positions(a, v, 131072, o->dec_pos, &o->n_dec_pos)) return 0;
            i++;
        } else if (!strcmp(a, "--attn-layers")) {
            o->attn_layers = atoi(v), i++;
            if (o->attn_layers < 1 || o->attn_layers > 256) return fprintf(stderr, "--attn-layers: 1..256\n"), 0;
        } else if (!strcmp(a, "--shapes")) {
            i++;
            o->n_shapes = 0;
            for (const char *s = v; *s && o->n_shapes < 8;) {
                size_t n = strcspn(s, ",");
                long out = 0, in = 0;
                if (sscanf(s, "%ldx%ld", &out, &in) != 2 || out <= 0 || in <= 0) return usage(), 0;
                o->shapes[o->n_shapes].n_out = out;
                o->shapes[o->n_shapes++].n_in = in;
                s += n + (s[n] == ',');
            }
        } else return usage(), 0;
    }
    if (o->reps < 1 || o->reps > 64 || o->tokens < 1 || o->mb < 16) return usage(), 0;
    if (o->n_levels == 0) /* every SIMD level this CPU has */
        for (int l = QWQ_SIMD_AVX2; l <= QWQ_SIMD_DOTPROD; l++)
            if (kernels_level((qwq_simd_level)l)) o->levels[o->n_levels++] = l;
    if (o->n_levels == 0) o->levels[o->n_levels++] = QWQ_SIMD_SCALAR;
    return 1;
}

/* ---- results ------------------------------------------------------------------------------- */

typedef enum result_kind { KIND_DECODE, KIND_PREFILL, KIND_ATTENTION, KIND_DECODE_ATTENTION } result_kind;

typedef struct result {
    uint32_t type; /* unused for attention */
    int level, threads;
    result_kind kind;
    int attn_pos;
    int by_segments; /* decode attention: 1 segments, 0 heads */
    int round_robin; /* attention: dealt round-robin, not by the shared counter */
    shape sh;
    int64_t copies;
    stats v;     /* decode GB/s or prefill GOP/s */
    stats probe; /* decode only */
} result;

static result results[4096];
static int n_results;

static void print_result(const result *r) {
    if (r->kind == KIND_DECODE_ATTENTION)
        printf("attn  %-7s decode  at %6d, %-8s%s t=%d  %6.2f GB/s (%.2f-%.2f)\n",
               kernels_level_name((qwq_simd_level)r->level), r->attn_pos, r->by_segments ? "segments" : "heads",
               r->round_robin ? " rr" : "   ", r->threads, r->v.med, r->v.min, r->v.max);
    else if (r->kind == KIND_ATTENTION)
        printf("attn  %-7s prompt  %5d tokens%s t=%d  %8.1f GFLOP/s  (%.1f-%.1f)\n",
               kernels_level_name((qwq_simd_level)r->level), r->attn_pos, r->round_robin ? " rr" : "   ", r->threads,
               r->v.med, r->v.min, r->v.max);
    else if (r->kind == KIND_PREFILL)
        printf("%-5s %-7s prefill %5ldx%-5ld t=%d  %8.1f GOP/s  (%.1f-%.1f)\n", qtype_get(r->type)->name,
               kernels_level_name((qwq_simd_level)r->level), (long)r->sh.n_out, (long)r->sh.n_in, r->threads, r->v.med,
               r->v.min, r->v.max);
    else
        printf("%-5s %-7s decode  %5ldx%-5ld t=%d  %6.2f GB/s (%.2f-%.2f)  probe %6.2f GB/s (%.2f-%.2f)  %5.1f%%\n",
               qtype_get(r->type)->name, kernels_level_name((qwq_simd_level)r->level), (long)r->sh.n_out,
               (long)r->sh.n_in, r->threads, r->v.med, r->v.min, r->v.max, r->probe.med, r->probe.min, r->probe.max,
               100.0 * r->v.med / r->probe.med);
    fflush(stdout);
}

/* each CPU's speed before and after the runs (bench_common.h), G adds/s */
static double speed0[BENCH_MAX_CPUS], speed1[BENCH_MAX_CPUS];
static int n_cpus;

static void print_json(const options *o) {
    printf("{\n  \"bench\": \"qwq-bench-kernels\",\n  \"cpu_level\": \"%s\",\n  \"reps\": %d,\n  \"prefill_tokens\": %d,\n"
           "  \"decode_buffer_mib\": %zu,\n",
           kernels_level_name(kernels_detect()), o->reps, o->tokens, o->mb);
    bench_json_samples(stdout, "  ", "cpu_gadds_before", speed0, n_cpus, "%.3f");
    bench_json_samples(stdout, "  ", "cpu_gadds_after", speed1, n_cpus, "%.3f");
    printf("  \"results\": [\n");
    for (int i = 0; i < n_results; i++) {
        const result *r = &results[i];
        if (r->kind == KIND_DECODE_ATTENTION) {
            printf("    {\"kind\": \"decode_attention\", \"level\": \"%s\", \"position\": %d, \"layers\": %d, "
                   "\"dealing\": \"%s%s\", \"threads\": %d, \"gbs\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f}}%s\n",
                   kernels_level_name((qwq_simd_level)r->level), r->attn_pos, o->attn_layers,
                   r->by_segments ? "segments" : "heads", r->round_robin ? "-round-robin" : "", r->threads, r->v.med,
                   r->v.min, r->v.max,
                   i + 1 < n_results ? "," : "");
            continue;
        }
        if (r->kind == KIND_ATTENTION) {
            printf("    {\"kind\": \"attention\", \"level\": \"%s\", \"tokens\": %d, \"threads\": %d, "
                   "\"dealing\": \"%s\", \"gflops\": {\"median\": %.2f, \"min\": %.2f, \"max\": %.2f}}%s\n",
                   kernels_level_name((qwq_simd_level)r->level), r->attn_pos, r->threads,
                   r->round_robin ? "round-robin" : "shared", r->v.med, r->v.min, r->v.max,
                   i + 1 < n_results ? "," : "");
            continue;
        }
        printf("    {\"type\": \"%s\", \"level\": \"%s\", \"kind\": \"%s\", \"n_out\": %ld, \"n_in\": %ld, \"threads\": %d, ",
               qtype_get(r->type)->name, kernels_level_name((qwq_simd_level)r->level), r->kind == KIND_PREFILL ? "prefill" : "decode",
               (long)r->sh.n_out, (long)r->sh.n_in, r->threads);
        if (r->kind == KIND_PREFILL)
            printf("\"tokens\": %d, \"gops\": {\"median\": %.2f, \"min\": %.2f, \"max\": %.2f}}", o->tokens, r->v.med,
                   r->v.min, r->v.max);
        else
            printf("\"matrices\": %ld, \"gbs\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f}, "
                   "\"probe_gbs\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f}, \"efficiency\": %.4f}",
                   (long)r->copies, r->v.med, r->v.min, r->v.max, r->probe.med, r->probe.min, r->probe.max,
                   r->v.med / r->probe.med);
        printf("%s\n", i + 1 < n_results ? "," : "");
    }
    printf("  ]\n}\n");
}

/* ---- attention ------------------------------------------------------------------------------ */

enum { ATT_D = 128, ATT_G = 5, ATT_HKV = 8, ATT_H = ATT_G * ATT_HKV };

typedef struct attn_job {
    attn_fn fn;
    attn_batch batch;
    float *work; /* attn_work_floats(ATT_G, ATT_D) per worker */
    atomic_long next; /* tiles taken (batch.next points here unless round-robin) */
} attn_job;

/* the forward pass's dealing of tiles (attn_batch_share) */
static void attn_work(void *ctx, int wk, int nw) {
    const attn_job *j = ctx;
    attn_batch_share(j->fn, &j->batch, j->work + (size_t)wk * attn_work_floats(ATT_G, ATT_D), wk, nw);
}

/* One result per (level, threads) for a prompt of n tokens; 0 on failure. */
static int bench_attention(const options *o, thread_pool *const *pools, int32_t n) {
    kv_cache kv;
    if (kv_init(&kv, 1, ATT_HKV, ATT_D, n) != QWQ_OK || kv_prepare(&kv, 0, n) != QWQ_OK) return 0;
    const size_t row = (size_t)ATT_H * ATT_D;
    float *q = malloc(sizeof(float) * row * (size_t)n), *out = malloc(sizeof(float) * row * (size_t)n);
    float *kvrow = malloc(sizeof(float) * 2 * ATT_HKV * ATT_D), *work = malloc(sizeof(float) * 64 * attn_work_floats(ATT_G, ATT_D));
    if (!q || !out || !kvrow || !work) return free(q), free(out), free(kvrow), free(work), kv_free(&kv), 0;
    for (int32_t p = 0; p < n; p++) {
        for (int i = 0; i < 2 * ATT_HKV * ATT_D; i++) kvrow[i] = rand_pm1();
        kv_store(&kv, 0, p, kvrow, kvrow + ATT_HKV * ATT_D);
    }
    for (size_t i = 0; i < row * (size_t)n; i++) q[i] = rand_pm1();
    const double flops = 4.0 * ATT_D * ATT_H * ((double)n * (n + 1) / 2);
    for (int li = 0; li < o->n_levels; li++) {
        const kernel_table *k = kernels_level((qwq_simd_level)o->levels[li]);
        if (!k) continue;
        for (int thi = 0; thi < o->n_threads; thi++) {
            if (o->threads[thi] > 64) continue;
            attn_job j = {.fn = k->attention, .batch = {&kv, 0, ATT_H, ATT_HKV, ATT_D, n, 0, q, out, NULL}, .work = work};
            double gf[2][64];
            const int n_deal = o->round_robin ? 2 : 1; /* 0: shared counter, 1: round-robin */
            for (int rep = -1; rep < o->reps; rep++)
                for (int rr = 0; rr < n_deal; rr++) {
                    atomic_init(&j.next, 0);
                    j.batch.next = rr ? NULL : &j.next;
                    const double t0 = now_s();
                    pool_run(pools[thi], attn_work, &j);
                    const double t = now_s() - t0;
                    if (rep >= 0) gf[rr][rep] = flops / t / 1e9;
                }
            for (int rr = 0; rr < n_deal; rr++) {
                const result r = {.level = o->levels[li], .threads = o->threads[thi], .kind = KIND_ATTENTION,
                                  .attn_pos = n, .round_robin = rr, .copies = 1, .v = summarize(gf[rr], o->reps)};
                results[n_results] = r;
                if (!o->json) print_result(&results[n_results]);
                if (n_results + 1 < (int)(sizeof results / sizeof *results)) n_results++;
            }
        }
    }
    free(q), free(out), free(kvrow), free(work);
    kv_free(&kv);
    return 1;
}

/* One decoded token, one layer at a time, dealt as the forward pass deals
 * it: by segments (attn_decode) or as tiles split by KV head (attn_batch). */
typedef struct dec_attn_job {
    const kernel_table *k;
    attn_decode dec;    /* layer and out set per layer */
    float *work;        /* work_floats per worker */
    size_t work_floats;
    atomic_long next;   /* segments or tiles taken, reset before each layer */
    int round_robin;    /* deal them round-robin instead */
} dec_attn_job;

static void dec_attn_heads(void *ctx, int wk, int nw) {
    const dec_attn_job *j = ctx;
    const attn_decode *d = &j->dec;
    const attn_batch b = {d->kv,   d->layer, d->n_head, d->n_head_kv, d->head_dim, 1, d->n_pos - 1,
                          d->q,    d->out,   d->next};
    attn_batch_share(j->k->attention, &b, j->work + (size_t)wk * j->work_floats, wk, nw);
}
static void dec_attn_parts(void *ctx, int wk, int nw) {
    const dec_attn_job *j = ctx;
    attn_decode_parts(j->k->attention_part, &j->dec, j->work + (size_t)wk * j->work_floats, wk, nw);
}
static void dec_attn_merge(void *ctx, int wk, int nw) {
    const dec_attn_job *j = ctx;
    attn_decode_merge(j->k->attention_merge, &j->dec, wk, nw);
}
static void dec_attn_layers(dec_attn_job *j, thread_pool *pool, int layers, int by_segments, float *out) {
    for (int l = 0; l < layers; l++) {
        j->dec.layer = l;
        j->dec.out = out + (size_t)l * ATT_H * ATT_D;
        atomic_init(&j->next, 0);
        j->dec.next = j->round_robin ? NULL : &j->next;
        if (by_segments) {
            pool_run(pool, dec_attn_parts, j);
            pool_run(pool, dec_attn_merge, j);
        } else {
            pool_run(pool, dec_attn_heads, j);
        }
    }
}

/* One result per (level, threads, dealing) for a token at position n; 0 on failure. */
static int bench_decode_attention(const options *o, thread_pool *const *pools, int32_t n) {
    const int L = o->attn_layers;
    kv_cache kv;
    if (kv_init(&kv, L, ATT_HKV, ATT_D, n) != QWQ_OK || kv_prepare(&kv, 0, n) != QWQ_OK) return kv_free(&kv), 0;
    const size_t row = (size_t)ATT_H * ATT_D, work_floats = attn_thread_work_floats(ATT_H, ATT_HKV, ATT_D);
    float *q = malloc(sizeof(float) * row), *out = malloc(sizeof(float) * row * (size_t)L), *ref = malloc(sizeof(float) * row * (size_t)L);
    float *kvrow = malloc(sizeof(float) * 2 * ATT_HKV * ATT_D), *work = malloc(sizeof(float) * 64 * work_floats);
    float *part = malloc(sizeof(float) * attn_decode_part_floats(n, ATT_H, ATT_D));
    int ok = q && out && ref && kvrow && work && part;
    for (int l = 0; ok && l < L; l++)
        for (int32_t p = 0; p < n; p++) {
            for (int i = 0; i < 2 * ATT_HKV * ATT_D; i++) kvrow[i] = rand_pm1();
            kv_store(&kv, l, p, kvrow, kvrow + ATT_HKV * ATT_D);
        }
    for (size_t i = 0; ok && i < row; i++) q[i] = rand_pm1();
    const double bytes = 2.0 * sizeof(float) * ATT_HKV * ATT_D * (double)n * L;
    for (int li = 0; ok && li < o->n_levels; li++) {
        const kernel_table *k = kernels_level((qwq_simd_level)o->levels[li]);
        if (!k) continue;
        for (int thi = 0; thi < o->n_threads; thi++) {
            if (o->threads[thi] > 64) continue;
            for (int seg = 1; seg >= 0; seg--) {
                dec_attn_job j = {.k = k,
                                  .dec = {&kv, 0, ATT_H, ATT_HKV, ATT_D, n, q, NULL, part, NULL},
                                  .work = work,
                                  .work_floats = work_floats};
                double gbs[2][64];
                const int n_deal = o->round_robin ? 2 : 1; /* 0: shared counter, 1: round-robin */
                for (int rep = -1; rep < o->reps; rep++)
                    for (int rr = 0; rr < n_deal; rr++) {
                        j.round_robin = rr;
                        const double t0 = now_s();
                        dec_attn_layers(&j, pools[thi], L, seg, seg ? out : ref);
                        const double t = now_s() - t0;
                        if (rep >= 0) gbs[rr][rep] = bytes / t / 1e9;
                    }
                for (int rr = 0; rr < n_deal; rr++) {
                    const result r = {.level = o->levels[li], .threads = o->threads[thi], .kind = KIND_DECODE_ATTENTION,
                                      .attn_pos = n, .by_segments = seg, .round_robin = rr, .copies = 1,
                                      .v = summarize(gbs[rr], o->reps)};
                    results[n_results] = r;
                    if (!o->json) print_result(&results[n_results]);
                    if (n_results + 1 < (int)(sizeof results / sizeof *results)) n_results++;
                }
            }
            /* the two dealings must agree to the bit (attn.h) */
            if (memcmp(out, ref, sizeof(float) * row * (size_t)L) != 0) {
                fprintf(stderr, "decode attention: segments and heads differ (%s)\n", k->name);
                ok = 0;
            }
        }
    }
    free(q), free(out), free(ref), free(kvrow), free(work), free(part);
    kv_free(&kv);
    return ok;
}

/* ---- main ----------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    options o;
    if (!parse_options(argc, argv, &o)) return 2;
    const size_t buf_bytes = o.mb << 20;
    uint8_t *buf = mmap(NULL, buf_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) return fprintf(stderr, "cannot map %zu MiB\n", o.mb), 1;
    thread_pool *pools[8] = {0};
    for (int i = 0; i < o.n_threads; i++)
        if (pool_new(o.threads[i], &pools[i]) != QWQ_OK) return fprintf(stderr, "cannot start %d threads\n", o.threads[i]), 1;
    /* activations and outputs, sized for the largest shape */
    int64_t max_in = 0, max_out = 0;
    for (int s = 0; s < o.n_shapes; s++) {
        if (o.shapes[s].n_in > max_in) max_in = o.shapes[s].n_in;
        if (o.shapes[s].n_out > max_out) max_out = o.shapes[s].n_out;
    }
    float *x = malloc(sizeof(float) * (size_t)max_in * (size_t)o.tokens);
    uint8_t *act = malloc(sizeof(float) * (size_t)max_in * (size_t)o.tokens);
    float *y = malloc(sizeof(float) * (size_t)max_out * (size_t)o.tokens);
    if (!x || !act || !y) return fprintf(stderr, "out of memory\n"), 1;
    for (size_t i = 0; i < (size_t)max_in * (size_t)o.tokens; i++)
        x[i] = rand_pm1();
    if (!o.json)
        printf("qwq-bench-kernels: cpu level %s, %d reps (median (min-max)), decode over %zu MiB, prefill %d tokens\n",
               kernels_level_name(kernels_detect()), o.reps, o.mb, o.tokens);
    n_cpus = bench_cpu_speeds(speed0);
    char sp[16 * BENCH_MAX_CPUS];
    bench_format_speeds(speed0, n_cpus, sp, sizeof sp);
    if (!o.json) printf("cpus: %s G adds/s (each CPU's clock; again at the end)\n", sp);

    for (int ti = 0; ti < o.n_types; ti++) {
        const uint32_t type = o.types[ti];
        const qtype_info *qi = qtype_get(type);
        bench_fill_weights(buf, buf_bytes, type, &rng_state);
        for (int li = 0; li < o.n_levels; li++) {
            const kernel_table *k = kernels_level((qwq_simd_level)o.levels[li]);
            if (!k) continue;
            for (int si = 0; si < o.n_shapes; si++) {
                const shape sh = o.shapes[si];
                if (sh.n_in % (int64_t)quant_kernels_scalar(type)->row_align) continue;
                const size_t wrb = (size_t)sh.n_in / qi->block_elems * qi->block_bytes;
                const size_t arb = quant_act_row_size(type, sh.n_in), mat = wrb * (size_t)sh.n_out;
                for (int t = 0; t < o.tokens; t++)
                    k->quantize[type](x + (size_t)t * (size_t)sh.n_in, act + (size_t)t * arb, sh.n_in);
                for (int thi = 0; thi < o.n_threads; thi++) {
                    thread_pool *pool = pools[thi];
                    if (o.decode && mat <= buf_bytes) {
                        const int64_t copies = (int64_t)(buf_bytes / mat);
                        probe_job pj;
                        memset(&pj, 0, sizeof pj);
                        pj.buf = buf;
                        pj.bytes = (size_t)copies * mat / 4096 * 4096;
                        double gbs[64], pgbs[64];
                        for (int rep = -1; rep < o.reps; rep++) {
                            double t0 = now_s();
                            pool_run(pool, probe_work, &pj);
                            double tp = now_s() - t0;
                            t0 = now_s();
                            for (int64_t c = 0; c < copies; c++) {
                                bench_gemm_job j = {k->gemm[type], buf + (size_t)c * mat, wrb, act, arb, sh.n_in, sh.n_out, 1, y};
                                pool_run(pool, bench_gemm_work, &j);
                            }
                            double td = now_s() - t0;
                            if (rep >= 0) {
                                pgbs[rep] = (double)pj.bytes / tp / 1e9;
                                gbs[rep] = (double)((size_t)copies * mat) / td / 1e9;
                            }
                        }
                        result r = {type, o.levels[li], o.threads[thi], KIND_DECODE, 0, 0, 0, sh, copies, summarize(gbs, o.reps),
                                    summarize(pgbs, o.reps)};
                        results[n_results] = r;
                        if (!o.json) print_result(&results[n_results]);
                        if (n_results + 1 < (int)(sizeof results / sizeof *results)) n_results++;
                    }
                    if (o.prefill && mat <= buf_bytes) {
                        double gops[64];
                        for (int rep = -1; rep < o.reps; rep++) {
                            bench_gemm_job j = {k->gemm[type], buf, wrb, act, arb, sh.n_in, sh.n_out, o.tokens, y};
                            double t0 = now_s();
                            pool_run(pool, bench_gemm_work, &j);
                            double t = now_s() - t0;
                            if (rep >= 0) gops[rep] = 2.0 * (double)sh.n_in * (double)sh.n_out * o.tokens / t / 1e9;
                        }
                        result r = {type, o.levels[li], o.threads[thi], KIND_PREFILL, 0, 0, 0, sh, 1, summarize(gops, o.reps), {0, 0, 0, 0}};
                        results[n_results] = r;
                        if (!o.json) print_result(&results[n_results]);
                        if (n_results + 1 < (int)(sizeof results / sizeof *results)) n_results++;
                    }
                }
            }
        }
    }
    for (int i = 0; i < o.n_attn_pos; i++)
        if (!bench_attention(&o, pools, o.attn_pos[i])) return fprintf(stderr, "attention: out of memory\n"), 1;
    for (int i = 0; i < o.n_dec_pos; i++)
        if (!bench_decode_attention(&o, pools, o.dec_pos[i])) return fprintf(stderr, "decode attention failed\n"), 1;
    bench_cpu_speeds(speed1);
    bench_format_speeds(speed1, n_cpus, sp, sizeof sp);
    if (o.json) print_json(&o);
    else
        printf("cpus: %s G adds/s at the end%s\n", sp,
               bench_speed_spread(speed0, n_cpus) < 0.9 || bench_speed_spread(speed1, n_cpus) < 0.9
                   ? ": the CPUs ran unevenly, and a multi-thread figure waits for the slowest"
                   : "");
    for (int i = 0; i < o.n_threads; i++) pool_free(pools[i]);
    munmap(buf, buf_bytes);
    free(x);
    free(act);
    free(y);
    return 0;
}
