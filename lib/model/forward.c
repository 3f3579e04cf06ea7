/*
 * The forward pass of Qwen2/Qwen3, in plain C: the reference every faster
 * kernel is checked against. For a batch of T tokens at positions pos0..:
 *
 *   x = embedding rows
 *   for each layer:
 *       h = ops_rmsnorm(x) * attn_norm
 *       q, k, v = h Wq (+bq), h Wk (+bk), h Wv (+bv)
 *       qwen3: q, k = rmsnorm per head * q_norm, k_norm
 *       q, k = ops_rope_neox(q, k)            (NEOX: rotate the two halves)
 *       store k, v in the cache; a = causal softmax(q k^T / sqrt(d)) v
 *       x += a Wo
 *       h = ops_rmsnorm(x) * ffn_norm
 *       x += (silu(h Wgate) * (h Wup)) Wdown
 *   logits = (ops_rmsnorm(x) * output_norm) Wout
 *
 * Matrix products split output rows across the session's threads, and
 * attention splits (token block, KV head) tiles, or for a decoded token
 * with a long context, segments of positions that are merged in order
 * afterwards (attn.h); each output element is computed by one thread in a
 * fixed order, so results do not depend on the thread count.
 */
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/quant.h"
#include "model/model.h"
#include "util/util.h"

/* A worker's contiguous run of chunks [begin, end) of a decode product,
 * packed as begin << 32 | end in one atomic word: the owner takes chunks
 * from the front, a worker that ran out of its own steals from the back.
 * One per cache line. */
typedef struct worker_span {
    _Alignas(64) atomic_uint_least64_t range;
} worker_span;

struct forward_scratch {
    int32_t n_batch, n_ctx, n_threads;
    int32_t max_in;               /* longest weight row, in elements */
    float *x, *h, *q, *k, *v, *att, *gate, *up;
    float *rope_cos, *rope_sin;   /* [n_batch][head_dim / 2] */
    uint8_t *act[3];              /* activations in a weight type's format: n_batch rows each */
    float *attn_work;             /* per thread: the attention kernel's workspace */
    size_t attn_work_floats;      /* its size per thread */
    float *attn_part;             /* a decoded token's segment states (attn_decode) */
    worker_span *spans;           /* per thread: its share of a decode product's chunks */
};

enum { ROW_GRAIN = 16 }; /* threads split a matrix's rows in multiples of this */

static float *scratch_array(size_t n, size_t m, qwq_status *st) {
    size_t count;
    if (!size_mul(n, m, &count) || !size_mul(count, sizeof(float), &count)) {
        *st = err_set(QWQ_ERR_OUT_OF_MEMORY, "scratch size overflows");
        return NULL;
    }
    float *p = mem_alloc_aligned(count, "forward scratch");
    if (!p) *st = QWQ_ERR_OUT_OF_MEMORY;
    return p;
}

qwq_status forward_scratch_new(const qwq_model *m, int32_t n_batch, int32_t n_ctx, int n_threads,
                               forward_scratch **out) {
    *out = NULL;
    const hparams *hp = &m->hp;
    forward_scratch *s = mem_calloc(1, sizeof *s, "forward scratch");
    if (!s) return QWQ_ERR_OUT_OF_MEMORY;
    s->n_batch = n_batch;
    s->n_ctx = n_ctx;
    s->n_threads = n_threads;
    size_t T = (size_t)n_batch;
    size_t q_dim = (size_t)hp->n_head * (size_t)hp->head_dim;
    size_t kv_dim = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    int32_t max_in = hp->n_embd > hp->n_ff ? hp->n_embd : hp->n_ff;
    if ((int32_t)q_dim > max_in) max_in = (int32_t)q_dim;
    s->max_in = max_in;
    qwq_status st = QWQ_OK;
    s->x = scratch_array(T, (size_t)hp->n_embd, &st);
    s->h = scratch_array(T, (size_t)hp->n_embd, &st);
    s->q = scratch_array(T, q_dim, &st);
    s->k = scratch_array(T, kv_dim, &st);
    s->v = scratch_array(T, kv_dim, &st);
    s->att = scratch_array(T, q_dim, &st);
    s->gate = scratch_array(T, (size_t)hp->n_ff, &st);
    s->up = scratch_array(T, (size_t)hp->n_ff, &st);
    s->rope_cos = scratch_array(T, (size_t)hp->head_dim / 2, &st);
    s->rope_sin = scratch_array(T, (size_t)hp->head_dim / 2, &st);
    /* the widest activation format is f32 (4 bytes per element, more than
     * any 8-bit block format) */
    s->act[0] = (uint8_t *)scratch_array(T, (size_t)max_in + 64, &st);
    /* the 2nd and 3rd formats of fused products (q, k, v; gate, up) whose
     * input is a hidden state */
    s->act[1] = (uint8_t *)scratch_array(T, (size_t)hp->n_embd + 64, &st);
    s->act[2] = (uint8_t *)scratch_array(T, (size_t)hp->n_embd + 64, &st);
    s->attn_work_floats = attn_thread_work_floats(hp->n_head, hp->n_head_kv, hp->head_dim);
    s->attn_work = scratch_array((size_t)n_threads, s->attn_work_floats, &st);
    s->attn_part = scratch_array(1, attn_decode_part_floats(n_ctx, hp->n_head, hp->head_dim), &st);
    s->spans = mem_alloc_aligned(sizeof(worker_span) * (size_t)n_threads, "forward scratch");
    if (!s->spans) st = QWQ_ERR_OUT_OF_MEMORY;
    if (st) {
        forward_scratch_free(s);
        return st;
    }
    *out = s;
    return QWQ_OK;
}

