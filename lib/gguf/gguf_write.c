#include "gguf/gguf_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

#define GGUF_MAX_NAME 64u      /* bytes of a tensor name (GGUF spec) */
#define GGUF_MAX_KEY 65535u    /* bytes of a key (GGUF spec) */
#define WRITER_MIN_BUF (64u * 1024u)
#define WRITER_DEFAULT_BUF (8u * 1024u * 1024u)
#define WRITER_DIRECT_ALIGN 4096u /* O_DIRECT: buffer address and write sizes */

typedef struct kv_rec {
    size_t start;   /* offset of the KV in w->meta */
    size_t key_len;
    uint32_t type;
    size_t end;
} kv_rec;

typedef struct tensor_rec {
    char *name; /* name_len bytes (+ a NUL of convenience) */
    size_t name_len;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint32_t type;
    uint64_t n_bytes;
    uint64_t gran;     /* chunks handed to fill are multiples of this */
    uint64_t data_rel; /* offset in the data section */
    const void *data;
    gguf_fill_fn fill;
    void *user;
} tensor_rec;

struct gguf_writer {
    uint32_t version;
    uint32_t flags;
    uint32_t alignment;
    uint8_t *meta; /* serialized KVs */
    size_t meta_len, meta_cap;
    kv_rec *kvs;
    size_t n_kv, kv_cap;
    tensor_rec *tensors;
    size_t n_tensors, tensor_cap;
    uint64_t infos_len; /* bytes of all tensor infos */
    uint64_t data_len;  /* end of the last tensor's data, relative */
    size_t buf_size;
};

static bool checked(const gguf_writer *w) { return (w->flags & GGUF_WRITER_UNCHECKED) == 0; }

/* ---- small helpers ------------------------------------------------------- */

static size_t type_size(uint32_t t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

/* Rounds v up to a multiple of a (a >= 1); false on overflow. */
static bool align_up(uint64_t v, uint64_t a, uint64_t *out) {
    uint64_t r = v % a;
    if (r == 0) { *out = v; return true; }
    return u64_add(v, a - r, out);
}

static uint64_t layout_alignment(const gguf_writer *w) { return w->alignment ? w->alignment : 1; }

static qwq_status meta_reserve(gguf_writer *w, size_t extra) {
    size_t need;
    if (!size_add(w->meta_len, extra, &need))
        return err_set(QWQ_ERR_OUT_OF_MEMORY, "gguf writer: metadata size overflows");
    if (need <= w->meta_cap) return QWQ_OK;
    size_t cap = w->meta_cap ? w->meta_cap : 4096;
    while (cap < need) {
        if (!size_mul(cap, 2, &cap))
            return err_set(QWQ_ERR_OUT_OF_MEMORY, "gguf writer: metadata size overflows");
    }
    uint8_t *p = realloc(w->meta, cap);
    if (!p) return err_set(QWQ_ERR_OUT_OF_MEMORY, "gguf writer: out of memory for %zu bytes of metadata", cap);
    w->meta = p;
    w->meta_cap = cap;
    return QWQ_OK;
}

/* Checks that (p, len) is exactly one serialized value of type t. */
static qwq_status payload_check(uint32_t t, const uint8_t *p, size_t len, const char *key) {
    if (t == GGUF_TYPE_STRING) {
        if (len < 8 || get_u64(p) != len - 8)
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': string payload of %zu bytes is malformed", key, len);
        return QWQ_OK;
    }
    if (t == GGUF_TYPE_ARRAY) {
        if (len < 12)
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': array payload of %zu bytes is too short", key, len);
        uint32_t et = get_u32(p);
        uint64_t n = get_u64(p + 4);
        size_t pos = 12;
        if (et == GGUF_TYPE_STRING) {
            for (uint64_t i = 0; i < n; i++) {
                if (len - pos < 8)
                    return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': string %llu of the array is truncated", key, (unsigned long long)i);
                uint64_t sl = get_u64(p + pos);
                pos += 8;
                if (sl > len - pos)
                    return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': string %llu of the array is truncated", key, (unsigned long long)i);
                pos += (size_t)sl;
            }
        } else {
            size_t es = type_size(et);
            uint64_t bytes;
            if (es == 0)
                return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': array element type %u is not allowed", key, et);
            if (!u64_mul(n, es, &bytes) || bytes > len - pos)
                return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': array of %llu elements does not fit its payload", key, (unsigned long long)n);
            if (et == GGUF_TYPE_BOOL)
                for (size_t i = 0; i < (size_t)bytes; i++)
                    if (p[pos + i] > 1)
                        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': bool element %zu is %u", key, i, p[pos + i]);
            pos += (size_t)bytes;
        }
        if (pos != len)
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': %zu stray bytes after the array", key, len - pos);
        return QWQ_OK;
    }
    size_t es = type_size(t);
    if (es == 0)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': unknown value type %u", key, t);
    if (es != len)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': %zu bytes for a value of type %u (%zu expected)", key, len, t, es);
    if (t == GGUF_TYPE_BOOL && p[0] > 1)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': bool value %u", key, p[0]);
    return QWQ_OK;
}

/* A printable copy of the key for messages. */
static void key_for_msg(char *dst, size_t cap, const char *key, size_t len) {
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        dst[i] = (c >= 32 && c < 127) ? (char)c : '?';
    }
    dst[n] = 0;
}

