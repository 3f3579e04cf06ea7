/*
 * ops - the float32 building blocks of the forward pass (scalar reference).
 *
 * Invariants
 *  - Each function computes in a fixed order that depends only on its
 *    arguments, so the same inputs give the same bits on every call, thread
 *    and thread count.
 *  - Arrays may not overlap unless stated (rmsnorm allows out == x).
 */
#ifndef QWQ_OPS_H
#define QWQ_OPS_H

#include <stdint.h>

/* sum a[i] * b[i] with eight partial sums (vectorisable, fixed order). */
float ops_dot_f32(const float *a, const float *b, int32_t n);
/* out = x / sqrt(mean(x^2) + eps) * w; the mean is taken in double. out may be x. */
void ops_rmsnorm(float *out, const float *x, const float *w, int32_t n, float eps);
/* NEOX rotary embedding of one head: element i pairs with i + d/2, rotated
 * by the angle whose cosine and sine are cosv[i], sinv[i] (d/2 of each). */
void ops_rope_neox(float *v, const float *cosv, const float *sinv, int32_t head_dim);
/* cosv[i], sinv[i] of angle pos * freq[i] for i < half (computed in double). */
void ops_rope_angles(float *cosv, float *sinv, const float *freq, int32_t half, int32_t pos);
/* In place: x = exp(x - max) / sum; the sum is taken in double. */
void ops_softmax(float *x, int32_t n);
/* x * sigmoid(x) */
float ops_silu(float x);
/* gate[i] = silu(gate[i]) * up[i] */
void ops_swiglu(float *gate, const float *up, int64_t n);

#endif