void forward_scratch_free(forward_scratch *s) {
    if (!s) return;
    float *arrays[] = {s->x, s->h, s->q, s->k, s->v, s->att, s->gate, s->up, s->rope_cos, s->rope_sin, (float *)s->act[0], (float *)s->act[1], (float *)s->act[2], s->attn_work, s->attn_part};
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++) mem_free_aligned(arrays[i]);
    mem_free_aligned(s->spans);
    free(s);
}

/* ---- matrix products: y[t][o] = sum_i W[o][i] x[t][i] (+ bias[o]) ---------- */

enum { MAX_PRODUCTS = 3 };

/* Several products of the same input (q, k, v; gate, up) run as one job:
 * the input is quantised once per activation format, and the threads take
 * chunks of rows from all the products in turn, so one barrier serves
 * them all and a thread that finishes early takes more rows. Each row is
 * computed by one kernel call in a fixed order (kernels.h), so results do
 * not depend on which thread takes which chunk. */
typedef struct matmul_job {
    const kernel_table *kern;
    const matmul_product *p;
    int n;
    const float *x;
    int32_t n_tokens, n_in;
    uint8_t *act[MAX_PRODUCTS];       /* the input in product i's activation format */
    size_t act_row_bytes[MAX_PRODUCTS];
    int fresh[MAX_PRODUCTS];          /* the products whose act[] is quantised (not shared) */
    int n_fresh;
    int64_t rows_per_chunk[MAX_PRODUCTS];
    long chunk_end[MAX_PRODUCTS];     /* cumulative chunk counts */
    atomic_long next_chunk;           /* prefill: the next chunk to take */
    worker_span *spans;               /* decode: each worker's chunks (NULL in prefill) */
} matmul_job;

/* Decode reads every weight once: chunks of about 1 MiB of weights keep
 * the per-call activation packing small against the rows streamed. Each
 * worker owns a contiguous run of them and takes its chunks in order, so
 * its weights are one stream (a kernel's prefetch runs on into the next
 * chunk, which is its own); a worker that finishes early steals from the
 * back of another's run. Chunks dealt from one shared counter alternated
 * between the workers, so each chunk started a new stream: against that,
 * tg128 on the 4-layer QwQ-32B shape ran 2-18% faster (12 alternating
 * pairs of runs, 2 threads, Q8_0 / Q4_K_M / Q4_0; median +5%). Prefill
 * is compute bound and keeps the shared counter. */
enum { DECODE_CHUNK_BYTES = 1 << 20, PREFILL_CHUNKS_PER_THREAD = 4 };
/* Decode batches (KERNELS_DECODE_MAX_TOKENS): the steps between the
 * products run on the calling thread (waking the others costs more than
 * they save). */
enum { DECODE_MAX_TOKENS = KERNELS_DECODE_MAX_TOKENS };

static void quantize_worker(void *ctx, int worker, int n_workers) {
    const matmul_job *job = ctx;
    long begin, end;
    pool_split((long)job->n_tokens * job->n_fresh, worker, n_workers, &begin, &end);
    for (long k = begin; k < end; k++) {
        int i = job->fresh[k / job->n_tokens];
        int32_t t = (int32_t)(k % job->n_tokens);
        job->kern->quantize[job->p[i].w->type](job->x + (size_t)t * (size_t)job->n_in,
                                               job->act[i] + (size_t)t * job->act_row_bytes[i], job->n_in);
    }
}

/* The first chunk of a span (from_back 0) or its last (1), removed from
 * it; -1 when the span is empty. */
