/*
 * gguf_write - builds GGUF files (version 3, or 2: the same little-endian
 * layout): metadata key/values of every type, tensor infos, alignment, and
 * then the tensor data, streamed to a FILE*, a file descriptor or a memory
 * buffer.
 *
 * Usage
 *     gguf_writer *w;
 *     gguf_writer_new(3, 0, &w);
 *     gguf_writer_add_str(w, "general.architecture", "qwen2");
 *     gguf_writer_add_u32(w, "qwen2.block_count", 4);
 *     uint64_t ne[2] = {4096, 1024};
 *     gguf_writer_add_tensor_cb(w, "blk.0.attn_q.weight", 2, ne, QTYPE_Q8_0, fill, ctx);
 *     gguf_writer_write_file(w, f);
 *     gguf_writer_free(w);
 *
 * Invariants
 *  - The file layout is fixed by what was added, in order: the header
 *    (magic, version, tensor count, KV count), the KVs in the order added,
 *    the tensor infos in the order added, zero padding up to the alignment,
 *    then each tensor's data at the next multiple of the alignment after the
 *    previous one (offsets relative to the data section, as GGUF wants). The
 *    layout can be queried (gguf_writer_kv_layout, gguf_writer_tensor_layout)
 *    before anything is written, so tests can patch fields at known offsets.
 *  - The alignment is 32 (GGUF's default) unless a u32 KV
 *    "general.alignment" is added (gguf_writer_set_alignment does that).
 *  - Tensor data is written in the order the tensors were added. A tensor
 *    either points to caller memory (which must stay valid until written) or
 *    is produced by a fill callback, called in chunks so multi-GB files never
 *    sit in memory; each chunk starts and ends on a block boundary of the
 *    tensor's type (a whole number of block_bytes).
 *  - Checked mode (the default) refuses what a reader would reject: empty or
 *    duplicate keys, keys or names holding a NUL byte, duplicate tensor names, names over 64 bytes, 0 or more
 *    than 4 dims, zero dims, unknown types, a row length that is not a
 *    multiple of the type's block, an alignment that is not a power of two.
 *    GGUF_WRITER_UNCHECKED turns those checks off so that tests can produce
 *    malformed files (duplicate names, bad types, raw KV payloads); the
 *    arithmetic stays overflow-checked in both modes.
 *  - Errors are reported through err_set (QWQ_ERR_INVALID_ARGUMENT for a bad
 *    addition, QWQ_ERR_IO with errno text for a failed write, whatever a fill
 *    callback returns). A failed addition changes nothing. The writer never
 *    prints and holds no global state; one writer is used by one thread.
 */
#ifndef QWQ_GGUF_WRITE_H
#define QWQ_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gguf/gguf.h"
#include "kernels/qtypes.h"
#include "qwq.h"

typedef struct gguf_writer gguf_writer;

/* Flags for gguf_writer_new. */
#define GGUF_WRITER_UNCHECKED 1u

/* Fills buf with n bytes of tensor `tensor` (its index in the order of
 * addition) starting at byte `offset` within the tensor's data. offset and
 * n are multiples of the type's block size in bytes. Return QWQ_OK, or an
 * error status (after err_set) to abort the write. */
typedef qwq_status (*gguf_fill_fn)(void *user, size_t tensor, uint64_t offset,
                                   void *buf, size_t n);

/* version: 2 or 3 (any value in unchecked mode). */
qwq_status gguf_writer_new(uint32_t version, uint32_t flags, gguf_writer **out);
void gguf_writer_free(gguf_writer *w); /* NULL is a no-op */

/* ---- key/values ------------------------------------------------------- */

/* A scalar of type `type` (not STRING or ARRAY); value points to
 * gguf_type_size(type) bytes in host (little-endian) order. BOOL is one
 * byte 0/1. */
qwq_status gguf_writer_add_scalar(gguf_writer *w, const char *key, gguf_type type,
                                  const void *value);
qwq_status gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v);
qwq_status gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v);
qwq_status gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v);
qwq_status gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v);
qwq_status gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v);
qwq_status gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v);
qwq_status gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v);
qwq_status gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v);
qwq_status gguf_writer_add_f32(gguf_writer *w, const char *key, float v);
qwq_status gguf_writer_add_f64(gguf_writer *w, const char *key, double v);
qwq_status gguf_writer_add_bool(gguf_writer *w, const char *key, bool v);
/* A NUL-terminated string / a string of len bytes (may hold NULs). */
qwq_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *s);
qwq_status gguf_writer_add_str_n(gguf_writer *w, const char *key, const char *s, size_t len);
/* An array of n scalars of elem_type (not STRING/ARRAY), packed in host
 * order: n * gguf_type_size(elem_type) bytes at data (NULL when n is 0). */
qwq_status gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_type elem_type,
                               const void *data, size_t n);
/* An array of n strings; lens[i] is the length of strs[i], or lens NULL for
 * NUL-terminated strings. */
qwq_status gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                                   const size_t *lens, size_t n);
/* Adds "general.alignment" = alignment (u32) and uses it for the layout.
 * Checked mode: a power of two. */
