/*
 * kvcache - a session's keys and values in fixed-size blocks of tokens
 * (paged), shared between forked sessions copy-on-write.
 *
 * Invariants
 *  - Position p of the sequence lives in block table[p / block_tokens], row
 *    p % block_tokens. A block holds, for every layer, block_tokens rows of
 *    keys and then block_tokens rows of values, each kv_dim floats.
 *  - Blocks are reference-counted (atomically: forks may run on other
 *    threads). A block with more than one owner is never written: before
 *    positions are written, kv_prepare gives this cache a private copy of
 *    every block those positions touch.
 *  - Memory grows with the tokens actually held, never up front; at most
 *    ceil(max_tokens / block_tokens) blocks.
 *  - kv_prepare either succeeds or changes nothing visible: blocks it
 *    allocated are kept for later (they hold no tokens yet).
 */
#ifndef QWQ_KVCACHE_H
#define QWQ_KVCACHE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "qwq.h"

typedef struct kv_block {
    atomic_int refs;
    float data[]; /* [layer][k|v][block_tokens][kv_dim] */
} kv_block;

typedef struct kv_cache {
    int32_t n_layer;
    int32_t kv_dim;       /* n_head_kv * head_dim */
    int32_t block_tokens; /* positions per block */
    int32_t max_tokens;
    int32_t n_blocks;     /* entries of table in use (allocated blocks) */
    int32_t table_cap;
    kv_block **table;
} kv_cache;

qwq_status kv_init(kv_cache *kv, int32_t n_layer, int32_t kv_dim, int32_t block_tokens, int32_t max_tokens);
void kv_free(kv_cache *kv);

/* Makes positions [begin, end) writable: allocates missing blocks and
 * copies shared ones. QWQ_ERR_CONTEXT_FULL when end > max_tokens. */
qwq_status kv_prepare(kv_cache *kv, int32_t begin, int32_t end);

/* Drops every block that holds no position below n_keep. */
void kv_truncate(kv_cache *kv, int32_t n_keep);

/* dst becomes a cache sharing src's blocks for positions [0, n_tokens). */
qwq_status kv_fork(const kv_cache *src, int32_t n_tokens, kv_cache *dst);

/* Row of keys / values of layer l at position p (p must be prepared or
 * already written). */
static inline float *kv_key(const kv_cache *kv, int32_t layer, int32_t pos) {
    kv_block *b = kv->table[pos / kv->block_tokens];
    size_t row = (size_t)(pos % kv->block_tokens);
    return b->data + ((size_t)layer * 2 * (size_t)kv->block_tokens + row) * (size_t)kv->kv_dim;
}
static inline float *kv_value(const kv_cache *kv, int32_t layer, int32_t pos) {
    kv_block *b = kv->table[pos / kv->block_tokens];
    size_t row = (size_t)(pos % kv->block_tokens);
    return b->data + (((size_t)layer * 2 + 1) * (size_t)kv->block_tokens + row) * (size_t)kv->kv_dim;
}

/* Bytes of one block (for reporting memory use). */
size_t kv_block_bytes(const kv_cache *kv);

#endif
