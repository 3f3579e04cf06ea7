/*
 * minimums - test support for the weight types with minimums (harness.h:
 * test_min_offsets).
 */
#include "harness.h"
#include <math.h>

#include "kernels/quant.h"
#include "util/util.h"

int test_min_offsets(uint32_t type, const uint8_t *wrow, float *off, int64_t n_in) {
    if (type != QTYPE_Q4_1 && type != QTYPE_Q5_1 && type != QTYPE_Q2_K && type != QTYPE_Q4_K && type != QTYPE_Q5_K)
        return 0;
    const qtype_info *qi = qtype_get(type);
    const int64_t nb = n_in / qi->block_elems;
    _Alignas(8) uint8_t blk[sizeof(block_q5_K)]; /* the largest block with minimums */
    for (int64_t i = 0; i < nb; i++) {
        memcpy(blk, wrow + (size_t)i * qi->block_bytes, qi->block_bytes);
        switch (type) {
        case QTYPE_Q4_1: memset(((block_q4_1 *)blk)->qs, 0, sizeof((block_q4_1 *)0)->qs); break;
        case QTYPE_Q5_1:
            memset(((block_q5_1 *)blk)->qh, 0, sizeof((block_q5_1 *)0)->qh);
            memset(((block_q5_1 *)blk)->qs, 0, sizeof((block_q5_1 *)0)->qs);
            break;
        case QTYPE_Q2_K: memset(((block_q2_K *)blk)->qs, 0, sizeof((block_q2_K *)0)->qs); break;
        case QTYPE_Q4_K: memset(((block_q4_K *)blk)->qs, 0, sizeof((block_q4_K *)0)->qs); break;
        case QTYPE_Q5_K:
            memset(((block_q5_K *)blk)->qh, 0, sizeof((block_q5_K *)0)->qh);
            memset(((block_q5_K *)blk)->qs, 0, sizeof((block_q5_K *)0)->qs);
            break;
        }
        dequant_row(type, blk, off + i * qi->block_elems, qi->block_elems);
    }
    return 1;
}

double test_q8_1_min_mag(uint32_t type, const uint8_t *wrow, const uint8_t *arow, int64_t n_in) {
    if (type != QTYPE_Q4_1 && type != QTYPE_Q5_1) return 0;
    const qtype_info *qi = qtype_get(type);
    double mag = 0;
    for (int64_t b = 0; b < n_in / 32; b++) {
        uint16_t m, s;
        memcpy(&m, wrow + (size_t)b * qi->block_bytes + 2, 2); /* block_q4_1 / block_q5_1: d, m */
        memcpy(&s, arow + (size_t)b * sizeof(block_q8_1) + 2, 2);
        mag += fabs((double)fp16_to_f32(m) * (double)fp16_to_f32(s));
    }
    return mag;
}
