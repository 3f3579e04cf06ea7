#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

/* A bounds-checked cursor over the file image. Every read names the offset
 * it failed at, so a truncated file says where it ends. */
typedef struct cursor {
    const uint8_t *base;
    size_t size;
    size_t pos;
} cursor;

static size_t remaining(const cursor *c) { return c->size - c->pos; }

static qwq_status need(const cursor *c, uint64_t n, const char *what) {
    if (n > remaining(c))
        return err_set(QWQ_ERR_FORMAT,
                       "truncated file: %s at offset %zu needs %llu bytes, only %zu remain (file is %zu bytes)",
                       what, c->pos, (unsigned long long)n, remaining(c), c->size);
    return QWQ_OK;
}

static qwq_status read_u32(cursor *c, uint32_t *v, const char *what) {
    qwq_status st = need(c, 4, what);
    if (st) return st;
    memcpy(v, c->base + c->pos, 4);
    c->pos += 4;
    return QWQ_OK;
}

static qwq_status read_u64(cursor *c, uint64_t *v, const char *what) {
    qwq_status st = need(c, 8, what);
    if (st) return st;
    memcpy(v, c->base + c->pos, 8);
    c->pos += 8;
    return QWQ_OK;
}

static qwq_status read_str(cursor *c, gguf_str *s, const char *what) {
    uint64_t len;
    size_t at = c->pos;
    qwq_status st = read_u64(c, &len, what);
    if (st) return st;
    if (len > remaining(c))
        return err_set(QWQ_ERR_FORMAT,
                       "%s at offset %zu: string length %llu exceeds the %zu bytes left in the file",
                       what, at, (unsigned long long)len, remaining(c));
    s->ptr = (const char *)c->base + c->pos;
    s->len = len;
    c->pos += (size_t)len;
    return QWQ_OK;
}

static const size_t scalar_size[GGUF_TYPE_COUNT] = {
    [GGUF_TYPE_UINT8] = 1, [GGUF_TYPE_INT8] = 1,    [GGUF_TYPE_UINT16] = 2,  [GGUF_TYPE_INT16] = 2,
    [GGUF_TYPE_UINT32] = 4, [GGUF_TYPE_INT32] = 4,  [GGUF_TYPE_FLOAT32] = 4, [GGUF_TYPE_BOOL] = 1,
    [GGUF_TYPE_STRING] = 0, [GGUF_TYPE_ARRAY] = 0,  [GGUF_TYPE_UINT64] = 8,  [GGUF_TYPE_INT64] = 8,
    [GGUF_TYPE_FLOAT64] = 8,
};

size_t gguf_type_size(gguf_type type) { return (unsigned)type < GGUF_TYPE_COUNT ? scalar_size[type] : 0; }

const char *gguf_type_name(gguf_type type) {
    static const char *const names[GGUF_TYPE_COUNT] = {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
        "bool", "string", "array", "uint64", "int64", "float64",
    };
    return (unsigned)type < GGUF_TYPE_COUNT ? names[type] : "unknown";
}