/* Starts a KV: validates the key and reserves room for key + type + payload.
 * Returns the position of the payload in w->meta through *payload_at; the
 * caller writes the payload and calls kv_commit. */
static qwq_status kv_begin(gguf_writer *w, const char *key, size_t key_len, uint32_t type,
                           size_t payload_len, size_t *payload_at) {
    char kmsg[96];
    if (!key) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL key");
    key_for_msg(kmsg, sizeof kmsg, key, key_len);
    if (checked(w)) {
        if (key_len == 0) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: empty key");
        if (key_len > GGUF_MAX_KEY)
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key of %zu bytes is longer than %u", key_len, GGUF_MAX_KEY);
        if (memchr(key, 0, key_len))
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s' contains a NUL byte", kmsg);
        for (size_t i = 0; i < w->n_kv; i++) {
            const kv_rec *r = &w->kvs[i];
            if (r->key_len == key_len && memcmp(w->meta + r->start + 8, key, key_len) == 0)
                return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: duplicate key '%s'", kmsg);
        }
    }
    size_t total;
    if (!size_add(key_len, 12, &total) || !size_add(total, payload_len, &total))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': size overflows", kmsg);
    if (w->n_kv == w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap * 2 : 32;
        size_t bytes;
        if (!size_mul(cap, sizeof(kv_rec), &bytes))
            return err_set(QWQ_ERR_OUT_OF_MEMORY, "gguf writer: too many keys");
        kv_rec *p = realloc(w->kvs, bytes);
        if (!p) return err_set(QWQ_ERR_OUT_OF_MEMORY, "gguf writer: out of memory for %zu keys", cap);
        w->kvs = p;
        w->kv_cap = cap;
    }
    qwq_status st = meta_reserve(w, total);
    if (st != QWQ_OK) return st;
    uint8_t *p = w->meta + w->meta_len;
    put_u64(p, key_len);
    memcpy(p + 8, key, key_len);
    put_u32(p + 8 + key_len, type);
    *payload_at = w->meta_len + 12 + key_len;
    return QWQ_OK;
}

/* Finishes the KV begun at the end of w->meta with payload_len bytes. */
static qwq_status kv_commit(gguf_writer *w, size_t key_len, uint32_t type, size_t payload_len) {
    size_t start = w->meta_len;
    size_t end = start + 12 + key_len + payload_len;
    const uint8_t *payload = w->meta + start + 12 + key_len;
    const char *key = (const char *)w->meta + start + 8;
    char kmsg[96];
    key_for_msg(kmsg, sizeof kmsg, key, key_len);
    if (checked(w)) {
        qwq_status st = payload_check(type, payload, payload_len, kmsg);
        if (st != QWQ_OK) return st;
    }
    if (key_len == strlen("general.alignment") && memcmp(key, "general.alignment", key_len) == 0 &&
        type == GGUF_TYPE_UINT32 && payload_len == 4) {
        uint32_t a = get_u32(payload);
        if (checked(w) && !is_pow2(a))
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: general.alignment %u is not a power of two", a);
        /* relayout the data section: check first, then apply */
        uint64_t pos = 0, al = a ? a : 1;
        for (int pass = 0; pass < 2; pass++) {
            pos = 0;
            for (size_t i = 0; i < w->n_tensors; i++) {
                uint64_t rel;
                if (!align_up(pos, al, &rel) || !u64_add(rel, w->tensors[i].n_bytes, &pos))
                    return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: data section size overflows");
                if (pass) w->tensors[i].data_rel = rel;
            }
        }
        w->alignment = a;
        w->data_len = pos;
    }
    w->kvs[w->n_kv].start = start;
    w->kvs[w->n_kv].key_len = key_len;
    w->kvs[w->n_kv].type = type;
    w->kvs[w->n_kv].end = end;
    w->n_kv++;
    w->meta_len = end;
    return QWQ_OK;
}

/* ---- life cycle ------------------------------------------------------------ */

