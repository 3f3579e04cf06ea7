/* The scalar reference of attention (see attn.h): one query row at a time,
 * written for clarity; the SIMD levels are checked against it. */
#include "kernels/attn.h"

#include <math.h>
#include <string.h>

#include "kernels/ops.h"

/* One query row against positions [p0, p1) of a segment: its unnormalised
 * state, *m_out the largest score, *s_out the sum of e^(score - max) and
 * out[D] the sum of e^(score - max) v. */
static void attend_segment(const kv_cache *kv, int32_t layer, int32_t kv_head, int32_t D, float scale, const float *q,
                           int32_t p0, int32_t p1, float *m_out, float *s_out, float *out, float *scores) {
    const size_t head = (size_t)kv_head * (size_t)D;
    float run_max = -INFINITY, run_sum = 0.0f;
    memset(out, 0, (size_t)D * sizeof(float));
    for (int32_t c = p0; c < p1; c += ATTN_CHUNK) {
        const int32_t n = p1 - c < ATTN_CHUNK ? p1 - c : ATTN_CHUNK;
        float m = run_max;
        for (int32_t j = 0; j < n; j++) {
            const int32_t p = c + j;
            const float *keys = kv_keys_block(kv, layer, p / KV_BLOCK_TOKENS) + head * KV_BLOCK_TOKENS;
            float dot = 0.0f;
            for (int32_t d = 0; d < D; d++) dot += q[d] * keys[(size_t)d * KV_BLOCK_TOKENS + p % KV_BLOCK_TOKENS];
            scores[j] = dot * scale;
            if (scores[j] > m) m = scores[j];
        }
        if (m > run_max) { /* rescale what was accumulated under the old max */
            const float corr = run_max == -INFINITY ? 0.0f : expf(run_max - m);
            run_sum *= corr;
            for (int32_t d = 0; d < D; d++) out[d] *= corr;
            run_max = m;
        }
        for (int32_t j = 0; j < n; j++) {
            const int32_t p = c + j;
            const float w = expf(scores[j] - m);
            const float *v = kv_values_head(kv, layer, p / KV_BLOCK_TOKENS, kv_head) +
                             (size_t)(p % KV_BLOCK_TOKENS) * (size_t)D;
            run_sum += w;
            for (int32_t d = 0; d < D; d++) out[d] += w * v[d];
        }
    }
    *m_out = run_max;
    *s_out = run_sum;
}

/* (M, S, O) becomes its merge with the next segment's (m, s, o): both
 * rescaled to the larger max. */
static void merge_segment(float *M, float *S, float *O, float m, float s, const float *o, int32_t D) {
    const float mx = m > *M ? m : *M, a = expf(*M - mx), b = expf(m - mx);
    *S = *S * a + s * b;
    for (int32_t d = 0; d < D; d++) O[d] = O[d] * a + o[d] * b;
    *M = mx;
}

/* One query row against positions [0, n_pos): out = softmax(q k^T * scale) v,
 * segment by segment (the first straight into out). */
static void attend_row(const attn_tile *a, const float *q, int32_t n_pos, float *out, float *work) {
    const int32_t D = a->head_dim;
    float *scores = work, *seg = work + ATTN_CHUNK;
    float M, S;
    attend_segment(a->kv, a->layer, a->kv_head, D, a->scale, q, 0, attn_segment_end(0, n_pos), &M, &S, out, scores);
    for (int32_t p0 = ATTN_SEGMENT; p0 < n_pos; p0 += ATTN_SEGMENT) {
        float m, s;
        attend_segment(a->kv, a->layer, a->kv_head, D, a->scale, q, p0, attn_segment_end(p0, n_pos), &m, &s, seg,
                       scores);
        merge_segment(&M, &S, out, m, s, seg, D);
    }
    const float inv = 1.0f / S;
    for (int32_t d = 0; d < D; d++) out[d] *= inv;
}

void attn_scalar(const attn_tile *a, float *work) {
    for (int32_t i = 0; i < a->n_tok; i++)
        for (int32_t h = 0; h < a->group; h++) {
            const size_t off = (size_t)h * (size_t)a->head_dim;
            attend_row(a, a->q + (size_t)i * a->q_stride + off, a->first_pos + i + 1,
                       a->out + (size_t)i * a->out_stride + off, work);
        }
}