static long span_take(worker_span *sp, int from_back) {
    uint_least64_t v = atomic_load_explicit(&sp->range, memory_order_relaxed);
    for (;;) {
        const uint_least64_t b = v >> 32, e = v & 0xFFFFFFFFu;
        if (b >= e) return -1;
        const uint_least64_t nv = from_back ? (b << 32 | (e - 1)) : ((b + 1) << 32 | e);
        if (atomic_compare_exchange_weak_explicit(&sp->range, &v, nv, memory_order_relaxed, memory_order_relaxed))
            return (long)(from_back ? e - 1 : b);
    }
}

static long next_chunk(matmul_job *job, int worker, int n_workers) {
    if (!job->spans) return atomic_fetch_add_explicit(&job->next_chunk, 1, memory_order_relaxed);
    long c = span_take(&job->spans[worker], 0);
    for (int k = 1; c < 0 && k < n_workers; k++) c = span_take(&job->spans[(worker + k) % n_workers], 1);
    return c < 0 ? LONG_MAX : c;
}

static void gemm_worker(void *ctx, int worker, int n_workers) {
    matmul_job *job = ctx;
    for (;;) {
        long c = next_chunk(job, worker, n_workers);
        int i = 0;
        while (i < job->n && c >= job->chunk_end[i]) i++;
        if (i == job->n) return;
        const matmul_product *p = &job->p[i];
        const weight *w = p->w;
        long first = i ? job->chunk_end[i - 1] : 0;
        int64_t r0 = (int64_t)(c - first) * job->rows_per_chunk[i], r1 = r0 + job->rows_per_chunk[i];
        if (r1 > w->n_out) r1 = w->n_out;
        job->kern->gemm[w->type](w->data, w->row_bytes, job->act[i], job->act_row_bytes[i], w->n_in, r0, r1,
                                 job->n_tokens, p->y, w->n_out);
        if (p->bias)
            for (int32_t t = 0; t < job->n_tokens; t++)
                for (int64_t r = r0; r < r1; r++) p->y[(size_t)t * (size_t)w->n_out + (size_t)r] += p->bias[r];
    }
}

void forward_matmuls(forward_scratch *s, thread_pool *pool, const kernel_table *kern, const matmul_product *p, int n,
                     const float *x, int32_t n_tokens) {
    matmul_job job = {.kern = kern, .p = p, .n = n, .x = x, .n_tokens = n_tokens, .n_in = p[0].w->n_in};
    const int n_threads = pool_size(pool);
    const int decode = n_tokens <= DECODE_MAX_TOKENS;
    long chunks = 0;
    for (int i = 0; i < n; i++) {
        const weight *w = p[i].w;
        job.act_row_bytes[i] = quant_act_row_size(w->type, w->n_in);
        /* a format an earlier product already has is shared; else the next
         * free buffer (all the products' inputs fit: see model.h) */
        job.act[i] = NULL;
        for (int j = 0; j < i && !job.act[i]; j++)
            if (quant_act_type(p[j].w->type) == quant_act_type(w->type)) job.act[i] = job.act[j];
        if (!job.act[i]) {
            job.act[i] = s->act[job.n_fresh];
            job.fresh[job.n_fresh++] = i;
        }
        int64_t rows;
        if (decode) {
            rows = (int64_t)(DECODE_CHUNK_BYTES / (w->row_bytes ? w->row_bytes : 1));
            /* small matrices (small models): still a few chunks per thread */
            const int64_t share = w->n_out / (2 * (int64_t)n_threads);
            if (rows > share) rows = share;
        } else {
            rows = w->n_out / ((int64_t)n_threads * PREFILL_CHUNKS_PER_THREAD);
            if (rows < 8 * ROW_GRAIN) rows = 8 * ROW_GRAIN;
        }
        rows = (rows + ROW_GRAIN - 1) / ROW_GRAIN * ROW_GRAIN;
        if (rows < ROW_GRAIN) rows = ROW_GRAIN;
        job.rows_per_chunk[i] = rows;
        chunks += (long)((w->n_out + rows - 1) / rows);
        job.chunk_end[i] = chunks;
    }
    atomic_init(&job.next_chunk, 0);
    if (decode) {
        /* the spans are the scratch's, one per thread, with 32-bit chunk indexes */
        if (n_threads <= s->n_threads && chunks <= 0xFFFFFFFFL) {
            job.spans = s->spans;
            for (int w = 0; w < n_threads; w++) {
                long b, e;
                pool_split(chunks, w, n_threads, &b, &e);
                atomic_store_explicit(&s->spans[w].range, (uint_least64_t)b << 32 | (uint_least64_t)e,
                                      memory_order_relaxed);
            }
        }
        quantize_worker(&job, 0, 1); /* not worth waking the threads */
    } else {
        pool_run(pool, quantize_worker, &job);
    }
    pool_run(pool, gemm_worker, &job);
}