qwq_status gguf_writer_new(uint32_t version, uint32_t flags, gguf_writer **out) {
    if (!out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL output pointer");
    *out = NULL;
    if (!(flags & GGUF_WRITER_UNCHECKED) && version != 2 && version != 3)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: version %u (2 or 3 expected)", version);
    if (flags & ~GGUF_WRITER_UNCHECKED)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: unknown flags 0x%x", flags);
    gguf_writer *w = mem_calloc(1, sizeof *w, "gguf writer");
    if (!w) return QWQ_ERR_OUT_OF_MEMORY;
    w->version = version;
    w->flags = flags;
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    w->buf_size = WRITER_DEFAULT_BUF;
    *out = w;
    return QWQ_OK;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    free(w->kvs);
    free(w->meta);
    free(w);
}

qwq_status gguf_writer_set_buffer_size(gguf_writer *w, size_t bytes) {
    if (!w) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL writer");
    if (bytes < WRITER_MIN_BUF) bytes = WRITER_MIN_BUF;
    if (bytes > SIZE_MAX / 2) bytes = SIZE_MAX / 2;
    w->buf_size = (bytes + WRITER_DIRECT_ALIGN - 1) / WRITER_DIRECT_ALIGN * WRITER_DIRECT_ALIGN;
    return QWQ_OK;
}

/* ---- key/values ----------------------------------------------------------- */

qwq_status gguf_writer_add_kv_raw(gguf_writer *w, const char *key, size_t key_len, uint32_t type,
                                  const void *payload, size_t payload_len) {
    if (!w) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL writer");
    if (!payload && payload_len)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL payload of %zu bytes", payload_len);
    size_t at;
    qwq_status st = kv_begin(w, key, key_len, type, payload_len, &at);
    if (st != QWQ_OK) return st;
    if (payload_len) memcpy(w->meta + at, payload, payload_len);
    return kv_commit(w, key_len, type, payload_len);
}

qwq_status gguf_writer_add_scalar(gguf_writer *w, const char *key, gguf_type type, const void *value) {
    if (!w) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL writer");
    size_t es = type_size((uint32_t)type);
    if (es == 0)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': type %d is not a scalar type", key ? key : "(null)", (int)type);
    if (!value || !key) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL key or value");
    return gguf_writer_add_kv_raw(w, key, strlen(key), (uint32_t)type, value, es);
}

#define SCALAR_ADDER(fn, ctype, gtype)                                              \
    qwq_status fn(gguf_writer *w, const char *key, ctype v) {                       \
        return gguf_writer_add_scalar(w, key, gtype, &v);                           \
    }
SCALAR_ADDER(gguf_writer_add_u8, uint8_t, GGUF_TYPE_UINT8)
SCALAR_ADDER(gguf_writer_add_i8, int8_t, GGUF_TYPE_INT8)
SCALAR_ADDER(gguf_writer_add_u16, uint16_t, GGUF_TYPE_UINT16)
SCALAR_ADDER(gguf_writer_add_i16, int16_t, GGUF_TYPE_INT16)
SCALAR_ADDER(gguf_writer_add_u32, uint32_t, GGUF_TYPE_UINT32)
SCALAR_ADDER(gguf_writer_add_i32, int32_t, GGUF_TYPE_INT32)
SCALAR_ADDER(gguf_writer_add_u64, uint64_t, GGUF_TYPE_UINT64)
SCALAR_ADDER(gguf_writer_add_i64, int64_t, GGUF_TYPE_INT64)
SCALAR_ADDER(gguf_writer_add_f32, float, GGUF_TYPE_FLOAT32)
SCALAR_ADDER(gguf_writer_add_f64, double, GGUF_TYPE_FLOAT64)

qwq_status gguf_writer_add_bool(gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return gguf_writer_add_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

qwq_status gguf_writer_add_str_n(gguf_writer *w, const char *key, const char *s, size_t len) {
    if (!w) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL writer");
    if (!key || (!s && len)) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL key or string");
    size_t key_len = strlen(key), plen, at;
    if (!size_add(len, 8, &plen))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': string too long", key);
    qwq_status st = kv_begin(w, key, key_len, GGUF_TYPE_STRING, plen, &at);
    if (st != QWQ_OK) return st;
    put_u64(w->meta + at, len);
    if (len) memcpy(w->meta + at + 8, s, len);
    return kv_commit(w, key_len, GGUF_TYPE_STRING, plen);
}

qwq_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *s) {
    if (!s) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL string");
    return gguf_writer_add_str_n(w, key, s, strlen(s));
}

qwq_status gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_type elem_type, const void *data,
                               size_t n) {
    if (!w) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL writer");
    if (!key || (!data && n)) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL key or data");
    size_t es = type_size((uint32_t)elem_type);
    if (es == 0)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': element type %d is not a scalar type (use gguf_writer_add_arr_str for strings)", key, (int)elem_type);
    size_t key_len = strlen(key), bytes, plen, at;
    if (!size_mul(n, es, &bytes) || !size_add(bytes, 12, &plen))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': array of %zu elements overflows", key, n);
    qwq_status st = kv_begin(w, key, key_len, GGUF_TYPE_ARRAY, plen, &at);
    if (st != QWQ_OK) return st;
    put_u32(w->meta + at, (uint32_t)elem_type);
    put_u64(w->meta + at + 4, n);
    if (bytes) memcpy(w->meta + at + 12, data, bytes);
    return kv_commit(w, key_len, GGUF_TYPE_ARRAY, plen);
}

