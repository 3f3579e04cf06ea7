/*
 * gemm_lane - AVX2 gemm of Q4_0, Q5_0 and Q8_0 weights (q8_0 activations),
 * Q4_1 and Q5_1 (q8_1), Q4_K and Q5_K (q8_K) in the lane layout of the
 * AVX-512 level: one scale unit (a 32-element block, or a K type's
 * sub-block of 32) per 32-bit lane, so that each unit's integer dot builds
 * up inside its own lane and no unit needs a horizontal sum.
 *
 *  - A group is 8 consecutive units (256 elements; for the K types a
 *    super-block); lane L holds unit L of the group. Step s (0..7) holds
 *    elements 4s .. 4s + 3 of every unit: qs dword s of Q8_0 weights and
 *    of the activations; for Q4_0 and Q4_1 the low nibbles of qs dword s
 *    (s < 4) or the high nibbles of dword s - 4, for Q5_0 and Q5_1 the
 *    same plus 16 times bits 4s .. 4s + 3 of the block's qh; for Q4_K the
 *    low (L even) or high (L odd) nibbles of dword s of qs[32 (L / 2) ..],
 *    for Q5_K the same plus 16 times bit L of qh dword s.
 *  - Per (row, token) and group: I = the exact integer dot of each lane's
 *    unit. The 4-bit types: maddubs of the nibbles (0..15) with the
 *    activations, summed as int16 over the 8 steps (|sum| <= 8 * 2 * 15 *
 *    127 < 2^15), one madd into int32. The 5-bit types (0..31): the same
 *    over two sets of four steps (4 * 2 * 31 * 127 < 2^15), two madds.
 *    Q4_0 and Q5_0 add their offset's -8 or -16 * sum(a) of the block.
 *    Q8_0: per step maddubs(|w|, sign(a, w)) (pair sums <= 2 * 128 * 127
 *    < 2^15) and a madd, summed in int32. Then in f32, lane by lane,
 *    F = fma(float(I), dw * da, F), with dw the block's scale (K types:
 *    d * sc_L, exact); then the minimums, F = fma(wmin, amin, F): for
 *    the K types wmin = -dmin * m_L (exact) and amin = da * sum(a) of the
 *    sub-block (from the bsums), for Q4_1 and Q5_1 the block's m and the
 *    q8_1 block's s (its f16 d * sum(a)).
 *  - Rows are cut in chunks of 4096 elements (16 groups; a partial last
 *    group is zero-padded, its scales 0). F starts at 0 in every chunk
 *    and is summed by avx2_hsum; y = 0 + chunk0 + chunk1 + ... in order.
 *
 * With AVX-VNNI (gemm_lane_avxvnni.c, LANE_VNNI 1) one vpdpbusd per step
 * and token takes the place of maddubs and the int16 add (the 4- and
 * 5-bit types, whose I starts at the offset's correction) or of maddubs,
 * sign and madd (Q8_0, whose weights then go in offset by 128 as unsigned
 * bytes, I starting at the block's -128 * sum(a)): the same exact
 * integers, so the same bits. Measured alternating with QWQ_AVXVNNI=0 (qwq-bench-kernels --levels
 * avx2, 5120 x 5120 and 5120 x 27648): Q8_0 prefill 1.12-1.55x (one
 * thread 148-170 against 95-123 GOP/s), Q4_0 and Q4_K 1.0-1.06x (their
 * int16 sums were already one add a step), decode within the noise; the
 * 4-layer Q8_0 model at QWQ_MAX_SIMD=avx2: pp128 1.23-1.51x, tg32
 * 0.99-1.04x. Splitting each token's vpdpbusd chain in two (odd steps
 * into a second sum) showed no gain and is not done.
 *
 * Every (row, token) goes through these operations whatever the row range,
 * the number of tokens and the blocking, so results do not depend on the
 * threads or the batching. They differ from the scalar's per-block f32
 * order by rounding only (tests: within 1e-5 of sum |w * a|, for the
 * types with minimums plus the minimums' products, since those and the
 * scales' can cancel).
 *
 * Activations are packed once per call into the layout, per token and
 * group LANE_PAB bytes: the 8 steps, then for q8_0 the blocks' offset
 * correction (int32) and scales, for q8_1 their s and scales, for q8_K
 * amin and da (f32). A decoded token streams the rows, unpacking each group in registers
 * (long rows four at a time, group by group, so that a group's
 * activations are read from L1 by all four). A prefill goes chunk by
 * chunk: tokens in blocks of LANE_TB whose packed chunk (60 x 5 KiB) stays
 * in a 512 KiB L2, rows in blocks of LANE_RB whose chunk is unpacked once
 * into a buffer that tiles of 3 tokens then read, the next block's rows
 * prefetched meanwhile. Blocks of 30 tokens without that prefetch (the
 * first form) ran 0.8-0.85x as fast: each block's unpacking waited for
 * its rows from memory (in a cpu-clock profile its loads were the
 * hottest instructions after the conversion of the vpdpbusd sums). The
 * prefetch alone gave 1.03-1.08x, 60 tokens 1.1x more; 90 tokens another
 * 1.02-1.03x (qwq-bench-kernels, AVX-VNNI, one and two threads, three
 * rounds). CPUs with a 256 KiB L2 (Skylake client) keep a block in
 * their L3: not measured.
 *
 * Measured against the pair tiles (the former gemm_q_avx2.c: a (row,
 * token) pair per lane and a horizontal sum of every block),
 * qwq-bench-kernels --levels avx2, alternating, Zen 5 (5120 x 5120,
 * 27648 x 5120, 5120 x 27648):
 *  - Q4_0: prefill 1.7-2.1x (one thread 159-176 against 87-94 GOP/s, two
 *    320-367 against 145-190), decode 1.05-1.2x on short rows and
 *    0.96-1.07x on 27648-element ones (those went 0.84-0.92x taken one at
 *    a time: their 34.5 KiB of packed activations leave L1 under the
 *    weights). The 4-layer QwQ-32B Q4_0 model at QWQ_MAX_SIMD=avx2: pp128
 *    1.8x, tg32 1.0-1.04x.
 *  - Q8_0: prefill 1.13-1.34x, decode 1.0-1.2x.
 *  - Q4_K (against gemm_k_avx2.c's pair tiles, which sum every
 *    super-block horizontally): prefill 1.3-1.8x (two threads 341-365
 *    against 191-245 GOP/s, as fast as Q4_0), decode 1.15-1.6x on one
 *    thread; on two 35-39 GB/s, 93-96% of the probe. Without the scale
 *    decode (timing only) one thread decoded 5-8% faster, without the
 *    nibble transpose 10-15%. The 4-layer Q4_K_M model at
 *    QWQ_MAX_SIMD=avx2: pp128 1.18-1.39x, tg32 1.06-1.13x (its Q6_K stays
 *    on the pair tiles).
 *  - Q4_1 (against the pair tiles gemm_q_avx2.c had, two alternating rounds,
 *    5120 x 5120 and 27648 x 5120): prefill 2.1-2.2x (one thread 182-191
 *    against 84-88 GOP/s, two 355-381 against 168-174), decode 1.3-1.45x
 *    (one thread 20-21.5 against 14-16 GB/s).
 *  - Q5_0 and Q5_1 (likewise): prefill 2.2-2.5x (one thread 118-150
 *    against 66 GOP/s, two 221-294 against 86-131; AVX-VNNI one thread
 *    133-180), decode 1.0-1.15x (one thread 15-18 against 15-16.5 GB/s:
 *    the fifth bits cost five operations a step).
 *  - Q5_K (the same against the pair tiles, two alternating rounds,
 *    5120 x 5120 and 5120 x 27648): prefill 1.10-1.39x (one thread 136-156
 *    against 112-129 GOP/s, two 285-307 against 220-254), decode 1.0-1.1x
 *    (18-20 GB/s on one thread: the fifth bits cost four operations a
 *    step); with AVX-VNNI prefill 1.44-1.57x against the pair tiles.
 * An earlier, less tidy form of this file (the kind a run-time branch in
 * shared helpers, rows unpacked token-major) gave Q4_0 only 1.3x and Q8_0
 * decode 0.74-0.95x; a Q8_0 decode that summed each block horizontally
 * from the blocks' own byte order was no better. Without AVX2_PIN in
 * lane_step gcc hoists a group's 24 activation loads and spills them
 * (0.75x).
 */