/* Reads the value of key `key` (already read) at the cursor into kv. */
static qwq_status read_value(cursor *c, gguf_kv *kv, uint64_t index) {
    size_t at = c->pos;
    uint32_t type;
    qwq_status st = read_u32(c, &type, "value type");
    if (st) return err_prefix(st, "metadata '%s'", kv->key);
    if (type >= GGUF_TYPE_COUNT)
        return err_set(QWQ_ERR_FORMAT, "metadata '%s' (entry %llu) at offset %zu: unknown value type %u",
                       kv->key, (unsigned long long)index, at, type);
    kv->type = (gguf_type)type;
    kv->data = c->base + c->pos;
    if (type == GGUF_TYPE_STRING) {
        gguf_str s;
        st = read_str(c, &s, "string value");
        return st ? err_prefix(st, "metadata '%s'", kv->key) : QWQ_OK;
    }
    if (type != GGUF_TYPE_ARRAY) {
        st = need(c, scalar_size[type], "value");
        if (st) return err_prefix(st, "metadata '%s'", kv->key);
        if (type == GGUF_TYPE_BOOL && c->base[c->pos] > 1)
            return err_set(QWQ_ERR_FORMAT, "metadata '%s' at offset %zu: bool value %u is neither 0 nor 1",
                           kv->key, c->pos, c->base[c->pos]);
        c->pos += scalar_size[type];
        return QWQ_OK;
    }
    uint32_t elem;
    uint64_t count;
    if ((st = read_u32(c, &elem, "array element type")) || (st = read_u64(c, &count, "array length")))
        return err_prefix(st, "metadata '%s'", kv->key);
    if (elem >= GGUF_TYPE_COUNT)
        return err_set(QWQ_ERR_FORMAT, "metadata '%s' at offset %zu: unknown array element type %u", kv->key,
                       at + 4, elem);
    if (elem == GGUF_TYPE_ARRAY)
        return err_set(QWQ_ERR_UNSUPPORTED, "metadata '%s' at offset %zu: arrays of arrays are not supported",
                       kv->key, at + 4);
    kv->arr_type = (gguf_type)elem;
    kv->arr_len = count;
    kv->data = c->base + c->pos;
    if (elem != GGUF_TYPE_STRING) {
        uint64_t bytes;
        if (!u64_mul(count, scalar_size[elem], &bytes) || bytes > remaining(c))
            return err_set(QWQ_ERR_FORMAT,
                           "metadata '%s' at offset %zu: array of %llu %s values does not fit in the %zu bytes left",
                           kv->key, at, (unsigned long long)count, gguf_type_name((gguf_type)elem), remaining(c));
        if (elem == GGUF_TYPE_BOOL)
            for (uint64_t i = 0; i < count; i++)
                if (c->base[c->pos + i] > 1)
                    return err_set(QWQ_ERR_FORMAT, "metadata '%s' element %llu: bool value %u is neither 0 nor 1",
                                   kv->key, (unsigned long long)i, c->base[c->pos + i]);
        c->pos += (size_t)bytes;
        return QWQ_OK;
    }
    /* Each string takes at least its 8-byte length: bound the count before
     * allocating the offset table. */
    if (count > remaining(c) / 8)
        return err_set(QWQ_ERR_FORMAT,
                       "metadata '%s' at offset %zu: array of %llu strings cannot fit in the %zu bytes left",
                       kv->key, at, (unsigned long long)count, remaining(c));
    kv->str_offsets = mem_calloc((size_t)count, sizeof(uint64_t), "string array offsets");
    if (!kv->str_offsets) return QWQ_ERR_OUT_OF_MEMORY;
    size_t start = c->pos;
    for (uint64_t i = 0; i < count; i++) {
        gguf_str s;
        kv->str_offsets[i] = c->pos - start;
        st = read_str(c, &s, "array string");
        if (st) return err_prefix(st, "metadata '%s' element %llu", kv->key, (unsigned long long)i);
    }
    return QWQ_OK;
}

/* Copies a GGUF string into the arena as a C string. Embedded NULs would
 * make the copy lie about its content, so they are rejected. */
static qwq_status arena_str(char **arena, size_t *used, gguf_str s, const char **out, const char *what,
                            size_t at) {
    if (memchr(s.ptr, 0, (size_t)s.len))
        return err_set(QWQ_ERR_FORMAT, "%s at offset %zu contains a NUL byte", what, at);
    char *dst = *arena + *used;
    memcpy(dst, s.ptr, (size_t)s.len);
    dst[s.len] = 0;
    *used += (size_t)s.len + 1;
    *out = dst;
    return QWQ_OK;
}

/* Lookup indexes: record pointers sorted by name, so lookups are binary
 * searches and a file with a million tensors cannot make loading quadratic. */
static int cmp_kv(const void *a, const void *b) {
    return strcmp((*(const gguf_kv *const *)a)->key, (*(const gguf_kv *const *)b)->key);
}
static int cmp_tensor(const void *a, const void *b) {
    return strcmp((*(const gguf_tensor *const *)a)->name, (*(const gguf_tensor *const *)b)->name);
}

typedef struct extent {
    uint64_t begin, end;
    uint64_t index;
} extent;