void attn_part_scalar(const attn_part *a, float *work) {
    const int32_t D = a->head_dim, G = a->n_head / a->n_head_kv;
    for (int32_t h = 0; h < a->n_head; h++)
        attend_segment(a->kv, a->layer, h / G, D, a->scale, a->q + (size_t)h * D, a->p0, a->p1, a->m + h, a->s + h,
                       a->o + (size_t)h * D, work);
}

void attn_merge_scalar(const float *m, const float *s, const float *o, int32_t n_seg, int32_t n_head, int32_t D,
                       int32_t r0, int32_t r1, float *out) {
    for (int32_t r = r0; r < r1; r++) {
        float *dst = out + (size_t)r * D, M = m[r], S = s[r];
        memcpy(dst, o + (size_t)r * D, sizeof(float) * (size_t)D);
        for (int32_t k = 1; k < n_seg; k++) {
            const size_t i = (size_t)k * (size_t)n_head + (size_t)r;
            merge_segment(&M, &S, dst, m[i], s[i], o + i * (size_t)D, D);
        }
        const float inv = 1.0f / S;
        for (int32_t d = 0; d < D; d++) dst[d] *= inv;
    }
}

/* A worker's first item and the one after item i: the next from the
 * shared counter when there is one, else every n_workers-th from its own
 * index. Either way every item runs exactly once. */
static long first_item(atomic_long *next, int worker) {
    return next ? atomic_fetch_add_explicit(next, 1, memory_order_relaxed) : worker;
}
static long next_item(atomic_long *next, long i, int n_workers) {
    return next ? atomic_fetch_add_explicit(next, 1, memory_order_relaxed) : i + n_workers;
}

void attn_batch_share(attn_fn fn, const attn_batch *b, float *work, int worker, int n_workers) {
    const int32_t D = b->head_dim, H = b->n_head, Hkv = b->n_head_kv, G = H / Hkv;
    const long n_blocks = (b->n_tok + ATTN_TILE_TOKENS - 1) / ATTN_TILE_TOKENS;
    for (long tile = first_item(b->next, worker); tile < n_blocks * Hkv; tile = next_item(b->next, tile, n_workers)) {
        const int32_t t0 = (int32_t)(n_blocks - 1 - tile % n_blocks) * ATTN_TILE_TOKENS, g = (int32_t)(tile / n_blocks);
        const size_t head0 = ((size_t)t0 * (size_t)H + (size_t)g * (size_t)G) * (size_t)D;
        const attn_tile a = {
            .kv = b->kv,
            .layer = b->layer,
            .kv_head = g,
            .head_dim = D,
            .group = G,
            .n_tok = b->n_tok - t0 < ATTN_TILE_TOKENS ? b->n_tok - t0 : ATTN_TILE_TOKENS,
            .first_pos = b->pos0 + t0,
            .scale = attn_scale(D),
            .q = b->q + head0,
            .q_stride = (size_t)H * (size_t)D,
            .out = b->out + head0,
            .out_stride = (size_t)H * (size_t)D,
        };
        fn(&a, work);
    }
}

void attn_decode_parts(attn_part_fn fn, const attn_decode *d, float *work, int worker, int n_workers) {
    const int32_t H = d->n_head, D = d->head_dim, n_seg = attn_segments(d->n_pos);
    float *m = d->part, *s = m + (size_t)n_seg * H, *o = s + (size_t)n_seg * H;
    for (long k = first_item(d->next, worker); k < n_seg; k = next_item(d->next, k, n_workers)) {
        const int32_t p0 = (int32_t)k * ATTN_SEGMENT;
        const attn_part a = {
            .kv = d->kv,
            .layer = d->layer,
            .n_head = H,
            .n_head_kv = d->n_head_kv,
            .head_dim = D,
            .p0 = p0,
            .p1 = attn_segment_end(p0, d->n_pos),
            .scale = attn_scale(D),
            .q = d->q,
            .m = m + (size_t)k * H,
            .s = s + (size_t)k * H,
            .o = o + (size_t)k * H * D,
        };
        fn(&a, work);
    }
}

void attn_decode_merge(attn_merge_fn fn, const attn_decode *d, int worker, int n_workers) {
    const int32_t H = d->n_head, n_seg = attn_segments(d->n_pos);
    const float *m = d->part, *s = m + (size_t)n_seg * H, *o = s + (size_t)n_seg * H;
    const int32_t r0 = (int32_t)((int64_t)H * worker / n_workers), r1 = (int32_t)((int64_t)H * (worker + 1) / n_workers);
    if (r0 < r1) fn(m, s, o, n_seg, H, d->head_dim, r0, r1, d->out);
}