qwq_status gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment);
/* Copies a KV of a parsed file (gguf.h) with its value exactly as stored. */
qwq_status gguf_writer_add_kv_copy(gguf_writer *w, const gguf_kv *kv);
/* Raw mode: key of key_len bytes, a type id written as is, and payload
 * bytes written as is after it (the serialized value). Checked mode still
 * requires a known type and a payload that parses as that type. */
qwq_status gguf_writer_add_kv_raw(gguf_writer *w, const char *key, size_t key_len,
                                  uint32_t type, const void *payload, size_t payload_len);

/* ---- tensors ------------------------------------------------------------ */

/* ne[0] is the innermost dimension (row length), as in GGUF. data points to
 * the tensor's n_bytes bytes and must stay valid until the file is written;
 * NULL writes zeros. */
qwq_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t n_dims,
                                  const uint64_t *ne, uint32_t type, const void *data);
/* Data produced by fill(user, index, ...) while the file is written. */
qwq_status gguf_writer_add_tensor_cb(gguf_writer *w, const char *name, uint32_t n_dims,
                                     const uint64_t *ne, uint32_t type, gguf_fill_fn fill,
                                     void *user);
/* Raw mode: a name of name_len bytes, any dims and type id, and an explicit
 * data size (n_bytes) instead of one computed from the type; data may be
 * NULL (zeros). Checked mode applies the usual checks and requires n_bytes
 * to equal the computed size. */
qwq_status gguf_writer_add_tensor_raw(gguf_writer *w, const char *name, size_t name_len,
                                      uint32_t n_dims, const uint64_t *ne, uint32_t type,
                                      uint64_t n_bytes, const void *data);

/* Bytes of data of a tensor of this shape and type (QWQ_ERR_INVALID_ARGUMENT
 * for unknown types, a row that is not whole blocks, or overflow). */
qwq_status gguf_tensor_nbytes(uint32_t n_dims, const uint64_t *ne, uint32_t type,
                              uint64_t *out);

/* ---- layout ------------------------------------------------------------- */

/* Absolute file offsets of the fields of one KV. */
typedef struct gguf_kv_layout {
    uint64_t key;   /* the key's u64 length, followed by its bytes */
    uint64_t type;  /* the u32 value type */
    uint64_t value; /* the value: a scalar, a string's u64 length, or an
                       array's u32 element type (then u64 count, elements) */
    uint64_t end;   /* one past the KV */
} gguf_kv_layout;

/* Absolute file offsets of the fields of one tensor info, and its data. */
typedef struct gguf_tensor_layout {
    uint64_t name;   /* the name's u64 length, followed by its bytes */
    uint64_t n_dims; /* u32 */
    uint64_t ne;     /* n_dims u64 */
    uint64_t type;   /* u32 */
    uint64_t offset; /* u64 offset of the data relative to the data section */
    uint64_t end;    /* one past the info */
    uint64_t data_rel; /* the value written in the offset field */
    uint64_t data;     /* absolute offset of the data in the file */
    uint64_t n_bytes;
} gguf_tensor_layout;

/* Header fields are at fixed offsets: magic 0, version 4, tensor count 8,
 * KV count 16; the first KV starts at 24. */
#define GGUF_OFF_MAGIC 0
#define GGUF_OFF_VERSION 4
#define GGUF_OFF_N_TENSORS 8
#define GGUF_OFF_N_KV 16
#define GGUF_OFF_FIRST_KV 24

size_t gguf_writer_n_kv(const gguf_writer *w);
size_t gguf_writer_n_tensors(const gguf_writer *w);
uint32_t gguf_writer_alignment(const gguf_writer *w);
qwq_status gguf_writer_kv_layout(const gguf_writer *w, size_t i, gguf_kv_layout *out);
qwq_status gguf_writer_tensor_layout(const gguf_writer *w, size_t i, gguf_tensor_layout *out);
/* Offset of the data section (end of the tensor infos, aligned) and the
 * size of the whole file. */
qwq_status gguf_writer_data_offset(const gguf_writer *w, uint64_t *out);
qwq_status gguf_writer_file_size(const gguf_writer *w, uint64_t *out);

/* ---- output --------------------------------------------------------------- */

/* Writes the whole file at the stream's current position. The FILE* is not
 * closed; its error flag is checked. */
qwq_status gguf_writer_write_file(gguf_writer *w, FILE *f);
/* The same through write(2) on fd (retries short writes and EINTR). An fd
 * opened with O_DIRECT works too (it must be at a 4 KiB-aligned position):
 * whole pages are written directly and O_DIRECT is cleared on the fd for
 * the unaligned tail. */
qwq_status gguf_writer_write_fd(gguf_writer *w, int fd);
/* Creates (truncates) path and writes the file. */
qwq_status gguf_writer_write_path(gguf_writer *w, const char *path);
/* The whole file in a malloc'd buffer (*out, *size); free() it. For tests. */
qwq_status gguf_writer_write_mem(gguf_writer *w, uint8_t **out, size_t *size);
/* Only the part before the data section (header, KVs, infos, padding). */
qwq_status gguf_writer_write_meta_mem(gguf_writer *w, uint8_t **out, size_t *size);

/* Size of the staging buffer used while streaming (default 8 MiB, at least
 * 64 KiB; rounded up to a multiple of 4 KiB). Chunks handed to fill callbacks are at most
 * this big. */
qwq_status gguf_writer_set_buffer_size(gguf_writer *w, size_t bytes);

#endif