#ifndef QWQ_GEMM_LANE_H
#define QWQ_GEMM_LANE_H

#include <stdlib.h>
#include <string.h>

#include "kernels/quant.h"
#include "kernels/x86/x86_avx2.h"

#if !defined(LANE_VNNI)
#error "define LANE_VNNI (0: AVX2, 1: AVX-VNNI) before including gemm_lane.h"
#endif

enum {
    LANE_BLOCKS = 8,                          /* blocks (units) per group */
    LANE_CHUNK_GROUPS = 16,                   /* groups per reduction chunk (4096 elements) */
    LANE_PAB = 320,                           /* packed activation bytes per token and group */
    LANE_T = 3,                               /* tokens per tile */
    LANE_RB = 4,                              /* rows per prefill row block */
    LANE_TB = 60,                             /* tokens per prefill block (a multiple of LANE_T) */
    LANE_LONG = 32,                           /* decode: rows of more groups go four at a time */
    LANE_STACK = 64 * 1024,                   /* packed activations kept on the stack */
    LANE_PWB_MAX = 320,                       /* the largest lane_pwb */
    LANE_PF = 1536                            /* software prefetch distance in the weight stream, bytes */
};

/* The weight kinds (K below, a constant in every entry point). */
enum { LANE_Q4_0, LANE_Q8_0, LANE_Q4_K, LANE_Q5_K, LANE_Q4_1, LANE_Q5_0, LANE_Q5_1 };

/* bytes of a 32-element block (Q4_0, Q8_0, Q4_1, Q5_0, Q5_1), where its
 * qs start and (Q5_0, Q5_1) its qh */
