/* Byte-level BPE tokenizer of Qwen GGUF files; see tokenizer.h. */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "tokenizer/unicode.h"
#include "util/util.h"

#define ID_BITS 21u
#define ID_LIMIT (1u << ID_BITS) /* token ids and merge ranks stay below this */
#define NO_RANK UINT32_MAX

#define TF_ADDED 1u     /* type 3 or 4: literal text, matched with QWQ_TOKENIZE_SPECIAL */
#define TF_SKIPPABLE 2u /* dropped by QWQ_DETOKENIZE_SKIP_SPECIAL */
#define TF_BYTELEVEL 4u /* types 1, 2, 6: spelled in the byte alphabet */

struct tokenizer {
    int32_t n_tokens;
    uint8_t *type;      /* token type per id */
    uint8_t *tflags;    /* TF_* per id */
    uint32_t *piece_off; /* n_tokens + 1 offsets into pieces */
    char *pieces;        /* decoded bytes of every token */
    size_t max_piece;
    int32_t byte_tok[256]; /* id of the token of each single byte */

    /* merges: open addressing, slot = ((left + 1) << 42) | (right << 21) | rank, 0 empty */
    uint64_t *mtab;
    size_t mmask;
    int32_t *mres; /* merged token per rank */
    uint32_t n_merges;

    /* byte-level tokens by decoded bytes: slot = (hash tag << 32) | (id + 1), 0 empty */
    uint64_t *vtab;
    size_t vmask;

    /* added tokens (types 3, 4) sorted by first byte, then longest first */
    int32_t *added;
    uint32_t added_start[257];
    uint32_t n_added;

    qwq_token eos, bos, pad;
};

/* ---- GPT-2 byte alphabet ------------------------------------------------------
 * Bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves; the other 68
 * bytes (0x00..0x20, 0x7F..0xA0, 0xAD) are U+0100.. U+0143 in byte order. */
static int byte_from_cp(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp >= 0x100 && cp <= 0x120) return (int)(cp - 0x100);        /* 0x00..0x20 */
    if (cp >= 0x121 && cp <= 0x142) return (int)(cp - 0x121 + 0x7F); /* 0x7F..0xA0 */
    if (cp == 0x143) return 0xAD;
    return -1;
}

/* Decodes a byte-level spelling into raw bytes (out has room for len bytes).
 * Returns the byte count, or -1 with *bad = offset of the offending character. */
static long bytelevel_decode(const uint8_t *s, size_t len, uint8_t *out, size_t *bad) {
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint8_t c = s[i];
        int b = -1;
        size_t l = 1;
        if (c < 0x80) {
            b = byte_from_cp(c);
        } else if (c >= 0xC2 && c <= 0xC5 && i + 1 < len && (s[i + 1] & 0xC0) == 0x80) {
            /* the whole alphabet is below U+0144: one or two bytes of UTF-8 */
            b = byte_from_cp(((uint32_t)(c & 0x1F) << 6) | (s[i + 1] & 0x3Fu));
            l = 2;
        }
        if (b < 0) {
            *bad = i;
            return -1;
        }
        out[o++] = (uint8_t)b;
        i += l;
    }
    return (long)o;
}

/* ---- hashing --------------------------------------------------------------------- */

#define FNV_INIT 0xcbf29ce484222325ull
static inline uint64_t fnv_more(uint64_t h, const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}
static inline uint64_t fnv_final(uint64_t h) { return h ^ (h >> 29); }
static inline uint64_t hash_bytes(const uint8_t *s, size_t n) { return fnv_final(fnv_more(FNV_INIT, s, n)); }

static inline uint64_t hash_u64(uint64_t k) {
    k ^= k >> 31;
    k *= 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 29);
}

/* smallest power of two >= n * num / den (and >= 16) */
static size_t table_size(size_t n, size_t num, size_t den) {
    size_t sz = 16;
    while (sz < n / den * num + num) sz <<= 1;
    return sz;
}

/* vocabulary slots: (hash tag << 32) | (id + 1); 0 is empty */
static int32_t vocab_lookup_h(const tokenizer *t, uint64_t hash, const uint8_t *s, size_t n) {
    uint32_t tag = (uint32_t)(hash >> 32);
    size_t h = (size_t)hash & t->vmask;
    for (;;) {
        uint64_t slot = t->vtab[h];
        if (!slot) return -1;
        if ((uint32_t)(slot >> 32) == tag) {
            int32_t id = (int32_t)(uint32_t)slot - 1;
            size_t len = t->piece_off[id + 1] - t->piece_off[id];
            if (len == n && memcmp(t->pieces + t->piece_off[id], s, n) == 0) return id;
        }
        h = (h + 1) & t->vmask;
    }
}

static int32_t vocab_lookup(const tokenizer *t, const uint8_t *s, size_t n) {
    return vocab_lookup_h(t, hash_bytes(s, n), s, n);
}

static inline uint64_t merge_key(int32_t left, int32_t right) {
    return ((uint64_t)(uint32_t)(left + 1) << ID_BITS) | (uint32_t)right;
}

static inline uint32_t merge_rank(const tokenizer *t, int32_t left, int32_t right) {
    uint64_t key = merge_key(left, right);
    size_t h = (size_t)hash_u64(key) & t->mmask;
    for (;;) {
        uint64_t slot = t->mtab[h];
        if (slot == 0) return NO_RANK;
        if ((slot >> ID_BITS) == key) return (uint32_t)(slot & (ID_LIMIT - 1));
        h = (h + 1) & t->mmask;
    }
}

/* ---- load ------------------------------------------------------------------------- */

/* A zeroed table of n 64-bit slots. Tables of megabytes are 2 MiB aligned and
 * marked for transparent huge pages where the system has them: fewer page
 * faults at load and fewer TLB misses in the random lookups of encode. */
