/*
 * kernels_avx512 - the AVX-512 level (F/BW/VL/DQ + VNNI) of the
 * kernel table. Compiled with the AVX-512 flags (Makefile, by file name) and
 * reached only through the dispatch table after cpuid.
 *
 * Activation quantizers: ggml's reference semantics, byte for byte the
 * scalar ones in quant.c (x * (1/d), round half away from zero for q8_0 /
 * q8_1, half to even for q8_K, the same clamps and NaN handling).
 *
 * Quantized gemm: one layout for every type, built so that vpdpbusd
 * (u8 x s8 -> s32, four products per 32-bit lane) finishes a whole scale
 * unit inside one lane:
 *
 *  - A "unit" is the run of elements sharing one scale: a 32-element block
 *    (Q4_0 .. Q8_0), a 32-element sub-block (Q4_K, Q5_K) or a 16-element
 *    sub-block (Q2_K, Q3_K, Q6_K). A "group" is 16 units, one per lane of
 *    a zmm: 512 elements (S = 8 dpbusd steps) or 256 (S = 4).
 *  - Weights are unpacked on the fly, in registers, from the mmapped
 *    blocks (no repacking at load) into S vectors of unsigned bytes: step
 *    s holds four elements of each lane's unit. Signed weights are offset
 *    (+8, +16, +128, +32, +4) and the offset times the activation sum is
 *    folded into the starting value of the integer accumulator.
 *  - Activations are packed once per call (per thread) into the same lane
 *    layout, with the unit's integer correction, its scale and, for types
 *    with minimums, its scaled sum.
 *  - Per group and (row, token): I = corr + sum_s dpbusd(W_s, A_s) is the
 *    exact integer dot of every unit; then in f32, lane by lane,
 *    F = fma(float(I), dw * da, F), and F -= rmin * amin (K types with
 *    minimums) or F += m * s (Q4_1, Q5_1).
 *  - Rows are cut in chunks of 4096 elements (a partial last group is
 *    zero-padded); F starts at 0 in every chunk and is reduced by a fixed
 *    tree (hsum16 / reduce4); y = 0 + chunk0 + chunk1 + ... in chunk order.
 *
 * Every (row, token) therefore goes through the same operations in the
 * same order whether it is computed by the decode kernel (n_tok 1..3: rows
 * streamed once, one after the other, weights unpacked in registers,
 * non-temporal prefetch ahead) or by the prefill kernel (weights of 4 rows x
 * one chunk unpacked into a buffer and reused by every token of a block of
 * up to 96-134 tokens, 4 rows x 4 tokens register tiles, activations packed once per
 * token block and chunk and read from L1/L2), whatever r0, r1 and n_tok:
 * results do not depend on threads or batching. Integer sums are exact, so
 * only the lane float order matters, and that is fixed.
 *
 * Throughput notes (Zen 5, measured): vpdpbusd, FMA, mul and cross-lane
 * shuffles share two 512-bit pipes (2 per cycle); logic, shifts, adds,
 * in-lane unpacks and int/float conversion use the other two. So do every
 * integer multiply (vpmulld, vpmullw, vpmaddwd, vpmuludq, vpmadd52luq),
 * vscalefps and vcvtph2ps (8 of any of them beside 8 vpdpbusd cost as
 * much as 8 more vpdpbusd; vcvtdq2ps, vpaddd, vpandd, vpsrlw, vpternlogd
 * and vpunpckldq cost nothing there): the scale product cannot be moved
 * off those pipes. A prefill
 * group costs 8 vpdpbusd + a mul and an FMA per (row, token), so the tiles
 * can reach 80% of the vpdpbusd peak; unpacking is arranged to stay off the
 * vpdpbusd pipes (ternlog blends) while decode, which has room there, uses
 * inserts.
 *
 * Float weights (F32, F16, BF16) take f32 activations: f32 FMA per lane in
 * chunks of 1024 elements, the same reduction tree and chunk order.
 * vdpbf16ps is not used: it needs the activations rounded to bf16 (relative
 * error 2^-9, far outside the 1e-5 tolerance against the scalar level),
 * and splitting them into three bf16 parts to stay exact costs three
 * instructions per 32 products where widening the weights and one FMA per
 * 16 costs two.
 *
 * Decode and row length. Resolved 2026-12-08 (prefetch_group): the loss
 * described next came from prefetching the weights into the L1, whose miss
 * buffers the activations' L1 misses then waited for; prefetched into the
 * L2 instead, rows of 27648 decode at the short rows' level. The history:
 * (measured with qwq-bench-kernels, one thread, Q4_0):
 * the share of the read bandwidth falls as rows grow, 95% at 5120 elements,
 * 93% at 10240, 87% at 13824, 82% at 20480, 78% at 27648 (ffn_down), 62%
 * at 55296. The cause is the packed activations (640 bytes per 512
 * elements, 34.5 KiB for 27648) falling out of L1 under the weight stream:
 * with the same weights but a 5 KiB activation window (wrong sums, timing
 * only) ffn_down decoded 4% faster on one thread and 11% on two, and with
 * a single 640-byte group 12-17% on one (bench/ab over 512 MiB of copies;
 * an earlier +19-24% came from a single 80 MB matrix, partly in the L3).
 * Windows of 44-48 groups (28-31 KiB, what packing the activations at one
 * byte per element would leave) gained nothing, 1.00-1.03x, so a more
 * compact packing would not help. Every way found to keep them in L1
 * broke the single forward weight stream and cost more than it saved (A/B,
 * one thread, 5120 x 27648 Q4_0): column passes of whole chunks 0.78-0.82x
 * (0.77-0.83x on 1 and 2 threads even with the software prefetch sent on
 * to the next row's segment instead of into the other pass's columns: it
 * is the strided pattern itself that costs), two rows in
 * lockstep 0.79x (0.95-0.97x with each stream's prefetch wrapping to its
 * next row), four rows 0.94-1.04x, odd rows' chunks in reverse order
 * 0.71-0.84x, prefetcht1 instead of nta 0.86-0.92x, clflushopt of consumed
 * weight lines 0.55-0.64x, a T0 prefetch of the activations 0.95-1.0x;
 * and over 512 MiB of copies: column passes of 3-4 chunks with the
 * prefetch wrapping to the next row's segment 0.68-0.82x (without the
 * wrap 0.45x: it fetched the other pass's columns), four rows in lockstep
 * with 0.75-2 KiB of prefetch per row 0.94-1.11x on one thread and
 * 0.79-1.07x on two (no consistent gain), prefetch distances of 3 KiB
 * 0.93x and 9-16 KiB 0.81-0.88x, a second, far prefetch (T1 or T2, 16-24
 * KiB ahead) 0.71-0.98x, T0 instead of NTA 1.01x.
 * On 2 threads the long rows cost most (qwq-bench-kernels, 2 threads: 73-79% of the probe at 5120 x
 * 27648 against 87-96% at 27648 x 5120). The whole of that gap is the
 * activations' L1 residency: with the 5 KiB window, Q4_K ffn_down ran at
 * 85-93% of the probe against 73-76% (qwq-bench-kernels, 2 threads, three
 * alternating pairs), the short rows' level. Splitting the columns between
 * the two threads instead (each thread four chunks of half the rows and
 * the other chunks of the other half: 22 KiB windows, and bit-identical
 * results would be possible by adding per-chunk sums in chunk order) read
 * 19 GB/s where the row split read 45, 33 with the prefetch following each
 * segment into the next row's; column passes in one thread 24 and 39
 * (timing harness over 512 MiB, 2 MiB pages, 2 threads).
 *
 * The software prefetch carries the stream: without it the same kernel
 * read 24 GB/s on two threads against 45 with it (Q4_K 5120 x 27648 from
 * memory), so the hardware prefetchers alone give about half here. Split
 * loads are not a cost in these kernels: aligning every weight load
 * (timing only: Q4_0's 16-byte inserts and scale windows, Q6_K's 64-, 32-
 * and 16-byte loads) measured 0.96-0.99x on two threads. A loop of only
 * the loads (a Q4_K group's 288 bytes in five 64-byte loads, no unpack)
 * ran 0.72x of the kernel when half its loads split lines, and 1.26x (fast
 * memory) to 0.99x (slow) with aligned ones: with the unpack at zero cost
 * decode could gain up to a quarter only when memory is fast.
 *
 * Decode's own speed limit (bench/ab with AB_ONE_COPY: one 0.5-0.7 MB
 * matrix that stays in the L2, one thread): Q4_0 35-48 GB/s of weights,
 * Q4_K 39-40, Q6_K 33-40, Q8_0 41-42 (rows of 5120 and 27648 alike). With
 * Q4_0, loads alone ran at 113 GB/s and the unpack without the dot
 * products at 55: the unpack is most of it. On two threads each core must
 * stream 28-37 GB/s when the probe reads 55-75, so the kernels run at
 * 70-90% of their own limit and cannot hide all of it behind the memory:
 * this is why decode stays near 52-54 GB/s when the probe climbs above
 * 60. Where the unpack's time goes (timing-only variants, wrong sums,
 * weights in the L2, Q4_0): without the f16 scale gather (3 vpermt2w, 2
 * merges, vcvtph2ps) 1.20x, without the dword transpose 1.05x, plain
 * 64-byte loads instead of the inserts 1.08x; the dot products' vpdpbusd
 * in four chains instead of two 0.99x. vpgatherdd is no way out: one
 * costs as much as 30 vpdpbusd here. With the weights in memory the same
 * variants all measured 0.99-1.01x on one thread. Q4_K: without the
 * 6-bit scale and minimum decode (q4k_dw, then about 35 instructions of
 * the loop's 90, most of them 128-bit) 1.32x, without the nibble
 * transpose 1.08x; q4k_dw in 512-bit lanes (as now) gained 8% of it, and
 * Q4_0's scale gather in two windows instead of three 3-9%. Q6_K: without
 * the 6-bit assembly (two variable shifts, a shift, an and and a ternlog
 * per step) 1.37x, without the scale 1.13x. Its limit is the other two
 * pipes, not the vpdpbusd ones (variable and plain shifts, ternlog,
 * vpshufd and in-lane unpacks cost nothing beside vpdpbusd; vpmovzxbd,
 * vpermw and vshufi64x2 half a slot; vpermt2w a whole one; vprorvd
 * costs a whole one too, vpermd and vpermt2d a half). One thread decodes
 * Q4_K_M at 91-96% of its probe, two at 81-85% when that probe reads
 * 65-70 GB/s (56-57 GB/s of weights either way).
 *
 * But a faster unpack has not made a faster decode. Two changes, both
 * bit-identical, were 4-20% faster with the weights in the L2 and slower
 * from memory on two threads (bench/ab, alternating, 512 MiB of copies):
 * taking the padded last group out of the group loop, so that the loop
 * holds no memcpy call and gcc keeps the unpack's constants in registers
 * instead of rebuilding them every group (L2: Q6_K +11%, Q2_K +20%, Q4_0
 * +5%, Q4_K +4%; from memory on two threads Q4_K 0.84-0.93x on every
 * shape, Q6_K 0.96-0.98x, Q4_0 and Q8_0 1.0x), and a Q6_K unpack of 5
 * vector operations a step instead of 8 (clean nibbles unpacked, each
 * step's qh dwords by one vpermd, rotated to bits 4-5 by vprorvd and
 * merged in one ternlog; L2 +7-10%, from memory on two threads
 * 0.93-0.98x). The Q4_K_M model decoded faster without them in 8 of 10
 * alternating runs. One thread from memory showed no loss (0.98-1.0x).
 * Likewise a Q8_0 decode of one token with the blocks in their own byte
 * order (a 32-byte load and insert per two blocks, no transpose; then each
 * block's 8 partial lanes added up exactly, as integers, into the lane
 * layout by 3 levels of unpacks and a vpermd: same bits): 1.085x with the
 * weights in the L2 on one thread, 0.98-1.02x from memory on two threads
 * (bench/ab: 27648 x 5120, 5120 x 27648, 5120 x 5120; 4 KiB and 2 MiB
 * pages), so it was not kept. In the same hour llama.cpp decoded the
 * Q8_0 model 8-18% faster than this level (bench/sbs, 4 of 5 rounds); how
 * it streams Q8_0 was not examined.
 * Not explained: without any software prefetch the loss stayed (0.93x);
 * prefetch distances of 3-12 KiB, T0 instead of NTA and a loop-carried
 * imul chain that slows the loop did not restore it. So the cost maps
 * above tell where a kernel's instructions go, not what it streams, and a
 * decode change counts only when measured on two threads from memory and
 * on the model.
 * A likely explanation, found on a Zen 4 host (2026-12-08, with the L2
 * prefetch of prefetch_group): a faster unpack loses where the packed
 * activations of a row do not stay in the L1 (rows of 27648), because a
 * loop that runs ahead faster keeps more L1 misses in flight (the
 * measurements are at Q4_K / Q5_K below). So decode takes the lean
 * unpacks (Q4_0, Q4_1, Q4_K, Q5_K, Q6_K) only while the activations fit
 * (DECODE_LEAN_BYTES), and the wide ones otherwise.
 * Zen 4's costs differ from the map above (scratch loops of independent
 * 512-bit operations, 2026-12-08): vpdpbusd, vmulps and FMA, vpermd,
 * vpermps and vpermw, vprolvd, vpmovzxbd / vpmovsxbd, vshufi64x2 and
 * vcvtph2ps (to 512 bits) share one pair of pipes (1 per cycle alone or
 * mixed); vpsrlvd, vpsrld and vcvtdq2ps another (with vmulps 2 per cycle);
 * in-lane unpacks 1.5 per cycle, vpandd 2, 256-bit shifts and shuffles 2;
 * vpdpbusd mixed with any other operation at most 1.3 per cycle. A mask
 * register built in the group loop (kmov and a masked broadcast) cost
 * 9% of the lean Q4_K decode, and blending Q4_0's 16-byte pieces by
 * vpternlogd instead of inserting them cost its decode 26% (decode takes
 * the inserts, as on Zen 5).
 *
 * Prefill tile: with its operands in L1 (one chunk: 8 groups, 38 KiB for
 * Q4_0) the 4 x 4 tile runs at 1.05-1.25 vpdpbusd per cycle, in C or with
 * its group loop in hand-written assembly (same operations, same bits),
 * while one group repeated at fixed addresses (5 KiB) runs at 1.4-1.6 in
 * that assembly, the ceiling of the instruction mix (vpdpbusd 2 per cycle;
 * cvt, integer adds and zeroing on the other pipes; mul and FMA on the
 * vpdpbusd ones). So the loss is the working set and the per-tile setup
 * and reduction, not the code: in that measurement a 2-group tile took a
 * third of the time of an 8-group one (about 100 cycles a tile, with every
 * tile adding into the same y, whose masked store may not forward to the
 * next tile's masked load: the kernel's own cost may be lower, unmeasured).
 * In the kernel, the assembly
 * measured +3.5% on Q4_0 at one moment and -4.6% at another (A/B) and -4%
 * on Q8_0, so it was not kept; 8 x 2 and 4 x 6 tiles (same bits) were
 * 0.99x and 0.97-0.99x, 8 x 3 0.92x (spills). Also tried (A/B, same
 * bits): 4 x 3 tiles with F in registers 0.88-0.95x; F in registers with
 * the 4 rows taken two at a time (activations loaded twice) 0.84-0.86x;
 * each tile's reduction deferred into the next tile's first group +1-3% on
 * one core, on two 0.99-1.02x for Q4_0 and 1.04-1.05x for Q8_0 (not
 * kept); the activations of a token tile interleaved by group (one stream
 * instead of four) 1.01-1.02x; unmasked y loads and
 * stores for full tiles 0.93-0.98x; a T0 prefetch of the next token
 * tile's activations 0.77-0.82x; with 8-row blocks, the two row tiles in
 * the outer loop and the token tiles inner 0.99x. For the 4-bit types
 * (Q4_0, Q4_1, Q4_K), the unpacked weights kept two steps to a byte (18
 * KiB for 8 rows, so that a token tile's activations serve both row tiles
 * from L1) and split with and/shift in the tile: 1.00-1.02x on two threads
 * and 0.97x on one with 8-row blocks, 0.97x with 4-row ones (the split
 * costs what the reuse saves). Four of the 16 F vectors held in registers
 * (the loop's F loads and stores 16 -> 12): Q4_0 +3-6% on two threads,
 * but Q8_0 0.97-0.98x and Q4_K 0.99x, Q4_0 pp512 0.93-1.11x in
 * alternating pairs; two or six in registers 0.96x and 1.02x.
 *
 * Memory: decode keeps its buffers on the stack (about 100 KiB). Prefill
 * packs the activations of a block of up to 134 tokens into a heap buffer
 * of 672 KiB per call and thread (it stays in the core's L2; larger blocks
 * were slower), and unpacked weights (24 KiB) on the stack; if the
 * allocation fails it goes on with blocks of 16-20 tokens on the stack,
 * same results. Threads running these kernels need stacks of 256 KiB or more.
 */