void forward_matmul(forward_scratch *s, thread_pool *pool, const kernel_table *kern, const weight *w, const float *x,
                    int32_t n_tokens, const float *bias, float *y) {
    matmul_product p = {w, bias, y};
    forward_matmuls(s, pool, kern, &p, 1, x, n_tokens);
}

/* ---- attention --------------------------------------------------------------- */

typedef struct attention_job {
    const kernel_table *kern;
    attn_batch batch;
    attn_decode decode;
    float *work; /* work_floats per worker */
    size_t work_floats;
    atomic_long next; /* tiles or segments taken (attn.h) */
} attention_job;

/* The dealing of tiles and segments to workers is attn.h's. */
static void attention_worker(void *ctx, int worker, int n_workers) {
    const attention_job *job = ctx;
    attn_batch_share(job->kern->attention, &job->batch, job->work + (size_t)worker * job->work_floats, worker, n_workers);
}
static void attention_parts_worker(void *ctx, int worker, int n_workers) {
    const attention_job *job = ctx;
    attn_decode_parts(job->kern->attention_part, &job->decode, job->work + (size_t)worker * job->work_floats, worker,
                      n_workers);
}
static void attention_merge_worker(void *ctx, int worker, int n_workers) {
    const attention_job *job = ctx;
    attn_decode_merge(job->kern->attention_merge, &job->decode, worker, n_workers);
}

/* Causal attention of the batch's T tokens over layer il of the cache. */
static void attention(const qwq_model *m, forward_scratch *s, thread_pool *pool, kv_cache *kv, int32_t il, int32_t T,
                      int32_t pos0) {
    const hparams *hp = &m->hp;
    attention_job job = {.kern = m->kern,
                         .batch = {kv, il, hp->n_head, hp->n_head_kv, hp->head_dim, T, pos0, s->q, s->att},
                         .decode = {kv, il, hp->n_head, hp->n_head_kv, hp->head_dim, pos0 + 1, s->q, s->att,
                                    s->attn_part},
                         .work = s->attn_work,
                         .work_floats = s->attn_work_floats};
    atomic_init(&job.next, 0);
    job.batch.next = job.decode.next = &job.next;
    if (T == 1 && attn_segments(pos0 + 1) >= 2) { /* decode, long context: by segments */
        pool_run(pool, attention_parts_worker, &job);
        pool_run(pool, attention_merge_worker, &job);
    } else {
        pool_run(pool, attention_worker, &job);
    }
}

/* ---- the whole pass ---------------------------------------------------------- */

/* The element-wise steps between the products, split across the threads
 * by token (SwiGLU by element); each token's values are computed the same
 * way whatever the split. */
typedef enum stage_kind {
    STAGE_ATTN_IN,  /* h = rmsnorm(x) * attn_norm */
    STAGE_QK,       /* q, k: per-head norm (qwen3), rope; k and v into the cache */
    STAGE_FFN_IN,   /* x += h (the attention output); h = rmsnorm(x) * ffn_norm */
    STAGE_SWIGLU,   /* gate = silu(gate) * up */
    STAGE_RESIDUAL  /* x += h (the feed-forward output) */
} stage_kind;

typedef struct stage_job {
    const hparams *hp;
    const layer *L;
    forward_scratch *s;
    kv_cache *kv;
    int32_t il, T, pos0;
    stage_kind kind;
    const kernel_table *kern;
} stage_job;