static uint64_t *table_alloc(size_t n, const char *what) {
    size_t bytes;
    if (!size_mul(n, sizeof(uint64_t), &bytes)) {
        err_set(QWQ_ERR_OUT_OF_MEMORY, "size of the %s overflows", what);
        return NULL;
    }
    const size_t huge = (size_t)2 << 20;
    if (bytes < huge) return mem_calloc(n, sizeof(uint64_t), what);
    void *p = NULL;
    if (posix_memalign(&p, huge, bytes) != 0 || !p) {
        err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes for the %s", bytes, what);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    memset(p, 0, bytes);
    return p;
}

void tokenizer_free(tokenizer *t) {
    if (!t) return;
    free(t->type);
    free(t->tflags);
    free(t->piece_off);
    free(t->pieces);
    free(t->mtab);
    free(t->mres);
    free(t->vtab);
    free(t->added);
    free(t);
}

/* Qwen's code-completion markers: control type in GGUF, special: false in
 * Hugging Face (kept by skip_special_tokens). */
static bool is_fim_marker(const char *s, size_t n) {
    static const char *const names[] = {"<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                                        "<|fim_pad|>",    "<|repo_name|>",  "<|file_sep|>"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) return true;
    return false;
}

static qwq_status load_special_id(const gguf_file *f, const char *key, int32_t n, qwq_token *out) {
    *out = -1;
    if (!gguf_find_kv(f, key)) return QWQ_OK;
    int32_t v;
    qwq_status st = gguf_get_i32(f, key, &v);
    if (st != QWQ_OK) return st;
    if (v < 0 || v >= n)
        return err_set(QWQ_ERR_FORMAT, "%s = %d is outside the vocabulary [0, %d)", key, v, n);
    *out = v;
    return QWQ_OK;
}

static int cmp_added(const void *a, const void *b, const tokenizer *t) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint8_t fx = (uint8_t)t->pieces[t->piece_off[x]], fy = (uint8_t)t->pieces[t->piece_off[y]];
    if (fx != fy) return fx < fy ? -1 : 1;
    uint32_t lx = t->piece_off[x + 1] - t->piece_off[x], ly = t->piece_off[y + 1] - t->piece_off[y];
    if (lx != ly) return lx > ly ? -1 : 1;
    return x < y ? -1 : (x > y);
}

static qwq_status load_tokens(tokenizer *t, const gguf_file *f) {
    const gguf_kv *tok;
    qwq_status st = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tok);
    if (st != QWQ_OK) return st;
    if (tok->arr_len == 0) return err_set(QWQ_ERR_FORMAT, "tokenizer.ggml.tokens is empty");
    if (tok->arr_len >= ID_LIMIT)
        return err_set(QWQ_ERR_UNSUPPORTED, "tokenizer.ggml.tokens has %llu entries; at most %u are supported",
                       (unsigned long long)tok->arr_len, ID_LIMIT - 1);
    int32_t n = (int32_t)tok->arr_len;
    t->n_tokens = n;

    const gguf_kv *ty = gguf_find_kv(f, "tokenizer.ggml.token_type");
    if (ty) {
        if (ty->type != GGUF_TYPE_ARRAY || (ty->arr_type != GGUF_TYPE_INT32 && ty->arr_type != GGUF_TYPE_UINT32))
            return err_set(QWQ_ERR_FORMAT, "tokenizer.ggml.token_type is not an array of 32-bit integers");
        if (ty->arr_len != tok->arr_len)
            return err_set(QWQ_ERR_FORMAT, "tokenizer.ggml.token_type has %llu entries but tokenizer.ggml.tokens has %d",
                           (unsigned long long)ty->arr_len, n);
    }
    t->type = mem_alloc((size_t)n, "token types");
    t->tflags = mem_calloc((size_t)n, 1, "token flags");
    t->piece_off = mem_alloc(((size_t)n + 1) * sizeof(uint32_t), "token offsets");
    if (!t->type || !t->tflags || !t->piece_off) return QWQ_ERR_OUT_OF_MEMORY;

    /* sizes first: a piece never has more bytes than its spelling */
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++) total += gguf_arr_str(tok, (uint64_t)i).len;
    if (total >= UINT32_MAX)
        return err_set(QWQ_ERR_UNSUPPORTED, "tokenizer.ggml.tokens holds %llu bytes of text; at most 4 GiB is supported",
                       (unsigned long long)total);
    t->pieces = mem_alloc((size_t)total + 1, "token pieces");
    if (!t->pieces) return QWQ_ERR_OUT_OF_MEMORY;

    uint32_t off = 0;
    size_t n_added = 0;
    for (int32_t i = 0; i < n; i++) {
        gguf_str s = gguf_arr_str(tok, (uint64_t)i);
        int32_t type = ty ? gguf_arr_i32(ty, (uint64_t)i) : TOKEN_TYPE_NORMAL;
        if (type < TOKEN_TYPE_NORMAL || type > TOKEN_TYPE_BYTE)
            return err_set(QWQ_ERR_FORMAT, "tokenizer.ggml.token_type[%d] = %d is not a token type (1..6)", i, type);
        t->type[i] = (uint8_t)type;
        t->piece_off[i] = off;
        const uint8_t *p = (const uint8_t *)s.ptr;
        if (type == TOKEN_TYPE_CONTROL || type == TOKEN_TYPE_USER_DEFINED) {
            if (s.len == 0)
                return err_set(QWQ_ERR_FORMAT, "tokenizer.ggml.tokens[%d] is an empty added token", i);
            size_t bad = utf8_validate(p, (size_t)s.len);
            if (bad != s.len)
                return err_set(QWQ_ERR_FORMAT, "tokenizer.ggml.tokens[%d] (an added token) is not valid UTF-8 at byte %zu",
                               i, bad);
            memcpy(t->pieces + off, p, (size_t)s.len);
            off += (uint32_t)s.len;
            t->tflags[i] = TF_ADDED;
            if (type == TOKEN_TYPE_CONTROL && !is_fim_marker(s.ptr, (size_t)s.len)) t->tflags[i] |= TF_SKIPPABLE;
            n_added++;
        } else if (type == TOKEN_TYPE_UNUSED) {
            /* padding rows: decode to nothing */
        } else {
            if (s.len == 0) return err_set(QWQ_ERR_FORMAT, "tokenizer.ggml.tokens[%d] is empty", i);
            size_t bad = 0;
            long len = bytelevel_decode(p, (size_t)s.len, (uint8_t *)t->pieces + off, &bad);
            if (len < 0)
                return err_set(QWQ_ERR_FORMAT,
                               "tokenizer.ggml.tokens[%d] is not spelled in the GPT-2 byte alphabet (byte %zu)", i, bad);
            off += (uint32_t)len;
            t->tflags[i] = TF_BYTELEVEL;
        }
        size_t plen = off - t->piece_off[i];
        if (plen > t->max_piece) t->max_piece = plen;
    }
    t->piece_off[n] = off;

    /* byte-level tokens by their bytes; each spelling must be unique */
    size_t vsize = table_size((size_t)n, 3, 2);
    t->vtab = table_alloc(vsize, "vocabulary hash table");
    if (!t->vtab) return QWQ_ERR_OUT_OF_MEMORY;
    t->vmask = vsize - 1;
    for (int i = 0; i < 256; i++) t->byte_tok[i] = -1;
    for (int32_t i = 0; i < n; i++) {
        if (!(t->tflags[i] & TF_BYTELEVEL)) continue;
        const uint8_t *p = (const uint8_t *)t->pieces + t->piece_off[i];
        size_t len = t->piece_off[i + 1] - t->piece_off[i];
        uint64_t hash = hash_bytes(p, len);
        int32_t dup = vocab_lookup_h(t, hash, p, len);
        if (dup >= 0)
            return err_set(QWQ_ERR_FORMAT, "tokenizer.ggml.tokens[%d] duplicates tokenizer.ggml.tokens[%d]", i, dup);
        size_t h = (size_t)hash & t->vmask;
        while (t->vtab[h]) h = (h + 1) & t->vmask;
        t->vtab[h] = (hash >> 32 << 32) | (uint32_t)(i + 1);
        if (len == 1) t->byte_tok[(uint8_t)p[0]] = i;
    }
    for (int b = 0; b < 256; b++)
        if (t->byte_tok[b] < 0)
            return err_set(QWQ_ERR_FORMAT, "tokenizer.ggml.tokens has no token for the byte 0x%02x", b);

    /* added tokens for leftmost-longest matching */
    t->n_added = (uint32_t)n_added;
    t->added = mem_alloc((n_added ? n_added : 1) * sizeof(int32_t), "added tokens");
    if (!t->added) return QWQ_ERR_OUT_OF_MEMORY;
    size_t k = 0;
    for (int32_t i = 0; i < n; i++)
        if (t->tflags[i] & TF_ADDED) t->added[k++] = i;
    /* insertion sort: the list is short (26 in Qwen) and load must not allocate more */
    for (size_t i = 1; i < k; i++) {
        int32_t x = t->added[i];
        size_t j = i;
        while (j > 0 && cmp_added(&t->added[j - 1], &x, t) > 0) {
            t->added[j] = t->added[j - 1];
            j--;
        }
        t->added[j] = x;
    }
    memset(t->added_start, 0, sizeof t->added_start);
    for (size_t i = 0; i < k; i++) t->added_start[(uint8_t)t->pieces[t->piece_off[t->added[i]]] + 1]++;
    for (int b = 0; b < 256; b++) t->added_start[b + 1] += t->added_start[b];
    return QWQ_OK;
}