static int cmp_extent(const void *a, const void *b) {
    const extent *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

static qwq_status parse_tensor_info(cursor *c, gguf_file *f, uint64_t i, char **arena, size_t *used) {
    gguf_tensor *t = &f->tensors[i];
    size_t at = c->pos;
    gguf_str name;
    qwq_status st = read_str(c, &name, "tensor name");
    if (st) return err_prefix(st, "tensor info %llu", (unsigned long long)i);
    if ((st = arena_str(arena, used, name, &t->name, "tensor name", at))) return st;
    if (name.len == 0) return err_set(QWQ_ERR_FORMAT, "tensor info %llu at offset %zu: empty name", (unsigned long long)i, at);
    if ((st = read_u32(c, &t->n_dims, "dimension count"))) return err_prefix(st, "tensor '%s'", t->name);
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return err_set(QWQ_ERR_FORMAT, "tensor '%s': %u dimensions (1 to %d allowed)", t->name, t->n_dims,
                       GGUF_MAX_DIMS);
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims) continue;
        if ((st = read_u64(c, &t->ne[d], "dimension"))) return err_prefix(st, "tensor '%s'", t->name);
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return err_set(QWQ_ERR_FORMAT, "tensor '%s': dimension %u is %llu", t->name, d,
                           (unsigned long long)t->ne[d]);
        if (!u64_mul(n_elements, t->ne[d], &n_elements) || n_elements > (uint64_t)INT64_MAX)
            return err_set(QWQ_ERR_FORMAT, "tensor '%s': element count overflows", t->name);
    }
    t->n_elements = n_elements;
    if ((st = read_u32(c, &t->type, "tensor type"))) return err_prefix(st, "tensor '%s'", t->name);
    if ((st = read_u64(c, &t->offset, "tensor data offset"))) return err_prefix(st, "tensor '%s'", t->name);
    const qtype_info *qi = qtype_get(t->type);
    if (!qi) return err_set(QWQ_ERR_UNSUPPORTED, "tensor '%s': unknown tensor type id %u", t->name, t->type);
    if (t->ne[0] % qi->block_elems != 0)
        return err_set(QWQ_ERR_FORMAT, "tensor '%s': row length %llu is not a multiple of the %s block size %u",
                       t->name, (unsigned long long)t->ne[0], qi->name, qi->block_elems);
    if (!u64_mul(n_elements / qi->block_elems, qi->block_bytes, &t->n_bytes))
        return err_set(QWQ_ERR_FORMAT, "tensor '%s': byte size overflows", t->name);
    if (t->offset % f->alignment != 0)
        return err_set(QWQ_ERR_FORMAT, "tensor '%s': data offset %llu is not a multiple of the alignment %u",
                       t->name, (unsigned long long)t->offset, f->alignment);
    return QWQ_OK;
}