AVX2_INLINE size_t lane_bb(const int K) {
    return K == LANE_Q8_0   ? sizeof(block_q8_0)
           : K == LANE_Q4_1 ? sizeof(block_q4_1)
           : K == LANE_Q5_0 ? sizeof(block_q5_0)
           : K == LANE_Q5_1 ? sizeof(block_q5_1)
                            : sizeof(block_q4_0);
}
AVX2_INLINE size_t lane_qs(const int K) {
    return K == LANE_Q4_1 ? 4 : K == LANE_Q5_0 ? 6 : K == LANE_Q5_1 ? 8 : 2;
}
AVX2_INLINE size_t lane_qh(const int K) { return K == LANE_Q5_0 ? 2 : 4; }
/* 5-bit weights: int16 sums over four steps at most (4 * 2 * 31 * 127 < 2^15) */
/* Q5_0 / Q5_1: the fifth bits in each block's 32-bit qh (lane_qh32, lane_q5_bits) */
AVX2_INLINE int lane_q5(const int K) { return K == LANE_Q5_0 || K == LANE_Q5_1; }
AVX2_INLINE int lane_five(const int K) { return K == LANE_Q5_K || lane_q5(K); }
/* a minimum m per block and q8_1 activations (F += m * s) */
AVX2_INLINE int lane_m(const int K) { return K == LANE_Q4_1 || K == LANE_Q5_1; }
/* weight bytes per group */
AVX2_INLINE size_t lane_gb(const int K) {
    return K == LANE_Q4_K ? sizeof(block_q4_K) : K == LANE_Q5_K ? sizeof(block_q5_K) : LANE_BLOCKS * lane_bb(K);
}
/* the K types: sub-blocks of a super-block, q8_K activations, minimums */
AVX2_INLINE int lane_k(const int K) { return K == LANE_Q4_K || K == LANE_Q5_K; }
/* the minimums' term F += wmin * amin: the K types (wmin = -dmin * m_j,
 * amin = da * sum(a) of the sub-block) and Q4_1, Q5_1 (wmin = m, amin = s) */
AVX2_INLINE int lane_min(const int K) { return lane_k(K) || lane_m(K); }
/* unpacked weight bytes per row and group: 8 steps, dw (and wmin) */
AVX2_INLINE size_t lane_pwb(const int K) { return lane_min(K) ? 320 : 288; }
/* the packed activations' correction is added to I: Q4_0's -8 * sum(a),
 * Q5_0's -16 * sum(a); with AVX-VNNI also Q8_0's -128 * sum(a) */
AVX2_INLINE int lane_corr(const int K) {
    return K == LANE_Q4_0 || K == LANE_Q5_0 || (LANE_VNNI && K == LANE_Q8_0);
}

/* 4 x 4 dword transpose inside each 128-bit half: y[k] holds 4 dwords of
 * block k (low half) and block k + 4 (high half); u[j] gets dword j of
 * blocks 0..7 in lanes 0..7. */
AVX2_INLINE void lane_transpose4(const __m256i y[4], __m256i u[4]) {
    const __m256i t0 = _mm256_unpacklo_epi32(y[0], y[1]), t1 = _mm256_unpackhi_epi32(y[0], y[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(y[2], y[3]), t3 = _mm256_unpackhi_epi32(y[2], y[3]);
    u[0] = _mm256_unpacklo_epi64(t0, t2);
    u[1] = _mm256_unpackhi_epi64(t0, t2);
    u[2] = _mm256_unpacklo_epi64(t1, t3);
    u[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* dwords 0..3 of the 16 bytes at offset off of the 8 blocks (bb bytes each) at p */
AVX2_INLINE void lane_quarter(const uint8_t *p, size_t bb, size_t off, __m256i u[4]) {
    __m256i y[4];
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const __m128i lo = _mm_loadu_si128((const __m128i *)(p + (size_t)k * bb + off));
        const __m128i hi = _mm_loadu_si128((const __m128i *)(p + (size_t)(k + 4) * bb + off));
        y[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    }
    lane_transpose4(y, u);
}

/* The f16 at offset 0 of the 8 blocks (bb bytes each) at p, as f32 lanes. */
AVX2_INLINE __m256 lane_scales(const uint8_t *p, size_t bb) {
    uint16_t h[LANE_BLOCKS];
#pragma GCC unroll 8
    for (int k = 0; k < LANE_BLOCKS; k++) __builtin_memcpy(&h[k], p + (size_t)k * bb, 2);
    return _mm256_cvtph_ps(avx2_words(h, LANE_BLOCKS));
}

/* The 8 blocks (bb bytes each) of group g of a row of nb blocks: at the
 * row itself, or copied into pad with zeros after the row's last block. */
AVX2_INLINE const uint8_t *lane_group_at(const uint8_t *row, size_t bb, int64_t g, int64_t nb, uint8_t *pad) {
    const uint8_t *p = row + (size_t)g * LANE_BLOCKS * bb;
    const int64_t nv = nb - g * LANE_BLOCKS;
    if (nv >= LANE_BLOCKS) return p;
    memset(pad, 0, LANE_BLOCKS * bb);
    memcpy(pad, p, (size_t)nv * bb);
    return pad;
}

/* The nibbles of qs dword j of the 8 blocks: steps j (low) and j + 4 (high). */
AVX2_INLINE __m256i lane_lo(__m256i q) { return _mm256_and_si256(q, _mm256_set1_epi8(0x0F)); }
AVX2_INLINE __m256i lane_hi(__m256i q) { return _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0F)); }

/* Q5_0 / Q5_1: the 8 blocks' (bb bytes each, at p) 32-bit qh, lane k. */
AVX2_INLINE __m256i lane_qh32(const uint8_t *p, size_t bb, size_t off) {
    uint32_t h[LANE_BLOCKS];
#pragma GCC unroll 8
    for (int k = 0; k < LANE_BLOCKS; k++) __builtin_memcpy(&h[k], p + (size_t)k * bb + off, 4);
    return _mm256_setr_epi32((int)h[0], (int)h[1], (int)h[2], (int)h[3], (int)h[4], (int)h[5], (int)h[6], (int)h[7]);
}

/* Q5_0 / Q5_1: step s's fifth bits (element 4s + i of a block: bit 4s + i
 * of its qh) as 16 in byte i of each lane, or'ed into the nibbles u. */
AVX2_INLINE __m256i lane_q5_bits(__m256i qh, int s, __m256i u) {
    const char b = (char)(s / 2); /* the qh byte of the step, spread over the lane's 4 bytes */
    const __m256i spread = _mm256_setr_epi8(b, b, b, b, (char)(4 + b), (char)(4 + b), (char)(4 + b), (char)(4 + b),
                                            (char)(8 + b), (char)(8 + b), (char)(8 + b), (char)(8 + b), (char)(12 + b),
                                            (char)(12 + b), (char)(12 + b), (char)(12 + b), b, b, b, b, (char)(4 + b),
                                            (char)(4 + b), (char)(4 + b), (char)(4 + b), (char)(8 + b), (char)(8 + b),
                                            (char)(8 + b), (char)(8 + b), (char)(12 + b), (char)(12 + b),
                                            (char)(12 + b), (char)(12 + b));
    const int o = 4 * (s % 2);
    const __m256i bit = _mm256_set1_epi32((int)((1u << o) | (2u << o) << 8 | (4u << o) << 16 | (8u << o) << 24));
    const __m256i t = _mm256_shuffle_epi8(qh, spread);
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(t, bit), bit);
    return _mm256_or_si256(u, _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
}

/* The 8 steps of the 8 blocks at p: Q8_0 weights or q8_0 activations
 * (qs dwords) or Q4_0 / Q4_1 weights (nibbles). */
AVX2_INLINE void lane_steps(const int K, const uint8_t *p, __m256i u[8]) {
    if (K == LANE_Q8_0) {
        lane_quarter(p, sizeof(block_q8_0), 2, u);
        lane_quarter(p, sizeof(block_q8_0), 18, u + 4);
        return;
    }
    __m256i q[4];
    lane_quarter(p, lane_bb(K), lane_qs(K), q);
    for (int j = 0; j < 4; j++) {
        u[j] = lane_lo(q[j]);
        u[j + 4] = lane_hi(q[j]);
    }
    if (lane_q5(K)) {
        const __m256i qh = lane_qh32(p, lane_bb(K), lane_qh(K));
        for (int j = 0; j < 8; j++) u[j] = lane_q5_bits(qh, j, u[j]);
    }
}

/* Q4_K: sub-block j (scale j) is the low (j even) or high (j odd) nibbles
 * of qs[32 (j / 2) .. + 31]; lane j holds sub-block j. Steps 4h .. 4h + 3
 * of the 8 lanes: dwords 4h .. 4h + 3 of each sub-block. */
AVX2_INLINE void lane_k4_half(const uint8_t *qs, int h, __m256i u[4]) {
    const __m128i *q = (const __m128i *)(qs + 16 * h);
    /* lanes 0..3 from qs[0..63], 4..7 from qs[64..127] */
    const __m256i a = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(q)), _mm_loadu_si128(q + 4), 1);
    const __m256i b =
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(q + 2)), _mm_loadu_si128(q + 6), 1);
    const __m256i ah = _mm256_srli_epi16(a, 4), bh = _mm256_srli_epi16(b, 4);
    const __m256i t0 = _mm256_unpacklo_epi32(a, ah), t1 = _mm256_unpacklo_epi32(b, bh); /* dwords 0, 1 */
    const __m256i t2 = _mm256_unpackhi_epi32(a, ah), t3 = _mm256_unpackhi_epi32(b, bh); /* dwords 2, 3 */
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    u[0] = _mm256_and_si256(_mm256_unpacklo_epi64(t0, t1), m4);
    u[1] = _mm256_and_si256(_mm256_unpackhi_epi64(t0, t1), m4);
    u[2] = _mm256_and_si256(_mm256_unpacklo_epi64(t2, t3), m4);
    u[3] = _mm256_and_si256(_mm256_unpackhi_epi64(t2, t3), m4);
}

