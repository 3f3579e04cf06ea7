/*
 * attn - causal attention of a tile of query tokens against one KV head of
 * the paged cache: the kernel-table entry the forward pass calls.
 *
 * A tile is n_tok consecutive tokens (at most ATTN_TILE_TOKENS) and the G
 * query heads that share KV head kv_head: n_tok * G query rows. Token i of
 * the tile is at position first_pos + i and attends to positions
 * [0, first_pos + i] (causal).
 *
 * Invariants
 *  - Every query row is computed on its own: positions go in chunks of
 *    ATTN_CHUNK counted from position 0 (absolute, never from the tile),
 *    with an online softmax per row (running max and sum, the accumulated
 *    output rescaled when the max grows), all in f32. A row's result
 *    depends only on its query, its number of positions and the cache,
 *    never on the other rows of its tile, so a token gives the same bits
 *    in a batch of 512 and decoded alone, on any number of threads.
 *  - Positions past a row's last are masked exactly: they add nothing to
 *    its max, sum or output (they are skipped, not multiplied by zero).
 *  - Levels may round differently (summation order, exp approximation):
 *    each SIMD level is checked against the scalar one with a tolerance.
 *  - No allocation; the caller gives a workspace of
 *    attn_work_floats(G) floats per thread.
 */
#ifndef QWQ_ATTN_H
#define QWQ_ATTN_H

#include <stddef.h>
#include <stdint.h>

#include "kvcache/kvcache.h"

enum {
    ATTN_CHUNK = 64,      /* positions per online-softmax step: 4 key blocks */
    ATTN_TILE_TOKENS = 4  /* query tokens per tile at most */
};

typedef struct attn_tile {
    const kv_cache *kv;
    int32_t layer, kv_head;
    int32_t head_dim, group; /* D, and G query heads per KV head */
    int32_t n_tok, first_pos;
    float scale;              /* applied to q . k before the softmax */
    const float *q;           /* head h of token i: q + i * q_stride + h * D */
    size_t q_stride;
    float *out;               /* the same layout, out_stride between tokens */
    size_t out_stride;
} attn_tile;

typedef void (*attn_fn)(const attn_tile *tile, float *work);

/* Floats of workspace a tile of group heads needs. */
static inline size_t attn_work_floats(int32_t group) {
    size_t rows = (size_t)ATTN_TILE_TOKENS * (size_t)group;
    return rows * (ATTN_CHUNK + 2) + 64;
}

/* The scalar reference (portable C). */
void attn_scalar(const attn_tile *tile, float *work);

/* The causal attention of n_tok consecutive tokens (positions pos0 ...)
 * over all query heads of one layer, for a thread pool: q and out hold
 * token t's head h at (t * n_head + h) * head_dim. */
typedef struct attn_batch {
    const kv_cache *kv;
    int32_t layer, n_head, n_head_kv, head_dim;
    int32_t n_tok, pos0;
    const float *q;
    float *out;
} attn_batch;

/* Worker `worker` of n_workers runs its share of the batch's tiles with fn,
 * in its own workspace of attn_work_floats(n_head / n_head_kv) floats.
 * Tiles of (up to ATTN_TILE_TOKENS tokens) x (one KV head with its query
 * heads) are ordered head by head and dealt out round-robin: later tokens
 * see more positions, and interleaving gives every worker a share of each
 * head's token blocks, while a worker's successive tiles read the same
 * head's keys and values (which stay in its L2: QwQ-32B shape, 512 tokens,
 * 2 threads, 1.1x against token-block order). Each row's result is
 * independent of its tile, hence of the split. */
void attn_batch_share(attn_fn fn, const attn_batch *b, float *work, int worker, int n_workers);

#endif
