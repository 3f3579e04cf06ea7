#include "kvcache/kvcache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/util.h"

/* bytes of a block's data (kv_init checked that it fits a size_t) */
static size_t block_data_bytes(const kv_cache *kv) {
    return (size_t)kv->n_layer * 2 * KV_BLOCK_TOKENS * (size_t)kv->kv_dim * sizeof(float);
}

size_t kv_block_bytes(const kv_cache *kv) { return sizeof(kv_block) + block_data_bytes(kv); }

qwq_status kv_init(kv_cache *kv, int32_t n_layer, int32_t n_head_kv, int32_t head_dim, int32_t max_tokens) {
    memset(kv, 0, sizeof *kv);
    if (n_layer <= 0 || n_head_kv <= 0 || head_dim <= 0 || max_tokens <= 0 || n_head_kv > INT32_MAX / head_dim)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "kv cache: bad geometry");
    const int32_t kv_dim = n_head_kv * head_dim;
    size_t floats;
    if (!size_mul((size_t)n_layer * 2, (size_t)KV_BLOCK_TOKENS, &floats) || !size_mul(floats, (size_t)kv_dim, &floats) ||
        floats > SIZE_MAX / sizeof(float) - sizeof(kv_block))
        return err_set(QWQ_ERR_OUT_OF_MEMORY, "kv cache block size overflows");
    kv->n_layer = n_layer;
    kv->kv_dim = kv_dim;
    kv->head_dim = head_dim;
    kv->max_tokens = max_tokens;
    kv->table_cap = (int32_t)(((int64_t)max_tokens + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS);
    kv->table = mem_calloc((size_t)kv->table_cap, sizeof *kv->table, "kv block table");
    return kv->table ? QWQ_OK : QWQ_ERR_OUT_OF_MEMORY;
}

/* A block whose data has `bytes` bytes, zeroed when `zero`; NULL when out
 * of memory. See the header for the alignment. */
static kv_block *block_alloc(size_t bytes, int zero) {
    const size_t huge = (size_t)2 << 20;
    if (bytes > SIZE_MAX - huge) return NULL;
    /* 2 MiB pages only where rounding up to them wastes at most an eighth */
    const size_t align = bytes >= huge && (huge - bytes % huge) % huge <= bytes / 8 ? huge : 64;
    const size_t size = (bytes + align - 1) / align * align; /* aligned_alloc wants a multiple */
    kv_block *b = malloc(sizeof *b);
    float *data = aligned_alloc(align, size);
    if (!b || !data) {
        free(b);
        free(data);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (align == huge) (void)madvise(data, size, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    if (zero) memset(data, 0, bytes);
    b->data = data;
    atomic_init(&b->refs, 1);
    return b;
}

static void block_release(kv_block *b) {
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
        free(b->data);
        free(b);
    }
}

void kv_free(kv_cache *kv) {
    if (!kv->table) return;
    for (int32_t i = 0; i < kv->n_blocks; i++) block_release(kv->table[i]);
    free(kv->table);
    memset(kv, 0, sizeof *kv);
}

qwq_status kv_prepare(kv_cache *kv, int32_t begin, int32_t end) {
    if (end > kv->max_tokens)
        return err_set(QWQ_ERR_CONTEXT_FULL, "context full: %d tokens requested, the session holds at most %d", end,
                       kv->max_tokens);
    if (begin >= end) return QWQ_OK;
    int32_t first = begin / KV_BLOCK_TOKENS;
    int32_t last = (end - 1) / KV_BLOCK_TOKENS;
    const size_t bytes = block_data_bytes(kv);
    /* Missing blocks first: they are appended, so a failure part-way leaves
     * only empty blocks behind. */
    while (kv->n_blocks <= last) {
        kv_block *b = block_alloc(bytes, 1); /* zeroed: see the header */
        if (!b)
            return err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory for a kv cache block (%zu bytes) at position %d",
                           bytes, kv->n_blocks * KV_BLOCK_TOKENS);
        kv->table[kv->n_blocks++] = b;
    }
    /* Then private copies of shared blocks about to be written. */
    for (int32_t i = first; i <= last; i++) {
        kv_block *b = kv->table[i];
        if (atomic_load_explicit(&b->refs, memory_order_acquire) == 1) continue;
        kv_block *copy = block_alloc(bytes, 0);
        if (!copy)
            return err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory copying a shared kv cache block (%zu bytes)", bytes);
        memcpy(copy->data, b->data, bytes);
        kv->table[i] = copy;
        block_release(b);
    }
    return QWQ_OK;
}

void kv_truncate(kv_cache *kv, int32_t n_keep) {
    int32_t keep_blocks = (int32_t)(((int64_t)n_keep + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS);
    while (kv->n_blocks > keep_blocks) {
        kv->n_blocks--;
        block_release(kv->table[kv->n_blocks]);
        kv->table[kv->n_blocks] = NULL;
    }
}

qwq_status kv_fork(const kv_cache *src, int32_t n_tokens, kv_cache *dst) {
    qwq_status st = kv_init(dst, src->n_layer, src->kv_dim / src->head_dim, src->head_dim, src->max_tokens);
    if (st) return st;
    int32_t n = (int32_t)(((int64_t)n_tokens + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS);
    if (n > src->n_blocks) n = src->n_blocks;
    for (int32_t i = 0; i < n; i++) {
        atomic_fetch_add_explicit(&src->table[i]->refs, 1, memory_order_relaxed);
        dst->table[i] = src->table[i];
    }
    dst->n_blocks = n;
    return QWQ_OK;
}

void kv_store(kv_cache *kv, int32_t layer, int32_t pos, const float *key, const float *value) {
    int32_t b = pos / KV_BLOCK_TOKENS, slot = pos % KV_BLOCK_TOKENS;
    float *keys = kv_keys_block(kv, layer, b);
    for (int32_t d = 0; d < kv->kv_dim; d++) keys[(size_t)d * KV_BLOCK_TOKENS + (size_t)slot] = key[d];
    const size_t D = (size_t)kv->head_dim;
    for (int32_t g = 0; g < kv->kv_dim / kv->head_dim; g++)
        memcpy(kv_values_head(kv, layer, b, g) + (size_t)slot * D, value + (size_t)g * D, D * sizeof(float));
}
