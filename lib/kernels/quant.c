/*
 * The table of scalar kernels per weight type, the dispatching entry points
 * and the activation quantizers.
 */
#include "kernels/quant.h"

#include <math.h>
#include <string.h>

#include "util/util.h"

/* ---- activation quantizers ------------------------------------------------ */

void quantize_row_f32(const float *x, void *dst, int64_t n) {
    if (n > 0) memcpy(dst, x, (size_t)n * sizeof(float));
}

/* Clamps to [-127, 127] and maps NaN to 0, so that a non-finite input gives
 * a defined (if meaningless) block rather than undefined behaviour. For
 * finite input the clamp never changes a value. */
static inline int8_t clamp_i8(float r) {
    if (r > 127.0f) return 127;
    if (r < -127.0f) return -127;
    if (r != r) return 0;
    return (int8_t)r;
}

/* d = amax / 127, q = round(x / d) with ties away from zero (roundf);
 * x / d is computed as x * (1 / d). */
void quantize_row_q8_0(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) {
            const float v = fabsf(x[j]);
            if (v > amax) amax = v;
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp16_from_f32(d);
        for (int j = 0; j < QK8_0; j++) y[b].qs[j] = clamp_i8(roundf(x[j] * id));
    }
}

/* As q8_0, plus s = f16(sum(q) * d) with the unrounded f32 d. */
void quantize_row_q8_1(const float *x, void *dst, int64_t n) {
    block_q8_1 *y = dst;
    for (int64_t b = 0; b < n / QK8_1; b++, x += QK8_1) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_1; j++) {
            const float v = fabsf(x[j]);
            if (v > amax) amax = v;
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[b].qs[j] = clamp_i8(roundf(x[j] * id));
            sum += y[b].qs[j];
        }
        y[b].d = fp16_from_f32(d);
        y[b].s = fp16_from_f32((float)sum * d);
    }
}

/* The element of largest magnitude (the first one, on equal magnitudes)
 * maps to -127: scale = -127 / max, q = round-half-even(scale * x),
 * d = 1 / scale (so d has the opposite sign of max). An all-zero block has
 * d = 0 and q = 0. */
void quantize_row_q8_K(const float *x, void *dst, int64_t n) {
    block_q8_K *y = dst;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            const float v = fabsf(x[j]);
            if (v > amax) {
                amax = v;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float scale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) y[b].qs[j] = clamp_i8(rintf(scale * x[j]));
        for (int i = 0; i < QK_K / 16; i++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[b].qs[16 * i + l];
            y[b].bsums[i] = (int16_t)sum;
        }
        y[b].d = 1.0f / scale;
    }
}

/* ---- the table -------------------------------------------------------------- */

static const quant_kernels kernels_table[] = {
    {QTYPE_F32, QTYPE_F32, 1, dequant_row_f32, quantize_row_f32, vec_dot_f32_f32},
    {QTYPE_F16, QTYPE_F32, 1, dequant_row_f16, quantize_row_f32, vec_dot_f16_f32},
    {QTYPE_BF16, QTYPE_F32, 1, dequant_row_bf16, quantize_row_f32, vec_dot_bf16_f32},
    {QTYPE_Q4_0, QTYPE_Q8_0, QK8_0, dequant_row_q4_0, quantize_row_q8_0, vec_dot_q4_0_q8_0},
    {QTYPE_Q4_1, QTYPE_Q8_1, QK8_1, dequant_row_q4_1, quantize_row_q8_1, vec_dot_q4_1_q8_1},
    {QTYPE_Q5_0, QTYPE_Q8_0, QK8_0, dequant_row_q5_0, quantize_row_q8_0, vec_dot_q5_0_q8_0},
    {QTYPE_Q5_1, QTYPE_Q8_1, QK8_1, dequant_row_q5_1, quantize_row_q8_1, vec_dot_q5_1_q8_1},
    {QTYPE_Q8_0, QTYPE_Q8_0, QK8_0, dequant_row_q8_0, quantize_row_q8_0, vec_dot_q8_0_q8_0},
    {QTYPE_Q2_K, QTYPE_Q8_K, QK_K, dequant_row_q2_K, quantize_row_q8_K, vec_dot_q2_K_q8_K},
    {QTYPE_Q3_K, QTYPE_Q8_K, QK_K, dequant_row_q3_K, quantize_row_q8_K, vec_dot_q3_K_q8_K},
    {QTYPE_Q4_K, QTYPE_Q8_K, QK_K, dequant_row_q4_K, quantize_row_q8_K, vec_dot_q4_K_q8_K},
    {QTYPE_Q5_K, QTYPE_Q8_K, QK_K, dequant_row_q5_K, quantize_row_q8_K, vec_dot_q5_K_q8_K},
    {QTYPE_Q6_K, QTYPE_Q8_K, QK_K, dequant_row_q6_K, quantize_row_q8_K, vec_dot_q6_K_q8_K},
};

const quant_kernels *quant_kernels_scalar(uint32_t type) {
    for (size_t i = 0; i < sizeof kernels_table / sizeof kernels_table[0]; i++) {
        if (kernels_table[i].type == type) return &kernels_table[i];
    }
    return NULL;
}

/* n valid for a row of type t: non-negative and a multiple of align. */
static bool row_len_ok(int64_t n, uint32_t align) {
    return n >= 0 && n % (int64_t)align == 0;
}

bool dequant_row(uint32_t type, const void *src, float *dst, int64_t n) {
    quant_dequant_fn fn;
    uint32_t block;
    const quant_kernels *k = quant_kernels_scalar(type);
    if (k) {
        fn = k->dequant;
        block = qtype_get(type)->block_elems;
    } else if (type == QTYPE_Q8_1) {
        fn = dequant_row_q8_1;
        block = QK8_1;
    } else if (type == QTYPE_Q8_K) {
        fn = dequant_row_q8_K;
        block = QK_K;
    } else {
        return false;
    }
    if (!row_len_ok(n, block)) return false;
    fn(src, dst, n);
    return true;
}

uint32_t quant_act_type(uint32_t wtype) {
    const quant_kernels *k = quant_kernels_scalar(wtype);
    return k ? k->act_type : UINT32_MAX;
}

size_t quant_act_row_size(uint32_t wtype, int64_t n) {
    const quant_kernels *k = quant_kernels_scalar(wtype);
    if (!k || !row_len_ok(n, k->row_align)) return 0;
    const qtype_info *a = qtype_get(k->act_type);
    size_t bytes;
    if (!size_mul((size_t)n / a->block_elems, a->block_bytes, &bytes)) return 0;
    return bytes;
}

bool quantize_row_act(uint32_t wtype, const float *x, void *dst, int64_t n) {
    const quant_kernels *k = quant_kernels_scalar(wtype);
    if (!k || !row_len_ok(n, k->row_align)) return false;
    k->quantize_act(x, dst, n);
    return true;
}

float vec_dot(uint32_t wtype, const void *w_row, const void *a_row, int64_t n) {
    const quant_kernels *k = quant_kernels_scalar(wtype);
    if (!k || !row_len_ok(n, k->row_align)) return 0.0f;
    return k->dot(w_row, a_row, n);
}