static qwq_status parse(gguf_file *f) {
    cursor c = {f->base, f->size, 0};
    uint32_t magic;
    qwq_status st = read_u32(&c, &magic, "magic");
    if (st) return st;
    if (memcmp(f->base, "GGUF", 4) != 0)
        return err_set(QWQ_ERR_FORMAT, "not a GGUF file: magic bytes are %02x %02x %02x %02x, expected 'GGUF'",
                       f->base[0], f->base[1], f->base[2], f->base[3]);
    if ((st = read_u32(&c, &f->version, "version"))) return st;
    if (f->version == 1)
        return err_set(QWQ_ERR_UNSUPPORTED, "GGUF version 1 is not supported (only versions 2 and 3)");
    if (f->version != 2 && f->version != 3)
        return err_set(QWQ_ERR_UNSUPPORTED, "GGUF version %u is not supported (only 2 and 3%s)", f->version,
                       (f->version & 0xffff) == 0 ? "; a big-endian file?" : "");
    if ((st = read_u64(&c, &f->n_tensors, "tensor count")) || (st = read_u64(&c, &f->n_kv, "metadata count")))
        return st;
    /* Minimum encoded sizes bound the counts before any allocation:
     * a KV is at least key length (8) + type (4) + 1 byte of value, a tensor
     * info at least name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8). */
    if (f->n_kv > remaining(&c) / 13)
        return err_set(QWQ_ERR_FORMAT, "metadata count %llu at offset 16 cannot fit in a %zu-byte file",
                       (unsigned long long)f->n_kv, f->size);
    if (f->n_tensors > remaining(&c) / 32)
        return err_set(QWQ_ERR_FORMAT, "tensor count %llu at offset 8 cannot fit in a %zu-byte file",
                       (unsigned long long)f->n_tensors, f->size);

    /* One arena for all keys and names: bounded by the file size. */
    f->arena = mem_alloc(f->size, "GGUF names");
    if (!f->arena) return QWQ_ERR_OUT_OF_MEMORY;
    size_t used = 0;

    f->kv = mem_calloc((size_t)f->n_kv, sizeof *f->kv, "GGUF metadata table");
    if (!f->kv) return QWQ_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        size_t at = c.pos;
        gguf_str key;
        if ((st = read_str(&c, &key, "metadata key")))
            return err_prefix(st, "metadata entry %llu", (unsigned long long)i);
        if (key.len == 0)
            return err_set(QWQ_ERR_FORMAT, "metadata entry %llu at offset %zu: empty key", (unsigned long long)i, at);
        if ((st = arena_str(&f->arena, &used, key, &kv->key, "metadata key", at))) return st;
        if ((st = read_value(&c, kv, i))) return st;
    }
    gguf_kv **kv_sorted = mem_calloc((size_t)f->n_kv + 1, sizeof *kv_sorted, "metadata index");
    if (!kv_sorted) return QWQ_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < f->n_kv; i++) kv_sorted[i] = &f->kv[i];
    qsort(kv_sorted, (size_t)f->n_kv, sizeof *kv_sorted, cmp_kv);
    f->kv_sorted = kv_sorted;
    for (uint64_t i = 1; i < f->n_kv; i++)
        if (strcmp(kv_sorted[i - 1]->key, kv_sorted[i]->key) == 0)
            return err_set(QWQ_ERR_FORMAT, "duplicate metadata key '%s'", kv_sorted[i]->key);

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *al = gguf_find_kv(f, "general.alignment");
    if (al) {
        if (al->type != GGUF_TYPE_UINT32)
            return err_set(QWQ_ERR_FORMAT, "general.alignment has type %s, expected uint32", gguf_type_name(al->type));
        memcpy(&f->alignment, al->data, 4);
        if (f->alignment == 0 || (f->alignment & (f->alignment - 1)) != 0)
            return err_set(QWQ_ERR_FORMAT, "general.alignment %u is not a power of two", f->alignment);
    }

    f->tensors = mem_calloc((size_t)f->n_tensors, sizeof *f->tensors, "GGUF tensor table");
    if (!f->tensors) return QWQ_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if ((st = parse_tensor_info(&c, f, i, &f->arena, &used))) return st;

    uint64_t data_offset = c.pos;
    uint64_t pad = (f->alignment - data_offset % f->alignment) % f->alignment;
    data_offset += pad;
    if (f->n_tensors > 0 && data_offset > f->size)
        return err_set(QWQ_ERR_FORMAT, "tensor data section starts at offset %llu, past the end of the file (%zu bytes)",
                       (unsigned long long)data_offset, f->size);
    f->data_offset = data_offset;

    extent *ext = mem_calloc((size_t)f->n_tensors + 1, sizeof *ext, "tensor extents");
    if (!ext) return QWQ_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        uint64_t begin, end;
        if (!u64_add(data_offset, t->offset, &begin) || !u64_add(begin, t->n_bytes, &end) || end > f->size) {
            st = err_set(QWQ_ERR_FORMAT, "tensor '%s': data [%llu, %llu) extends past end of file (%zu bytes)",
                         t->name, (unsigned long long)begin, (unsigned long long)(begin + t->n_bytes), f->size);
            free(ext);
            return st;
        }
        t->data = f->base + begin;
        ext[i] = (extent){begin, end, i};
    }
    qsort(ext, (size_t)f->n_tensors, sizeof *ext, cmp_extent);
    for (uint64_t i = 1; i < f->n_tensors; i++)
        if (ext[i].begin < ext[i - 1].end) {
            st = err_set(QWQ_ERR_FORMAT, "tensors '%s' and '%s' overlap in the file",
                         f->tensors[ext[i - 1].index].name, f->tensors[ext[i].index].name);
            break;
        }
    free(ext);
    if (st) return st;

    gguf_tensor **t_sorted = mem_calloc((size_t)f->n_tensors + 1, sizeof *t_sorted, "tensor index");
    if (!t_sorted) return QWQ_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < f->n_tensors; i++) t_sorted[i] = &f->tensors[i];
    qsort(t_sorted, (size_t)f->n_tensors, sizeof *t_sorted, cmp_tensor);
    f->tensors_sorted = t_sorted;
    for (uint64_t i = 1; i < f->n_tensors; i++)
        if (strcmp(t_sorted[i - 1]->name, t_sorted[i]->name) == 0)
            return err_set(QWQ_ERR_FORMAT, "duplicate tensor name '%s'", t_sorted[i]->name);
    return QWQ_OK;
}