#include "kernels/kernels.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/quant.h"
#include "util/util.h"

/* Everything is inlined into the per-type entry points, where the type and
 * the tile sizes become constants (switches and loops fold away). Not in
 * unoptimized builds: there forced inlining makes compiling take minutes. */
#if defined(__OPTIMIZE__)
#define AI static inline __attribute__((always_inline))
#else
#define AI static inline
#endif

#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

/* ---- reductions ------------------------------------------------------------- */

/* The one reduction tree of 16 lanes: (j + j+8), then (j + j+4), (j + j+2),
 * (0 + 1). reduce4 below gives the same bits four vectors at a time. */
AI float hsum16(__m512 v) {
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    __m128 d = _mm_add_ss(c, _mm_shuffle_ps(c, c, 1));
    return _mm_cvtss_f32(d);
}

/* [hsum16(v0), hsum16(v1), hsum16(v2), hsum16(v3)] */
AI __m128 reduce4(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
    __m512 a = _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0x44), _mm512_shuffle_f32x4(v0, v1, 0xEE));
    __m512 b = _mm512_add_ps(_mm512_shuffle_f32x4(v2, v3, 0x44), _mm512_shuffle_f32x4(v2, v3, 0xEE));
    __m512 c = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xDD));
    __m512 d = _mm512_add_ps(c, _mm512_shuffle_ps(c, c, _MM_SHUFFLE(1, 0, 3, 2)));
    __m512 e = _mm512_add_ps(d, _mm512_shuffle_ps(d, d, _MM_SHUFFLE(2, 3, 0, 1)));
    const __m512i pick = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0);
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(pick, e));
}

/* ---- activation quantizers --------------------------------------------------- */

/* roundf: round half away from zero, exactly (v - trunc(v) is exact). */
AI __m512 round_half_away(__m512 v) {
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 frac = _mm512_sub_ps(v, t);
    __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(frac), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 one = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
        _mm512_castps_si512(_mm512_set1_ps(1.0f)), _mm512_castps_si512(v), _mm512_set1_epi32(INT32_MIN), 0xF8));
    return _mm512_mask_add_ps(t, up, t, one);
}

/* quant.c's clamp_i8 on whole-number floats: NaN -> 0, clamp to +-127. */
AI __m512i clamp_to_i32(__m512 r) {
    __mmask16 ord = _mm512_cmp_ps_mask(r, r, _CMP_ORD_Q);
    r = _mm512_maskz_mov_ps(ord, r);
    r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
    return _mm512_cvtps_epi32(r);
}

/* Largest |x| of 32 floats ignoring NaN, as the scalar `if (v > amax)`. */
AI float amax32(__m512 x0, __m512 x1) {
    __m512 m = _mm512_max_ps(_mm512_abs_ps(x0), _mm512_setzero_ps()); /* NaN -> 0 */
    m = _mm512_max_ps(_mm512_abs_ps(x1), m);                            /* NaN -> m */
    return _mm512_reduce_max_ps(m);
}

static void quantize_q8_0_avx512(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
        const float d = amax32(x0, x1) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m512 vid = _mm512_set1_ps(id);
        __m512i q0 = clamp_to_i32(round_half_away(_mm512_mul_ps(x0, vid)));
        __m512i q1 = clamp_to_i32(round_half_away(_mm512_mul_ps(x1, vid)));
        y[b].d = fp16_from_f32(d);
        _mm_storeu_si128((__m128i *)y[b].qs, _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), _mm512_cvtepi32_epi8(q1));
    }
}

static void quantize_q8_1_avx512(const float *x, void *dst, int64_t n) {
    block_q8_1 *y = dst;
    for (int64_t b = 0; b < n / QK8_1; b++, x += QK8_1) {
        __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
        const float d = amax32(x0, x1) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m512 vid = _mm512_set1_ps(id);
        __m512i q0 = clamp_to_i32(round_half_away(_mm512_mul_ps(x0, vid)));
        __m512i q1 = clamp_to_i32(round_half_away(_mm512_mul_ps(x1, vid)));
        const int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        _mm_storeu_si128((__m128i *)y[b].qs, _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), _mm512_cvtepi32_epi8(q1));
        y[b].d = fp16_from_f32(d);
        y[b].s = fp16_from_f32((float)sum * d);
    }
}

static void quantize_q8_K_avx512(const float *x, void *dst, int64_t n) {
    block_q8_K *y = dst;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        __m512 m = _mm512_setzero_ps();
        for (int v = 0; v < 16; v++) m = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * v)), m);
        const float amax = _mm512_reduce_max_ps(m);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        /* the first element of largest magnitude */
        int at = 0;
        for (int v = 0; v < 16; v++) {
            __mmask16 k = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * v)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (k) {
                at = 16 * v + __builtin_ctz(k);
                break;
            }
        }
        const float scale = -127.0f / x[at];
        const __m512 vs = _mm512_set1_ps(scale);
        for (int v = 0; v < 16; v++) {
            __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * v)),
                                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            __m512i q = clamp_to_i32(r);
            y[b].bsums[v] = (int16_t)_mm512_reduce_add_epi32(q);
            _mm_storeu_si128((__m128i *)(y[b].qs + 16 * v), _mm512_cvtepi32_epi8(q));
        }
        y[b].d = 1.0f / scale;
    }
}

/* ---- type traits of the quantized layout --------------------------------------- */

enum { MIN_NONE = 0, MIN_SUB = 1, MIN_ADD = 2 };
enum { CHUNK = 4096 };      /* elements per reduction chunk (every type) */
enum { MAX_PAB = 11 * 64 }; /* packed activation bytes per group, at most */
enum { MAX_PWB = 10 * 64 }; /* unpacked weight bytes per group, at most */

AI int t_steps(int type) { return type == QTYPE_Q2_K || type == QTYPE_Q3_K || type == QTYPE_Q6_K ? 4 : 8; }
AI int t_group_elems(int type) { return 64 * t_steps(type); }
AI int t_min(int type) {
    switch (type) {
    case QTYPE_Q4_1: case QTYPE_Q5_1: return MIN_ADD;
    case QTYPE_Q2_K: case QTYPE_Q4_K: case QTYPE_Q5_K: return MIN_SUB;
    default: return MIN_NONE;
    }
}
/* weight bytes per group and per block (a block is 32 elements or a super-block) */
AI int t_wblock(int type) {
    switch (type) {
    case QTYPE_Q4_0: return 18;
    case QTYPE_Q4_1: return 20;
    case QTYPE_Q5_0: return 22;
    case QTYPE_Q5_1: return 24;
    case QTYPE_Q8_0: return 34;
    case QTYPE_Q2_K: return 84;
    case QTYPE_Q3_K: return 110;
    case QTYPE_Q4_K: return 144;
    case QTYPE_Q5_K: return 176;
    default: return 210; /* Q6_K */
    }
}
AI int t_is_k(int type) { return type >= QTYPE_Q2_K && type <= QTYPE_Q6_K; }
/* Q4_0 / Q4_1 in their lean decode form: steps 4..7 hold 16 times their
 * nibbles (legacy_nibbles), which group_dot divides out. The one test
 * both sides use, so that the unpack and the product cannot disagree. */