qwq_status gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                                   const size_t *lens, size_t n) {
    if (!w) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL writer");
    if (!key || (!strs && n)) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL key or strings");
    size_t plen = 12;
    for (size_t i = 0; i < n; i++) {
        if (!strs[i] && (!lens || lens[i]))
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': string %zu is NULL", key, i);
        size_t l = lens ? lens[i] : strlen(strs[i]);
        if (!size_add(plen, 8, &plen) || !size_add(plen, l, &plen))
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': array of strings overflows", key);
    }
    size_t key_len = strlen(key), at;
    qwq_status st = kv_begin(w, key, key_len, GGUF_TYPE_ARRAY, plen, &at);
    if (st != QWQ_OK) return st;
    uint8_t *p = w->meta + at;
    put_u32(p, GGUF_TYPE_STRING);
    put_u64(p + 4, n);
    p += 12;
    for (size_t i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(strs[i]);
        put_u64(p, l);
        if (l) memcpy(p + 8, strs[i], l);
        p += 8 + l;
    }
    return kv_commit(w, key_len, GGUF_TYPE_ARRAY, plen);
}

qwq_status gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment) {
    return gguf_writer_add_u32(w, "general.alignment", alignment);
}

qwq_status gguf_writer_add_kv_copy(gguf_writer *w, const gguf_kv *kv) {
    if (!w || !kv || !kv->key) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL writer or KV");
    const char *key = kv->key;
    size_t key_len = strlen(key), plen, at;
    uint32_t t = (uint32_t)kv->type;
    if (t == GGUF_TYPE_STRING) {
        uint64_t sl = get_u64(kv->data);
        if (sl > SIZE_MAX - 8) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': string too long", key);
        plen = 8 + (size_t)sl;
        qwq_status st = kv_begin(w, key, key_len, t, plen, &at);
        if (st != QWQ_OK) return st;
        memcpy(w->meta + at, kv->data, plen);
        return kv_commit(w, key_len, t, plen);
    }
    if (t == GGUF_TYPE_ARRAY) {
        uint32_t et = (uint32_t)kv->arr_type;
        uint64_t bytes = 0;
        if (et == GGUF_TYPE_STRING) {
            if (kv->arr_len) {
                if (!kv->str_offsets)
                    return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': string array without offsets", key);
                uint64_t last = kv->str_offsets[kv->arr_len - 1];
                uint64_t sl = get_u64(kv->data + last);
                if (!u64_add(last, 8, &bytes) || !u64_add(bytes, sl, &bytes))
                    return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': array too long", key);
            }
        } else {
            size_t es = type_size(et);
            if (es == 0)
                return err_set(QWQ_ERR_UNSUPPORTED, "gguf writer: key '%s': cannot copy an array of element type %u", key, et);
            if (!u64_mul(kv->arr_len, es, &bytes))
                return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': array too long", key);
        }
        if (bytes > SIZE_MAX - 12) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': array too long", key);
        plen = 12 + (size_t)bytes;
        qwq_status st = kv_begin(w, key, key_len, t, plen, &at);
        if (st != QWQ_OK) return st;
        put_u32(w->meta + at, et);
        put_u64(w->meta + at + 4, kv->arr_len);
        if (bytes) memcpy(w->meta + at + 12, kv->data, (size_t)bytes);
        return kv_commit(w, key_len, t, plen);
    }
    size_t es = type_size(t);
    if (es == 0) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': unknown type %u", key, t);
    return gguf_writer_add_kv_raw(w, key, key_len, t, kv->data, es);
}

/* ---- tensors ---------------------------------------------------------------- */

qwq_status gguf_tensor_nbytes(uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t *out) {
    const qtype_info *qi = qtype_get(type);
    if (!qi) return err_set(QWQ_ERR_INVALID_ARGUMENT, "unknown tensor type %u", type);
    if (n_dims == 0 || n_dims > GGUF_MAX_DIMS || !ne)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "tensor with %u dims (1..%d expected)", n_dims, GGUF_MAX_DIMS);
    uint64_t n = 1;
    for (uint32_t i = 0; i < n_dims; i++) {
        if (!u64_mul(n, ne[i], &n))
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "tensor element count overflows");
    }
    if (ne[0] % qi->block_elems != 0)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "row of %llu elements is not a whole number of %s blocks (%u)",
                       (unsigned long long)ne[0], qi->name, qi->block_elems);
    if (!u64_mul(n / qi->block_elems, qi->block_bytes, out))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "tensor byte size overflows");
    return QWQ_OK;
}

