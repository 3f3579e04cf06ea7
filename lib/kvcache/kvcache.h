/*
 * kvcache - a session's keys and values in fixed-size blocks of tokens
 * (paged), shared between forked sessions copy-on-write.
 *
 * Invariants
 *  - Position p of the sequence lives in block table[p / KV_BLOCK_TOKENS],
 *    slot p % KV_BLOCK_TOKENS. A block holds, for every layer, the keys and
 *    then the values of its KV_BLOCK_TOKENS positions.
 *  - Keys are stored transposed, [kv_dim][KV_BLOCK_TOKENS]: element d of the
 *    16 positions is one run of 16 floats, which the attention kernels load
 *    as one vector (no transposition at read time). Values are stored by
 *    KV head, then position, [n_head_kv][KV_BLOCK_TOKENS][head_dim], as
 *    attention sums whole rows of one head: a head's 16 value rows are one
 *    contiguous run, like its keys. (Rows of the whole kv_dim put a head's
 *    successive positions 4 KiB apart for QwQ-32B, all in the same few L1
 *    sets: the p . v product ran 1.5x slower from that alone.)
 *  - A new block is zeroed: slots not yet written hold 0, never garbage
 *    (kernels may read a whole block and mask the unused slots).
 *  - Blocks are reference-counted (atomically: forks may run on other
 *    threads). A block with more than one owner is never written: before
 *    positions are written, kv_prepare gives this cache a private copy of
 *    every block those positions touch.
 *  - Memory grows with the tokens actually held, never up front; at most
 *    ceil(max_tokens / KV_BLOCK_TOKENS) blocks. A block's data starts on a
 *    64-byte line (the kernels' vector loads must not straddle lines);
 *    data of 2 MiB or more (8 MiB for QwQ-32B) is 2 MiB aligned and
 *    advised MADV_HUGEPAGE, so that attention streams it without a page
 *    walk every 4 KiB, unless rounding it up to 2 MiB would waste more
 *    than an eighth of it.
 *  - kv_prepare either succeeds or changes nothing visible: blocks it
 *    allocated are kept for later (they hold no tokens yet).
 */
#ifndef QWQ_KVCACHE_H
#define QWQ_KVCACHE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "qwq.h"

enum { KV_BLOCK_TOKENS = 16 }; /* positions per block: one AVX-512 vector of keys */

typedef struct kv_block {
    atomic_int refs;
    /* [layer] { keys [kv_dim][KV_BLOCK_TOKENS], values [n_head_kv][KV_BLOCK_TOKENS][head_dim] }: its own
     * allocation, aligned (see above) without rounding its size up */
    float *data;
} kv_block;

typedef struct kv_cache {
    int32_t n_layer;
    int32_t kv_dim;       /* n_head_kv * head_dim */
    int32_t head_dim;
    int32_t max_tokens;
    int32_t n_blocks;     /* entries of table in use (allocated blocks) */
    int32_t table_cap;
    kv_block **table;
} kv_cache;

/* An empty cache for n_layer layers of n_head_kv KV heads of head_dim
 * elements, holding at most max_tokens positions (no block is allocated
 * yet). QWQ_ERR_INVALID_ARGUMENT when a size is not positive or
 * n_head_kv * head_dim overflows; QWQ_ERR_OUT_OF_MEMORY when a block's
 * size overflows or the block table cannot be allocated. kv_free is safe
 * after either. */
qwq_status kv_init(kv_cache *kv, int32_t n_layer, int32_t n_head_kv, int32_t head_dim, int32_t max_tokens);
void kv_free(kv_cache *kv);

/* Makes positions [begin, end) writable: allocates missing blocks and
 * copies shared ones. QWQ_ERR_CONTEXT_FULL when end > max_tokens. */
qwq_status kv_prepare(kv_cache *kv, int32_t begin, int32_t end);

/* Drops every block that holds no position below n_keep. */
void kv_truncate(kv_cache *kv, int32_t n_keep);

/* dst becomes a cache sharing src's blocks for positions [0, n_tokens). */
qwq_status kv_fork(const kv_cache *src, int32_t n_tokens, kv_cache *dst);

/* The keys of layer l in block b (positions [16 b, 16 b + 16)), transposed:
 * element d of slot i at [d * KV_BLOCK_TOKENS + i]. The block must exist
 * (b < n_blocks). */
static inline float *kv_keys_block(const kv_cache *kv, int32_t layer, int32_t b) {
    return kv->table[b]->data + (size_t)layer * 2 * KV_BLOCK_TOKENS * (size_t)kv->kv_dim;
}
/* The values of layer l in block b for KV head g: slot i's row of
 * head_dim at [i * head_dim]. */
static inline float *kv_values_head(const kv_cache *kv, int32_t layer, int32_t b, int32_t g) {
    return kv_keys_block(kv, layer, b) + KV_BLOCK_TOKENS * ((size_t)kv->kv_dim + (size_t)g * (size_t)kv->head_dim);
}

/* Writes the key and value rows (kv_dim floats each) of layer l at
 * position pos, which kv_prepare has made writable. */
void kv_store(kv_cache *kv, int32_t layer, int32_t pos, const float *key, const float *value);

/* Bytes of one block (for reporting memory use). */
size_t kv_block_bytes(const kv_cache *kv);

#endif
