/*
 * qtypes - the ggml weight types: ids, names, block geometry.
 *
 * Invariants
 *  - Ids are ggml's (they appear in GGUF tensor infos); the table knows
 *    every type ggml defines, so that a file with a type libqwq cannot run
 *    is reported by name ("unsupported tensor type iq4_nl") rather than as
 *    a malformed file.
 *  - A row of n elements of type t occupies n / block_elems * block_bytes
 *    bytes; n must be a multiple of block_elems.
 *  - `supported` says whether the kernels can run the type as a weight.
 */
#ifndef QWQ_QTYPES_H
#define QWQ_QTYPES_H

#include <stdbool.h>
#include <stdint.h>

typedef enum qtype {
    QTYPE_F32 = 0,
    QTYPE_F16 = 1,
    QTYPE_Q4_0 = 2,
    QTYPE_Q4_1 = 3,
    QTYPE_Q5_0 = 6,
    QTYPE_Q5_1 = 7,
    QTYPE_Q8_0 = 8,
    QTYPE_Q8_1 = 9,
    QTYPE_Q2_K = 10,
    QTYPE_Q3_K = 11,
    QTYPE_Q4_K = 12,
    QTYPE_Q5_K = 13,
    QTYPE_Q6_K = 14,
    QTYPE_Q8_K = 15,
    QTYPE_IQ4_NL = 20,
    QTYPE_BF16 = 30,
    QTYPE_COUNT = 40 /* ids are below this */
} qtype;

typedef struct qtype_info {
    const char *name; /* ggml's name, e.g. "q4_K"; NULL for unknown ids */
    uint32_t block_elems;
    uint32_t block_bytes;
    bool supported; /* the kernels can use it as a weight type */
    /* Byte offsets in a block of its f16 scale fields, for the supported
     * quantized types: d, then m / dmin where the type has one (tests and
     * benchmarks set them to keep random blocks finite). */
    uint8_t n_scales;
    uint8_t scale_off[2];
} qtype_info;

/* Geometry of a type id; NULL when the id is not a ggml type at all. */
const qtype_info *qtype_get(uint32_t id);

#endif