static qwq_status tensor_add(gguf_writer *w, const char *name, size_t name_len, uint32_t n_dims,
                             const uint64_t *ne, uint32_t type, bool have_n_bytes, uint64_t n_bytes,
                             const void *data, gguf_fill_fn fill, void *user) {
    if (!w) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL writer");
    if (!name) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL tensor name");
    if (n_dims > GGUF_MAX_DIMS && !checked(w))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: %u dims: this writer stores at most %d", n_dims, GGUF_MAX_DIMS);
    if (n_dims && !ne) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL dims");
    char nmsg[96];
    key_for_msg(nmsg, sizeof nmsg, name, name_len);
    uint64_t gran = 1;
    if (checked(w)) {
        if (name_len == 0) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: empty tensor name");
        if (name_len > GGUF_MAX_NAME)
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: tensor name '%s' is %zu bytes (at most %u)", nmsg, name_len, GGUF_MAX_NAME);
        if (memchr(name, 0, name_len))
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: tensor name '%s' contains a NUL byte", nmsg);
        for (uint32_t i = 0; i < n_dims; i++)
            if (ne[i] == 0) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: tensor '%s': dimension %u is 0", nmsg, i);
        uint64_t nb;
        qwq_status st = gguf_tensor_nbytes(n_dims, ne, type, &nb);
        if (st != QWQ_OK) return err_prefix(st, "gguf writer: tensor '%s'", nmsg);
        if (have_n_bytes && nb != n_bytes)
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: tensor '%s': %llu bytes given, %llu expected",
                           nmsg, (unsigned long long)n_bytes, (unsigned long long)nb);
        n_bytes = nb;
        gran = qtype_get(type)->block_bytes;
        for (size_t i = 0; i < w->n_tensors; i++)
            if (w->tensors[i].name_len == name_len && memcmp(w->tensors[i].name, name, name_len) == 0)
                return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: duplicate tensor name '%s'", nmsg);
    } else if (!have_n_bytes) {
        qwq_status st = gguf_tensor_nbytes(n_dims, ne, type, &n_bytes);
        if (st != QWQ_OK) return err_prefix(st, "gguf writer: tensor '%s'", nmsg);
        gran = qtype_get(type)->block_bytes;
    } else {
        const qtype_info *qi = qtype_get(type);
        if (qi && n_bytes % qi->block_bytes == 0) gran = qi->block_bytes;
    }
    uint64_t info_len = 8 + (uint64_t)name_len + 4 + 8 * (uint64_t)n_dims + 4 + 8, infos, rel, end;
    if (!u64_add(w->infos_len, info_len, &infos) || !align_up(w->data_len, layout_alignment(w), &rel) ||
        !u64_add(rel, n_bytes, &end))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: tensor '%s': file size overflows", nmsg);
    if (w->n_tensors == w->tensor_cap) {
        size_t cap = w->tensor_cap ? w->tensor_cap * 2 : 64, bytes;
        if (!size_mul(cap, sizeof(tensor_rec), &bytes))
            return err_set(QWQ_ERR_OUT_OF_MEMORY, "gguf writer: too many tensors");
        tensor_rec *p = realloc(w->tensors, bytes);
        if (!p) return err_set(QWQ_ERR_OUT_OF_MEMORY, "gguf writer: out of memory for %zu tensors", cap);
        w->tensors = p;
        w->tensor_cap = cap;
    }
    char *copy = str_dup_n(name, name_len, "tensor name");
    if (!copy) return QWQ_ERR_OUT_OF_MEMORY;
    tensor_rec *t = &w->tensors[w->n_tensors++];
    memset(t, 0, sizeof *t);
    t->name = copy;
    t->name_len = name_len;
    t->n_dims = n_dims;
    for (uint32_t i = 0; i < GGUF_MAX_DIMS; i++) t->ne[i] = i < n_dims ? ne[i] : 1;
    t->type = type;
    t->n_bytes = n_bytes;
    t->gran = gran;
    t->data_rel = rel;
    t->data = data;
    t->fill = fill;
    t->user = user;
    w->infos_len = infos;
    w->data_len = end;
    return QWQ_OK;
}

qwq_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                                  uint32_t type, const void *data) {
    return tensor_add(w, name, name ? strlen(name) : 0, n_dims, ne, type, false, 0, data, NULL, NULL);
}

