/*
 * kernels - the matrix kernels the forward pass calls, chosen once per model
 * by SIMD level (run-time dispatch: one binary runs on every CPU).
 *
 * Invariants
 *  - A level's table is complete: every supported weight type has a gemm
 *    and an activation quantizer at every level. A level without a
 *    specialised kernel for a type uses the next lower level's (in the end
 *    the scalar reference in quant.c), so every table works.
 *  - gemm computes y[t * y_stride + r] = dot(weight row r, activation row t)
 *    for rows [r0, r1) and tokens [0, n_tok). Activation rows are the
 *    weight type's activation format (quant_act_type), made by the table's
 *    quantize for that type. A given (row, token) is always computed by the
 *    same code in the same order whatever r0, r1 and n_tok are, so results
 *    do not depend on how rows are split across threads or tokens into
 *    batches.
 *  - Different levels may round differently: they are checked against the
 *    scalar level with a tolerance relative to sum |w * a| (tests).
 *  - Tables are static and immutable; no kernel keeps state. Kernels work
 *    on the stack, except the AVX-512 quantized prefill, which takes a
 *    scratch buffer from malloc for the call (and works on the stack, with
 *    the same results, when that fails).
 */
#ifndef QWQ_KERNELS_H
#define QWQ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/attn.h"
#include "kernels/qtypes.h"
#include "qwq.h"

/* Batches of up to this many tokens are decode: gemm streams every weight
 * row once for them (the AVX-512 level switches to its blocked prefill
 * above), and the forward pass schedules them as bandwidth-bound work. */
enum { KERNELS_DECODE_MAX_TOKENS = 3 };

typedef void (*gemm_fn)(const uint8_t *w, size_t w_row_bytes, const uint8_t *act, size_t act_row_bytes,
                        int64_t n_in, int64_t r0, int64_t r1, int32_t n_tok, float *y, int64_t y_stride);
typedef void (*act_quantize_fn)(const float *x, void *dst, int64_t n);
/* gate[i] = silu(gate[i]) * up[i] for i < n; each element's bits depend on
 * its two inputs only (not on n or on where the arrays start) */
typedef void (*swiglu_fn)(float *gate, const float *up, int64_t n);

typedef struct kernel_table {
    qwq_simd_level level;
    const char *name; /* "scalar", "avx2", "avx512", "neon", "dotprod" */
    gemm_fn gemm[QTYPE_COUNT];
    act_quantize_fn quantize[QTYPE_COUNT]; /* keyed by the weight type */
    attn_fn attention;                     /* causal attention of a tile (attn.h) */
    attn_part_fn attention_part;           /* one segment of a decoded token (attn.h) */
    attn_merge_fn attention_merge;         /* merges the segments */
    swiglu_fn swiglu;                      /* the FFN's activation */
} kernel_table;

/* The best level this CPU supports (cpuid / hwcaps). */
qwq_simd_level kernels_detect(void);
/* The table of the best level <= max that the CPU supports. max AUTO means
 * the CPU's best, lowered by the environment variable QWQ_MAX_SIMD
 * (scalar, avx2, avx512, neon, dotprod) when it is set. Never NULL. */
const kernel_table *kernels_select(qwq_simd_level max);
/* The table of exactly this level, or NULL when the CPU (or the build)
 * lacks it. Tests use it to compare every level with the scalar one. */
const kernel_table *kernels_level(qwq_simd_level level);
const char *kernels_level_name(qwq_simd_level level);

/* Per-level tables, filled by the ISA-specific files (lib/kernels/x86,
 * lib/kernels/arm). Each starts from the level below and overrides what it
 * has; a build without the files gets NULL. */
void kernels_fill_scalar(kernel_table *t);
#if defined(__x86_64__) || defined(_M_X64)
void kernels_fill_avx2(kernel_table *t);
/* Puts the AVX-VNNI forms of the AVX2 level's lane-layout kernels (same
 * bits) into t, an AVX2 table; false when the build has none (compiler
 * without -mavxvnni). Call only when kernels_cpu_avxvnni(). */
bool kernels_fill_avxvnni(kernel_table *t);
/* The CPU has AVX-VNNI (VEX vpdpbusd on 256 bits) and the AVX2 level. */
bool kernels_cpu_avxvnni(void);
void kernels_fill_avx512(kernel_table *t);
void attn_avx2(const attn_tile *tile, float *work);
void attn_avx512(const attn_tile *tile, float *work);
void attn_part_avx2(const attn_part *part, float *work);
void attn_part_avx512(const attn_part *part, float *work);
void attn_merge_avx2(const float *m, const float *s, const float *o, int32_t n_seg, int32_t n_head, int32_t head_dim,
                     int32_t r0, int32_t r1, float *out);
void attn_merge_avx512(const float *m, const float *s, const float *o, int32_t n_seg, int32_t n_head, int32_t head_dim,
                       int32_t r0, int32_t r1, float *out);
void swiglu_avx2(float *gate, const float *up, int64_t n);
void swiglu_avx512(float *gate, const float *up, int64_t n);
#endif
#if defined(__aarch64__)
void kernels_fill_neon(kernel_table *t);
void kernels_fill_dotprod(kernel_table *t);
void attn_neon(const attn_tile *tile, float *work);
void attn_part_neon(const attn_part *part, float *work);
void attn_merge_neon(const float *m, const float *s, const float *o, int32_t n_seg, int32_t n_head, int32_t head_dim,
                     int32_t r0, int32_t r1, float *out);
void swiglu_neon(float *gate, const float *up, int64_t n);
#endif

#endif