/* Q5_K: the fifth bits of step s (bit j of qh[4s .. 4s + 3] for lane j)
 * as 16, or'ed into the step's nibbles u. Isolated per byte, bit j moves
 * to bit 4 inside its byte (left by 4 - j, right by j - 4). */
AVX2_INLINE __m256i lane_k5_bits(const uint8_t *qh, int s, __m256i u) {
    uint32_t h;
    __builtin_memcpy(&h, qh + 4 * s, 4);
    const __m256i b = _mm256_and_si256(_mm256_set1_epi32((int)h),
                                       _mm256_setr_epi32(0x01010101, 0x02020202, 0x04040404, 0x08080808, 0x10101010,
                                                         0x20202020, 0x40404040, (int)0x80808080));
    const __m256i l = _mm256_sllv_epi32(b, _mm256_setr_epi32(4, 3, 2, 1, 0, 0, 0, 0));
    return _mm256_or_si256(u, _mm256_srlv_epi32(l, _mm256_setr_epi32(0, 0, 0, 0, 0, 1, 2, 3)));
}

/* Q4_K: the sub-blocks' scales d * sc_j (*dw) and minimums -dmin * m_j
 * (*wmin) as f32 lanes (exact: an f16 times a 6-bit integer). */
AVX2_INLINE void lane_k4_scales(const block_q4_K *x, __m256 *dw, __m256 *wmin) {
    uint32_t u[3], dd;
    __builtin_memcpy(u, x->scales, 12);
    __builtin_memcpy(&dd, x, 4); /* d, dmin (Q5_K's too: the same first 16 bytes) */
    const uint64_t sc = (uint64_t)(u[0] & 0x3f3f3f3fu) |
                        (uint64_t)((u[2] & 0x0f0f0f0fu) | ((u[0] >> 6) & 0x03030303u) << 4) << 32;
    const uint64_t m = (uint64_t)(u[1] & 0x3f3f3f3fu) |
                       (uint64_t)(((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 6) & 0x03030303u) << 4) << 32;
    const __m256 d2 = _mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi32_si128((int)dd)));
    const __m256 d = _mm256_permutevar8x32_ps(d2, _mm256_setzero_si256());
    const __m256 neg_dmin = _mm256_xor_ps(_mm256_permutevar8x32_ps(d2, _mm256_set1_epi32(1)), _mm256_set1_ps(-0.0f));
    *dw = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc))));
    *wmin = _mm256_mul_ps(neg_dmin, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m))));
}