AI int t_hi16_dot(int type, int lean, int ins) { return lean && ins && (type == QTYPE_Q4_0 || type == QTYPE_Q4_1); }
AI int t_wblock_elems(int type) { return t_is_k(type) ? QK_K : 32; }
AI int t_wgroup(int type) { return t_group_elems(type) / t_wblock_elems(type) * t_wblock(type); }
/* activation block: q8_0 (34), q8_1 (36) or q8_K (292) */
AI int t_ablock(int type) {
    if (t_is_k(type)) return (int)sizeof(block_q8_K);
    return type == QTYPE_Q4_1 || type == QTYPE_Q5_1 ? (int)sizeof(block_q8_1) : (int)sizeof(block_q8_0);
}
AI int t_agroup(int type) { return t_group_elems(type) / t_wblock_elems(type) * t_ablock(type); }
/* log2 of the weight offset folded into the accumulator, -1 for none */
AI int t_corr_shift(int type) {
    switch (type) {
    case QTYPE_Q4_0: return 3;
    case QTYPE_Q5_0: return 4;
    case QTYPE_Q8_0: return 7;
    case QTYPE_Q3_K: return 2;
    case QTYPE_Q6_K: return 5;
    default: return -1;
    }
}
/* bytes of one packed activation group (S vectors, corr, da, [amin]) and
 * of one unpacked weight group (S vectors, dw, [rmin]) */
AI int t_pab(int type) { return 64 * (t_steps(type) + 2 + (t_min(type) != MIN_NONE)); }
AI int t_pwb(int type) { return 64 * (t_steps(type) + 1 + (t_min(type) != MIN_NONE)); }

/* ---- weight unpacking: one group into S vectors, dw and rmin ------------------ */

AI __m512i bcast128(const uint8_t *p) { return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p)); }
AI __m512i bcast256(const uint8_t *p) { return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p)); }

/* 128-bit chunk c = the 16 bytes at p + c * stride. Blended with
 * vpternlogd (a bitwise select): gcc would fuse a blend of broadcasts into
 * merge-masked broadcasts, which take the shuffle pipes vpdpbusd needs. */
AI __m512i chunk_mask(int c) {
    return _mm512_maskz_set1_epi32((__mmask16)(0xFu << (4 * c)), -1);
}
/* m ? b : a, bitwise, overwriting a (no copy of the mask register) */
AI __m512i select_bits(__m512i a, __m512i b, __m512i m) { return _mm512_ternarylogic_epi32(a, b, m, 0xD8); }

/* ins: with vinserti32x4 instead (the shuffle pipes): decode has room on
 * those and none on the ones the blends use; prefill the other way round */
AI __m512i gather4x128(const uint8_t *p, size_t stride, const int ins) {
    if (ins) {
        __m512i a = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
        a = _mm512_inserti32x4(a, _mm_loadu_si128((const __m128i *)(p + stride)), 1);
        a = _mm512_inserti32x4(a, _mm_loadu_si128((const __m128i *)(p + 2 * stride)), 2);
        return _mm512_inserti32x4(a, _mm_loadu_si128((const __m128i *)(p + 3 * stride)), 3);
    }
    __m512i a = bcast128(p);
    a = select_bits(a, bcast128(p + stride), chunk_mask(1));
    a = select_bits(a, bcast128(p + 2 * stride), chunk_mask(2));
    return select_bits(a, bcast128(p + 3 * stride), chunk_mask(3));
}

/* Within every 128-bit chunk, a 4 x 4 dword transpose: u[k] chunk c =
 * [a0.c.dk, a1.c.dk, a2.c.dk, a3.c.dk]. */
AI void transpose4(__m512i a0, __m512i a1, __m512i a2, __m512i a3, __m512i u[4]) {
    __m512i t0 = _mm512_unpacklo_epi32(a0, a1), t1 = _mm512_unpackhi_epi32(a0, a1);
    __m512i t2 = _mm512_unpacklo_epi32(a2, a3), t3 = _mm512_unpackhi_epi32(a2, a3);
    u[0] = _mm512_unpacklo_epi64(t0, t2);
    u[1] = _mm512_unpackhi_epi64(t0, t2);
    u[2] = _mm512_unpacklo_epi64(t1, t3);
    u[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* Legacy types: lane L = 4c + g holds block 4g + c of the group; step s
 * holds elements 4s .. 4s + 3 of it. */
AI int legacy_block_of_lane(int L) { return 4 * (L % 4) + L / 4; }

/* Words of each lane's block for a group of 16 blocks of bb bytes: the f16
 * at byte off (output word L, wide = 0) or the u32 at byte off (output
 * words 2L, 2L + 1, wide = 1). Word permutes (vpermt2w) of plain loads of
 * the group, each of two consecutive 64-byte loads: a 128-byte window,
 * moved back where needed so that nothing past the group is read. The
 * windows are the group's 128-byte thirds, quarters, ..., unless windows
 * that start at a block and serve as many whole blocks as fit need fewer
 * permutes: Q4_0 (two instead of three; its decode +3% with the weights
 * in the L2, while Q8_0 and Q5_0 ran 2% slower on block-aligned windows
 * of the same count). Everything but the loads folds to constants. */
/* block of output word k */
AI int wg_block(int wide, int k) { return legacy_block_of_lane(wide ? k / 2 : k); }
/* source word (in the group) of output word k, -1 for none */
AI int wg_word(int bb, int off, int wide, int k) {
    if (!wide) return k < 16 ? (bb * wg_block(0, k) + off) / 2 : -1;
    return (bb * wg_block(1, k) + off) / 2 + k % 2;
}
/* blocks per fitted window: as many whole f16 (2 bytes) or u32 (4) as 128 bytes hold */
AI int wg_per(int bb, int wide) { return (128 - (wide ? 4 : 2)) / bb + 1; }
AI int wg_pairs_fit(int bb, int wide) { return (16 + wg_per(bb, wide) - 1) / wg_per(bb, wide); }
/* 128-byte-aligned windows: up to the one holding the last word (block 15's) */
AI int wg_pairs_aligned(int bb, int off, int wide) { return wg_word(bb, off, wide, wide ? 31 : 15) / 64 + 1; }
AI int wg_fit(int bb, int off, int wide) { return wg_pairs_fit(bb, wide) < wg_pairs_aligned(bb, off, wide); }
AI int wg_pairs(int bb, int off, int wide) {
    return wg_fit(bb, off, wide) ? wg_pairs_fit(bb, wide) : wg_pairs_aligned(bb, off, wide);
}
/* byte offset of window p (even: bb and off are) */
AI int wg_start(int bb, int off, int wide, int p) {
    const int at = wg_fit(bb, off, wide) ? bb * p * wg_per(bb, wide) + off : 128 * p;
    return at < 16 * bb - 128 ? at : 16 * bb - 128;
}
/* index of output word k in window p's 64 words, -1 if window p does not serve it */
AI int wg_index(int bb, int off, int wide, int p, int k) {
    const int w = wg_word(bb, off, wide, k);
    if (w < 0 || (wg_fit(bb, off, wide) ? wg_block(wide, k) / wg_per(bb, wide) : w / 64) != p) return -1;
    return w - wg_start(bb, off, wide, p) / 2;
}
AI int wg_idx0(int bb, int off, int wide, int p, int k) {
    return wg_index(bb, off, wide, p, k) >= 0 ? wg_index(bb, off, wide, p, k) : 0;
}
#define WG_I(k) (short)wg_idx0(bb, off, wide, p, k)
#define WG_IDX()                                                                                                  \
    _mm512_set_epi16(WG_I(31), WG_I(30), WG_I(29), WG_I(28), WG_I(27), WG_I(26), WG_I(25), WG_I(24), WG_I(23),     \
                     WG_I(22), WG_I(21), WG_I(20), WG_I(19), WG_I(18), WG_I(17), WG_I(16), WG_I(15), WG_I(14),     \
                     WG_I(13), WG_I(12), WG_I(11), WG_I(10), WG_I(9), WG_I(8), WG_I(7), WG_I(6), WG_I(5), WG_I(4), \
                     WG_I(3), WG_I(2), WG_I(1), WG_I(0))
#define WG_B(k) ((uint32_t)(wg_index(bb, off, wide, p, k) >= 0) << (k))
#define WG_B4(k) (WG_B(k) | WG_B(k + 1) | WG_B(k + 2) | WG_B(k + 3))
#define WG_MASK() (WG_B4(0) | WG_B4(4) | WG_B4(8) | WG_B4(12) | WG_B4(16) | WG_B4(20) | WG_B4(24) | WG_B4(28))

AI __m512i gather_words(const uint8_t *src, const int bb, const int off, const int wide) {
    const int pairs = wg_pairs(bb, off, wide);
    __m512i r = _mm512_setzero_si512();
    UNROLL for (int p = 0; p < 5; p++) {
        if (p >= pairs) break;
        const __m512i z0 = _mm512_loadu_si512(src + wg_start(bb, off, wide, p));
        const __m512i z1 = _mm512_loadu_si512(src + wg_start(bb, off, wide, p) + 64);
        const __m512i v = _mm512_permutex2var_epi16(z0, WG_IDX(), z1);
        r = p == 0 ? v : _mm512_mask_mov_epi16(r, (__mmask32)WG_MASK(), v);
    }
    return r;
}
#undef WG_I
#undef WG_IDX
#undef WG_B
#undef WG_B4
#undef WG_MASK

AI __m512 gather_f16(const uint8_t *src, const int bb, const int off) {
    return _mm512_cvtph_ps(_mm512_castsi512_si256(gather_words(src, bb, off, 0)));
}
AI __m512i gather_u32(const uint8_t *src, const int bb, const int off) { return gather_words(src, bb, off, 1); }

/* 4-bit quants of 16 legacy blocks (qs at qo in blocks of bb bytes) */
/* hi16 (Q4_0 / Q4_1 decode, lean): steps 4..7 keep the high nibbles in
 * place, 16 times their value, and group_dot divides their partial sum by
 * 16 (exact) before adding it: one mask per step where a shift and a mask
 * took two. bench/ab, Zen 4, one thread, same bits: Q4_0 1.03x with the
 * weights in the L2, 1.01x from memory; Q4_1 1.01x in the L2. */
AI void legacy_nibbles(const uint8_t *src, size_t bb, size_t qo, __m512i W[8], const int ins, const int hi16) {
    __m512i U[4];
    transpose4(gather4x128(src + qo, bb, ins), gather4x128(src + 4 * bb + qo, bb, ins),
               gather4x128(src + 8 * bb + qo, bb, ins), gather4x128(src + 12 * bb + qo, bb, ins), U);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    UNROLL for (int k = 0; k < 4; k++) {
        W[k] = _mm512_and_si512(U[k], m4);
        W[4 + k] = hi16 ? _mm512_andnot_si512(m4, U[k]) : _mm512_and_si512(_mm512_srli_epi16(U[k], 4), m4);
    }
}

/* the fifth bit of Q5_0 / Q5_1: bit 4s + b of the lane's qh -> bit 4 of
 * byte b of step s */
AI void legacy_qh(__m512i Q, __m512i W[8]) {
    const __m512i base = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0);
    const __m512i m_lo = _mm512_set1_epi32(0x08040201), m_hi = _mm512_set1_epi32((int)0x80402010u);
    const __m512i b16 = _mm512_set1_epi8(0x10);
    UNROLL for (int j = 0; j < 4; j++) {
        __m512i D = _mm512_shuffle_epi8(Q, _mm512_add_epi8(base, _mm512_set1_epi8((char)j)));
        __mmask64 k0 = _mm512_test_epi8_mask(D, m_lo), k1 = _mm512_test_epi8_mask(D, m_hi);
        W[2 * j] = _mm512_mask_add_epi8(W[2 * j], k0, W[2 * j], b16);
        W[2 * j + 1] = _mm512_mask_add_epi8(W[2 * j + 1], k1, W[2 * j + 1], b16);
    }
}

AI void unpack_q8_0(const uint8_t *src, __m512i W[8], __m512 *dw, const int ins) {
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    UNROLL for (int h = 0; h < 2; h++) {
        __m512i U[4];
        const uint8_t *p = src + 2 + 16 * h;
        transpose4(gather4x128(p, 34, ins), gather4x128(p + 4 * 34, 34, ins), gather4x128(p + 8 * 34, 34, ins),
                   gather4x128(p + 12 * 34, 34, ins), U);
        UNROLL for (int k = 0; k < 4; k++) W[4 * h + k] = _mm512_xor_si512(U[k], x80);
    }
    *dw = gather_f16(src, 34, 0);
}

/* f16 -> f32 in hardware (exact, as fp16_to_f32) */
AI float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/* Q4_K / Q5_K groups are two super-blocks; lane L = 4c + i (c = L / 4,
 * i = L % 4) holds super-block i / 2, sub-block 4 (i % 2) + c; elements
 * 4s .. of it at step s for even c, 4 ((s + 4) % 8) .. for odd c.
 *
 * Two unpacks give the same bits. The lean one (prefill, and decode when
 * the packed activations stay in the L1) does less work; the wide one
 * (decode of long rows) does more, and that is why it is used there:
 * when the activations of a row (38 KiB for rows of 27648) fall out of
 * the L1 under the weight stream, a loop that runs ahead faster keeps
 * more L1 misses in flight and streams slower. bench/ab, Zen 4, one
 * thread, Q4_K, lean against wide: 1.21x with the weights in the L2,
 * from memory 1.125x on 27648 x 5120 (1.03x on two threads) but 0.71x on
 * 5120 x 27648; there, the lean unpack with the activations held in an
 * 11-22 KiB window (timing only) ran 1.23-1.28x, and with 12 dependent
 * shuffles added to its unpack (slower, timing only) 1.0x. Column passes
 * that keep the activations in the L1 broke the weight stream (0.75-0.96x
 * with the prefetch following the passes), and so did software prefetches
 * of the activations (0.8-0.93x), a more compact packing (corr and da not
 * loaded: 0.91x) and an NTA prefetch of the weights just ahead (0.77x). */

/* dw = d * scale and rmin = dmin * min of each lane's sub-block, from
 * the first 16 bytes of both super-blocks (sb0 and sb0 + bb): d, dmin and
 * the 12 packed bytes q[0..11] of 6-bit scales and mins. Sub-block u < 4
 * has scale q[u] & 63 and min q[4 + u] & 63; u >= 4 has scale
 * (q[u + 4] & 15) | (q[u - 4] >> 6) << 4 and min
 * (q[u + 4] >> 4) | (q[u] >> 6) << 4. With c = u % 4 (the lane's chunk),
 * a byte shuffle puts q[c], q[4 + c] and q[8 + c] of the lane's
 * super-block into each lane, and shifts and masks that differ between
 * the u < 4 (even) and u >= 4 (odd) lanes finish both in 32-bit lanes.
 *
 * lean: the second super-block's lanes are merged in by the mask of the
 * second shuffle, d and dmin of both super-blocks are converted once in
 * 128 bits and spread to the lanes by one permute each, and hi16 divides
 * the odd chunks' d by 16 (exact: a power of two) for q4k_nibbles' lean
 * form. Wide: a blend of the two shuffles, d and dmin moved to the lanes
 * by word permutes and converted in 512 bits. */
AI void q4k_dw(const uint8_t *sb0, int bb, const int lean, const int hi16, __m512 *dw, __m512 *rmin) {
    const __m512i z0 = bcast128(sb0), z1 = bcast128(sb0 + bb);
#define Q4K_I(c) (int)((4u + (c)) | (8u + (c)) << 8 | (12u + (c)) << 16 | 0x80u << 24)
    const __m512i bidx = _mm512_set_epi32(Q4K_I(3), Q4K_I(3), Q4K_I(3), Q4K_I(3), Q4K_I(2), Q4K_I(2), Q4K_I(2),
                                          Q4K_I(2), Q4K_I(1), Q4K_I(1), Q4K_I(1), Q4K_I(1), Q4K_I(0), Q4K_I(0),
                                          Q4K_I(0), Q4K_I(0));
#undef Q4K_I
    const __mmask16 second = 0xCCCC; /* lanes 4c + i with i / 2 == 1 */
    /* x = q[c] | q[4 + c] << 8 | q[8 + c] << 16 */
    const __m512i x = lean ? _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(z0, bidx), (__mmask64)0xFF00FF00FF00FF00ull,
                                                      z1, bidx)
                           : _mm512_mask_blend_epi32(second, _mm512_shuffle_epi8(z0, bidx),
                                                     _mm512_shuffle_epi8(z1, bidx));
    const __m512i k = _mm512_set4_epi32(15, 63, 15, 63), hi = _mm512_set4_epi32(0x30, 0, 0x30, 0);
    const __m512i sc = _mm512_or_si512(_mm512_and_si512(_mm512_srlv_epi32(x, _mm512_set4_epi32(16, 0, 16, 0)), k),
                                       _mm512_and_si512(_mm512_srli_epi32(x, 2), hi));
    const __m512i mn = _mm512_or_si512(_mm512_and_si512(_mm512_srlv_epi32(x, _mm512_set4_epi32(20, 8, 20, 8)), k),
                                       _mm512_and_si512(_mm512_srli_epi32(x, 10), hi));
    if (lean) {
        /* [d0, dmin0, d1, dmin1] of the two super-blocks, then [d0, ., d1, .] / 16 */
        const __m128 dm4 = _mm_cvtph_ps(_mm_unpacklo_epi32(_mm512_castsi512_si128(z0), _mm512_castsi512_si128(z1)));
        const __m512 dm = hi16 ? _mm512_insertf32x4(_mm512_castps128_ps512(dm4),
                                                    _mm_mul_ps(dm4, _mm_set1_ps(0.0625f)), 1)
                               : _mm512_castps128_ps512(dm4);
        const __m512i pd = hi16 ? _mm512_set_epi32(6, 6, 4, 4, 2, 2, 0, 0, 6, 6, 4, 4, 2, 2, 0, 0)
                                : _mm512_set4_epi32(2, 2, 0, 0);
        *dw = _mm512_mul_ps(_mm512_cvtepi32_ps(sc), _mm512_permutexvar_ps(pd, dm));
        *rmin = _mm512_mul_ps(_mm512_cvtepi32_ps(mn), _mm512_permutexvar_ps(_mm512_set4_epi32(3, 3, 1, 1), dm));
        return;
    }
    /* each lane's d | dmin << 16, then words 0..15 = d, 16..31 = dmin */
    const __m512i y = _mm512_mask_blend_epi32(second, _mm512_shuffle_epi32(z0, (_MM_PERM_ENUM)0),
                                              _mm512_shuffle_epi32(z1, (_MM_PERM_ENUM)0));
    const __m512i dd = _mm512_permutexvar_epi16(
        _mm512_set_epi16(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1, 30, 28, 26, 24, 22, 20, 18, 16, 14,
                         12, 10, 8, 6, 4, 2, 0),
        y);
    *dw = _mm512_mul_ps(_mm512_cvtepi32_ps(sc), _mm512_cvtph_ps(_mm512_castsi512_si256(dd)));
    *rmin = _mm512_mul_ps(_mm512_cvtepi32_ps(mn), _mm512_cvtph_ps(_mm512_extracti64x4_epi64(dd, 1)));
}

