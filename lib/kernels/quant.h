/*
 * quant - ggml block formats and the portable scalar reference kernels:
 * dequantization of every weight type, quantization of activations to
 * 8 bits, and dot products of a weight row with a quantized activation row.
 *
 * Invariants
 *  - Block structs are ggml's layouts byte for byte (sizes are checked by
 *    _Static_assert below). Fields are little-endian; libqwq reads them in
 *    place, so the host must be little-endian (every target libqwq builds
 *    for is). f16 fields are raw IEEE binary16 bits (uint16_t).
 *  - A row of n elements is n / block_elems consecutive blocks; every row
 *    starts a new block. Pointers to blocks must be aligned to the block
 *    struct (2 bytes; 4 for F32 and Q8_K). GGUF tensor data (32-byte aligned, rows
 *    of whole blocks of even size) always is; buffers from mem_alloc*
 *    always are.
 *  - Dequantization reproduces ggml's to_float bit for bit: f32 arithmetic,
 *    one rounding per operation, in ggml's order. The build uses
 *    -ffp-contract=off; code here never relies on FMA fusion. Any faster
 *    dequantizer must give the same bits.
 *  - Activation quantization has ggml's reference semantics (quantize_row_
 *    q8_0_ref and friends): q8_0/q8_1 round half away from zero, q8_K rounds
 *    half to even, with the same scale computations. For finite input every
 *    quantized value lies in [-127, 127] (never -128).
 *  - Each weight type has one activation ("vec_dot") type: q4_0, q5_0, q8_0
 *    -> q8_0; q4_1, q5_1 -> q8_1; q2_K..q6_K -> q8_K; f32, f16, bf16 ->
 *    f32 (plain floats; unlike ggml, f16/bf16 weights take unrounded f32
 *    activations). Dot products accumulate integers inside a block (32
 *    elements) or super-block (256 elements) and scale once per block in
 *    f32, as ggml does; float types accumulate f32 products in double.
 *    Dots are not bit-exact material: faster kernels are checked against
 *    these with a tolerance relative to sum |w * a|.
 *  - Every function here is pure: no state, no allocation, no errors
 *    beyond the documented return values. Preconditions (n a multiple of
 *    the block size, buffers large enough) are the caller's: the model
 *    loader validates shapes once. The dispatching entry points
 *    (dequant_row, quantize_row_act, vec_dot) check the type and n and do
 *    nothing (returning false / 0) when they are not valid.
 */
#ifndef QWQ_QUANT_H
#define QWQ_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/qtypes.h"

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12 /* packed 6-bit scales and mins of Q4_K / Q5_K */

/* ---- block formats -------------------------------------------------------- */

/* F16: IEEE binary16; BF16: the upper half of an f32. One element each. */
typedef struct { uint16_t bits; } block_f16;
typedef struct { uint16_t bits; } block_bf16;

/* y = (q - 8) * d, q the 4-bit value; element j in the low nibble of qs[j],
 * element j + 16 in the high nibble. */
typedef struct {
    uint16_t d;
    uint8_t qs[QK4_0 / 2];
} block_q4_0;

/* y = q * d + m */
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qs[QK4_1 / 2];
} block_q4_1;

/* 5-bit q: nibbles as Q4_0, bit j of qh is the fifth bit of element j
 * (qh is a little-endian u32 stored as bytes to keep the block unpadded).
 * y = (q - 16) * d */
typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[QK5_0 / 2];
} block_q5_0;

/* y = q * d + m, q 5-bit as Q5_0 */
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;

/* y = qs[j] * d */
typedef struct {
    uint16_t d;
    int8_t qs[QK8_0];
} block_q8_0;

/* Activations for Q4_1/Q5_1: s = d * sum(qs) (f32 d before rounding),
 * rounded to f16; the dot product uses it for the min term. */
typedef struct {
    uint16_t d;
    uint16_t s;
    int8_t qs[QK8_1];
} block_q8_1;

/* 16 sub-blocks of 16; scales[i] = scale (low nibble) | min (high nibble)
 * of sub-block i; 2-bit q of element 128n + 32j + 16h + l in bits 2j..2j+1
 * of qs[32n + 16h + l]. y = (d * sc) * q - dmin * m */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    uint16_t d;
    uint16_t dmin;
} block_q2_K;