/* Packs group g of a q8_0 activation row of nb blocks into dst (LANE_PAB
 * bytes): steps, the offset's correction per block (int32: -8 * sum(a)
 * for Q4_0, -16 * sum(a) for Q5_0, -128 * sum(a) for Q8_0, used with
 * AVX-VNNI only), scales. */
AVX2_INLINE void lane_pack_group(const int K, const uint8_t *arow, int64_t g, int64_t nb, uint8_t *dst) {
    _Alignas(32) uint8_t pad[LANE_BLOCKS * sizeof(block_q8_0)];
    const uint8_t *p = lane_group_at(arow, sizeof(block_q8_0), g, nb, pad);
    __m256i u[8], sum16 = _mm256_setzero_si256();
    lane_steps(LANE_Q8_0, p, u);
    for (int s = 0; s < 8; s++) {
        _mm256_store_si256((__m256i *)(dst + 32 * s), u[s]);
        sum16 = _mm256_add_epi16(sum16, _mm256_maddubs_epi16(_mm256_set1_epi8(1), u[s]));
    }
    const __m256i sum = _mm256_madd_epi16(sum16, _mm256_set1_epi16(1));
    const int shift = K == LANE_Q8_0 ? 7 : K == LANE_Q5_0 ? 4 : 3;
    _mm256_store_si256((__m256i *)(dst + 256), _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sum, shift)));
    _mm256_store_ps((float *)(dst + 288), lane_scales(p, sizeof(block_q8_0)));
}

/* Packs group g of a q8_1 activation row of nb blocks into dst (LANE_PAB
 * bytes): steps, s (d * sum(a), the minimums' factor), d, as f32. */
static void lane_pack_group_q81(const uint8_t *arow, int64_t g, int64_t nb, uint8_t *dst) {
    _Alignas(32) uint8_t pad[LANE_BLOCKS * sizeof(block_q8_1)];
    const uint8_t *p = lane_group_at(arow, sizeof(block_q8_1), g, nb, pad);
    __m256i u[8];
    lane_quarter(p, sizeof(block_q8_1), 4, u);
    lane_quarter(p, sizeof(block_q8_1), 20, u + 4);
    for (int s = 0; s < 8; s++) _mm256_store_si256((__m256i *)(dst + 32 * s), u[s]);
    _mm256_store_ps((float *)(dst + 256), lane_scales(p + 2, sizeof(block_q8_1)));
    _mm256_store_ps((float *)(dst + 288), lane_scales(p, sizeof(block_q8_1)));
}

/* Packs super-block g of a q8_K activation row into dst (LANE_PAB bytes):
 * steps (lane j: sub-block j of 32), da * sum(a) per sub-block (f32, from
 * the bsums; the minimums' factor), da. */
static void lane_pack_group_k(const uint8_t *arow, int64_t g, uint8_t *dst) {
    const block_q8_K *b = (const block_q8_K *)arow + g;
    __m256i u[8];
    lane_quarter((const uint8_t *)b->qs, 32, 0, u);
    lane_quarter((const uint8_t *)b->qs, 32, 16, u + 4);
    for (int s = 0; s < 8; s++) _mm256_store_si256((__m256i *)(dst + 32 * s), u[s]);
    const __m256 da = _mm256_set1_ps(b->d);
    const __m256i sum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b->bsums), _mm256_set1_epi16(1));
    _mm256_store_ps((float *)(dst + 256), _mm256_mul_ps(da, _mm256_cvtepi32_ps(sum)));
    _mm256_store_ps((float *)(dst + 288), da);
}

/* Step s of a group for T tokens: the weights' step u with each token's
 * step s (token t's group at a + t * ts), into the sums I[t] (int16 for
 * the nibble kinds, int32 for Q8_0). Steps go outer and tokens inner, so
 * a step's weights are loaded or unpacked once for the tokens. AVX2_PIN
 * keeps each product where it is: else gcc hoists all the group's
 * activation loads to its top and spills them. */
AVX2_INLINE void lane_step(const int K, const int T, __m256i u, const uint8_t *a, size_t ts, int s, __m256i I[]) {
#if LANE_VNNI
    /* Q8_0: w + 128 as unsigned (the -128 * sum(a) started I) */
    const __m256i wa = K == LANE_Q8_0 ? _mm256_xor_si256(u, _mm256_set1_epi8((char)0x80)) : u;
#else
    const __m256i wa = K == LANE_Q8_0 ? _mm256_abs_epi8(u) : u; /* |-128| = 128 as unsigned */
#endif
#pragma GCC unroll 3
    for (int t = 0; t < T; t++) {
        __m256i av = _mm256_load_si256((const __m256i *)(a + (size_t)t * ts + 32 * s));
        AVX2_PIN(av);
#if LANE_VNNI
        I[t] = _mm256_dpbusd_avx_epi32(I[t], wa, av);
#else
        if (K == LANE_Q8_0)
            I[t] = _mm256_add_epi32(
                I[t], _mm256_madd_epi16(_mm256_maddubs_epi16(wa, _mm256_sign_epi8(av, u)), _mm256_set1_epi16(1)));
        else I[t] = _mm256_add_epi16(I[t], _mm256_maddubs_epi16(wa, av));
#endif
        AVX2_PIN(I[t]);
    }
}

