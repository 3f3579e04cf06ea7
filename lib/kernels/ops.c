#include "kernels/ops.h"

#include <math.h>
#include <string.h>

float ops_dot_f32(const float *a, const float *b, int32_t n) {
    float acc[8] = {0};
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    for (; i < n; i++) acc[i & 7] += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void ops_rmsnorm(float *out, const float *x, const float *w, int32_t n, float eps) {
    double ss = 0.0;
    for (int32_t i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
    float scale = (float)(1.0 / sqrt(ss / n + (double)eps));
    for (int32_t i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

void ops_rope_neox(float *v, const float *cosv, const float *sinv, int32_t head_dim) {
    int32_t half = head_dim / 2;
    for (int32_t i = 0; i < half; i++) {
        float a = v[i], b = v[i + half];
        v[i] = a * cosv[i] - b * sinv[i];
        v[i + half] = a * sinv[i] + b * cosv[i];
    }
}

void ops_rope_angles(float *cosv, float *sinv, const float *freq, int32_t half, int32_t pos) {
    for (int32_t i = 0; i < half; i++) {
        double angle = (double)pos * (double)freq[i];
        cosv[i] = (float)cos(angle);
        sinv[i] = (float)sin(angle);
    }
}

void ops_softmax(float *x, int32_t n) {
    float max = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int32_t i = 0; i < n; i++) x[i] *= inv;
}

float ops_silu(float x) { return x / (1.0f + expf(-x)); }

void ops_swiglu(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) gate[i] = ops_silu(gate[i]) * up[i];
}