/* The nibbles of both super-blocks' qs (at qs0 and qs1), transposed into
 * the lane layout. Each 128-bit chunk of a transposed vector holds low
 * nibbles of one sub-block (even chunks) and high nibbles of the next
 * (odd chunks), and the odd chunks keep their high nibbles for the whole
 * group. hi16 (Q4_K's lean form) leaves those in place, as 16 times the
 * value (u8 up to 240, an I of at most 32 x 240 x 128 < 2^24: exact as
 * int32 and as float), and q4k_dw divides their lanes' d by 16: the same
 * float products, one mask per step where a shift and a mask took two.
 * Q5_K adds its fifth bit at bit 4 and needs the shifted nibbles. */
AI void q4k_nibbles(const uint8_t *qs0, const uint8_t *qs1, const int hi16, __m512i W[8]) {
    __m512i U[4];
    transpose4(_mm512_loadu_si512(qs0), _mm512_loadu_si512(qs0 + 64), _mm512_loadu_si512(qs1),
               _mm512_loadu_si512(qs1 + 64), U);
    if (hi16) {
        const int lo = 0x0F0F0F0F, hi = (int)0xF0F0F0F0u; /* even chunks, odd chunks */
        const __m512i mh = _mm512_set_epi32(hi, hi, hi, hi, lo, lo, lo, lo, hi, hi, hi, hi, lo, lo, lo, lo);
        UNROLL for (int k = 0; k < 4; k++) {
            W[k] = _mm512_and_si512(U[k], mh);
            W[4 + k] = _mm512_and_si512(_mm512_shuffle_i64x2(U[k], U[k], _MM_SHUFFLE(2, 3, 0, 1)), mh);
        }
        return;
    }
    const __m512i cnt = _mm512_set_epi32(4, 4, 4, 4, 0, 0, 0, 0, 4, 4, 4, 4, 0, 0, 0, 0);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    UNROLL for (int k = 0; k < 4; k++) {
        __m512i sw = _mm512_shuffle_i64x2(U[k], U[k], _MM_SHUFFLE(2, 3, 0, 1));
        W[k] = _mm512_and_si512(_mm512_srlv_epi32(U[k], cnt), m4);
        W[4 + k] = _mm512_and_si512(_mm512_srlv_epi32(sw, cnt), m4);
    }
}

AI void unpack_q4_K(const uint8_t *src, __m512i W[8], __m512 *dw, __m512 *rmin, const int lean) {
    q4k_nibbles(src + 16, src + 144 + 16, lean, W);
    q4k_dw(src, 144, lean, lean, dw, rmin);
}

AI void unpack_q5_K(const uint8_t *src, __m512i W[8], __m512 *dw, __m512 *rmin, const int lean) {
    q4k_nibbles(src + 48, src + 176 + 48, 0, W);
    /* fifth bits: bit u (the lane's sub-block) of qh[e] for element e */
    __m512i H[4];
    const __m512i y0 = bcast256(src + 16), y1 = bcast256(src + 176 + 16);
    transpose4(y0, y0, y1, y1, H);
    /* bit u of every byte, u = the lane's sub-block: 4 (i % 2) + c */
    const __m512i ubit = _mm512_set_epi32(0x80808080, 0x08080808, 0x80808080, 0x08080808, 0x40404040, 0x04040404,
                                          0x40404040, 0x04040404, 0x20202020, 0x02020202, 0x20202020, 0x02020202,
                                          0x10101010, 0x01010101, 0x10101010, 0x01010101);
    const __m512i b16 = _mm512_set1_epi8(0x10);
    UNROLL for (int k = 0; k < 4; k++) {
        __m512i sw = _mm512_shuffle_i64x2(H[k], H[k], _MM_SHUFFLE(2, 3, 0, 1));
        W[k] = _mm512_mask_add_epi8(W[k], _mm512_test_epi8_mask(H[k], ubit), W[k], b16);
        W[4 + k] = _mm512_mask_add_epi8(W[4 + k], _mm512_test_epi8_mask(sw, ubit), W[4 + k], b16);
    }
    q4k_dw(src, 176, lean, 0, dw, rmin);
}