/* I[t] (T tokens, int32) and the scales (*dw; *wmin for lane_min kinds)
 * of group g of a weight row: from the row itself (wrow, unpacked here)
 * or, when wq is set, from its unpacked copy at wq. a: the tokens' packed
 * group (token t at a + t * ts). */
AVX2_INLINE void lane_group(const int K, const int T, const uint8_t *wrow, const uint8_t *wq, int64_t g, int64_t nb,
                            const uint8_t *a, size_t ts, __m256i I[], __m256 *dw, __m256 *wmin) {
#pragma GCC unroll 3
    for (int t = 0; t < T; t++) /* AVX-VNNI: from the offset's correction (lane_corr) */
        I[t] = LANE_VNNI && lane_corr(K) ? _mm256_load_si256((const __m256i *)(a + (size_t)t * ts + 256))
                                         : _mm256_setzero_si256();
    /* 5-bit weights on AVX2: four steps summed as int16 into H, then the
     * other four in I (eight steps of 5-bit products could pass 2^15) */
    __m256i H[LANE_T];
#define LANE_HALF()                                                                     \
    if (!LANE_VNNI && lane_five(K))                                                     \
        for (int t_ = 0; t_ < T; t_++) {                                                \
            H[t_] = _mm256_madd_epi16(I[t_], _mm256_set1_epi16(1));                     \
            I[t_] = _mm256_setzero_si256();                                             \
        }
    if (wq) {
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            lane_step(K, T, _mm256_load_si256((const __m256i *)(wq + 32 * k)), a, ts, k, I);
            if (k == 3) LANE_HALF()
        }
        *dw = _mm256_load_ps((const float *)(wq + 256));
        if (lane_min(K)) *wmin = _mm256_load_ps((const float *)(wq + 288));
    } else {
        const uint8_t *next = wrow + (size_t)g * lane_gb(K) + LANE_PF;
        for (size_t k = 0; k < lane_gb(K); k += 64) _mm_prefetch((const char *)(next + k), _MM_HINT_T0);
        /* a quarter (K types: half) of the steps unpacked at a time: fewer
         * registers held than lane_steps' eight */
        __m256i q[4];
        if (lane_k(K)) {
            const uint8_t *x = wrow + (size_t)g * lane_gb(K);
            lane_k4_scales((const block_q4_K *)x, dw, wmin);
            const uint8_t *qs = K == LANE_Q5_K ? ((const block_q5_K *)x)->qs : ((const block_q4_K *)x)->qs;
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                lane_k4_half(qs, h, q);
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    lane_step(K, T, K == LANE_Q5_K ? lane_k5_bits(((const block_q5_K *)x)->qh, 4 * h + j, q[j]) : q[j],
                              a, ts, 4 * h + j, I);
                if (h == 0) LANE_HALF()
            }
        } else {
            _Alignas(32) uint8_t pad[LANE_BLOCKS * sizeof(block_q8_0)];
            const uint8_t *p = lane_group_at(wrow, lane_bb(K), g, nb, pad);
            *dw = lane_scales(p, lane_bb(K));
            if (lane_m(K)) *wmin = lane_scales(p + 2, lane_bb(K)); /* m */
            if (K == LANE_Q8_0) {
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    lane_quarter(p, lane_bb(K), 2 + 16 * (size_t)h, q);
#pragma GCC unroll 4
                    for (int j = 0; j < 4; j++) lane_step(K, T, q[j], a, ts, 4 * h + j, I);
                }
            } else {
                lane_quarter(p, lane_bb(K), lane_qs(K), q);
                const __m256i qh = lane_q5(K) ? lane_qh32(p, lane_bb(K), lane_qh(K)) : _mm256_setzero_si256();
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    __m256i lo = lane_lo(q[j]), hi = lane_hi(q[j]);
                    if (lane_q5(K)) {
                        lo = lane_q5_bits(qh, j, lo);
                        hi = lane_q5_bits(qh, j + 4, hi);
                    }
                    lane_step(K, T, lo, a, ts, j, I);
                    lane_step(K, T, hi, a, ts, j + 4, I);
                    if (j == 1) LANE_HALF() /* steps 0, 4, 1, 5 */
                }
            }
        }
    }
    /* AVX2: the int16 sums into int32, plus the first half (5-bit weights)
     * and the correction (Q4_0, Q5_0) */
    if (!LANE_VNNI && K != LANE_Q8_0)
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) {
            __m256i v = _mm256_madd_epi16(I[t], _mm256_set1_epi16(1));
            if (lane_five(K)) v = _mm256_add_epi32(v, H[t]);
            if (lane_corr(K)) v = _mm256_add_epi32(v, _mm256_load_si256((const __m256i *)(a + (size_t)t * ts + 256)));
            I[t] = v;
        }
#undef LANE_HALF
}