/* 2 low bits as Q2_K, the third bit in hmask (bit 4n + j of hmask[16h + l]
 * set means "no -4"); 16 signed 6-bit scales packed in 12 bytes.
 * y = (d * s) * q, q in [-4, 3] */
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} block_q3_K;

/* 8 sub-blocks of 32 with 6-bit scale and min packed in 12 bytes;
 * y = (d * sc) * q - dmin * m, q 4-bit */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;

/* As Q4_K with a fifth bit: bit i of qh[l] for element 32i + l. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;

/* 16 sub-blocks of 16 with signed 8-bit scales; q 6-bit (4 in ql, 2 in qh)
 * minus 32. y = (d * s) * q */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_K;

/* Activations for the K types: f32 scale, bsums[i] = sum of qs[16i..16i+15]. */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;

_Static_assert(sizeof(block_f16) == 2, "wrong f16 size");
_Static_assert(sizeof(block_bf16) == 2, "wrong bf16 size");
_Static_assert(sizeof(block_q4_0) == 2 + QK4_0 / 2, "wrong q4_0 block size/padding");
_Static_assert(sizeof(block_q4_1) == 4 + QK4_1 / 2, "wrong q4_1 block size/padding");
_Static_assert(sizeof(block_q5_0) == 2 + 4 + QK5_0 / 2, "wrong q5_0 block size/padding");
_Static_assert(sizeof(block_q5_1) == 4 + 4 + QK5_1 / 2, "wrong q5_1 block size/padding");
_Static_assert(sizeof(block_q8_0) == 2 + QK8_0, "wrong q8_0 block size/padding");
_Static_assert(sizeof(block_q8_1) == 4 + QK8_1, "wrong q8_1 block size/padding");
_Static_assert(sizeof(block_q2_K) == QK_K / 16 + QK_K / 4 + 4, "wrong q2_K block size/padding");
_Static_assert(sizeof(block_q3_K) == QK_K / 8 + QK_K / 4 + 12 + 2, "wrong q3_K block size/padding");
_Static_assert(sizeof(block_q4_K) == 4 + K_SCALE_SIZE + QK_K / 2, "wrong q4_K block size/padding");
_Static_assert(sizeof(block_q5_K) == 4 + K_SCALE_SIZE + QK_K / 8 + QK_K / 2, "wrong q5_K block size/padding");
_Static_assert(sizeof(block_q6_K) == QK_K / 2 + QK_K / 4 + QK_K / 16 + 2, "wrong q6_K block size/padding");
_Static_assert(sizeof(block_q8_K) == 4 + QK_K + 2 * (QK_K / 16), "wrong q8_K block size/padding");

/* ---- per-type kernels ------------------------------------------------------- */

/* n elements; n a multiple of the type's block size. */
typedef void (*quant_dequant_fn)(const void *src, float *dst, int64_t n);
typedef void (*quant_quantize_fn)(const float *x, void *dst, int64_t n);
/* Dot product of one weight row with one activation row of the weight
 * type's activation type, both of n elements. */
typedef float (*quant_dot_fn)(const void *w_row, const void *a_row, int64_t n);

typedef struct quant_kernels {
    uint32_t type;                 /* the weight type (qtype id) */
    uint32_t act_type;             /* QTYPE_F32, QTYPE_Q8_0, QTYPE_Q8_1 or QTYPE_Q8_K */
    uint32_t row_align;            /* n must be a multiple of this: the larger
                                    * of the two block sizes (both powers of 2) */
    quant_dequant_fn dequant;      /* weight row -> f32 */
    quant_quantize_fn quantize_act; /* f32 activations -> act_type */
    quant_dot_fn dot;              /* weight row . activation row */
} quant_kernels;

/* The scalar kernels of a weight type, NULL when the type has none (types
 * ggml defines that libqwq does not run, e.g. iq4_nl, and the activation-
 * only types q8_1 and q8_K). Static storage; never fails. */
const quant_kernels *quant_kernels_scalar(uint32_t type);

/* Dequantizes n elements of any weight type above, or of the activation
 * types Q8_1 and Q8_K (y = d * q). False (nothing written) for another type
 * or an n that is negative or not a multiple of the block size. */
bool dequant_row(uint32_t type, const void *src, float *dst, int64_t n);

/* The activation type of a weight type (QTYPE_F32 for float weights), or
 * UINT32_MAX when the type has no kernels. */
uint32_t quant_act_type(uint32_t wtype);
/* Bytes of an activation row of n elements for weight type wtype; 0 when
 * the type has no kernels or n is not a multiple of its row_align. */