qwq_status gguf_writer_add_tensor_cb(gguf_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                                     uint32_t type, gguf_fill_fn fill, void *user) {
    if (!fill) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL fill callback");
    return tensor_add(w, name, name ? strlen(name) : 0, n_dims, ne, type, false, 0, NULL, fill, user);
}

qwq_status gguf_writer_add_tensor_raw(gguf_writer *w, const char *name, size_t name_len, uint32_t n_dims,
                                      const uint64_t *ne, uint32_t type, uint64_t n_bytes, const void *data) {
    return tensor_add(w, name, name_len, n_dims, ne, type, true, n_bytes, data, NULL, NULL);
}

/* ---- layout ------------------------------------------------------------------ */

size_t gguf_writer_n_kv(const gguf_writer *w) { return w ? w->n_kv : 0; }
size_t gguf_writer_n_tensors(const gguf_writer *w) { return w ? w->n_tensors : 0; }
uint32_t gguf_writer_alignment(const gguf_writer *w) { return w ? w->alignment : 0; }

qwq_status gguf_writer_kv_layout(const gguf_writer *w, size_t i, gguf_kv_layout *out) {
    if (!w || !out || i >= w->n_kv)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: no KV %zu", i);
    const kv_rec *r = &w->kvs[i];
    out->key = GGUF_OFF_FIRST_KV + (uint64_t)r->start;
    out->type = out->key + 8 + r->key_len;
    out->value = out->type + 4;
    out->end = GGUF_OFF_FIRST_KV + (uint64_t)r->end;
    return QWQ_OK;
}

/* End of the tensor infos (before padding). */
static uint64_t infos_end(const gguf_writer *w) {
    return GGUF_OFF_FIRST_KV + (uint64_t)w->meta_len + w->infos_len;
}

qwq_status gguf_writer_data_offset(const gguf_writer *w, uint64_t *out) {
    if (!w || !out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL argument");
    if (!align_up(infos_end(w), layout_alignment(w), out))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: file size overflows");
    return QWQ_OK;
}

qwq_status gguf_writer_file_size(const gguf_writer *w, uint64_t *out) {
    uint64_t d = 0;
    qwq_status st = gguf_writer_data_offset(w, &d);
    if (st != QWQ_OK) return st;
    if (!u64_add(d, w->data_len, out)) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: file size overflows");
    return QWQ_OK;
}

qwq_status gguf_writer_tensor_layout(const gguf_writer *w, size_t i, gguf_tensor_layout *out) {
    if (!w || !out || i >= w->n_tensors)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: no tensor %zu", i);
    uint64_t pos = GGUF_OFF_FIRST_KV + (uint64_t)w->meta_len;
    for (size_t k = 0; k < i; k++) pos += 8 + w->tensors[k].name_len + 4 + 8 * (uint64_t)w->tensors[k].n_dims + 12;
    const tensor_rec *t = &w->tensors[i];
    out->name = pos;
    out->n_dims = pos + 8 + t->name_len;
    out->ne = out->n_dims + 4;
    out->type = out->ne + 8 * (uint64_t)t->n_dims;
    out->offset = out->type + 4;
    out->end = out->offset + 8;
    out->data_rel = t->data_rel;
    out->n_bytes = t->n_bytes;
    uint64_t d = 0;
    qwq_status st = gguf_writer_data_offset(w, &d);
    if (st != QWQ_OK) return st;
    if (!u64_add(d, t->data_rel, &out->data))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: file size overflows");
    return QWQ_OK;
}

/* ---- output ------------------------------------------------------------------ */

enum { SINK_FILE, SINK_FD, SINK_MEM };

typedef struct sink {
    int kind;
    FILE *f;
    int fd;
    uint8_t *mem; /* SINK_MEM: preallocated to the file size */
    size_t mem_cap;
    uint64_t pos;  /* bytes handed to the destination so far */
    uint8_t *buf;  /* staging */
    size_t len, cap;
    bool direct;   /* SINK_FD opened with O_DIRECT */
} sink;

static qwq_status fd_write_all(sink *s, const uint8_t *p, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(s->fd, p + done, n - done);
        if (r < 0) {
            if (errno == EINTR) continue;
            return err_set(QWQ_ERR_IO, "gguf writer: write failed at offset %llu: %s",
                           (unsigned long long)(s->pos + done), strerror(errno));
        }
        if (r == 0)
            return err_set(QWQ_ERR_IO, "gguf writer: write returned 0 at offset %llu",
                           (unsigned long long)(s->pos + done));
        done += (size_t)r;
    }
    return QWQ_OK;
}

/* Hands the staged bytes to the destination. With O_DIRECT only whole
 * 4 KiB pages go out (the rest moves to the front of the buffer) until the
 * final flush, which drops O_DIRECT for the tail. */