static qwq_status load_merges(tokenizer *t, const gguf_file *f) {
    const gguf_kv *mk;
    qwq_status st = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &mk);
    if (st != QWQ_OK) return st;
    if (mk->arr_len >= ID_LIMIT)
        return err_set(QWQ_ERR_UNSUPPORTED, "tokenizer.ggml.merges has %llu entries; at most %u are supported",
                       (unsigned long long)mk->arr_len, ID_LIMIT - 1);
    uint32_t nm = (uint32_t)mk->arr_len;
    t->n_merges = nm;
    size_t msize = table_size(nm, 2, 1);
    t->mtab = table_alloc(msize, "merge hash table");
    t->mres = mem_alloc((nm ? nm : 1) * sizeof(int32_t), "merge results");
    if (!t->mtab || !t->mres) return QWQ_ERR_OUT_OF_MEMORY;
    t->mmask = msize - 1;

    /* Merges go in batches: hashes of a batch first, with the table slots
     * prefetched, then the lookups (the tables are megabytes; this hides
     * most of the cache misses). */
    enum { BATCH = 32 };
    size_t buf_cap = 2 * t->max_piece + 16;
    uint8_t *buf = mem_alloc(BATCH * buf_cap, "merge scratch");
    if (!buf) return QWQ_ERR_OUT_OF_MEMORY;
    struct {
        long la, lb; /* decoded lengths; la < 0: malformed, see fmt */
        int fmt;     /* 1: not "a b", 2: too long / not in the alphabet */
        uint64_t ha, hb, hab;
    } m[BATCH];
    st = QWQ_OK;
    for (uint32_t r0 = 0; r0 < nm && st == QWQ_OK; r0 += BATCH) {
        uint32_t nb = nm - r0 < BATCH ? nm - r0 : BATCH;
        for (uint32_t k = 0; k < nb; k++) {
            gguf_str s = gguf_arr_str(mk, r0 + k);
            const uint8_t *p = (const uint8_t *)s.ptr;
            uint8_t *b = buf + k * buf_cap;
            size_t len = (size_t)s.len, sp = len;
            m[k].la = -1;
            m[k].fmt = 0;
            for (size_t i = 0; i < len; i++)
                if (p[i] == ' ') {
                    if (sp != len) { sp = len + 1; break; }
                    sp = i;
                }
            if (sp >= len || sp == 0 || sp + 1 == len) { m[k].fmt = 1; continue; }
            /* longer than any two tokens together: cannot name tokens */
            if (len > buf_cap) { m[k].fmt = 2; continue; }
            size_t bad;
            long la = bytelevel_decode(p, sp, b, &bad);
            long lb = la < 0 ? -1 : bytelevel_decode(p + sp + 1, len - sp - 1, b + la, &bad);
            if (la < 0 || lb < 0) { m[k].fmt = 2; continue; }
            m[k].la = la;
            m[k].lb = lb;
            m[k].ha = fnv_more(FNV_INIT, b, (size_t)la);
            m[k].hab = fnv_final(fnv_more(m[k].ha, b + la, (size_t)lb));
            m[k].ha = fnv_final(m[k].ha);
            m[k].hb = hash_bytes(b + la, (size_t)lb);
            __builtin_prefetch(&t->vtab[m[k].ha & t->vmask]);
            __builtin_prefetch(&t->vtab[m[k].hb & t->vmask]);
        }
        uint64_t keys[BATCH];
        for (uint32_t k = 0; k < nb; k++) {
            uint32_t r = r0 + k;
            const uint8_t *b = buf + k * buf_cap;
            if (m[k].fmt == 1) {
                st = err_set(QWQ_ERR_FORMAT, "tokenizer.ggml.merges[%u] is not two tokens separated by one space", r);
                break;
            }
            int32_t a = m[k].fmt ? -1 : vocab_lookup_h(t, m[k].ha, b, (size_t)m[k].la);
            int32_t c2 = m[k].fmt ? -1 : vocab_lookup_h(t, m[k].hb, b + m[k].la, (size_t)m[k].lb);
            if (a < 0 || c2 < 0) {
                st = err_set(QWQ_ERR_FORMAT, "tokenizer.ggml.merges[%u] names a token that does not exist (%s side)", r,
                             a < 0 ? "left" : "right");
                break;
            }
            /* GPT-2 style vocabularies list merge r's result as token 256 + r */
            size_t lab = (size_t)(m[k].la + m[k].lb);
            int32_t c = -1;
            if ((uint64_t)r + 256 < (uint64_t)t->n_tokens) {
                int32_t g = (int32_t)(r + 256);
                if ((t->tflags[g] & TF_BYTELEVEL) && t->piece_off[g + 1] - t->piece_off[g] == lab &&
                    memcmp(t->pieces + t->piece_off[g], b, lab) == 0)
                    c = g;
            }
            if (c < 0) c = vocab_lookup_h(t, m[k].hab, b, lab);
            if (c < 0) {
                st = err_set(QWQ_ERR_FORMAT, "tokenizer.ggml.merges[%u]: the merged token is not in the vocabulary", r);
                break;
            }
            t->mres[r] = c;
            keys[k] = merge_key(a, c2);
            __builtin_prefetch(&t->mtab[hash_u64(keys[k]) & t->mmask], 1);
        }
        if (st != QWQ_OK) break;
        for (uint32_t k = 0; k < nb; k++) {
            uint64_t key = keys[k];
            size_t h = (size_t)hash_u64(key) & t->mmask;
            for (;;) {
                uint64_t slot = t->mtab[h];
                if (slot == 0 || (slot >> ID_BITS) == key) break;
                h = (h + 1) & t->mmask;
            }
            t->mtab[h] = (key << ID_BITS) | (r0 + k); /* a repeated pair: the later rank wins, as in HF */
        }
    }
    free(buf);
    return st;
}

