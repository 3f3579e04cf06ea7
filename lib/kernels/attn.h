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
 *  - Every query row is computed on its own: positions go in segments of
 *    ATTN_SEGMENT and those in chunks of ATTN_CHUNK, both counted from
 *    position 0 (absolute, never from the tile). Within a segment, an
 *    online softmax per row (running max and sum, the accumulated output
 *    rescaled when the max grows), all in f32, starting afresh in every
 *    segment; the segments' (max, sum, output) are then merged in segment
 *    order (attn_merge below) and the output divided by the sum. A row's
 *    result depends only on its query, its number of positions and the
 *    cache, never on the other rows of its tile or on who computed which
 *    segment, so a token gives the same bits in a batch of 512 and
 *    decoded alone (by the decode path below), on any number of threads.
 *  - Positions past a row's last are masked exactly: they add nothing to
 *    its max, sum or output (they are skipped, not multiplied by zero).
 *  - Levels may round differently (summation order, exp approximation):
 *    each SIMD level is checked against the scalar one with a tolerance.
 *  - No allocation; the caller gives a workspace of
 *    attn_work_floats(G) floats per thread.
 */
#ifndef QWQ_ATTN_H
#define QWQ_ATTN_H

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "kvcache/kvcache.h"

enum {
    ATTN_CHUNK = 64,      /* positions per online-softmax step: 4 key blocks */
    ATTN_SEGMENT = 256,   /* positions per independent softmax segment: 4 chunks */
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

/* One segment of one decoded token, all of a layer's query heads: the
 * segment's unnormalised state per head, which attn_merge combines.
 * Positions [p0, p1) with p0 a multiple of ATTN_SEGMENT and
 * p1 - p0 <= ATTN_SEGMENT. For head h: m[h] the largest score, s[h] the
 * sum of e^(score - m[h]), o[h * head_dim ...] the sum of e^(score -
 * m[h]) v, computed exactly as a tile computes that segment. Decode runs
 * the segments of a long context on all threads at once, each reading
 * whole blocks of one layer (all heads' keys, then all heads' values), the
 * order in which memory streams fastest: with tiles split by KV head the
 * threads read runs of 8 KiB scattered 8 MiB apart (QwQ-32B), at 40% of
 * that speed. */
typedef struct attn_part {
    const kv_cache *kv;
    int32_t layer, n_head, n_head_kv, head_dim;
    int32_t p0, p1;
    float scale;    /* applied to q . k before the softmax */
    const float *q; /* head h at q + h * head_dim */
    float *m, *s;   /* [n_head] */
    float *o;       /* [n_head][head_dim] */
} attn_part;

typedef void (*attn_part_fn)(const attn_part *part, float *work);

/* Rows [r0, r1) of a token's n_head: out[r * head_dim ...] = the merge of
 * the n_seg segments' states (m, s: [seg][n_head]; o: [seg][n_head][head_dim])
 * in segment order, divided by the merged sum. */
typedef void (*attn_merge_fn)(const float *m, const float *s, const float *o, int32_t n_seg, int32_t n_head,
                              int32_t head_dim, int32_t r0, int32_t r1, float *out);

/* Floats of workspace a tile of group heads of head_dim needs. */
static inline size_t attn_work_floats(int32_t group, int32_t head_dim) {
    size_t rows = (size_t)ATTN_TILE_TOKENS * (size_t)group;
    return rows * (ATTN_CHUNK + 4 + (size_t)head_dim) + 64;
}
/* Floats of workspace a segment of n_head heads needs. */
static inline size_t attn_part_work_floats(int32_t n_head) { return (size_t)n_head * ATTN_CHUNK + 64; }
/* Floats of workspace a thread needs for either (tiles or segments). */
static inline size_t attn_thread_work_floats(int32_t n_head, int32_t n_head_kv, int32_t head_dim) {
    const size_t tile = attn_work_floats(n_head / n_head_kv, head_dim), part = attn_part_work_floats(n_head);
    return tile > part ? tile : part;
}

/* The score scale 1 / sqrt(head_dim): one definition, since tiles and
 * segments must use the same bits. */
static inline float attn_scale(int32_t head_dim) { return 1.0f / sqrtf((float)head_dim); }

/* The end of the segment that starts at p0, for a row that sees n_pos positions. */
static inline int32_t attn_segment_end(int32_t p0, int32_t n_pos) {
    return n_pos - p0 < ATTN_SEGMENT ? n_pos : p0 + ATTN_SEGMENT;
}

/* The scalar reference (portable C). */
void attn_scalar(const attn_tile *tile, float *work);
void attn_part_scalar(const attn_part *part, float *work);
void attn_merge_scalar(const float *m, const float *s, const float *o, int32_t n_seg, int32_t n_head, int32_t head_dim,
                       int32_t r0, int32_t r1, float *out);

/* The causal attention of n_tok consecutive tokens (positions pos0 ...)
 * over all query heads of one layer, for a thread pool: q and out hold
 * token t's head h at (t * n_head + h) * head_dim. */
typedef struct attn_batch {
    const kv_cache *kv;
    int32_t layer, n_head, n_head_kv, head_dim;
    int32_t n_tok, pos0;
    const float *q;
    float *out;
    atomic_long *next; /* the workers' shared count of tiles taken, 0 before
                          the job; NULL: tiles dealt round-robin */
} attn_batch;

/* Worker `worker` of n_workers runs its share of the batch's tiles with fn,
 * in its own workspace of attn_work_floats(n_head / n_head_kv, head_dim) floats.
 * Tiles of (up to ATTN_TILE_TOKENS tokens) x (one KV head with its query
 * heads) are ordered head by head, and within a head from the last token
 * block to the first (the longest first). With a shared counter (next)
 * each worker takes the next tile when it is free, so a core that runs
 * slower (a busy or smaller core, a vCPU whose host core is shared) takes
 * fewer and nobody waits for it, and the short tiles come last, where they
 * even out the finish; without one they are dealt round-robin. Either way
 * the workers take neighbouring tiles of one head, whose keys and values
 * then stay in the L2 (QwQ-32B shape, 512 tokens, 2 threads: 1.1x against
 * token-block order). Each row's result is independent of its tile, hence
 * of who computes it. */
void attn_batch_share(attn_fn fn, const attn_batch *b, float *work, int worker, int n_workers);

/* A decoded token's attention by segments (attn_part), for a thread pool:
 * first every worker runs attn_decode_parts (each takes the next segment
 * from the shared counter when it is free, or round-robin without one,
 * in a workspace of attn_part_work_floats(n_head)), then, after all have
 * finished, attn_decode_merge (query heads split between the workers).
 * part holds attn_decode_part_floats(...) floats. Worth it from two
 * segments on; the result is the same bits as the tile's. */
typedef struct attn_decode {
    const kv_cache *kv;
    int32_t layer, n_head, n_head_kv, head_dim;
    int32_t n_pos;  /* positions the token sees: [0, n_pos) */
    const float *q; /* head h at q + h * head_dim */
    float *out;     /* the same layout */
    float *part;    /* the segments' states */
    atomic_long *next; /* the workers' shared count of segments taken, 0
                          before attn_decode_parts; NULL: round-robin */
} attn_decode;

static inline int32_t attn_segments(int32_t n_pos) { return (n_pos + ATTN_SEGMENT - 1) / ATTN_SEGMENT; }
static inline size_t attn_decode_part_floats(int32_t n_pos, int32_t n_head, int32_t head_dim) {
    return (size_t)attn_segments(n_pos) * (size_t)n_head * ((size_t)head_dim + 2);
}
void attn_decode_parts(attn_part_fn fn, const attn_decode *d, float *work, int worker, int n_workers);
void attn_decode_merge(attn_merge_fn fn, const attn_decode *d, int worker, int n_workers);

#endif