static void stage_token(const stage_job *j, int32_t t) {
    const hparams *hp = j->hp;
    forward_scratch *s = j->s;
    int32_t E = hp->n_embd, D = hp->head_dim, H = hp->n_head, Hkv = hp->n_head_kv;
    size_t kv_dim = (size_t)Hkv * (size_t)D, half = (size_t)D / 2;
    float *x = s->x + (size_t)t * E, *h = s->h + (size_t)t * E;
    switch (j->kind) {
    case STAGE_ATTN_IN: ops_rmsnorm(h, x, j->L->attn_norm, E, hp->rms_eps); break;
    case STAGE_QK: {
        const float *c = s->rope_cos + (size_t)t * half, *sn = s->rope_sin + (size_t)t * half;
        for (int32_t i = 0; i < H; i++) {
            float *q = s->q + ((size_t)t * H + i) * D;
            if (j->L->q_norm) ops_rmsnorm(q, q, j->L->q_norm, D, hp->rms_eps);
            ops_rope_neox(q, c, sn, D);
        }
        float *k = s->k + (size_t)t * kv_dim;
        for (int32_t i = 0; i < Hkv; i++) {
            if (j->L->k_norm) ops_rmsnorm(k + (size_t)i * D, k + (size_t)i * D, j->L->k_norm, D, hp->rms_eps);
            ops_rope_neox(k + (size_t)i * D, c, sn, D);
        }
        kv_store(j->kv, j->il, j->pos0 + t, k, s->v + (size_t)t * kv_dim);
        break;
    }
    case STAGE_FFN_IN:
        for (int32_t i = 0; i < E; i++) x[i] += h[i];
        ops_rmsnorm(h, x, j->L->ffn_norm, E, hp->rms_eps);
        break;
    case STAGE_RESIDUAL:
        for (int32_t i = 0; i < E; i++) x[i] += h[i];
        break;
    case STAGE_SWIGLU: break;
    }
}

static void stage_worker(void *ctx, int worker, int n_workers) {
    const stage_job *j = ctx;
    long begin, end;
    if (j->kind == STAGE_SWIGLU) {
        long n = (long)j->T * j->hp->n_ff;
        pool_split(n, worker, n_workers, &begin, &end);
        j->kern->swiglu(j->s->gate + begin, j->s->up + begin, end - begin);
        return;
    }
    pool_split(j->T, worker, n_workers, &begin, &end);
    for (long t = begin; t < end; t++) stage_token(j, (int32_t)t);
}

static void run_stage(stage_job *j, thread_pool *pool, stage_kind kind) {
    j->kind = kind;
    if (j->T <= DECODE_MAX_TOKENS) stage_worker(j, 0, 1); /* decode: not worth waking the threads */
    else pool_run(pool, stage_worker, j);
}

static void layer_forward(const qwq_model *m, const layer *L, int32_t il, forward_scratch *s, thread_pool *pool,
                          kv_cache *kv, int32_t T, int32_t pos0) {
    const hparams *hp = &m->hp;
    stage_job sj = {hp, L, s, kv, il, T, pos0, STAGE_ATTN_IN, m->kern};
    run_stage(&sj, pool, STAGE_ATTN_IN);
    const matmul_product qkv[3] = {{&L->wq, L->bq, s->q}, {&L->wk, L->bk, s->k}, {&L->wv, L->bv, s->v}};
    forward_matmuls(s, pool, m->kern, qkv, 3, s->h, T);
    run_stage(&sj, pool, STAGE_QK);
    attention(m, s, pool, kv, il, T, pos0);
    forward_matmul(s, pool, m->kern, &L->wo, s->att, T, NULL, s->h);
    run_stage(&sj, pool, STAGE_FFN_IN);
    const matmul_product ffn[2] = {{&L->w_gate, NULL, s->gate}, {&L->w_up, NULL, s->up}};
    forward_matmuls(s, pool, m->kern, ffn, 2, s->h, T);
    run_stage(&sj, pool, STAGE_SWIGLU);
    forward_matmul(s, pool, m->kern, &L->w_down, s->gate, T, NULL, s->h);
    run_stage(&sj, pool, STAGE_RESIDUAL);
}

void model_forward(const qwq_model *m, forward_scratch *s, thread_pool *pool, kv_cache *kv,
                   const qwq_token *tokens, int32_t T, int32_t pos0, bool all_logits, float *logits) {
    const hparams *hp = &m->hp;
    int32_t E = hp->n_embd, half = hp->head_dim / 2;
    for (int32_t t = 0; t < T; t++) {
        dequant_row(m->tok_embd.type, m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_bytes,
                    s->x + (size_t)t * E, E);
        ops_rope_angles(s->rope_cos + (size_t)t * half, s->rope_sin + (size_t)t * half, m->rope_freq, half, pos0 + t);
    }
    for (int32_t il = 0; il < hp->n_layer; il++) layer_forward(m, &m->layers[il], il, s, pool, kv, T, pos0);
    if (!logits) return;
    int32_t first = all_logits ? 0 : T - 1;
    int32_t n_out = T - first;
    for (int32_t t = 0; t < n_out; t++)
        ops_rmsnorm(s->h + (size_t)t * E, s->x + (size_t)(first + t) * E, m->output_norm, E, hp->rms_eps);
    forward_matmul(s, pool, m->kern, &m->output, s->h, n_out, NULL, logits);
}