qwq_status tokenizer_load(const gguf_file *f, tokenizer **out) {
    if (!out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "tokenizer_load: out is NULL");
    *out = NULL;
    if (!f) return err_set(QWQ_ERR_INVALID_ARGUMENT, "tokenizer_load: file is NULL");
    gguf_str model;
    qwq_status st = gguf_get_str(f, "tokenizer.ggml.model", &model);
    if (st != QWQ_OK) return st;
    if (model.len != 4 || memcmp(model.ptr, "gpt2", 4) != 0)
        return err_set(QWQ_ERR_UNSUPPORTED, "tokenizer.ggml.model is \"%.*s\"; only \"gpt2\" (byte-level BPE) is supported",
                       (int)(model.len > 64 ? 64 : model.len), model.ptr);
    if (gguf_find_kv(f, "tokenizer.ggml.pre")) {
        gguf_str pre;
        st = gguf_get_str(f, "tokenizer.ggml.pre", &pre);
        if (st != QWQ_OK) return st;
        static const char *const known[] = {"qwen2", "qwen3", "deepseek-r1-qwen"};
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strlen(known[i]) == pre.len && memcmp(known[i], pre.ptr, pre.len) == 0) ok = true;
        if (!ok)
            return err_set(QWQ_ERR_UNSUPPORTED,
                           "tokenizer.ggml.pre is \"%.*s\"; only the Qwen2 pre-tokenizer (qwen2, qwen3, "
                           "deepseek-r1-qwen) is supported",
                           (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
    }
    tokenizer *t = mem_calloc(1, sizeof *t, "tokenizer");
    if (!t) return QWQ_ERR_OUT_OF_MEMORY;
    st = load_tokens(t, f);
    if (st == QWQ_OK) st = load_merges(t, f);
    if (st == QWQ_OK) st = load_special_id(f, "tokenizer.ggml.eos_token_id", t->n_tokens, &t->eos);
    if (st == QWQ_OK) st = load_special_id(f, "tokenizer.ggml.bos_token_id", t->n_tokens, &t->bos);
    if (st == QWQ_OK) st = load_special_id(f, "tokenizer.ggml.padding_token_id", t->n_tokens, &t->pad);
    if (st != QWQ_OK) {
        tokenizer_free(t);
        return st;
    }
    *out = t;
    return QWQ_OK;
}

/* ---- small getters ------------------------------------------------------------------ */

int32_t tokenizer_n_tokens(const tokenizer *t) { return t ? t->n_tokens : 0; }
size_t tokenizer_max_piece_len(const tokenizer *t) { return t ? t->max_piece : 0; }
qwq_token tokenizer_eos(const tokenizer *t) { return t ? t->eos : -1; }
qwq_token tokenizer_bos(const tokenizer *t) { return t ? t->bos : -1; }
qwq_token tokenizer_pad(const tokenizer *t) { return t ? t->pad : -1; }

const char *tokenizer_piece(const tokenizer *t, qwq_token id, size_t *len) {
    if (!t || id < 0 || id >= t->n_tokens) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->piece_off[id + 1] - t->piece_off[id];
    return t->pieces + t->piece_off[id];
}

int tokenizer_token_type(const tokenizer *t, qwq_token id) {
    if (!t || id < 0 || id >= t->n_tokens) return 0;
    return t->type[id];
}

bool tokenizer_is_special_skippable(const tokenizer *t, qwq_token id) {
    if (!t || id < 0 || id >= t->n_tokens) return false;
    return (t->tflags[id] & TF_SKIPPABLE) != 0;
}

qwq_token tokenizer_find(const tokenizer *t, const char *text, size_t len) {
    if (!t || (!text && len)) return -1;
    if (len == 0) return -1;
    uint8_t first = (uint8_t)text[0];
    for (uint32_t i = t->added_start[first]; i < t->added_start[first + 1]; i++) {
        int32_t id = t->added[i];
        size_t l = t->piece_off[id + 1] - t->piece_off[id];
        if (l == len && memcmp(t->pieces + t->piece_off[id], text, len) == 0) return id;
    }
    return vocab_lookup(t, (const uint8_t *)text, len);
}

/* ---- encode ----------------------------------------------------------------------------- */

typedef struct enc_state {
    const tokenizer *t;
    qwq_token *ids;
    size_t n_ids, cap_ids;
    /* BPE scratch, grown to the longest piece */
    int32_t *sym;
    uint32_t *rank, *next, *prev;
    struct heap_ent *heap;
    size_t ws_cap, heap_cap;
    uc_scratch uc;
    /* per-call cache of short pieces (long inputs only), direct mapped */
    struct piece_cache *cache;
    size_t cache_mask;
} enc_state;

#define CACHE_BYTES 22
#define CACHE_IDS 6
typedef struct piece_cache {
    uint8_t len, n_ids; /* len 0: empty */
    uint8_t bytes[CACHE_BYTES];
    qwq_token ids[CACHE_IDS];
    uint32_t hash;
} piece_cache;

typedef struct heap_ent {
    uint32_t rank, pos, right;
    int32_t right_id;
} heap_ent;

static void enc_free(enc_state *e) {
    free(e->ids);
    free(e->sym);
    free(e->rank);
    free(e->next);
    free(e->prev);
    free(e->heap);
    free(e->cache);
    uc_scratch_free(&e->uc);
}

static qwq_status push_id(enc_state *e, qwq_token id) {
    if (e->n_ids == e->cap_ids) {
        size_t nc = e->cap_ids ? e->cap_ids * 2 : 64, bytes;
        if (!size_mul(nc, sizeof(qwq_token), &bytes))
            return err_set(QWQ_ERR_OUT_OF_MEMORY, "token buffer size overflows");
        qwq_token *p = realloc(e->ids, bytes);
        if (!p) return err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory for %zu token ids", nc);
        e->ids = p;
        e->cap_ids = nc;
    }
    e->ids[e->n_ids++] = id;
    return QWQ_OK;
}

static qwq_status ws_reserve(enc_state *e, size_t n) {
    if (e->ws_cap >= n) return QWQ_OK;
    size_t nc = n < 64 ? 64 : n, b32;
    if (!size_mul(nc, sizeof(uint32_t), &b32)) return err_set(QWQ_ERR_OUT_OF_MEMORY, "BPE scratch size overflows");
    int32_t *sym = realloc(e->sym, b32);
    if (sym) e->sym = sym;
    uint32_t *rank = realloc(e->rank, b32);
    if (rank) e->rank = rank;
    uint32_t *next = realloc(e->next, b32);
    if (next) e->next = next;
    uint32_t *prev = realloc(e->prev, b32);
    if (prev) e->prev = prev;
    if (!sym || !rank || !next || !prev)
        return err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory for BPE scratch (%zu symbols)", nc);
    e->ws_cap = nc;
    return QWQ_OK;
}

static inline bool heap_less(const heap_ent *a, const heap_ent *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(heap_ent *h, size_t *n, heap_ent x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&x, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static heap_ent heap_pop(heap_ent *h, size_t *n) {
    heap_ent top = h[0], x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &x)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = x;
    return top;
}

/* BPE of a long piece: linked symbols and a heap of candidate pairs ordered
 * by (rank, position); stale entries are skipped when popped. */
static qwq_status bpe_long(enc_state *e, const uint8_t *p, size_t n) {
    const tokenizer *t = e->t;
    size_t hcap;
    if (!size_mul(n, 3, &hcap)) return err_set(QWQ_ERR_OUT_OF_MEMORY, "BPE heap size overflows");
    if (e->heap_cap < hcap) {
        size_t bytes;
        if (!size_mul(hcap, sizeof(heap_ent), &bytes)) return err_set(QWQ_ERR_OUT_OF_MEMORY, "BPE heap size overflows");
        heap_ent *h = realloc(e->heap, bytes);
        if (!h) return err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory for the BPE heap (%zu entries)", hcap);
        e->heap = h;
        e->heap_cap = hcap;
    }
    int32_t *sym = e->sym;
    uint32_t *next = e->next, *prev = e->prev;
    const uint32_t END = UINT32_MAX, DEAD = UINT32_MAX - 1;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        sym[i] = t->byte_tok[p[i]];
        next[i] = i + 1 < n ? (uint32_t)(i + 1) : END;
        prev[i] = i > 0 ? (uint32_t)(i - 1) : END;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t r = merge_rank(t, sym[i], sym[i + 1]);
        if (r != NO_RANK) heap_push(e->heap, &hn, (heap_ent){r, (uint32_t)i, (uint32_t)(i + 1), sym[i + 1]});
    }
    while (hn > 0) {
        heap_ent x = heap_pop(e->heap, &hn);
        uint32_t i = x.pos, j = x.right;
        if (next[i] != j || sym[j] != x.right_id) continue; /* stale (next[i] is DEAD when i died) */
        sym[i] = t->mres[x.rank];
        uint32_t k = next[j];
        next[i] = k;
        if (k != END) prev[k] = i;
        next[j] = DEAD;
        if (prev[i] != END) {
            uint32_t a = prev[i];
            uint32_t r = merge_rank(t, sym[a], sym[i]);
            if (r != NO_RANK) heap_push(e->heap, &hn, (heap_ent){r, a, i, sym[i]});
        }
        if (k != END) {
            uint32_t r = merge_rank(t, sym[i], sym[k]);
            if (r != NO_RANK) heap_push(e->heap, &hn, (heap_ent){r, i, k, sym[k]});
        }
    }
    for (uint32_t i = 0; i != END; i = next[i]) {
        qwq_status st = push_id(e, sym[i]);
        if (st != QWQ_OK) return st;
    }
    return QWQ_OK;
}

#define BPE_SHORT 64

static qwq_status bpe_piece(enc_state *e, const uint8_t *p, size_t n) {
    const tokenizer *t = e->t;
    if (n == 1) return push_id(e, t->byte_tok[p[0]]);
    qwq_status st = ws_reserve(e, n);
    if (st != QWQ_OK) return st;
    if (n > BPE_SHORT) return bpe_long(e, p, n);
    /* short piece: arrays, lowest rank first, leftmost among equals */
    int32_t *sym = e->sym;
    uint32_t *rank = e->rank;
    size_t m = n;
    for (size_t i = 0; i < n; i++) sym[i] = t->byte_tok[p[i]];
    for (size_t i = 0; i + 1 < n; i++) rank[i] = merge_rank(t, sym[i], sym[i + 1]);
    while (m > 1) {
        size_t best = 0;
        uint32_t br = rank[0];
        for (size_t i = 1; i + 1 < m; i++)
            if (rank[i] < br) { br = rank[i]; best = i; }
        if (br == NO_RANK) break;
        sym[best] = t->mres[br];
        for (size_t i = best + 1; i + 1 < m; i++) sym[i] = sym[i + 1];
        for (size_t i = best; i + 2 < m; i++) rank[i] = rank[i + 1];
        m--;
        if (best > 0) rank[best - 1] = merge_rank(t, sym[best - 1], sym[best]);
        if (best + 1 < m) rank[best] = merge_rank(t, sym[best], sym[best + 1]);
    }
    for (size_t i = 0; i < m; i++) {
        st = push_id(e, sym[i]);
        if (st != QWQ_OK) return st;
    }
    return QWQ_OK;
}

/* ---- the Qwen2 pre-tokenizer pattern ------------------------------------------------- */

enum { CL_OTHER = 0, CL_LETTER, CL_NUMBER, CL_SPACE, CL_NEWLINE };

static inline int char_class(const uint8_t *s, size_t i, size_t *len) {
    uint8_t b = s[i];
    if (b < 0x80) {
        *len = 1;
        if ((uint8_t)((b | 0x20) - 'a') < 26) return CL_LETTER;
        if ((uint8_t)(b - '0') < 10) return CL_NUMBER;
        if (b == '\n' || b == '\r') return CL_NEWLINE;
        if (b == ' ' || (b >= 0x09 && b <= 0x0D)) return CL_SPACE;
        return CL_OTHER;
    }
    uint32_t pr = uc_props(utf8_decode(s + i, len));
    if (pr & UC_LETTER) return CL_LETTER;
    if (pr & UC_NUMBER) return CL_NUMBER;
    if (pr & UC_SPACE) return CL_SPACE;
    return CL_OTHER;
}

static size_t run_of(const uint8_t *s, size_t n, size_t i, int cls) {
    while (i < n) {
        size_t l;
        if (char_class(s, i, &l) != cls) break;
        i += l;
    }
    return i;
}

/* Length of a contraction after an apostrophe at s[-1]: (?i:s|t|re|ve|m|ll|d)
 * with Oniguruma's Unicode case folding (U+017F LONG S folds to s). */
static size_t contraction(const uint8_t *s, size_t n) {
    if (n == 0) return 0;
    uint8_t c = (uint8_t)(s[0] | 0x20);
    if (s[0] >= 0x80) return (n >= 2 && s[0] == 0xC5 && s[1] == 0xBF) ? 2 : 0;
    if (c == 's' || c == 't' || c == 'm' || c == 'd') return 1;
    if (n < 2) return 0;
    uint8_t c2 = (uint8_t)(s[1] | 0x20);
    if ((c == 'r' || c == 'v') && c2 == 'e') return 2;
    if (c == 'l' && c2 == 'l') return 2;
    return 0;
}

/* End of the piece that starts at i (i < n): the first alternative of the
 * pattern that matches at i, as a backtracking engine would find it. */
static size_t piece_end(const uint8_t *s, size_t n, size_t i) {
    /* 'apostrophe contractions */
    if (s[i] == '\'' && i + 1 < n) {
        size_t k = contraction(s + i + 1, n - i - 1);
        if (k) return i + 1 + k;
    }
    size_t l0;
    int c0 = char_class(s, i, &l0);
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (c0 == CL_LETTER) return run_of(s, n, i + l0, CL_LETTER);
    if ((c0 == CL_OTHER || c0 == CL_SPACE) && i + l0 < n) {
        size_t l1;
        if (char_class(s, i + l0, &l1) == CL_LETTER) return run_of(s, n, i + l0 + l1, CL_LETTER);
    }
    /* \p{N} */
    if (c0 == CL_NUMBER) return i + l0;
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    {
        size_t j = s[i] == ' ' ? i + 1 : i, l1;
        if (j < n && char_class(s, j, &l1) == CL_OTHER) {
            j = run_of(s, n, j + l1, CL_OTHER);
            while (j < n && (s[j] == '\r' || s[j] == '\n')) j++;
            return j;
        }
    }
    /* c0 is whitespace here. \s*[\r\n]+ ends after the last \r or \n of the
     * whitespace run; \s+(?!\S) takes the run, less its last character when
     * something follows; \s+ takes the run. */
    size_t j = i, last_nl_end = 0, last_start = i;
    while (j < n) {
        size_t l;
        int c = char_class(s, j, &l);
        if (c != CL_SPACE && c != CL_NEWLINE) break;
        if (c == CL_NEWLINE) last_nl_end = j + l;
        last_start = j;
        j += l;
    }
    if (last_nl_end) return last_nl_end;
    if (j == n) return n;
    if (last_start > i) return last_start;
    return j;
}

static qwq_status encode_segment(enc_state *e, const uint8_t *s, size_t n) {
    if (n == 0) return QWQ_OK;
    const uint8_t *norm;
    size_t nn;
    qwq_status st = uc_nfc(s, n, &e->uc, &norm, &nn);
    if (st != QWQ_OK) return st;
    for (size_t i = 0; i < nn;) {
        size_t end = piece_end(norm, nn, i), len = end - i;
        if (e->cache && len > 1 && len <= CACHE_BYTES) {
            uint32_t h = (uint32_t)hash_bytes(norm + i, len);
            piece_cache *c = &e->cache[h & e->cache_mask];
            if (c->len == len && c->hash == h && memcmp(c->bytes, norm + i, len) == 0) {
                for (size_t k = 0; k < c->n_ids && st == QWQ_OK; k++) st = push_id(e, c->ids[k]);
            } else {
                size_t before = e->n_ids;
                st = bpe_piece(e, norm + i, len);
                size_t made = e->n_ids - before;
                if (st == QWQ_OK && made <= CACHE_IDS) {
                    c->len = (uint8_t)len;
                    c->n_ids = (uint8_t)made;
                    c->hash = h;
                    memcpy(c->bytes, norm + i, len);
                    memcpy(c->ids, e->ids + before, made * sizeof(qwq_token));
                }
            }
        } else {
            st = bpe_piece(e, norm + i, len);
        }
        if (st != QWQ_OK) return st;
        i = end;
    }
    return QWQ_OK;
}

/* Leftmost-longest added token at or after `from`: returns its start (or n)
 * and sets *id and *len. */
static size_t find_added(const tokenizer *t, const uint8_t *s, size_t n, size_t from, int32_t *id,
                         size_t *len) {
    for (size_t i = from; i < n; i++) {
        uint8_t b = s[i];
        uint32_t a = t->added_start[b], z = t->added_start[b + 1];
        for (uint32_t k = a; k < z; k++) {
            int32_t tid = t->added[k];
            size_t l = t->piece_off[tid + 1] - t->piece_off[tid];
            if (l <= n - i && memcmp(t->pieces + t->piece_off[tid], s + i, l) == 0) {
                *id = tid;
                *len = l;
                return i;
            }
        }
    }
    return n;
}

qwq_status tokenizer_encode(const tokenizer *t, const char *text, size_t len, uint32_t flags,
                            qwq_token *out, size_t cap, size_t *n_out) {
    if (!t || !n_out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "tokenize: %s is NULL", t ? "n_out" : "tokenizer");
    if (!text && len) return err_set(QWQ_ERR_INVALID_ARGUMENT, "tokenize: text is NULL but its length is %zu", len);
    if (!out && cap) return err_set(QWQ_ERR_INVALID_ARGUMENT, "tokenize: out is NULL but cap is %zu", cap);
    if (flags & ~(uint32_t)QWQ_TOKENIZE_SPECIAL)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "tokenize: unknown flags 0x%x", (unsigned)flags);
    const uint8_t *s = (const uint8_t *)text;
    size_t bad = len ? utf8_validate(s, len) : 0;
    if (bad != len)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "tokenize: invalid UTF-8 at byte offset %zu (byte 0x%02x)", bad,
                       (unsigned)s[bad]);
    enc_state e;
    memset(&e, 0, sizeof e);
    e.t = t;
    qwq_status st = QWQ_OK;
    /* Long inputs repeat their words: a small cache of BPE results, private
     * to this call, pays for itself. (Results do not depend on it.) */
    if (len >= 8192) {
        size_t entries = 1024;
        while (entries < 8192 && entries * 16 < len) entries <<= 1;
        e.cache = calloc(entries, sizeof(piece_cache)); /* optional: without it, no cache */
        e.cache_mask = entries - 1;
    }
    e.cap_ids = len / 4 + 16;
    e.ids = malloc(e.cap_ids * sizeof(qwq_token));
    if (!e.ids) e.cap_ids = 0;
    if ((flags & QWQ_TOKENIZE_SPECIAL) && t->n_added) {
        size_t i = 0;
        while (i < len && st == QWQ_OK) {
            int32_t id = -1;
            size_t l = 0;
            size_t at = find_added(t, s, len, i, &id, &l);
            st = encode_segment(&e, s + i, at - i);
            if (st == QWQ_OK && at < len) st = push_id(&e, id);
            i = at + l;
        }
    } else {
        st = encode_segment(&e, s, len);
    }
    if (st == QWQ_OK) {
        *n_out = e.n_ids;
        if (cap < e.n_ids) {
            st = err_set(QWQ_ERR_BUFFER_TOO_SMALL, "tokenize: %zu tokens do not fit in %zu", e.n_ids, cap);
        } else if (e.n_ids) {
            memcpy(out, e.ids, e.n_ids * sizeof(qwq_token));
        }
    }
    enc_free(&e);
    return st;
}