size_t quant_act_row_size(uint32_t wtype, int64_t n);
/* Quantizes n activations to wtype's activation type (for float weights a
 * copy). False (nothing written) as quant_act_row_size's 0. */
bool quantize_row_act(uint32_t wtype, const float *x, void *dst, int64_t n);
/* Dot product of a weight row of type wtype with an activation row made by
 * quantize_row_act; 0 when the type has no kernels or n is not valid. */
float vec_dot(uint32_t wtype, const void *w_row, const void *a_row, int64_t n);

/* ---- the scalar functions themselves ---------------------------------------- */

void dequant_row_f32(const void *src, float *dst, int64_t n);
void dequant_row_f16(const void *src, float *dst, int64_t n);
void dequant_row_bf16(const void *src, float *dst, int64_t n);
void dequant_row_q4_0(const void *src, float *dst, int64_t n);
void dequant_row_q4_1(const void *src, float *dst, int64_t n);
void dequant_row_q5_0(const void *src, float *dst, int64_t n);
void dequant_row_q5_1(const void *src, float *dst, int64_t n);
void dequant_row_q8_0(const void *src, float *dst, int64_t n);
void dequant_row_q8_1(const void *src, float *dst, int64_t n);
void dequant_row_q2_K(const void *src, float *dst, int64_t n);
void dequant_row_q3_K(const void *src, float *dst, int64_t n);
void dequant_row_q4_K(const void *src, float *dst, int64_t n);
void dequant_row_q5_K(const void *src, float *dst, int64_t n);
void dequant_row_q6_K(const void *src, float *dst, int64_t n);
void dequant_row_q8_K(const void *src, float *dst, int64_t n);

/* Activation quantizers (ggml's reference semantics, see the invariants).
 * quantize_row_f32 copies. */
void quantize_row_f32(const float *x, void *dst, int64_t n);
void quantize_row_q8_0(const float *x, void *dst, int64_t n);
void quantize_row_q8_1(const float *x, void *dst, int64_t n);
void quantize_row_q8_K(const float *x, void *dst, int64_t n);

/* Dot products, weight type x activation type. */
float vec_dot_f32_f32(const void *w_row, const void *a_row, int64_t n);
float vec_dot_f16_f32(const void *w_row, const void *a_row, int64_t n);
float vec_dot_bf16_f32(const void *w_row, const void *a_row, int64_t n);
float vec_dot_q4_0_q8_0(const void *w_row, const void *a_row, int64_t n);
float vec_dot_q4_1_q8_1(const void *w_row, const void *a_row, int64_t n);
float vec_dot_q5_0_q8_0(const void *w_row, const void *a_row, int64_t n);
float vec_dot_q5_1_q8_1(const void *w_row, const void *a_row, int64_t n);
float vec_dot_q8_0_q8_0(const void *w_row, const void *a_row, int64_t n);
float vec_dot_q2_K_q8_K(const void *w_row, const void *a_row, int64_t n);
float vec_dot_q3_K_q8_K(const void *w_row, const void *a_row, int64_t n);
float vec_dot_q4_K_q8_K(const void *w_row, const void *a_row, int64_t n);
float vec_dot_q5_K_q8_K(const void *w_row, const void *a_row, int64_t n);
float vec_dot_q6_K_q8_K(const void *w_row, const void *a_row, int64_t n);

/* ---- scale unpacking shared by the K-type kernels ----------------------------- */

/* Signed 6-bit scale i (0..15) of a Q3_K block, in [-32, 31]. */
static inline int q3_K_scale(const uint8_t scales[12], int i) {
    int lo = i < 8 ? scales[i] & 15 : scales[i - 8] >> 4;
    int hi = (scales[8 + i % 4] >> (2 * (i / 4))) & 3;
    return (lo | hi << 4) - 32;
}

/* 6-bit scale and min of sub-block i (0..7) of a Q4_K / Q5_K block. */
static inline void q4_K_scale_min(const uint8_t scales[K_SCALE_SIZE], int i,
                                  int *sc, int *m) {
    if (i < 4) {
        *sc = scales[i] & 63;
        *m = scales[i + 4] & 63;
    } else {
        *sc = (scales[i + 4] & 15) | (scales[i - 4] >> 6) << 4;
        *m = (scales[i + 4] >> 4) | (scales[i] >> 6) << 4;
    }
}

#endif