/* Q6_K: one super-block; lane L = 4c + i holds sub-block (of 16)
 * 8 (i % 2) + 4 (i / 2) + c, elements 4s .. at step s. Its four bytes
 * at step s are dword s of chunk c of ql[64 (i % 2) ..] (low nibbles for
 * i / 2 == 0, high ones for 1) and of the broadcast qh[32 (i % 2) ..],
 * whose bits 2k, 2k + 1 (k = 2 (i / 2) + c / 2) are the high bits. */

/* lean (see Q4_K / Q5_K for when): the four combinations of ql half and
 * nibble are assembled in place, each chunk's qh bits rotated to bits 4-5
 * by the chunk's count, and one 4 x 4 dword transpose puts them in the
 * lanes (22 vector operations where the wide form's transposes of ql and
 * qh and its per-step assembly take 28). bench/ab, Zen 4, lean against
 * wide, same bits: 1.10x with the weights in the L2, 1.06x from memory on
 * one thread (27648 x 5120), 1.0x on two, prefill 1.0x. */
AI void q6k_bits(const uint8_t *src, __m512i W[4], const int lean) {
    if (lean) {
        const __m512i ql0 = _mm512_loadu_si512(src), ql1 = _mm512_loadu_si512(src + 64);
        const __m512i y0 = bcast256(src + 128), y1 = bcast256(src + 160);
        const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
        /* rotations by 4 - 2k: low nibbles k = c / 2, high ones k = 2 + c / 2 */
        const __m512i rl = _mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4);
        const __m512i rh = _mm512_set_epi32(30, 30, 30, 30, 30, 30, 30, 30, 0, 0, 0, 0, 0, 0, 0, 0);
        const __m512i lo0 = _mm512_and_si512(_mm512_rolv_epi32(y0, rl), m30);
        const __m512i lo1 = _mm512_and_si512(_mm512_rolv_epi32(y1, rl), m30);
        const __m512i hi0 = _mm512_and_si512(_mm512_rolv_epi32(y0, rh), m30);
        const __m512i hi1 = _mm512_and_si512(_mm512_rolv_epi32(y1, rh), m30);
        /* nibble | high bits (0xEC: a & c | b) */
        transpose4(_mm512_ternarylogic_epi32(ql0, lo0, m4, 0xEC), _mm512_ternarylogic_epi32(ql1, lo1, m4, 0xEC),
                   _mm512_ternarylogic_epi32(_mm512_srli_epi32(ql0, 4), hi0, m4, 0xEC),
                   _mm512_ternarylogic_epi32(_mm512_srli_epi32(ql1, 4), hi1, m4, 0xEC), W);
        return;
    }
    const __m512i ql0 = _mm512_loadu_si512(src), ql1 = _mm512_loadu_si512(src + 64);
    const __m512i t0 = _mm512_unpacklo_epi32(ql0, ql1), t1 = _mm512_unpackhi_epi32(ql0, ql1);
    const __m512i y0 = bcast256(src + 128), y1 = bcast256(src + 160);
    const __m512i h0 = _mm512_unpacklo_epi32(y0, y1), h1 = _mm512_unpackhi_epi32(y0, y1);
    __m512i U[4] = {_mm512_unpacklo_epi64(t0, t0), _mm512_unpackhi_epi64(t0, t0), _mm512_unpacklo_epi64(t1, t1),
                    _mm512_unpackhi_epi64(t1, t1)};
    __m512i H[4] = {_mm512_unpacklo_epi64(h0, h0), _mm512_unpackhi_epi64(h0, h0), _mm512_unpacklo_epi64(h1, h1),
                    _mm512_unpackhi_epi64(h1, h1)};
    /* nibble: high for i / 2 == 1; qh bits 2k, 2k + 1, k = 2 (i / 2) + c / 2,
     * of each byte to bits 4-5: a left rotation of the dword by 4 - 2k
     * (mod 32) moves every byte's bits 2k.. to 4.. within the byte, one
     * operation where a right shift by 2k and a left one by 4 took two
     * (bench/ab, Zen 4, same bits: 1.125x with the weights in the L2,
     * 1.065-1.09x from memory on one thread, 1.01-1.06x on two; prefill
     * 1.01x). Unmeasured on Zen 5, where the cost map above puts variable
     * rotates on the vpdpbusd pipes (decode has room there). */
    const __m512i cntn = _mm512_set4_epi32(4, 4, 0, 0);
    const __m512i roth = _mm512_set_epi32(30, 30, 2, 2, 30, 30, 2, 2, 0, 0, 4, 4, 0, 0, 4, 4);
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    UNROLL for (int t = 0; t < 4; t++) {
        __m512i hb = _mm512_and_si512(_mm512_rolv_epi32(H[t], roth), m30);
        W[t] = _mm512_ternarylogic_epi32(_mm512_srlv_epi32(U[t], cntn), hb, m4, 0xEC);
    }
}

AI void unpack_q6_K(const uint8_t *src, __m512i W[4], __m512 *dw, const int lean) {
    q6k_bits(src, W, lean);
    const __m128i order = _mm_setr_epi8(0, 8, 4, 12, 1, 9, 5, 13, 2, 10, 6, 14, 3, 11, 7, 15);
    __m128i sc = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(src + 192)), order);
    *dw = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc)), _mm512_set1_ps(f16_at(src + 208)));
}

/* Q2_K / Q3_K: one super-block; lane L = 4c + i holds sub-block
 * 8 (c / 2) + 2 i + c % 2, elements 4s .. at step s. */

AI void unpack_q2_K(const uint8_t *src, __m512i W[4], __m512 *dw, __m512 *rmin) {
    const __m512i qs = _mm512_loadu_si512(src + 16);
    const __m512i cnt = _mm512_set4_epi32(6, 4, 2, 0);
    const __m512i m3 = _mm512_set1_epi8(3);
    W[0] = _mm512_and_si512(_mm512_srlv_epi32(_mm512_shuffle_epi32(qs, (_MM_PERM_ENUM)0x00), cnt), m3);
    W[1] = _mm512_and_si512(_mm512_srlv_epi32(_mm512_shuffle_epi32(qs, (_MM_PERM_ENUM)0x55), cnt), m3);
    W[2] = _mm512_and_si512(_mm512_srlv_epi32(_mm512_shuffle_epi32(qs, (_MM_PERM_ENUM)0xAA), cnt), m3);
    W[3] = _mm512_and_si512(_mm512_srlv_epi32(_mm512_shuffle_epi32(qs, (_MM_PERM_ENUM)0xFF), cnt), m3);
    const __m128i order = _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15);
    __m128i s = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)src), order);
    __m128i sc = _mm_and_si128(s, _mm_set1_epi8(15)), mn = _mm_and_si128(_mm_srli_epi16(s, 4), _mm_set1_epi8(15));
    *dw = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(sc)), _mm512_set1_ps(f16_at(src + 80)));
    *rmin = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(mn)), _mm512_set1_ps(f16_at(src + 82)));
}

AI void unpack_q3_K(const uint8_t *src, __m512i W[4], __m512 *dw) {
    const __m512i qs = _mm512_loadu_si512(src + 32), hm = bcast256(src);
    const __m512i cnt = _mm512_set4_epi32(6, 4, 2, 0);
    /* the high bit of sub-block 8n + 2j + h is bit 4n + j of hmask[16h + l] */
    const __m512i hcnt = _mm512_set_epi32(7, 6, 5, 4, 7, 6, 5, 4, 3, 2, 1, 0, 3, 2, 1, 0);
    const __m512i m3 = _mm512_set1_epi8(3), m4 = _mm512_set1_epi8(4);
#define Q3_STEP(t, imm)                                                                                       \
    do {                                                                                                      \
        __m512i lo = _mm512_srlv_epi32(_mm512_shuffle_epi32(qs, (_MM_PERM_ENUM)(imm)), cnt);                  \
        __m512i hb = _mm512_and_si512(                                                                        \
            _mm512_slli_epi32(_mm512_srlv_epi32(_mm512_shuffle_epi32(hm, (_MM_PERM_ENUM)(imm)), hcnt), 2), m4); \
        W[t] = _mm512_ternarylogic_epi32(lo, hb, m3, 0xEC);                                                   \
    } while (0)
    Q3_STEP(0, 0x00);
    Q3_STEP(1, 0x55);
    Q3_STEP(2, 0xAA);
    Q3_STEP(3, 0xFF);
#undef Q3_STEP
    /* 16 signed 6-bit scales in sub-block order, then lane order */
    uint32_t w0, w1, w2;
    memcpy(&w0, src + 96, 4);
    memcpy(&w1, src + 100, 4);
    memcpy(&w2, src + 104, 4);
    const uint32_t s0 = (w0 & 0x0f0f0f0fu) | (w2 & 0x03030303u) << 4;
    const uint32_t s1 = (w1 & 0x0f0f0f0fu) | ((w2 >> 2) & 0x03030303u) << 4;
    const uint32_t s2 = ((w0 >> 4) & 0x0f0f0f0fu) | ((w2 >> 4) & 0x03030303u) << 4;
    const uint32_t s3 = ((w1 >> 4) & 0x0f0f0f0fu) | ((w2 >> 6) & 0x03030303u) << 4;
    __m128i s = _mm_sub_epi8(_mm_setr_epi32((int)s0, (int)s1, (int)s2, (int)s3), _mm_set1_epi8(32));
    const __m128i order = _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15);
    s = _mm_shuffle_epi8(s, order);
    *dw = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(s)), _mm512_set1_ps(f16_at(src + 108)));
}

/* One full group of a row: S vectors, dw and (for types with minimums) rmin. */
AI void unpack_group(const int type, const uint8_t *src, __m512i W[8], __m512 *dw, __m512 *rmin, const int ins,
                     const int lean) {
    switch (type) {
    case QTYPE_Q4_0:
        legacy_nibbles(src, 18, 2, W, ins, t_hi16_dot(type, lean, ins));
        *dw = gather_f16(src, 18, 0);
        break;
    case QTYPE_Q4_1:
        legacy_nibbles(src, 20, 4, W, ins, t_hi16_dot(type, lean, ins));
        *dw = gather_f16(src, 20, 0);
        *rmin = gather_f16(src, 20, 2);
        break;
    case QTYPE_Q5_0:
        legacy_nibbles(src, 22, 6, W, ins, 0);
        legacy_qh(gather_u32(src, 22, 2), W);
        *dw = gather_f16(src, 22, 0);
        break;
    case QTYPE_Q5_1:
        legacy_nibbles(src, 24, 8, W, ins, 0);
        legacy_qh(gather_u32(src, 24, 4), W);
        *dw = gather_f16(src, 24, 0);
        *rmin = gather_f16(src, 24, 2);
        break;
    case QTYPE_Q8_0: unpack_q8_0(src, W, dw, ins); break;
    case QTYPE_Q2_K: unpack_q2_K(src, W, dw, rmin); break;
    case QTYPE_Q3_K: unpack_q3_K(src, W, dw); break;
    case QTYPE_Q4_K: unpack_q4_K(src, W, dw, rmin, lean); break;
    case QTYPE_Q5_K: unpack_q5_K(src, W, dw, rmin, lean); break;
    default: unpack_q6_K(src, W, dw, lean); break;
    }
}

/* Group g of a weight row of n_in elements; a partial last group is copied
 * into a zero-filled buffer first (zero blocks have zero scales). */
AI void unpack_group_at(const int type, const uint8_t *row, int64_t g, int64_t n_in, __m512i W[8], __m512 *dw,
                        __m512 *rmin, const int ins, const int lean) {
    const int GE = t_group_elems(type);
    *rmin = _mm512_setzero_ps();
    if ((g + 1) * GE <= n_in) {
        unpack_group(type, row + (size_t)g * (size_t)t_wgroup(type), W, dw, rmin, ins, lean);
    } else {
        _Alignas(64) uint8_t buf[544];
        memset(buf, 0, sizeof buf);
        const int64_t blocks = (n_in - g * GE) / t_wblock_elems(type);
        memcpy(buf, row + (size_t)g * (size_t)t_wgroup(type), (size_t)blocks * (size_t)t_wblock(type));
        unpack_group(type, buf, W, dw, rmin, ins, lean);
    }
}

