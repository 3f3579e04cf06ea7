/* The scalar reference of attention (see attn.h): one query row at a time,
 * written for clarity; the SIMD levels are checked against it. */
#include "kernels/attn.h"

#include <math.h>
#include <string.h>

#include "kernels/ops.h"

/* One query row against positions [0, n_pos): out = softmax(q k^T * scale) v. */
static void attend_row(const attn_tile *a, const float *q, int32_t n_pos, float *out, float *scores) {
    const int32_t D = a->head_dim;
    const size_t head = (size_t)a->kv_head * (size_t)D;
    float run_max = -INFINITY, run_sum = 0.0f;
    memset(out, 0, (size_t)D * sizeof(float));
    for (int32_t c = 0; c < n_pos; c += ATTN_CHUNK) {
        const int32_t n = n_pos - c < ATTN_CHUNK ? n_pos - c : ATTN_CHUNK;
        float m = run_max;
        for (int32_t j = 0; j < n; j++) {
            const int32_t p = c + j;
            const float *keys = kv_keys_block(a->kv, a->layer, p / KV_BLOCK_TOKENS) + head * KV_BLOCK_TOKENS;
            float dot = 0.0f;
            for (int32_t d = 0; d < D; d++) dot += q[d] * keys[(size_t)d * KV_BLOCK_TOKENS + p % KV_BLOCK_TOKENS];
            scores[j] = dot * a->scale;
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
            const float *v = kv_values_head(a->kv, a->layer, p / KV_BLOCK_TOKENS, a->kv_head) +
                             (size_t)(p % KV_BLOCK_TOKENS) * (size_t)D;
            run_sum += w;
            for (int32_t d = 0; d < D; d++) out[d] += w * v[d];
        }
    }
    const float inv = 1.0f / run_sum;
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

void attn_batch_share(attn_fn fn, const attn_batch *b, float *work, int worker, int n_workers) {
    const int32_t D = b->head_dim, H = b->n_head, Hkv = b->n_head_kv, G = H / Hkv;
    const long n_blocks = (b->n_tok + ATTN_TILE_TOKENS - 1) / ATTN_TILE_TOKENS;
    for (long tile = worker; tile < n_blocks * Hkv; tile += n_workers) {
        const int32_t t0 = (int32_t)(tile % n_blocks) * ATTN_TILE_TOKENS, g = (int32_t)(tile / n_blocks);
        const size_t head0 = ((size_t)t0 * (size_t)H + (size_t)g * (size_t)G) * (size_t)D;
        const attn_tile a = {
            .kv = b->kv,
            .layer = b->layer,
            .kv_head = g,
            .head_dim = D,
            .group = G,
            .n_tok = b->n_tok - t0 < ATTN_TILE_TOKENS ? b->n_tok - t0 : ATTN_TILE_TOKENS,
            .first_pos = b->pos0 + t0,
            .scale = 1.0f / sqrtf((float)D),
            .q = b->q + head0,
            .q_stride = (size_t)H * (size_t)D,
            .out = b->out + head0,
            .out_stride = (size_t)H * (size_t)D,
        };
        fn(&a, work);
    }
}