qwq_status gguf_parse(const void *data, size_t size, gguf_file **out) {
    if (!out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf_parse: out is NULL");
    *out = NULL;
    if (!data && size) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf_parse: data is NULL");
    gguf_file *f = mem_calloc(1, sizeof *f, "GGUF file");
    if (!f) return QWQ_ERR_OUT_OF_MEMORY;
    f->base = data;
    f->size = size;
    qwq_status st = parse(f);
    if (st) {
        gguf_close(f);
        return st;
    }
    *out = f;
    return QWQ_OK;
}

qwq_status gguf_open(const char *path, gguf_file **out) { return gguf_open_flags(path, 0, out); }

qwq_status gguf_open_flags(const char *path, unsigned flags, gguf_file **out) {
    if (!out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gguf_open: out is NULL");
    *out = NULL;
    if (!path) return err_set(QWQ_ERR_INVALID_ARGUMENT, "path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(QWQ_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat stt;
    if (fstat(fd, &stt) != 0) {
        int e = errno;
        close(fd);
        return err_set(QWQ_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(stt.st_mode)) {
        close(fd);
        return err_set(QWQ_ERR_IO, "'%s' is not a regular file", path);
    }
    if (stt.st_size == 0) {
        close(fd);
        return err_set(QWQ_ERR_FORMAT, "'%s' is empty", path);
    }
    if ((uint64_t)stt.st_size > SIZE_MAX) {
        close(fd);
        return err_set(QWQ_ERR_IO, "'%s' is too large to map", path);
    }
    size_t size = (size_t)stt.st_size;
    if (flags & GGUF_OPEN_LARGE_PAGES) gguf_pages_make_large(fd, size);
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    if (map == MAP_FAILED) {
        close(fd);
        return err_set(QWQ_ERR_IO, "cannot map '%s' (%zu bytes): %s", path, size, strerror(e));
    }
#ifdef MADV_HUGEPAGE
    /* Pages read from disk through this mapping then come into the page
     * cache as 2 MiB folios where the filesystem supports large folios:
     * fewer page faults at first touch, and decode streams them ~20%
     * faster than 4 KiB pages (bench/README.md). Advice only: failure is
     * harmless and ignored. */
    (void)madvise(map, size, MADV_HUGEPAGE);
#endif
    close(fd);
    gguf_file *f = NULL;
    qwq_status st = gguf_parse(map, size, &f);
    if (st) {
        munmap(map, size);
        return err_prefix(st, "%s", path);
    }
    f->map = map;
    f->map_size = size;
    *out = f;
    return QWQ_OK;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    if (f->kv)
        for (uint64_t i = 0; i < f->n_kv; i++) free(f->kv[i].str_offsets);
    free(f->kv);
    free(f->kv_sorted);
    free(f->tensors);
    free(f->tensors_sorted);
    free(f->arena);
    if (f->map) munmap(f->map, f->map_size);
    free(f);
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    if (!f || !key) return NULL;
    if (!f->kv_sorted) { /* while parsing, before the index exists */
        for (uint64_t i = 0; i < f->n_kv; i++)
            if (f->kv[i].key && strcmp(f->kv[i].key, key) == 0) return &f->kv[i];
        return NULL;
    }
    uint64_t lo = 0, hi = f->n_kv;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->kv_sorted[mid]->key, key);
        if (c == 0) return f->kv_sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    if (!f || !name || !f->tensors_sorted) return NULL;
    uint64_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors_sorted[mid]->name, name);
        if (c == 0) return f->tensors_sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static qwq_status get_typed(const gguf_file *f, const char *key, const gguf_kv **kv) {
    *kv = gguf_find_kv(f, key);
    if (!*kv) return err_set(QWQ_ERR_FORMAT, "required metadata '%s' is missing", key);
    return QWQ_OK;
}

/* Any integer value as int64 range-checked by the caller; false if not an integer type. */
static bool kv_int(const gguf_kv *kv, int64_t *v, bool *is_big_unsigned) {
    *is_big_unsigned = false;
    switch (kv->type) {
    case GGUF_TYPE_UINT8: *v = *(const uint8_t *)kv->data; return true;
    case GGUF_TYPE_INT8: *v = *(const int8_t *)kv->data; return true;
    case GGUF_TYPE_UINT16: { uint16_t x; memcpy(&x, kv->data, 2); *v = x; return true; }
    case GGUF_TYPE_INT16: { int16_t x; memcpy(&x, kv->data, 2); *v = x; return true; }
    case GGUF_TYPE_UINT32: { uint32_t x; memcpy(&x, kv->data, 4); *v = x; return true; }
    case GGUF_TYPE_INT32: { int32_t x; memcpy(&x, kv->data, 4); *v = x; return true; }
    case GGUF_TYPE_UINT64: {
        uint64_t x;
        memcpy(&x, kv->data, 8);
        if (x > (uint64_t)INT64_MAX) { *is_big_unsigned = true; *v = INT64_MAX; }
        else *v = (int64_t)x;
        return true;
    }
    case GGUF_TYPE_INT64: memcpy(v, kv->data, 8); return true;
    default: return false;
    }
}

static qwq_status get_int_range(const gguf_file *f, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const gguf_kv *kv;
    qwq_status st = get_typed(f, key, &kv);
    if (st) return st;
    int64_t v;
    bool big;
    if (!kv_int(kv, &v, &big))
        return err_set(QWQ_ERR_FORMAT, "metadata '%s' has type %s, expected an integer", key, gguf_type_name(kv->type));
    if (big || v < lo || v > hi)
        return err_set(QWQ_ERR_FORMAT, "metadata '%s' = %lld is out of range [%lld, %lld]", key, (long long)v,
                       (long long)lo, (long long)hi);
    *out = v;
    return QWQ_OK;
}

qwq_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out) {
    int64_t v = 0;
    qwq_status st = get_int_range(f, key, 0, UINT32_MAX, &v);
    if (!st) *out = (uint32_t)v;
    return st;
}

qwq_status gguf_get_i32(const gguf_file *f, const char *key, int32_t *out) {
    int64_t v = 0;
    qwq_status st = get_int_range(f, key, INT32_MIN, INT32_MAX, &v);
    if (!st) *out = (int32_t)v;
    return st;
}

qwq_status gguf_get_f32(const gguf_file *f, const char *key, float *out) {
    const gguf_kv *kv;
    qwq_status st = get_typed(f, key, &kv);
    if (st) return st;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        memcpy(out, kv->data, 4);
    } else if (kv->type == GGUF_TYPE_FLOAT64) {
        double d;
        memcpy(&d, kv->data, 8);
        *out = (float)d;
    } else {
        return err_set(QWQ_ERR_FORMAT, "metadata '%s' has type %s, expected float32", key, gguf_type_name(kv->type));
    }
    return QWQ_OK;
}

qwq_status gguf_get_bool(const gguf_file *f, const char *key, bool *out) {
    const gguf_kv *kv;
    qwq_status st = get_typed(f, key, &kv);
    if (st) return st;
    if (kv->type != GGUF_TYPE_BOOL)
        return err_set(QWQ_ERR_FORMAT, "metadata '%s' has type %s, expected bool", key, gguf_type_name(kv->type));
    *out = kv->data[0] != 0;
    return QWQ_OK;
}

qwq_status gguf_get_str(const gguf_file *f, const char *key, gguf_str *out) {
    const gguf_kv *kv;
    qwq_status st = get_typed(f, key, &kv);
    if (st) return st;
    if (kv->type != GGUF_TYPE_STRING)
        return err_set(QWQ_ERR_FORMAT, "metadata '%s' has type %s, expected string", key, gguf_type_name(kv->type));
    memcpy(&out->len, kv->data, 8);
    out->ptr = (const char *)kv->data + 8;
    return QWQ_OK;
}

qwq_status gguf_get_arr(const gguf_file *f, const char *key, gguf_type elem_type, const gguf_kv **out) {
    const gguf_kv *kv;
    qwq_status st = get_typed(f, key, &kv);
    if (st) return st;
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != elem_type)
        return err_set(QWQ_ERR_FORMAT, "metadata '%s' has type %s%s%s, expected array of %s", key,
                       gguf_type_name(kv->type), kv->type == GGUF_TYPE_ARRAY ? " of " : "",
                       kv->type == GGUF_TYPE_ARRAY ? gguf_type_name(kv->arr_type) : "", gguf_type_name(elem_type));
    *out = kv;
    return QWQ_OK;
}

gguf_str gguf_arr_str(const gguf_kv *kv, uint64_t i) {
    gguf_str s;
    const uint8_t *p = kv->data + kv->str_offsets[i];
    memcpy(&s.len, p, 8);
    s.ptr = (const char *)p + 8;
    return s;
}

int32_t gguf_arr_i32(const gguf_kv *kv, uint64_t i) {
    int32_t v;
    memcpy(&v, kv->data + 4 * i, 4);
    return v;
}

float gguf_arr_f32(const gguf_kv *kv, uint64_t i) {
    float v;
    memcpy(&v, kv->data + 4 * i, 4);
    return v;
}