/* ---- activation packing --------------------------------------------------------- */

/* The S activation vectors of one group, in the weights' lane layout: step
 * s of lane L holds the four activations that meet the four weights of
 * step s of lane L (see the unpack functions for each type's layout). */
AI void act_vectors(const int type, const uint8_t *src, __m512i A[8]) {
    __m512i U[4];
    if (!t_is_k(type)) {
        const size_t ab = (size_t)t_ablock(type), qo = ab == 34 ? 2 : 4;
        UNROLL for (int h = 0; h < 2; h++) {
            const uint8_t *p = src + qo + 16 * h;
            transpose4(gather4x128(p, ab, 0), gather4x128(p + 4 * ab, ab, 0), gather4x128(p + 8 * ab, ab, 0),
                       gather4x128(p + 12 * ab, ab, 0), U);
            UNROLL for (int k = 0; k < 4; k++) A[4 * h + k] = U[k];
        }
    } else if (type == QTYPE_Q6_K) {
        /* lane 4c + i: unit 8 (i % 2) + 4 (i / 2) + c; source i = units base_i .. base_i + 3 */
        const uint8_t *qs = src + 4;
        transpose4(_mm512_loadu_si512(qs), _mm512_loadu_si512(qs + 128), _mm512_loadu_si512(qs + 64),
                   _mm512_loadu_si512(qs + 192), A);
    } else if (type == QTYPE_Q2_K || type == QTYPE_Q3_K) {
        /* lane 4c + i: unit 8 (c / 2) + 2 i + c % 2: chunks 0, 1 = units 2i, 2i + 1; 2, 3 = 8 + those */
        const uint8_t *qs = src + 4;
        const __m512i hi = chunk_mask(2) | chunk_mask(3);
        __m512i a[4];
        UNROLL for (int i = 0; i < 4; i++)
            a[i] = select_bits(bcast256(qs + 32 * i), bcast256(qs + 128 + 32 * i), hi);
        transpose4(a[0], a[1], a[2], a[3], A);
    } else {
        /* Q4_K / Q5_K: lane 4c + i: super-block i / 2, unit u = 4 (i % 2) + c; even c take
         * elements 4s.., odd c elements 4 ((s + 4) % 8).. at step s */
        __m512i a[4], b[4];
        UNROLL for (int i = 0; i < 4; i++) {
            const uint8_t *u0 = src + 292 * (i / 2) + 4 + 32 * 4 * (i % 2); /* unit 4 (i % 2) */
            /* steps 0..3: chunk c = unit u0 + c, bytes 16 (c % 2) ..; steps 4..7: the other half */
            __m512i x = bcast128(u0);
            x = select_bits(x, bcast128(u0 + 32 + 16), chunk_mask(1));
            x = select_bits(x, bcast128(u0 + 64), chunk_mask(2));
            a[i] = select_bits(x, bcast128(u0 + 96 + 16), chunk_mask(3));
            __m512i z = bcast128(u0 + 16);
            z = select_bits(z, bcast128(u0 + 32), chunk_mask(1));
            z = select_bits(z, bcast128(u0 + 64 + 16), chunk_mask(2));
            b[i] = select_bits(z, bcast128(u0 + 96), chunk_mask(3));
        }
        transpose4(a[0], a[1], a[2], a[3], A);
        transpose4(b[0], b[1], b[2], b[3], A + 4);
    }
}

/* Packs one full activation group: S vectors, corr (i32), da, [amin]. */
AI void pack_group(const int type, const uint8_t *src, uint8_t *dst) {
    const int S = t_steps(type);
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i A[8], sum = _mm512_setzero_si512();
    act_vectors(type, src, A);
    UNROLL for (int s = 0; s < 8; s++) {
        if (s >= S) break;
        _mm512_store_si512(dst + 64 * s, A[s]);
        sum = _mm512_dpbusd_epi32(sum, ones, A[s]);
    }
    const int sh = t_corr_shift(type);
    __m512i corr = sh < 0 ? _mm512_setzero_si512() : _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum, (unsigned)(sh < 0 ? 0 : sh)));
    _mm512_store_si512(dst + 64 * S, corr);
    __m512 da, amin = _mm512_setzero_ps();
    if (t_is_k(type)) {
        float d0, d1 = 0.0f;
        memcpy(&d0, src, 4);
        if (type == QTYPE_Q4_K || type == QTYPE_Q5_K) memcpy(&d1, src + 292, 4);
        else d1 = d0;
        da = _mm512_mask_blend_ps(0xCCCC, _mm512_set1_ps(d0), _mm512_set1_ps(d1));
        if (t_min(type) == MIN_SUB) amin = _mm512_mul_ps(da, _mm512_cvtepi32_ps(sum));
    } else {
        const int ab = t_ablock(type);
        da = gather_f16(src, ab, 0);
        if (t_min(type) == MIN_ADD) amin = gather_f16(src, ab, 2);
    }
    _mm512_store_ps((float *)(dst + 64 * (S + 1)), da);
    if (t_min(type) != MIN_NONE) _mm512_store_ps((float *)(dst + 64 * (S + 2)), amin);
}

AI void pack_group_at(const int type, const uint8_t *arow, int64_t g, int64_t n_in, uint8_t *dst) {
    const int GE = t_group_elems(type);
    if ((g + 1) * GE <= n_in) {
        pack_group(type, arow + (size_t)g * (size_t)t_agroup(type), dst);
    } else {
        _Alignas(64) uint8_t buf[2 * sizeof(block_q8_K)];
        memset(buf, 0, sizeof buf);
        const int64_t blocks = (n_in - g * GE) / t_wblock_elems(type);
        memcpy(buf, arow + (size_t)g * (size_t)t_agroup(type), (size_t)blocks * (size_t)t_ablock(type));
        pack_group(type, buf, dst);
    }
}

/* ---- the per-group product ---------------------------------------------------------- */

/* F += the group's contribution for one (row, token): W / dw / rmin of the
 * row, pa the packed activation group of the token. hi16: W[4..7] hold 16
 * times their nibbles (legacy_nibbles); the same integer sum. */
AI __m512 group_dot(const int type, const __m512i W[8], __m512 dw, __m512 rmin, const uint8_t *pa, __m512 F,
                     const int hi16) {
    const int S = t_steps(type);
    __m512i i0 = _mm512_load_si512(pa + 64 * S), i1 = _mm512_setzero_si512();
    if (hi16) {
        UNROLL for (int s = 0; s < 4; s++) {
            i0 = _mm512_dpbusd_epi32(i0, W[s], _mm512_load_si512(pa + 64 * s));
            i1 = _mm512_dpbusd_epi32(i1, W[s + 4], _mm512_load_si512(pa + 64 * (s + 4)));
        }
        i1 = _mm512_srai_epi32(i1, 4);
    } else {
        UNROLL for (int s = 0; s < 8; s += 2) {
            if (s >= S) break;
            i0 = _mm512_dpbusd_epi32(i0, W[s], _mm512_load_si512(pa + 64 * s));
            i1 = _mm512_dpbusd_epi32(i1, W[s + 1], _mm512_load_si512(pa + 64 * (s + 1)));
        }
    }
    const __m512 da = _mm512_load_ps((const float *)(pa + 64 * (S + 1)));
    F = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(i0, i1)), _mm512_mul_ps(dw, da), F);
    if (t_min(type) == MIN_SUB) F = _mm512_fnmadd_ps(rmin, _mm512_load_ps((const float *)(pa + 64 * (S + 2))), F);
    if (t_min(type) == MIN_ADD) F = _mm512_fmadd_ps(rmin, _mm512_load_ps((const float *)(pa + 64 * (S + 2))), F);
    return F;
}

/* ---- decode: rows streamed once, weights unpacked in registers ---------------------- */

enum { DECODE_MAX_TOK = 4, DECODE_BUF = 96 * 1024 };
/* packed activations per pass up to which decode takes the lean unpack:
 * 32 Q4_K groups (22 KiB) read 24.9 GB/s on one thread in the window test
 * described at Q4_K / Q5_K, 40 (28 KiB) 21.9, against 20.2-20.5 for the
 * wide unpack; sized for a 32 KiB L1 */
enum { DECODE_LEAN_BYTES = 24 * 1024 };
/* the types whose lean and wide unpacks differ (the others need one q_rows) */
AI int t_has_lean(int type) {
    return type == QTYPE_Q4_K || type == QTYPE_Q5_K || type == QTYPE_Q6_K || t_hi16_dot(type, 1, 1);
}
_Static_assert(KERNELS_DECODE_MAX_TOKENS == 3 && (int)DECODE_MAX_TOK > (int)KERNELS_DECODE_MAX_TOKENS,
               "q_gemm dispatches decode batches of 1, 2 and 3 tokens");

/* Rows [r0, r1) against T tokens whose groups [gA, gB) are packed in pa
 * (token t at pa + t * tstride). gA is a chunk boundary. first: y holds
 * nothing yet for these rows; otherwise the chunks before gA are in y. */
/* Decode prefetch: 6 KiB ahead in the weight stream, into the L2 only
 * (prefetcht1: since Zen 4, T1 and T2 fill the L2 and not the L1). A
 * prefetch into the L1 (NTA or T0) holds one of the L1's few miss buffers
 * for a whole trip to memory, so the L1 misses of the packed activations
 * (up to 35 KiB for rows of 27648, which the weight stream pushes out of
 * the L1) queued behind the stream; with T1 they are L2 hits that find
 * free buffers. Against NTA at 6 KiB (bench/ab, 2 MiB pages, 2026-12-08 on
 * a Zen 4 host: cpuid family 25 model 17, 32 KiB L1D, 1 MiB L2;
 * memory reading 32-48 GB/s): on two threads 5120 x 27648 Q4_0 1.49x,
 * Q4_K 1.54x, Q6_K 1.82x, Q8_0 1.54x; 27648 x 5120 1.11-1.14x; 5120 x
 * 5120 Q4_0 1.0x; on one thread 1.22-1.83x. T1 at 12 and 24 KiB: 0.89-1.0x
 * of 6 KiB. (Earlier sessions measured T1 at 0.86-0.92x of NTA on the long
 * rows, in an unrecorded memory phase and perhaps on the Zen 5 hosts this
 * VM also runs on (family 26, 48 KiB L1D), where T1 is not re-measured.)
 * Before, NTA at 6 KiB had been best or equal to T0/T2 at 1.5-16 KiB and
 * to none; without any prefetch Q8_0 read 0.62-0.93x. */
enum { PF_BYTES = 6144 };

AI void prefetch_group(const uint8_t *row, int64_t g, size_t WG) {
    const uint8_t *pf = row + (size_t)g * WG + PF_BYTES;
    for (size_t o = 0; o < WG; o += 64) _mm_prefetch((const char *)(pf + o), _MM_HINT_T1);
}

AI void q_rows(const int type, const int T, const uint8_t *w, size_t wrb, int64_t n_in, int64_t r0, int64_t r1,
               const uint8_t *pa, size_t tstride, int64_t gA, int64_t gB, int first, float *y, int64_t ys,
               const int lean) {
    const int CG = CHUNK / t_group_elems(type), PAB = t_pab(type);
    const size_t WG = (size_t)t_wgroup(type);
    /* one row after the other: the weights are one continuous stream, which
     * the hardware prefetchers follow best (two rows interleaved were 25%
     * slower from memory) */
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + (size_t)r * wrb;
        float acc[DECODE_MAX_TOK];
        UNROLL for (int t = 0; t < DECODE_MAX_TOK; t++) acc[t] = t < T && !first ? y[t * ys + r] : 0.0f;
        for (int64_t c0 = gA; c0 < gB; c0 += CG) {
            const int64_t c1 = c0 + CG < gB ? c0 + CG : gB;
            /* F stays in registers: the loop over tokens is unrolled */
            __m512 F[DECODE_MAX_TOK];
            UNROLL for (int t = 0; t < DECODE_MAX_TOK; t++) F[t] = _mm512_setzero_ps();
            for (int64_t g = c0; g < c1; g++) {
                prefetch_group(row, g, WG);
                __m512i W[8];
                __m512 dw, rmin;
                unpack_group_at(type, row, g, n_in, W, &dw, &rmin, 1, lean);
                const uint8_t *pg = pa + (size_t)(g - gA) * (size_t)PAB;
                UNROLL for (int t = 0; t < DECODE_MAX_TOK; t++)
                    if (t < T)
                        F[t] = group_dot(type, W, dw, rmin, pg + (size_t)t * tstride, F[t], t_hi16_dot(type, lean, 1));
            }
            UNROLL for (int t = 0; t < DECODE_MAX_TOK; t++)
                if (t < T) acc[t] += hsum16(F[t]);
        }
        UNROLL for (int t = 0; t < DECODE_MAX_TOK; t++)
            if (t < T) y[t * ys + r] = acc[t];
    }
}

