/*
 * gguf - reads GGUF files (versions 2 and 3) from a read-only mapping.
 *
 * Invariants
 *  - Nothing in the file is trusted. gguf_parse checks every count, length,
 *    type, alignment, dimension and offset before use, with overflow-checked
 *    arithmetic, and bounds every allocation by what the file can hold (a
 *    count larger than the remaining bytes could encode is an error before
 *    anything is allocated). Failure is QWQ_ERR_FORMAT (malformed) or
 *    QWQ_ERR_UNSUPPORTED (a valid file with a version or tensor type this
 *    build does not know) with the offset or tensor named in the message.
 *  - After a successful parse: every key is unique, every tensor name is
 *    unique, every tensor's data [offset, offset + n_bytes) lies inside the
 *    file and is aligned; every string array's elements lie inside the file.
 *  - Keys and tensor names are NUL-terminated copies owned by the gguf_file.
 *    Values (strings, arrays, tensor data) point into the mapping and live
 *    as long as the gguf_file. GGUF strings are not NUL-terminated: use
 *    (ptr, len).
 *  - A gguf_file is immutable after parsing and may be read from any thread.
 */
#ifndef QWQ_GGUF_H
#define QWQ_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/qtypes.h"
#include "qwq.h"

typedef enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT = 13
} gguf_type;

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct gguf_str {
    const char *ptr; /* into the mapping, not NUL-terminated */
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    const char *key;     /* NUL-terminated copy */
    gguf_type type;      /* the value's type */
    gguf_type arr_type;  /* element type when type == GGUF_TYPE_ARRAY */
    uint64_t arr_len;    /* element count when type == GGUF_TYPE_ARRAY */
    const uint8_t *data; /* scalar value, string (u64 length + bytes), or first array element */
    /* For arrays of strings: byte offset of each element (its u64 length
     * prefix) relative to data; arr_len entries. NULL otherwise. */
    uint64_t *str_offsets;
} gguf_kv;

typedef struct gguf_tensor {
    const char *name; /* NUL-terminated copy */
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the innermost (row length); unused dims are 1 */
    uint32_t type;              /* qtype id */
    uint64_t offset;            /* relative to the data section */
    uint64_t n_elements;
    uint64_t n_bytes;
    const void *data; /* into the mapping */
} gguf_tensor;

typedef struct gguf_file {
    uint32_t version;
    uint32_t alignment;
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    uint64_t data_offset; /* start of the tensor data section in the file */
    const uint8_t *base;  /* the whole file */
    size_t size;
    /* ownership */
    void *map;       /* mmap'd region when opened by gguf_open, else NULL */
    size_t map_size;
    char *arena;     /* keys and names */
    gguf_kv **kv_sorted;           /* lookup index by key */
    gguf_tensor **tensors_sorted;  /* lookup index by name */
} gguf_file;

/* Maps path read-only and parses it. QWQ_ERR_IO when it cannot be opened or
 * mapped (message names the path and errno text). */
qwq_status gguf_open(const char *path, gguf_file **out);

/* gguf_open_flags: with GGUF_OPEN_LARGE_PAGES, first the parts of the file
 * that sit in the page cache as 4 KiB pages are dropped from it and read
 * again, so that they come back as 2 MiB folios where the filesystem
 * gives them (pages.c). */
enum { GGUF_OPEN_LARGE_PAGES = 1 };
qwq_status gguf_open_flags(const char *path, unsigned flags, gguf_file **out);

/* pages.c: the parts of the open file fd (size bytes) that sit in the page
 * cache as 4 KiB pages are dropped and read back in 2 MiB folios, as
 * described above. Linux; elsewhere it does nothing. */
void gguf_pages_make_large(int fd, size_t size);
/* This process's file pages mapped by 2 MiB entries, in KiB (FilePmdMapped
 * of /proc/self/smaps_rollup, Linux 4.14+); -1 when unknown. */
long gguf_file_pmd_kib(void);
/* Parses a file image in memory; the caller keeps (data, size) alive and
 * unchanged for the life of the result. Used by tests and fuzzers. */
qwq_status gguf_parse(const void *data, size_t size, gguf_file **out);
void gguf_close(gguf_file *file); /* NULL is a no-op; unmaps when mapped */

const gguf_kv *gguf_find_kv(const gguf_file *file, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *file, const char *name);
const char *gguf_type_name(gguf_type type);

/* Typed getters. QWQ_ERR_FORMAT when the key is missing or its value has
 * another type (message names the key and both types). Integer getters
 * accept any integer type whose value fits the result. */
qwq_status gguf_get_u32(const gguf_file *file, const char *key, uint32_t *out);
qwq_status gguf_get_i32(const gguf_file *file, const char *key, int32_t *out);
qwq_status gguf_get_f32(const gguf_file *file, const char *key, float *out); /* f32 or f64 */
qwq_status gguf_get_bool(const gguf_file *file, const char *key, bool *out);
qwq_status gguf_get_str(const gguf_file *file, const char *key, gguf_str *out);
/* An array whose elements have type elem_type. */
qwq_status gguf_get_arr(const gguf_file *file, const char *key, gguf_type elem_type,
                        const gguf_kv **out);

/* Element i (< arr_len, unchecked) of arrays of strings / 32-bit ints / f32. */
gguf_str gguf_arr_str(const gguf_kv *kv, uint64_t i);
int32_t gguf_arr_i32(const gguf_kv *kv, uint64_t i);  /* INT32 or UINT32 arrays */
float gguf_arr_f32(const gguf_kv *kv, uint64_t i);

/* Size in bytes of one element of a scalar type (0 for STRING/ARRAY). */
size_t gguf_type_size(gguf_type type);

#endif