static qwq_status sink_flush_ex(sink *s, bool final) {
    if (s->len == 0) return QWQ_OK;
    if (s->kind == SINK_FD && s->direct) {
        size_t n = s->len - s->len % WRITER_DIRECT_ALIGN;
        if (n) {
            qwq_status st = fd_write_all(s, s->buf, n);
            if (st != QWQ_OK) return st;
            s->pos += n;
            memmove(s->buf, s->buf + n, s->len - n);
            s->len -= n;
        }
        if (!final || s->len == 0) return QWQ_OK;
        int fl = fcntl(s->fd, F_GETFL);
        if (fl < 0 || fcntl(s->fd, F_SETFL, fl & ~O_DIRECT) < 0)
            return err_set(QWQ_ERR_IO, "gguf writer: cannot clear O_DIRECT for the last %zu bytes: %s", s->len,
                           strerror(errno));
        s->direct = false;
    }
    if (s->kind == SINK_FILE) {
        if (fwrite(s->buf, 1, s->len, s->f) != s->len || ferror(s->f))
            return err_set(QWQ_ERR_IO, "gguf writer: write failed at offset %llu: %s",
                           (unsigned long long)s->pos, strerror(errno));
    } else if (s->kind == SINK_FD) {
        qwq_status st = fd_write_all(s, s->buf, s->len);
        if (st != QWQ_OK) return st;
    } else {
        if (s->pos + s->len > s->mem_cap)
            return err_set(QWQ_ERR_INTERNAL, "gguf writer: memory image overrun at %llu", (unsigned long long)s->pos);
        memcpy(s->mem + s->pos, s->buf, s->len);
    }
    s->pos += s->len;
    s->len = 0;
    return QWQ_OK;
}

static qwq_status sink_flush(sink *s) { return sink_flush_ex(s, false); }

static qwq_status sink_put(sink *s, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) {
        if (s->len == s->cap) {
            qwq_status st = sink_flush(s);
            if (st != QWQ_OK) return st;
        }
        size_t k = s->cap - s->len < n ? s->cap - s->len : n;
        memcpy(s->buf + s->len, b, k);
        s->len += k;
        b += k;
        n -= k;
    }
    return QWQ_OK;
}

static qwq_status sink_zeros(sink *s, uint64_t n) {
    while (n) {
        if (s->len == s->cap) {
            qwq_status st = sink_flush(s);
            if (st != QWQ_OK) return st;
        }
        size_t k = s->cap - s->len;
        if (k > n) k = (size_t)n;
        memset(s->buf + s->len, 0, k);
        s->len += k;
        n -= k;
    }
    return QWQ_OK;
}

static qwq_status write_meta(gguf_writer *w, sink *s) {
    uint8_t h[24];
    memcpy(h, "GGUF", 4);
    put_u32(h + 4, w->version);
    put_u64(h + 8, w->n_tensors);
    put_u64(h + 16, w->n_kv);
    qwq_status st = sink_put(s, h, sizeof h);
    if (st == QWQ_OK) st = sink_put(s, w->meta, w->meta_len);
    for (size_t i = 0; st == QWQ_OK && i < w->n_tensors; i++) {
        const tensor_rec *t = &w->tensors[i];
        uint8_t tmp[8 + 8 * GGUF_MAX_DIMS + 12];
        put_u64(tmp, t->name_len);
        st = sink_put(s, tmp, 8);
        if (st == QWQ_OK) st = sink_put(s, t->name, t->name_len);
        if (st != QWQ_OK) break;
        size_t k = 0;
        put_u32(tmp + k, t->n_dims);
        k += 4;
        for (uint32_t d = 0; d < t->n_dims; d++, k += 8) put_u64(tmp + k, t->ne[d]);
        put_u32(tmp + k, t->type);
        k += 4;
        put_u64(tmp + k, t->data_rel);
        k += 8;
        st = sink_put(s, tmp, k);
    }
    if (st != QWQ_OK) return st;
    uint64_t d = 0;
    st = gguf_writer_data_offset(w, &d);
    if (st != QWQ_OK) return st;
    return sink_zeros(s, d - infos_end(w));
}