AI void q_decode(const int type, const int T, const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb,
                 int64_t n_in, int64_t r0, int64_t r1, float *y, int64_t ys) {
    _Alignas(64) uint8_t pa[DECODE_BUF];
    const int GE = t_group_elems(type), CG = CHUNK / GE, PAB = t_pab(type);
    const int64_t ng = (n_in + GE - 1) / GE;
    /* groups per pass: whole chunks that fit the buffer for T tokens */
    int64_t per = (int64_t)(DECODE_BUF / ((size_t)T * (size_t)PAB)) / CG * CG;
    if (per < CG) per = CG; /* CG * PAB * DECODE_MAX_TOK always fits */
    for (int64_t gA = 0; gA < ng; gA += per) {
        const int64_t gB = gA + per < ng ? gA + per : ng;
        const size_t tstride = (size_t)(gB - gA) * (size_t)PAB;
        for (int t = 0; t < T; t++)
            for (int64_t g = gA; g < gB; g++)
                pack_group_at(type, act + (size_t)t * arb, g, n_in, pa + (size_t)t * tstride + (size_t)(g - gA) * (size_t)PAB);
        /* the lean unpack only while the packed activations stay in the L1 (see Q4_K / Q5_K) */
        if ((size_t)T * tstride <= DECODE_LEAN_BYTES || !t_has_lean(type))
            q_rows(type, T, w, wrb, n_in, r0, r1, pa, tstride, gA, gB, gA == 0, y, ys, 1);
        else
            q_rows(type, T, w, wrb, n_in, r0, r1, pa, tstride, gA, gB, gA == 0, y, ys, 0);
    }
}

/* ---- prefill: weights unpacked once per token block, 4 x 4 register tiles ------------ */

/* tokens per block (x PA_CHUNK_MAX bytes): heap buffer, stack fallback.
 * 96 (132-134 tokens of S = 8 types) against 48: +5-12% on the QwQ-32B
 * shapes; 144 and 192 were slower (the block outgrows the L2), and with
 * blocks of 4 rows 64 and 128 too. Rows per block: 4 (one tile: its
 * unpacked weights, 18 KiB for Q4_0, stay in L1 while the token tiles
 * stream from L2) against 8 (two tiles, whose 37 KiB of weights and a
 * token tile's 20 KiB overflowed L1): A/B on 2 threads +2-8% on most
 * types and shapes, 0.98x on 27648 x 5120 Q4_0 / Q6_K; pp512 Q4_0 +3.5%,
 * Q8_0 +7%, Q4_K_M +0.6% (medians of 4-5 alternating pairs). */
enum { PF_TB = 96, PF_TB_STACK = 16, PF_RB = 4 };
_Static_assert(PF_RB == 4, "a row block is one tile's rows");
/* a chunk's packed activations / unpacked weights for one token / row, at
 * most: S = 8 types with minimums (8 groups of 11 / 10 vectors) or S = 4
 * types with minimums (16 groups of 7 / 6 vectors) */
enum { PA_CHUNK_MAX = 16 * 7 * 64, WB_CHUNK_MAX = 16 * 6 * 64 };
_Static_assert(PA_CHUNK_MAX >= 8 * MAX_PAB && WB_CHUNK_MAX >= 8 * MAX_PWB, "chunk buffers");

/* y rows [rr, rr + nr) (nr <= 4) for tokens [0, nt) (nt <= 4): wb row r at
 * wb + r * wstride, pa token t at pa + t * tstride, ngr groups. */
AI void q_tile(const int type, const uint8_t *wb, size_t wstride, int nr, const uint8_t *pa, size_t tstride, int nt,
               int64_t ngr, int first, float *y, int64_t ys, __m512 *F) {
    const int S = t_steps(type), PAB = t_pab(type), PWB = t_pwb(type);
    const uint8_t *wr[4], *at[4];
    for (int r = 0; r < 4; r++) wr[r] = wb + (size_t)(r < nr ? r : nr - 1) * wstride;
    for (int t = 0; t < 4; t++) at[t] = pa + (size_t)(t < nt ? t : nt - 1) * tstride;
    /* F lives in memory (a caller's buffer the compiler cannot keep in
     * registers): the registers hold the 16 integer accumulators and the
     * four activation vectors of a step, so every vector is loaded once.
     * Fp is laundered once a group, so gcc must load and store F through
     * it (else it holds all 32 accumulators in registers and reloads the
     * activations for every product); a "memory" clobber did the same but
     * made gcc also copy all of F between stack slots every group (32 more
     * loads and stores): +2-10% on 2 threads, Q6_K most. */
    UNROLL for (int i = 0; i < 16; i++) F[i] = _mm512_setzero_ps();
    __m512 *Fp = F;
    for (int64_t g = 0; g < ngr; g++) {
        __asm__("" : "+r"(Fp));
        const size_t wo = (size_t)g * (size_t)PWB, ao = (size_t)g * (size_t)PAB;
        /* the accumulators start at zero and the activations' correction
         * term is added before the conversion (same bits): the 16 register
         * copies of it cost 1-3% of the kernel */
        __m512i I[4][4];
        UNROLL for (int r = 0; r < 4; r++) UNROLL for (int t = 0; t < 4; t++) I[r][t] = _mm512_setzero_si512();
        UNROLL for (int s = 0; s < 8; s++) {
            if (s >= S) break;
            __m512i a[4];
            /* one load per vector: the empty asm pins each in a register
             * (else gcc folds them into every vpdpbusd as memory operands) */
            UNROLL for (int t = 0; t < 4; t++) {
                a[t] = _mm512_load_si512(at[t] + ao + 64 * s);
                __asm__("" : "+v"(a[t]));
            }
            UNROLL for (int r = 0; r < 4; r++) {
                __m512i wv = _mm512_load_si512(wr[r] + wo + 64 * s);
                UNROLL for (int t = 0; t < 4; t++) I[r][t] = _mm512_dpbusd_epi32(I[r][t], wv, a[t]);
            }
        }
        UNROLL for (int r = 0; r < 4; r++) {
            const __m512 dw = _mm512_load_ps((const float *)(wr[r] + wo + 64 * S));
            UNROLL for (int t = 0; t < 4; t++) {
                const __m512 da = _mm512_load_ps((const float *)(at[t] + ao + 64 * (S + 1)));
                const __m512i it = t_corr_shift(type) < 0 ? I[r][t] /* no correction term */
                                                          : _mm512_add_epi32(I[r][t], _mm512_load_si512(at[t] + ao + 64 * S));
                Fp[4 * r + t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(it), _mm512_mul_ps(dw, da), Fp[4 * r + t]);
            }
            if (t_min(type) != MIN_NONE) {
                const __m512 rm = _mm512_load_ps((const float *)(wr[r] + wo + 64 * (S + 1)));
                UNROLL for (int t = 0; t < 4; t++) {
                    const __m512 am = _mm512_load_ps((const float *)(at[t] + ao + 64 * (S + 2)));
                    if (t_min(type) == MIN_SUB) Fp[4 * r + t] = _mm512_fnmadd_ps(rm, am, Fp[4 * r + t]);
                    else Fp[4 * r + t] = _mm512_fmadd_ps(rm, am, Fp[4 * r + t]);
                }
            }
        }
    }
    F = Fp;
    const __mmask8 rows = (__mmask8)((1u << nr) - 1);
    for (int t = 0; t < nt; t++) {
        __m128 c = reduce4(F[t], F[4 + t], F[8 + t], F[12 + t]);
        float *yt = y + t * ys;
        __m128 prev = first ? _mm_setzero_ps() : _mm_maskz_loadu_ps(rows, yt);
        _mm_mask_storeu_ps(yt, rows, _mm_add_ps(prev, c));
    }
}

AI void q_prefill(const int type, const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in,
                  int64_t r0, int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    _Alignas(64) uint8_t stack_pa[PF_TB_STACK * PA_CHUNK_MAX];
    _Alignas(64) uint8_t wb[PF_RB * WB_CHUNK_MAX];
    __m512 F[16];
    const int GE = t_group_elems(type), CG = CHUNK / GE, PAB = t_pab(type), PWB = t_pwb(type);
    const int64_t ng = (n_in + GE - 1) / GE;
    const size_t tstride = (size_t)CG * (size_t)PAB, wstride = (size_t)CG * (size_t)PWB, WG = (size_t)t_wgroup(type);
    /* the token block's packed activations: on the stack when the batch
     * fits there, else on the heap, sized to the batch and at most PF_TB
     * tokens (tstride is a multiple of 64, as aligned_alloc wants) */
    const int32_t heap_tok = (int32_t)(PF_TB * PA_CHUNK_MAX / tstride);
    const size_t need = (size_t)((n_tok < heap_tok ? n_tok : heap_tok) + 3) / 4 * 4 * tstride;
    uint8_t *heap_pa = need > sizeof stack_pa ? aligned_alloc(64, need) : NULL;
    uint8_t *pa = heap_pa ? heap_pa : stack_pa;
    /* as many tokens per block as the buffer holds (a multiple of 4): each
     * unpacked weight group then serves that many tokens */
    const int TB = (int)((heap_pa ? need : sizeof stack_pa) / tstride) / 4 * 4;
    for (int32_t t0 = 0; t0 < n_tok; t0 += TB) {
        const int tn = n_tok - t0 < TB ? n_tok - t0 : TB;
        for (int64_t g0 = 0; g0 < ng; g0 += CG) {
            const int64_t gn = ng - g0 < CG ? ng - g0 : CG;
            for (int t = 0; t < tn; t++)
                for (int64_t g = 0; g < gn; g++)
                    pack_group_at(type, act + (size_t)(t0 + t) * arb, g0 + g, n_in,
                                  pa + (size_t)t * tstride + (size_t)g * (size_t)PAB);
            for (int64_t rb = r0; rb < r1; rb += PF_RB) {
                const int rn = r1 - rb < PF_RB ? (int)(r1 - rb) : PF_RB;
                for (int r = 0; r < rn; r++) {
                    const uint8_t *row = w + (size_t)(rb + r) * wrb;
                    for (int64_t g = 0; g < gn; g++) {
                        __m512i W[8];
                        __m512 dw, rmin;
                        unpack_group_at(type, row, g0 + g, n_in, W, &dw, &rmin, 0, 1);
                        uint8_t *d = wb + (size_t)r * wstride + (size_t)g * (size_t)PWB;
                        const int S = t_steps(type);
                        UNROLL for (int s = 0; s < 8; s++) {
                            if (s >= S) break;
                            _mm512_store_si512(d + 64 * s, W[s]);
                        }
                        _mm512_store_ps((float *)(d + 64 * S), dw);
                        if (t_min(type) != MIN_NONE) _mm512_store_ps((float *)(d + 64 * (S + 1)), rmin);
                    }
                }
                /* the next row block's weights come from memory while
                 * the tiles below run (the unpack stalled on them), a few
                 * lines before each tile: issued all at once before the
                 * unpack, the prefetches waited for miss buffers and held
                 * up the core (8% of the Q8_0 time in perf; spread out,
                 * +2-6% on one core). A counter, not a division per line
                 * (that cost Q4_0 6%). */
                const int64_t pf_rows = r1 - (rb + PF_RB) < PF_RB ? r1 - (rb + PF_RB) : PF_RB;
                const size_t pf_row_lines = ((size_t)gn * WG + 63) / 64;
                size_t pf_left = pf_rows > 0 ? (size_t)pf_rows * pf_row_lines : 0, pf_col = 0;
                const size_t pf_per_tile = (pf_left + (size_t)(tn + 3) / 4 - 1) / ((size_t)(tn + 3) / 4);
                const uint8_t *pf_row = w + (size_t)(rb + PF_RB) * wrb + (size_t)g0 * WG;
                for (int tt = 0; tt < tn; tt += 4) {
                    /* the next token tile's outputs: lines gone cold since
                     * the last chunk, whose miss would stall the end of a
                     * tile (+2-6% on one core) */
                    for (int t = tt + 4; t < tn && t < tt + 8; t++) {
                        const float *yp = y + (int64_t)(t0 + t) * ys + rb;
                        _mm_prefetch((const char *)yp, _MM_HINT_T0);
                        _mm_prefetch((const char *)(yp + rn - 1), _MM_HINT_T0);
                    }
                    for (size_t k = 0; k < pf_per_tile && pf_left > 0; k++, pf_left--) {
                        _mm_prefetch((const char *)(pf_row + 64 * pf_col), _MM_HINT_T0);
                        if (++pf_col == pf_row_lines) {
                            pf_col = 0;
                            pf_row += wrb;
                        }
                    }
                    q_tile(type, wb, wstride, rn, pa + (size_t)tt * tstride, tstride, tn - tt < 4 ? tn - tt : 4, gn,
                           g0 == 0, y + (int64_t)(t0 + tt) * ys + rb, ys, F);
                }
            }
        }
    }
    free(heap_pa);
}