/* ---- decode ------------------------------------------------------------------------------- */

qwq_status tokenizer_decode(const tokenizer *t, const qwq_token *ids, size_t n, uint32_t flags,
                            char *out, size_t cap, size_t *n_out) {
    if (!t || !n_out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "detokenize: %s is NULL", t ? "n_out" : "tokenizer");
    if (!ids && n) return err_set(QWQ_ERR_INVALID_ARGUMENT, "detokenize: tokens is NULL but n is %zu", n);
    if (!out && cap) return err_set(QWQ_ERR_INVALID_ARGUMENT, "detokenize: out is NULL but cap is %zu", cap);
    if (flags & ~(uint32_t)QWQ_DETOKENIZE_SKIP_SPECIAL)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "detokenize: unknown flags 0x%x", (unsigned)flags);
    bool skip = (flags & QWQ_DETOKENIZE_SKIP_SPECIAL) != 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        qwq_token id = ids[i];
        if (id < 0 || id >= t->n_tokens)
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "detokenize: token %zu is %d, outside [0, %d)", i, id,
                           t->n_tokens);
        if (skip && (t->tflags[id] & TF_SKIPPABLE)) continue;
        if (!size_add(total, t->piece_off[id + 1] - t->piece_off[id], &total))
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "detokenize: text length overflows");
    }
    *n_out = total;
    if (cap < total) return err_set(QWQ_ERR_BUFFER_TOO_SMALL, "detokenize: %zu bytes do not fit in %zu", total, cap);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        qwq_token id = ids[i];
        if (skip && (t->tflags[id] & TF_SKIPPABLE)) continue;
        size_t l = t->piece_off[id + 1] - t->piece_off[id];
        if (l) memcpy(out + o, t->pieces + t->piece_off[id], l);
        o += l;
    }
    if (cap > total) out[total] = 0;
    return QWQ_OK;
}