/* Unpacks group g of a weight row (nb blocks) into q (lane_pwb bytes). */
AVX2_INLINE void lane_unpack_group(const int K, const uint8_t *wrow, int64_t g, int64_t nb, uint8_t *q) {
    __m256i u[8];
    if (lane_k(K)) {
        const uint8_t *x = wrow + (size_t)g * lane_gb(K);
        const uint8_t *qs = K == LANE_Q5_K ? ((const block_q5_K *)x)->qs : ((const block_q4_K *)x)->qs;
        __m256 dw, wmin;
        lane_k4_half(qs, 0, u);
        lane_k4_half(qs, 1, u + 4);
        if (K == LANE_Q5_K)
            for (int k = 0; k < 8; k++) u[k] = lane_k5_bits(((const block_q5_K *)x)->qh, k, u[k]);
        lane_k4_scales((const block_q4_K *)x, &dw, &wmin);
        _mm256_store_ps((float *)(q + 256), dw);
        _mm256_store_ps((float *)(q + 288), wmin);
    } else {
        _Alignas(32) uint8_t pad[LANE_BLOCKS * sizeof(block_q8_0)];
        const uint8_t *p = lane_group_at(wrow, lane_bb(K), g, nb, pad);
        lane_steps(K, p, u);
        _mm256_store_ps((float *)(q + 256), lane_scales(p, lane_bb(K)));
        if (lane_m(K)) _mm256_store_ps((float *)(q + 288), lane_scales(p + 2, lane_bb(K)));
    }
    for (int k = 0; k < 8; k++) _mm256_store_si256((__m256i *)(q + 32 * k), u[k]);
}

/* Groups [g0, g1) (g0 a multiple of LANE_CHUNK_GROUPS) of R consecutive
 * weight rows (R > 1 only with T = 1: the rows go in step, group by group)
 * with T tokens' packed activations (pa: group g0 of token 0; token t at
 * pa + t * ts). The weights come from the rows (w, stride wrb) or, when wb
 * is set, from their unpacked copy (group g0 of row 0; row stride wbs).
 * y[r + t * ys] is the running sum: 0 when g0 is 0, else the sum of the
 * chunks before g0. */
AVX2_INLINE void lane_block(const int K, const int R, const int T, const uint8_t *w, size_t wrb, const uint8_t *wb,
                            size_t wbs, int64_t g0, int64_t g1, int64_t nb, const uint8_t *pa, size_t ts, float *y,
                            int64_t ys) {
    const int64_t ng = (nb + LANE_BLOCKS - 1) / LANE_BLOCKS;
    __m256 F[4][LANE_T];
    float acc[4][LANE_T];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) {
            acc[r][t] = g0 == 0 ? 0.0f : y[r + t * ys];
            F[r][t] = _mm256_setzero_ps(); /* and again at every chunk (g0 starts one) */
        }
    for (int64_t g = g0; g < g1; g++) {
        if (g % LANE_CHUNK_GROUPS == 0)
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
#pragma GCC unroll 3
                for (int t = 0; t < T; t++) F[r][t] = _mm256_setzero_ps();
        const uint8_t *a = pa + (size_t)(g - g0) * LANE_PAB;
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            __m256i I[LANE_T];
            __m256 dw, wmin = _mm256_setzero_ps();
            const uint8_t *wq = wb ? wb + (size_t)r * wbs + (size_t)(g - g0) * lane_pwb(K) : NULL;
            lane_group(K, T, w + (size_t)r * wrb, wq, g, nb, a, ts, I, &dw, &wmin);
#pragma GCC unroll 3
            for (int t = 0; t < T; t++) {
                const __m256 da = _mm256_load_ps((const float *)(a + (size_t)t * ts + 288));
                F[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(I[t]), _mm256_mul_ps(dw, da), F[r][t]);
                if (lane_min(K)) /* the minimums: wmin * amin */
                    F[r][t] = _mm256_fmadd_ps(wmin, _mm256_load_ps((const float *)(a + (size_t)t * ts + 256)),
                                              F[r][t]);
            }
        }
        if ((g + 1) % LANE_CHUNK_GROUPS == 0 || g + 1 == ng)
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
#pragma GCC unroll 3
                for (int t = 0; t < T; t++) acc[r][t] = acc[r][t] + avx2_hsum(F[r][t]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) y[r + t * ys] = acc[r][t];
}

/* rows [r0, r1) of T (<= LANE_T) tokens over groups [g0, g1); wb: the
 * rows' unpacked weights (row stride wbs) or NULL */
AVX2_INLINE void lane_rows_T(const int K, const int T, const uint8_t *w, size_t wrb, const uint8_t *wb, size_t wbs,
                             int64_t r0, int64_t r1, int64_t g0, int64_t g1, int64_t nb, const uint8_t *pa, size_t ts,
                             float *y, int64_t ys) {
    int64_t r = r0;
    if (T == 1 && !wb && (nb + LANE_BLOCKS - 1) / LANE_BLOCKS > LANE_LONG)
        for (; r + 4 <= r1; r += 4)
            lane_block(K, 4, 1, w + (size_t)r * wrb, wrb, NULL, 0, g0, g1, nb, pa, ts, y + r, ys);
    for (; r < r1; r++)
        lane_block(K, 1, T, w + (size_t)r * wrb, wrb, wb ? wb + (size_t)(r - r0) * wbs : NULL, wbs, g0, g1, nb, pa, ts,
                   y + r, ys);
}
AVX2_INLINE void lane_rows(const int K, int T, const uint8_t *w, size_t wrb, const uint8_t *wb, size_t wbs,
                           int64_t r0, int64_t r1, int64_t g0, int64_t g1, int64_t nb, const uint8_t *pa, size_t ts,
                           float *y, int64_t ys) {
    if (T == 1) lane_rows_T(K, 1, w, wrb, wb, wbs, r0, r1, g0, g1, nb, pa, ts, y, ys);
    else if (T == 2) lane_rows_T(K, 2, w, wrb, wb, wbs, r0, r1, g0, g1, nb, pa, ts, y, ys);
    else lane_rows_T(K, 3, w, wrb, wb, wbs, r0, r1, g0, g1, nb, pa, ts, y, ys);
}