static qwq_status write_data(gguf_writer *w, sink *s) {
    uint64_t pos = 0; /* relative to the data section */
    for (size_t i = 0; i < w->n_tensors; i++) {
        const tensor_rec *t = &w->tensors[i];
        qwq_status st = sink_zeros(s, t->data_rel - pos);
        if (st != QWQ_OK) return st;
        pos = t->data_rel;
        uint64_t done = 0;
        if (!t->fill) {
            if (t->data) {
                while (done < t->n_bytes) {
                    size_t k = t->n_bytes - done > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)(t->n_bytes - done);
                    st = sink_put(s, (const uint8_t *)t->data + done, k);
                    if (st != QWQ_OK) return st;
                    done += k;
                }
            } else {
                st = sink_zeros(s, t->n_bytes);
                if (st != QWQ_OK) return st;
            }
        } else {
            while (done < t->n_bytes) {
                uint64_t left = t->n_bytes - done;
                size_t room = s->cap - s->len;
                /* keep writes large: flush rather than hand out a small tail */
                if (room < t->gran || (room < left && room < s->cap / 2)) {
                    st = sink_flush(s);
                    if (st != QWQ_OK) return st;
                    room = s->cap - s->len;
                }
                uint64_t k = left < room ? left : room;
                if (k < left) k -= k % t->gran;
                if (k == 0) /* a granule larger than the buffer cannot happen: gran <= 292 */
                    return err_set(QWQ_ERR_INTERNAL, "gguf writer: staging buffer too small");
                st = t->fill(t->user, i, done, s->buf + s->len, (size_t)k);
                if (st != QWQ_OK)
                    return err_prefix(st, "gguf writer: tensor '%s' at byte %llu", t->name, (unsigned long long)done);
                s->len += (size_t)k;
                done += k;
            }
        }
        pos += t->n_bytes;
    }
    return QWQ_OK;
}

static qwq_status write_all(gguf_writer *w, sink *s, bool meta_only) {
    if (!w) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL writer");
    s->cap = w->buf_size; /* a multiple of WRITER_DIRECT_ALIGN */
    s->buf = aligned_alloc(WRITER_DIRECT_ALIGN, s->cap);
    if (!s->buf)
        return err_set(QWQ_ERR_OUT_OF_MEMORY, "gguf writer: out of memory for a %zu-byte staging buffer", s->cap);
    qwq_status st = write_meta(w, s);
    if (st == QWQ_OK && !meta_only) st = write_data(w, s);
    if (st == QWQ_OK) st = sink_flush_ex(s, true);
    free(s->buf);
    s->buf = NULL;
    return st;
}

qwq_status gguf_writer_write_file(gguf_writer *w, FILE *f) {
    if (!f) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL FILE");
    sink s = {.kind = SINK_FILE, .f = f};
    qwq_status st = write_all(w, &s, false);
    if (st == QWQ_OK && fflush(f) != 0)
        return err_set(QWQ_ERR_IO, "gguf writer: flush failed: %s", strerror(errno));
    return st;
}

qwq_status gguf_writer_write_fd(gguf_writer *w, int fd) {
    if (fd < 0) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: bad file descriptor %d", fd);
    int fl = fcntl(fd, F_GETFL);
    sink s = {.kind = SINK_FD, .fd = fd, .direct = fl >= 0 && (fl & O_DIRECT)};
    return write_all(w, &s, false);
}

qwq_status gguf_writer_write_path(gguf_writer *w, const char *path) {
    if (!w || !path) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL writer or path");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return err_set(QWQ_ERR_IO, "gguf writer: cannot create '%s': %s", path, strerror(errno));
    qwq_status st = gguf_writer_write_fd(w, fd);
    if (close(fd) != 0 && st == QWQ_OK)
        st = err_set(QWQ_ERR_IO, "gguf writer: closing '%s' failed: %s", path, strerror(errno));
    if (st != QWQ_OK) {
        err_prefix(st, "writing '%s'", path);
        unlink(path);
    }
    return st;
}

static qwq_status write_mem(gguf_writer *w, uint8_t **out, size_t *size, bool meta_only) {
    if (!w || !out || !size) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf writer: NULL argument");
    *out = NULL;
    *size = 0;
    uint64_t total;
    qwq_status st = meta_only ? gguf_writer_data_offset(w, &total) : gguf_writer_file_size(w, &total);
    if (st != QWQ_OK) return st;
    if (total > SIZE_MAX) return err_set(QWQ_ERR_OUT_OF_MEMORY, "gguf writer: file of %llu bytes does not fit in memory", (unsigned long long)total);
    sink s = {.kind = SINK_MEM};
    s.mem_cap = (size_t)total;
    s.mem = mem_alloc(s.mem_cap ? s.mem_cap : 1, "gguf image");
    if (!s.mem) return QWQ_ERR_OUT_OF_MEMORY;
    st = write_all(w, &s, meta_only);
    if (st != QWQ_OK) {
        free(s.mem);
        return st;
    }
    *out = s.mem;
    *size = (size_t)s.pos;
    return QWQ_OK;
}

qwq_status gguf_writer_write_mem(gguf_writer *w, uint8_t **out, size_t *size) {
    return write_mem(w, out, size, false);
}

qwq_status gguf_writer_write_meta_mem(gguf_writer *w, uint8_t **out, size_t *size) {
    return write_mem(w, out, size, true);
}