/* an empty dot product is 0, as the scalar level has it */
static void zero_rows(int64_t r0, int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    for (int32_t t = 0; t < n_tok; t++) memset(y + t * ys + r0, 0, sizeof(float) * (size_t)(r1 - r0));
}

AI void q_gemm(const int type, const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
               int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    if (r0 >= r1 || n_tok <= 0) return;
    if (n_in <= 0) return zero_rows(r0, r1, n_tok, y, ys);
    switch (n_tok) {
    case 1: q_decode(type, 1, w, wrb, act, arb, n_in, r0, r1, y, ys); break;
    case 2: q_decode(type, 2, w, wrb, act, arb, n_in, r0, r1, y, ys); break;
    case 3: q_decode(type, 3, w, wrb, act, arb, n_in, r0, r1, y, ys); break;
    default: q_prefill(type, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys); break;
    }
}

#define Q_GEMM(T)                                                                                                  \
    static void gemm_##T##_avx512(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in,     \
                                  int64_t r0, int64_t r1, int32_t n_tok, float *y, int64_t ys) {                  \
        q_gemm(QTYPE_##T, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);                                           \
    }
Q_GEMM(Q4_0)
Q_GEMM(Q4_1)
Q_GEMM(Q5_0)
Q_GEMM(Q5_1)
Q_GEMM(Q8_0)
Q_GEMM(Q2_K)
Q_GEMM(Q3_K)
Q_GEMM(Q4_K)
Q_GEMM(Q5_K)
Q_GEMM(Q6_K)

/* ---- float weights --------------------------------------------------------------------- */

enum { FCHUNK = 1024 };

/* 16 weights from element i of a row (n - i valid, 1..16) as f32 */
AI __m512 f_load_w(const int type, const uint8_t *row, int64_t i, int64_t n) {
    const int64_t left = n - i;
    if (type == QTYPE_F32) {
        const float *p = (const float *)row + i;
        return left >= 16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps((__mmask16)((1u << left) - 1), p);
    }
    const uint16_t *p = (const uint16_t *)row + i;
    __m256i h = left >= 16 ? _mm256_loadu_si256((const __m256i *)p)
                           : _mm256_maskz_loadu_epi16((__mmask16)((1u << left) - 1), p);
    if (type == QTYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AI __m512 f_load_a(const float *a, int64_t i, int64_t n) {
    const int64_t left = n - i;
    return left >= 16 ? _mm512_loadu_ps(a + i) : _mm512_maskz_loadu_ps((__mmask16)((1u << left) - 1), a + i);
}

/* Rows rr .. rr + nr - 1 (nr <= 4) and tokens 0 .. nt - 1 (nt <= T <= 4),
 * elements [e0, e1) (whole chunks, the last one possibly partial).
 * pf (decode): prefetch the next tile's rows (the 4 rows after these,
 * contiguous) at the same offsets into the L2, as the AVX2 tiles do
 * (x86_avx2.h, avx2_prefetch_next): the four interleaved streams end too
 * soon for the hardware prefetchers. Without it F16 decode read 77-80% of
 * the probe on 2 threads. Prefetches never fault; the addresses are
 * formed as integers. */
AI void f_tile(const int type, const int T, const uint8_t *w, size_t wrb, int64_t rr, int nr, const float *act,
               size_t arb, int nt, int64_t n_in, int64_t e0, int64_t e1, int first, float *y, int64_t ys,
               const int pf) {
    const size_t esize = type == QTYPE_F32 ? 4 : 2;
    const uint8_t *wr[4];
    const float *at[4];
    for (int r = 0; r < 4; r++) wr[r] = w + (size_t)(rr + (r < nr ? r : nr - 1)) * wrb;
    for (int t = 0; t < T; t++) at[t] = (const float *)((const uint8_t *)act + (size_t)(t < nt ? t : nt - 1) * arb);
    __m128 acc[4];
    const __mmask8 rows = (__mmask8)((1u << nr) - 1);
    for (int t = 0; t < T; t++) acc[t] = first ? _mm_setzero_ps() : _mm_maskz_loadu_ps(rows, y + t * ys + rr);
    for (int64_t c = e0; c < e1; c += FCHUNK) {
        const int64_t ce = c + FCHUNK < e1 ? c + FCHUNK : e1;
        __m512 F[4][4];
        UNROLL for (int r = 0; r < 4; r++) UNROLL for (int t = 0; t < 4; t++) F[r][t] = _mm512_setzero_ps();
        for (int64_t i = c; i < ce; i += 16) {
            if (pf && (size_t)i % (64 / esize) == 0)
                UNROLL for (int r = 0; r < 4; r++)
                    _mm_prefetch((const char *)((uintptr_t)wr[r] + 4 * wrb + (size_t)i * esize), _MM_HINT_T1);
            __m512 wv[4], av[4];
            UNROLL for (int r = 0; r < 4; r++) wv[r] = f_load_w(type, wr[r], i, n_in);
            UNROLL for (int t = 0; t < 4; t++) if (t < T) av[t] = f_load_a(at[t], i, n_in);
            UNROLL for (int r = 0; r < 4; r++) UNROLL for (int t = 0; t < 4; t++) if (t < T)
                F[r][t] = _mm512_fmadd_ps(wv[r], av[t], F[r][t]);
        }
        UNROLL for (int t = 0; t < 4; t++) if (t < T) acc[t] = _mm_add_ps(acc[t], reduce4(F[0][t], F[1][t], F[2][t], F[3][t]));
    }
    for (int t = 0; t < nt; t++) _mm_mask_storeu_ps(y + t * ys + rr, rows, acc[t]);
}

AI void f_gemm(const int type, const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
               int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    if (r0 >= r1 || n_tok <= 0) return;
    if (n_in <= 0) return zero_rows(r0, r1, n_tok, y, ys);
    if (n_tok <= KERNELS_DECODE_MAX_TOKENS) { /* decode: every row streamed once */
        for (int64_t r = r0; r < r1; r += 4) {
            const int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
            if (n_tok == 1) f_tile(type, 1, w, wrb, r, nr, (const float *)act, arb, 1, n_in, 0, n_in, 1, y, ys, 1);
            else if (n_tok == 2) f_tile(type, 2, w, wrb, r, nr, (const float *)act, arb, 2, n_in, 0, n_in, 1, y, ys, 1);
            else f_tile(type, 3, w, wrb, r, nr, (const float *)act, arb, 3, n_in, 0, n_in, 1, y, ys, 1);
        }
        return;
    }
    /* prefill: per token block and chunk, row blocks of 16 against 4-token tiles */
    enum { TB = 64, RB = 16 };
    for (int32_t t0 = 0; t0 < n_tok; t0 += TB) {
        const int tn = n_tok - t0 < TB ? n_tok - t0 : TB;
        for (int64_t c = 0; c < n_in; c += FCHUNK) {
            const int64_t ce = c + FCHUNK < n_in ? c + FCHUNK : n_in;
            for (int64_t rb = r0; rb < r1; rb += RB) {
                const int64_t re = rb + RB < r1 ? rb + RB : r1;
                for (int tt = 0; tt < tn; tt += 4)
                    for (int64_t r = rb; r < re; r += 4)
                        f_tile(type, 4, w, wrb, r, re - r < 4 ? (int)(re - r) : 4,
                               (const float *)(act + (size_t)(t0 + tt) * arb), arb, tn - tt < 4 ? tn - tt : 4, n_in, c,
                               ce, c == 0, y + (int64_t)(t0 + tt) * ys, ys, 0);
            }
        }
    }
}

#define F_GEMM(T)                                                                                                  \
    static void gemm_##T##_avx512(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in,     \
                                  int64_t r0, int64_t r1, int32_t n_tok, float *y, int64_t ys) {                  \
        f_gemm(QTYPE_##T, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);                                           \
    }
F_GEMM(F32)
F_GEMM(F16)
F_GEMM(BF16)

/* ---- the table ----------------------------------------------------------------------------- */

void kernels_fill_avx512(kernel_table *t) {
    t->attention = attn_avx512;
    t->attention_part = attn_part_avx512;
    t->attention_merge = attn_merge_avx512;
    t->swiglu = swiglu_avx512;
    t->gemm[QTYPE_F32] = gemm_F32_avx512;
    t->gemm[QTYPE_F16] = gemm_F16_avx512;
    t->gemm[QTYPE_BF16] = gemm_BF16_avx512;
    t->gemm[QTYPE_Q4_0] = gemm_Q4_0_avx512;
    t->gemm[QTYPE_Q4_1] = gemm_Q4_1_avx512;
    t->gemm[QTYPE_Q5_0] = gemm_Q5_0_avx512;
    t->gemm[QTYPE_Q5_1] = gemm_Q5_1_avx512;
    t->gemm[QTYPE_Q8_0] = gemm_Q8_0_avx512;
    t->gemm[QTYPE_Q2_K] = gemm_Q2_K_avx512;
    t->gemm[QTYPE_Q3_K] = gemm_Q3_K_avx512;
    t->gemm[QTYPE_Q4_K] = gemm_Q4_K_avx512;
    t->gemm[QTYPE_Q5_K] = gemm_Q5_K_avx512;
    t->gemm[QTYPE_Q6_K] = gemm_Q6_K_avx512;
    t->quantize[QTYPE_Q4_0] = quantize_q8_0_avx512;
    t->quantize[QTYPE_Q5_0] = quantize_q8_0_avx512;
    t->quantize[QTYPE_Q8_0] = quantize_q8_0_avx512;
    t->quantize[QTYPE_Q4_1] = quantize_q8_1_avx512;
    t->quantize[QTYPE_Q5_1] = quantize_q8_1_avx512;
    t->quantize[QTYPE_Q2_K] = quantize_q8_K_avx512;
    t->quantize[QTYPE_Q3_K] = quantize_q8_K_avx512;
    t->quantize[QTYPE_Q4_K] = quantize_q8_K_avx512;
    t->quantize[QTYPE_Q5_K] = quantize_q8_K_avx512;
    t->quantize[QTYPE_Q6_K] = quantize_q8_K_avx512;
}