/* packs group g of the activation row arow (nb blocks of 32) into dst */
AVX2_INLINE void lane_pack(const int K, const uint8_t *arow, int64_t g, int64_t nb, uint8_t *dst) {
    if (lane_k(K)) lane_pack_group_k(arow, g, dst);
    else if (lane_m(K)) lane_pack_group_q81(arow, g, nb, dst);
    else lane_pack_group(K, arow, g, nb, dst);
}

AVX2_INLINE void lane_gemm(const int K, const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in,
                           int64_t r0, int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    if (r0 >= r1 || n_tok <= 0) return;
    /* nb: blocks of 32 (Q4_K: sub-blocks; its groups are its super-blocks) */
    const int64_t nb = n_in / 32, ng = (nb + LANE_BLOCKS - 1) / LANE_BLOCKS;
    if (ng == 0) { /* an empty dot product is 0, as the scalar level has it */
        for (int32_t t = 0; t < n_tok; t++) memset(y + t * ys + r0, 0, sizeof(float) * (size_t)(r1 - r0));
        return;
    }
    _Alignas(32) uint8_t stack_pa[LANE_STACK];
    /* a decoded token (up to LANE_T of them): each row streamed once, the
     * whole rows' activations packed (on the heap when they do not fit the
     * stack; without memory, chunk by chunk as a prefill) */
    if (n_tok <= LANE_T) {
        const size_t ts = (size_t)ng * LANE_PAB, need = ts * (size_t)n_tok;
        uint8_t *heap = need > sizeof stack_pa ? aligned_alloc(32, need) : NULL;
        uint8_t *pa = need <= sizeof stack_pa ? stack_pa : heap;
        if (pa) {
            for (int32_t t = 0; t < n_tok; t++)
                for (int64_t g = 0; g < ng; g++)
                    lane_pack(K, act + (size_t)t * arb, g, nb, pa + (size_t)t * ts + (size_t)g * LANE_PAB);
            lane_rows(K, n_tok, w, wrb, NULL, 0, r0, r1, 0, ng, nb, pa, ts, y, ys);
            free(heap);
            return;
        }
    }
    /* a prefill: chunk by chunk, tokens in blocks of up to LANE_TB, rows in
     * blocks of LANE_RB unpacked once for the block's tokens */
    _Alignas(32) uint8_t wb[LANE_RB * LANE_CHUNK_GROUPS * LANE_PWB_MAX];
    const size_t ts = (size_t)LANE_CHUNK_GROUPS * LANE_PAB;
    const size_t want = ts * (size_t)(n_tok < LANE_TB ? n_tok : LANE_TB);
    uint8_t *heap = want > sizeof stack_pa ? aligned_alloc(32, want) : NULL;
    uint8_t *pa = heap ? heap : stack_pa;
    const int32_t TB = heap ? LANE_TB : (int32_t)(sizeof stack_pa / ts) / LANE_T * LANE_T;
    for (int32_t t0 = 0; t0 < n_tok; t0 += TB) {
        const int32_t tn = n_tok - t0 < TB ? n_tok - t0 : TB;
        for (int64_t g0 = 0; g0 < ng; g0 += LANE_CHUNK_GROUPS) {
            const int64_t g1 = g0 + LANE_CHUNK_GROUPS < ng ? g0 + LANE_CHUNK_GROUPS : ng;
            for (int32_t t = 0; t < tn; t++)
                for (int64_t g = g0; g < g1; g++)
                    lane_pack(K, act + (size_t)(t0 + t) * arb, g, nb,
                              pa + (size_t)t * ts + (size_t)(g - g0) * LANE_PAB);
            const size_t wbs = (size_t)(g1 - g0) * lane_pwb(K);
            for (int64_t rb = r0; rb < r1; rb += LANE_RB) {
                const int64_t re = rb + LANE_RB < r1 ? rb + LANE_RB : r1;
                for (int64_t r = rb; r < re; r++)
                    for (int64_t g = g0; g < g1; g++)
                        lane_unpack_group(K, w + (size_t)r * wrb, g, nb,
                                          wb + (size_t)(r - rb) * wbs + (size_t)(g - g0) * lane_pwb(K));
                /* the next row block's part of the chunk, for its unpacking
                 * (those reads missed the caches and stalled it) */
                for (int64_t r = re; r < re + LANE_RB && r < r1; r++) {
                    const uint8_t *next = w + (size_t)r * wrb + (size_t)g0 * lane_gb(K);
                    for (size_t k = 0; k < (size_t)(g1 - g0) * lane_gb(K); k += 64)
                        _mm_prefetch((const char *)(next + k), _MM_HINT_T0);
                }
                for (int32_t tt = 0; tt < tn; tt += LANE_T) {
                    const int nt = tn - tt < LANE_T ? tn - tt : LANE_T;
                    lane_rows(K, nt, w, wrb, wb, wbs, rb, re, g0, g1, nb, pa + (size_t)tt * ts, ts,
                              y + (int64_t)(t0 + tt) * ys, ys);
                }
            }
        }
    }
    free(heap);
}

/* An entry point of the kernel table for the kind K (gemm_lane_avx2.c,
 * gemm_lane_avxvnni.c). */
#define LANE_GEMM(name, K)                                                                                   \
    void name(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,        \
              int64_t r1, int32_t n_tok, float *y, int64_t ys) {                                             \
        lane_gemm(K, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);                                          \
    }

#endif