/* ---- streaming decoder ----------------------------------------------------------------------- */

void tok_stream_init(tok_stream *s) {
    if (s) memset(s, 0, sizeof *s);
}

static size_t put_fffd(char *out, size_t o) {
    out[o] = (char)0xEF;
    out[o + 1] = (char)0xBF;
    out[o + 2] = (char)0xBD;
    return o + 3;
}

size_t tok_stream_push_bytes(tok_stream *s, const char *bytes, size_t n, char *out, size_t cap) {
    if (!s || (!bytes && n) || !out) return 0;
    if (n > (SIZE_MAX - 12) / 3 || cap < TOK_STREAM_OUT_MAX(n)) return 0;
    size_t h = s->n_held > 3 ? 3 : s->n_held, m = h + n, o = 0, i = 0;
    uint8_t held[4];
    memcpy(held, s->held, sizeof held);
#define AT(k) ((k) < h ? held[k] : (uint8_t)bytes[(k) - h])
    while (i < m) {
        uint8_t b = AT(i);
        if (b < 0x80) {
            out[o++] = (char)b;
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) need = 2;
        else if (b >= 0xE0 && b <= 0xEF) {
            need = 3;
            if (b == 0xE0) lo = 0xA0;
            else if (b == 0xED) hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 4;
            if (b == 0xF0) lo = 0x90;
            else if (b == 0xF4) hi = 0x8F;
        } else {
            o = put_fffd(out, o);
            i++;
            continue;
        }
        size_t k = 1;
        while (k < need) {
            if (i + k >= m) { /* a valid prefix that the next piece may complete */
                uint8_t keep[4] = {0, 0, 0, 0};
                for (size_t q = 0; q < m - i; q++) keep[q] = AT(i + q);
                memcpy(s->held, keep, sizeof keep);
                s->n_held = (uint8_t)(m - i);
                return o;
            }
            uint8_t c = AT(i + k);
            if (k == 1 ? (c < lo || c > hi) : ((c & 0xC0) != 0x80)) break;
            k++;
        }
        if (k == need) {
            for (size_t q = 0; q < need; q++) out[o++] = (char)AT(i + q);
        } else {
            o = put_fffd(out, o); /* the maximal subpart; the offending byte starts over */
        }
        i += k;
    }
#undef AT
    s->n_held = 0;
    return o;
}

size_t tok_stream_push(tok_stream *s, const tokenizer *t, qwq_token id, uint32_t flags, char *out,
                       size_t cap) {
    if (!s || !t || id < 0 || id >= t->n_tokens) return 0;
    if ((flags & QWQ_DETOKENIZE_SKIP_SPECIAL) && (t->tflags[id] & TF_SKIPPABLE)) return 0;
    size_t len = t->piece_off[id + 1] - t->piece_off[id];
    return tok_stream_push_bytes(s, t->pieces + t->piece_off[id], len, out, cap);
}

size_t tok_stream_flush(tok_stream *s, char *out, size_t cap) {
    if (!s || !out || cap < TOK_STREAM_FLUSH_MAX) return 0;
    size_t o = 0;
    if (s->n_held) o = put_fffd(out, 0);
    tok_stream_init(s);
    return o;
}
