/*
 * attn_simd - the attention kernel (attn.h), and the SwiGLU one (end of the
 * file), written once over a small vector vocabulary, included by
 * x86/attn_avx512.c (16 lanes), x86/attn_avx2.c (8 lanes) and
 * arm/attn_neon.c (4 lanes), which define the vocabulary before including
 * this file:
 *
 *   VEC, VL                 the float vector type and its lane count
 *   vzero vload vstore vbcast(const float *) vset1 vadd vsub vmul vfma(a, b, c)
 *   vfnma(a, b, c) = c - a b (fused)  vmax vhmax vhsum
 *   vround (to nearest)  vscale2(p, n) = p 2^n  VEXP_MIN (vexp's lower clamp)
 *   vtail_ninf(v, n) / vtail_zero(v, n)   lanes >= n set to -inf / 0
 *   vdiv vabs  vsel_neg(x, a, b) = x < 0 ? a : b (lane by lane)
 *   QK_ROWS, QK_VECS        query rows x vectors per q . k register tile
 *                           (QK_VECS divides ATTN_CHUNK / VL)
 *   PV_ROWS, PV_VECS        query rows x vectors per p . v register tile
 *                           (PV_ROWS x (PV_VECS + 1) + 1 vector registers)
 *   QKD_ROWS, QKD_BLOCKS    the decode path's q . k tile: rows of one KV
 *                           head x whole key blocks (QKD_ROWS x QKD_BLOCKS
 *                           x KV_BLOCK_TOKENS / VL accumulators)
 *   PVD_ROWS                the decode path's p . v tile takes a KV head's
 *                           rows at once when there are at most this many
 *                           (PVD_ROWS x (PV_VECS + 1) + 1 vector registers)
 *
 * The algorithm (per tile; see attn.h for the invariants):
 *  - Keys are stored transposed per 16-position block (kvcache.h), so the
 *    scores of a row for a whole chunk of 64 positions are 64 / VL vectors
 *    s += q[d] * keys[d][0..63], one FMA chain over d per lane: every
 *    (row, position) score comes from the same chain whatever the tile.
 *  - Softmax per row and chunk: masked lanes are -inf before the max and
 *    exactly 0 after the exponential; the chunk's sum is a fixed tree.
 *  - out[r][e] += p[r][j] * v[j][e], one FMA chain over j per element,
 *    looping only over the row's own positions.
 *  - Segments (ATTN_SEGMENT) start afresh and are merged in order by
 *    merge_segment, in the tile and in attn_merge alike.
 *  - Decode (attn_part) computes the same chains in another order: per
 *    chunk, the keys block by block and head by head (a layer's keys of a
 *    block are one run of memory), the softmax of every row, then the
 *    values the same way, each row's p . v chain still in position order.
 *    Each keys step prefetches the same blocks' values and each values
 *    step the next chunk's keys of its block and head, one line per line
 *    it reads (bench/README.md, "Decode attention at long context").
 */
#ifndef QWQ_ATTN_SIMD_H
#define QWQ_ATTN_SIMD_H

#include <math.h>
#include <string.h>

#include "kernels/attn.h"

#if defined(__OPTIMIZE__)
#define ATTN_AI static inline __attribute__((always_inline))
#else
#define ATTN_AI static inline
#endif
#if defined(__clang__)
#define ATTN_UNROLL _Pragma("unroll")
#else
#define ATTN_UNROLL _Pragma("GCC unroll 16")
#endif

enum { CHUNK_VECS = ATTN_CHUNK / VL, BLOCK_VECS = KV_BLOCK_TOKENS / VL };
enum { PV_MAX_ROWS = PVD_ROWS > PV_ROWS ? PVD_ROWS : PV_ROWS };
_Static_assert(QK_VECS >= 1 && CHUNK_VECS % QK_VECS == 0, "a q . k tile is a whole part of a chunk");
_Static_assert(QKD_ROWS >= 1 && QKD_ROWS <= 8 && QKD_BLOCKS >= 1 && QKD_BLOCKS <= ATTN_CHUNK / KV_BLOCK_TOKENS,
               "qkd_rows dispatches 1..8 rows; a decode q . k tile takes whole blocks of a chunk");

/* e^x for x <= 0 (-inf and anything below VEXP_MIN give e^VEXP_MIN or 0,
 * masked by the caller): x = n ln2 + r with |r| <= ln2 / 2 (ln2 in two
 * parts, Cody-Waite), a degree-6 polynomial for e^r (Cephes' expf
 * coefficients), then p 2^n. About 1 ulp. */
ATTN_AI VEC vexp(VEC x) {
    x = vmax(x, vset1(VEXP_MIN));
    const VEC n = vround(vmul(x, vset1(1.44269504088896341f)));
    VEC r = vfnma(n, vset1(0.693359375f), x);
    r = vfnma(n, vset1(-2.12194440e-4f), r);
    VEC p = vset1(1.9875691500e-4f);
    p = vfma(p, r, vset1(1.3981999507e-3f));
    p = vfma(p, r, vset1(8.3334519073e-3f));
    p = vfma(p, r, vset1(4.1665795894e-2f));
    p = vfma(p, r, vset1(1.6666665459e-1f));
    p = vfma(p, r, vset1(5.0000001201e-1f));
    p = vfma(vmul(p, r), r, vadd(r, vset1(1.0f)));
    return vscale2(p, n);
}

typedef struct attn_rows {
    const float *q[ATTN_TILE_TOKENS * 64];
    float *out[ATTN_TILE_TOKENS * 64];
    float *acc[ATTN_TILE_TOKENS * 64]; /* the current segment's output: out (first segment) or workspace */
    int32_t n_pos[ATTN_TILE_TOKENS * 64];
} attn_rows;

/* Scores of rows [r0, r0 + nr) (nr <= QK_ROWS) at the chunk's vectors
 * [v0, v0 + QK_VECS), whose key blocks are kb[0..3] (already offset to the
 * KV head). */
ATTN_AI void qk_tile(const attn_tile *a, const attn_rows *rows, int32_t r0, int32_t nr, const float *const kb[4],
                     int v0, float *scores) {
    const int32_t D = a->head_dim;
    const float *q[QK_ROWS];
    ATTN_UNROLL for (int i = 0; i < QK_ROWS; i++) q[i] = rows->q[r0 + (i < nr ? i : nr - 1)];
    VEC acc[QK_ROWS][QK_VECS];
    ATTN_UNROLL for (int i = 0; i < QK_ROWS; i++) ATTN_UNROLL for (int v = 0; v < QK_VECS; v++) acc[i][v] = vzero();
    for (int32_t d = 0; d < D; d++) {
        VEC k[QK_VECS];
        ATTN_UNROLL for (int v = 0; v < QK_VECS; v++)
            k[v] = vload(kb[(v0 + v) / BLOCK_VECS] + (size_t)d * KV_BLOCK_TOKENS + (size_t)((v0 + v) % BLOCK_VECS) * VL);
        ATTN_UNROLL for (int i = 0; i < QK_ROWS; i++) {
            const VEC qd = vbcast(q[i] + d);
            ATTN_UNROLL for (int v = 0; v < QK_VECS; v++) acc[i][v] = vfma(qd, k[v], acc[i][v]);
        }
    }
    const VEC scale = vset1(a->scale);
    ATTN_UNROLL for (int i = 0; i < QK_ROWS; i++) {
        if (i >= nr) break;
        ATTN_UNROLL for (int v = 0; v < QK_VECS; v++)
            vstore(scores + (size_t)(r0 + i) * ATTN_CHUNK + (size_t)(v0 + v) * VL, vmul(acc[i][v], scale));
    }
}

/* out[e0 .. e0 + NV * VL) of rows o[0 .. NR) += p . v over positions
 * [j0, j1) of the chunk whose value rows (of the tile's KV head, D floats
 * each) are in the blocks vb. One value vector is loaded once for the NR
 * rows. */
ATTN_AI void pv_piece(const float *const vb[4], int32_t D, int32_t j0, int32_t j1, const int NR,
                      const float *const *p, float *const *o, int32_t e0, const int NV, const float *pf) {
    VEC acc[PV_MAX_ROWS][PV_VECS];
    ATTN_UNROLL for (int r = 0; r < PV_MAX_ROWS; r++) {
        if (r >= NR) break;
        ATTN_UNROLL for (int v = 0; v < PV_VECS; v++) {
            if (v >= NV) break;
            acc[r][v] = vload(o[r] + e0 + v * VL);
        }
    }
    for (int32_t j = j0; j < j1; j++) {
        const float *vrow = vb[j / KV_BLOCK_TOKENS] + (size_t)(j % KV_BLOCK_TOKENS) * (size_t)D + (size_t)e0;
        if (pf) /* the same lines of the piece pf (decode: read later) */
            ATTN_UNROLL for (int v = 0; v < PV_VECS * VL; v += 16) {
                if (v >= NV * VL) break;
                __builtin_prefetch(pf + (size_t)(j % KV_BLOCK_TOKENS) * (size_t)D + (size_t)e0 + (size_t)v, 0, 3);
            }
        VEC w[PV_MAX_ROWS];
        ATTN_UNROLL for (int r = 0; r < PV_MAX_ROWS; r++) {
            if (r >= NR) break;
            w[r] = vbcast(p[r] + j);
        }
        ATTN_UNROLL for (int v = 0; v < PV_VECS; v++) {
            if (v >= NV) break;
            const VEC x = vload(vrow + v * VL);
            ATTN_UNROLL for (int r = 0; r < PV_MAX_ROWS; r++) {
                if (r >= NR) break;
                acc[r][v] = vfma(w[r], x, acc[r][v]);
            }
        }
    }
    ATTN_UNROLL for (int r = 0; r < PV_MAX_ROWS; r++) {
        if (r >= NR) break;
        ATTN_UNROLL for (int v = 0; v < PV_VECS; v++) {
            if (v >= NV) break;
            vstore(o[r] + e0 + v * VL, acc[r][v]);
        }
    }
}

/* The whole head dimension, in pieces of PV_VECS vectors. */
ATTN_AI void pv_rows(const float *const vb[4], int32_t D, int32_t j0, int32_t j1, const int NR, const float *const *p,
                     float *const *o, const float *pf) {
    int32_t e = 0;
    for (; e + PV_VECS * VL <= D; e += PV_VECS * VL) pv_piece(vb, D, j0, j1, NR, p, o, e, PV_VECS, pf);
    for (; e < D; e += VL) pv_piece(vb, D, j0, j1, NR, p, o, e, 1, pf);
}

/* Softmax step of one row over its n (1..64) positions of the chunk:
 * scores become weights; the running max / sum and the output follow. */
ATTN_AI void softmax_row(float *sc, int32_t n, float *run_max, float *run_sum, float *out, int32_t D) {
    VEC s[CHUNK_VECS];
    ATTN_UNROLL for (int v = 0; v < CHUNK_VECS; v++) s[v] = vtail_ninf(vload(sc + v * VL), n - v * VL);
    VEC mv = s[0];
    ATTN_UNROLL for (int v = 1; v < CHUNK_VECS; v++) mv = vmax(mv, s[v]);
    float m = vhmax(mv);
    if (m > *run_max) { /* rescale what was accumulated under the old max */
        const float corr = *run_max == -INFINITY ? 0.0f : expf(*run_max - m);
        *run_sum *= corr;
        const VEC c = vset1(corr);
        for (int32_t e = 0; e < D; e += VL) vstore(out + e, vmul(vload(out + e), c));
        *run_max = m;
    } else {
        m = *run_max;
    }
    const VEC vm = vset1(m);
    ATTN_UNROLL for (int v = 0; v < CHUNK_VECS; v++) {
        s[v] = vtail_zero(vexp(vsub(s[v], vm)), n - v * VL);
        vstore(sc + v * VL, s[v]);
    }
    /* fixed tree: pairs of neighbours, then the lanes */
    ATTN_UNROLL for (int w = 1; w < CHUNK_VECS; w *= 2) ATTN_UNROLL for (int v = 0; v + w < CHUNK_VECS; v += 2 * w)
        s[v] = vadd(s[v], s[v + w]);
    *run_sum += vhsum(s[0]);
}

/* (M, S, O) becomes its merge with the next segment's (m, s, o): both
 * rescaled to the larger max. */
ATTN_AI void merge_segment(float *M, float *S, float *O, float m, float s, const float *o, int32_t D) {
    const float mx = m > *M ? m : *M, a = expf(*M - mx), b = expf(m - mx);
    *S = *S * a + s * b;
    const VEC va = vset1(a), vb = vset1(b);
    for (int32_t e = 0; e < D; e += VL) vstore(O + e, vfma(vload(O + e), va, vmul(vload(o + e), vb)));
    *M = mx;
}

ATTN_AI void normalize_row(float *out, float sum, int32_t D) {
    const VEC inv = vset1(1.0f / sum);
    for (int32_t e = 0; e < D; e += VL) vstore(out + e, vmul(vload(out + e), inv));
}

/* p . v of a chunk's positions [0, n_r) for rows [r0, r1) whose n_r
 * never falls as r grows: in groups of PV_ROWS, the positions all of the
 * group's rows have together (the first row's count), then each row's own
 * tail. Every row's chain over j stays in position order, whatever the
 * grouping. */
ATTN_AI void pv_chunk(const float *const vb[4], int32_t D, const float *scores, float *const *acc, const int32_t *n_r,
                      int32_t r0, int32_t r1, int32_t j0, const float *pf) {
    for (int32_t r = r0; r < r1; r += PV_ROWS) {
        const int32_t nr = r1 - r < PV_ROWS ? r1 - r : PV_ROWS;
        const float *p[PV_ROWS];
        float *o[PV_ROWS];
        int32_t n[PV_ROWS];
        for (int32_t i = 0; i < nr; i++) {
            p[i] = scores + (size_t)(r + i) * ATTN_CHUNK;
            o[i] = acc[r + i];
            n[i] = n_r[r + i];
        }
        const int32_t common = n[0] > j0 ? n[0] : j0;
        /* the prefetch of pf (values rows j0 .. of the same layout) rides on the first pass over them */
        const float *f = r == r0 ? pf : NULL;
        if (common > j0 && nr == PV_ROWS) pv_rows(vb, D, j0, common, PV_ROWS, p, o, f);
        else if (common > j0)
            for (int32_t i = 0; i < nr; i++) pv_rows(vb, D, j0, common, 1, p + i, o + i, i == 0 ? f : NULL);
        for (int32_t i = 0; i < nr; i++)
            if (n[i] > common) pv_rows(vb, D, common, n[i], 1, p + i, o + i, NULL);
    }
}

ATTN_AI void attn_tile_simd(const attn_tile *a, float *work) {
    const int32_t D = a->head_dim, G = a->group, R = a->n_tok * G;
    if (D % VL != 0 || G > 64) {
        attn_scalar(a, work);
        return;
    }
    attn_rows rows;
    float *scores = work, *run_max = work + (size_t)R * ATTN_CHUNK, *run_sum = run_max + R, *acc_max = run_sum + R,
          *acc_sum = acc_max + R, *seg_out = acc_sum + R;
    for (int32_t r = 0; r < R; r++) {
        const int32_t i = r / G, h = r % G;
        rows.q[r] = a->q + (size_t)i * a->q_stride + (size_t)h * (size_t)D;
        rows.out[r] = a->out + (size_t)i * a->out_stride + (size_t)h * (size_t)D;
        rows.n_pos[r] = a->first_pos + i + 1;
    }
    const size_t head = (size_t)a->kv_head * (size_t)D;
    const int32_t n_last = a->first_pos + a->n_tok; /* positions the last token sees */
    for (int32_t s0 = 0; s0 < n_last; s0 += ATTN_SEGMENT) {
        const int32_t s1 = attn_segment_end(s0, n_last);
        for (int32_t r = 0; r < R; r++) {
            rows.acc[r] = s0 == 0 ? rows.out[r] : seg_out + (size_t)r * D;
            run_max[r] = -INFINITY;
            run_sum[r] = 0.0f;
            memset(rows.acc[r], 0, (size_t)D * sizeof(float));
        }
        for (int32_t c = s0; c < s1; c += ATTN_CHUNK) {
            const float *kb[4], *vb[4];
            const int32_t b0 = c / KV_BLOCK_TOKENS, b_end = (n_last - 1) / KV_BLOCK_TOKENS; /* blocks that exist */
            for (int b = 0; b < 4; b++) {
                const int32_t bi = b0 + b <= b_end ? b0 + b : b_end; /* past the end: any block, masked */
                kb[b] = kv_keys_block(a->kv, a->layer, bi) + head * KV_BLOCK_TOKENS;
                vb[b] = kv_values_head(a->kv, a->layer, bi, a->kv_head);
            }
            for (int32_t r = 0; r < R; r += QK_ROWS)
                for (int v0 = 0; v0 < CHUNK_VECS; v0 += QK_VECS)
                    qk_tile(a, &rows, r, R - r < QK_ROWS ? R - r : QK_ROWS, kb, v0, scores);
            int32_t n_r[ATTN_TILE_TOKENS * 64];
            for (int32_t r = 0; r < R; r++) {
                const int32_t n = rows.n_pos[r] - c;
                n_r[r] = n < 0 ? 0 : n < ATTN_CHUNK ? n : ATTN_CHUNK;
                if (n > 0) softmax_row(scores + (size_t)r * ATTN_CHUNK, n_r[r], run_max + r, run_sum + r, rows.acc[r], D);
            }
            pv_chunk(vb, D, scores, rows.acc, n_r, 0, R, 0, NULL);
        }
        for (int32_t r = 0; r < R; r++) {
            if (s0 == 0) {
                acc_max[r] = run_max[r];
                acc_sum[r] = run_sum[r];
            } else if (rows.n_pos[r] > s0) {
                merge_segment(acc_max + r, acc_sum + r, rows.out[r], run_max[r], run_sum[r], rows.acc[r], D);
            }
        }
    }
    for (int32_t r = 0; r < R; r++) normalize_row(rows.out[r], acc_sum[r], D);
}

/* Decode q . k: scores of NR rows (one KV head, queries q[0..NR)) for the
 * positions of NB key blocks kb[0..NB) (offset to the head), stored at
 * sc + i * ATTN_CHUNK for row i. The same chains as qk_tile. */
ATTN_AI void qkd_tile(const float *const *q, const int NR, const float *const *kb, const int NB, int32_t D, VEC scale,
                      float *sc, const float *const *pf) {
    VEC acc[QKD_ROWS][QKD_BLOCKS * BLOCK_VECS];
    ATTN_UNROLL for (int i = 0; i < QKD_ROWS; i++) {
        if (i >= NR) break;
        ATTN_UNROLL for (int v = 0; v < QKD_BLOCKS * BLOCK_VECS; v++) {
            if (v >= NB * BLOCK_VECS) break;
            acc[i][v] = vzero();
        }
    }
    for (int32_t d = 0; d < D; d++) {
        VEC k[QKD_BLOCKS * BLOCK_VECS];
        ATTN_UNROLL for (int v = 0; v < QKD_BLOCKS * BLOCK_VECS; v++) {
            if (v >= NB * BLOCK_VECS) break;
            k[v] = vload(kb[v / BLOCK_VECS] + (size_t)d * KV_BLOCK_TOKENS + (size_t)(v % BLOCK_VECS) * VL);
        }
        if (pf) /* one line of each piece pf[b] (decode: read later) per line of keys */
            ATTN_UNROLL for (int b = 0; b < QKD_BLOCKS; b++) {
                if (b >= NB) break;
                __builtin_prefetch(pf[b] + (size_t)d * KV_BLOCK_TOKENS, 0, 3);
            }
        ATTN_UNROLL for (int i = 0; i < QKD_ROWS; i++) {
            if (i >= NR) break;
            const VEC qd = vbcast(q[i] + d);
            ATTN_UNROLL for (int v = 0; v < QKD_BLOCKS * BLOCK_VECS; v++) {
                if (v >= NB * BLOCK_VECS) break;
                acc[i][v] = vfma(qd, k[v], acc[i][v]);
            }
        }
    }
    ATTN_UNROLL for (int i = 0; i < QKD_ROWS; i++) {
        if (i >= NR) break;
        ATTN_UNROLL for (int v = 0; v < QKD_BLOCKS * BLOCK_VECS; v++) {
            if (v >= NB * BLOCK_VECS) break;
            vstore(sc + (size_t)i * ATTN_CHUNK + (size_t)v * VL, vmul(acc[i][v], scale));
        }
    }
}

/* nr (1..QKD_ROWS) rows as a constant, so that the tile's loops unroll */
ATTN_AI void qkd_rows(const float *const *q, int32_t nr, const float *const *kb, const int NB, int32_t D, VEC scale,
                      float *sc, const float *const *pf) {
    switch (nr) {
#define QKD_CASE(n)                                                                                                    \
    case n:                                                                                                            \
        if (n <= QKD_ROWS) qkd_tile(q, n <= QKD_ROWS ? n : 1, kb, NB, D, scale, sc, pf);                              \
        break;
        QKD_CASE(1) QKD_CASE(2) QKD_CASE(3) QKD_CASE(4) QKD_CASE(5) QKD_CASE(6) QKD_CASE(7) QKD_CASE(8)
#undef QKD_CASE
    default: break;
    }
}

/* p . v of nr (1..PVD_ROWS) rows as one tile, nr a constant in each case */
ATTN_AI void pvd_rows(const float *const vb[4], int32_t D, int32_t j0, int32_t j1, int32_t nr, const float *const *p,
                      float *const *o, const float *pf) {
    switch (nr) {
#define PVD_CASE(n)                                                                                                    \
    case n:                                                                                                            \
        if (n <= PVD_ROWS) pv_rows(vb, D, j0, j1, n <= PVD_ROWS ? n : 1, p, o, pf);                                   \
        break;
        PVD_CASE(1) PVD_CASE(2) PVD_CASE(3) PVD_CASE(4) PVD_CASE(5) PVD_CASE(6) PVD_CASE(7) PVD_CASE(8)
#undef PVD_CASE
    default: break;
    }
}

ATTN_AI void attn_part_simd(const attn_part *a, float *work) {
    const int32_t D = a->head_dim, H = a->n_head, Hkv = a->n_head_kv, G = H / Hkv;
    if (D % VL != 0) {
        attn_part_scalar(a, work);
        return;
    }
    float *scores = work;
    float *acc[256];
    int32_t n_r[256];
    if (H > 256) { /* more heads than these arrays hold */
        attn_part_scalar(a, work);
        return;
    }
    for (int32_t h = 0; h < H; h++) {
        acc[h] = a->o + (size_t)h * D;
        a->m[h] = -INFINITY;
        a->s[h] = 0.0f;
        memset(acc[h], 0, (size_t)D * sizeof(float));
    }
    const VEC scale = vset1(a->scale);
    const int32_t b_end = (a->p1 - 1) / KV_BLOCK_TOKENS; /* the last block that exists */
    for (int32_t c = a->p0; c < a->p1; c += ATTN_CHUNK) {
        const int32_t n = a->p1 - c < ATTN_CHUNK ? a->p1 - c : ATTN_CHUNK, b0 = c / KV_BLOCK_TOKENS;
        const int32_t nb = (n + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS; /* blocks holding the chunk's positions */
        /* keys: QKD_BLOCKS blocks at a time (one at the chunk's end), every head of them in turn */
        for (int32_t b = 0, step; b < nb; b += step) {
            step = nb - b >= QKD_BLOCKS ? QKD_BLOCKS : 1;
            int32_t bi[QKD_BLOCKS]; /* past the end: any block (its lanes are not used) */
            for (int32_t i = 0; i < QKD_BLOCKS; i++) bi[i] = b0 + b + i <= b_end ? b0 + b + i : b_end;
            for (int32_t g = 0; g < Hkv; g++) {
                const float *kb[QKD_BLOCKS], *pf[QKD_BLOCKS];
                for (int32_t i = 0; i < QKD_BLOCKS; i++) {
                    kb[i] = kv_keys_block(a->kv, a->layer, bi[i]) + (size_t)g * D * KV_BLOCK_TOKENS;
                    pf[i] = kv_values_head(a->kv, a->layer, bi[i], g);
                }
                for (int32_t r = 0; r < G; r += QKD_ROWS) {
                    const float *q[QKD_ROWS];
                    const int32_t nr = G - r < QKD_ROWS ? G - r : QKD_ROWS;
                    for (int32_t i = 0; i < nr; i++) q[i] = a->q + (size_t)(g * G + r + i) * D;
                    float *sc = scores + (size_t)(g * G + r) * ATTN_CHUNK + (size_t)b * KV_BLOCK_TOKENS;
                    if (step == QKD_BLOCKS) qkd_rows(q, nr, kb, QKD_BLOCKS, D, scale, sc, r == 0 ? pf : NULL);
                    else qkd_rows(q, nr, kb, 1, D, scale, sc, r == 0 ? pf : NULL);
                }
            }
        }
        /* lanes past the chunk's last block are masked, but must be numbers for the tools that check */
        for (int32_t h = 0; h < H; h++)
            for (int32_t j = nb * KV_BLOCK_TOKENS; j < ATTN_CHUNK; j++) scores[(size_t)h * ATTN_CHUNK + j] = 0.0f;
        for (int32_t h = 0; h < H; h++) softmax_row(scores + (size_t)h * ATTN_CHUNK, n, a->m + h, a->s + h, acc[h], D);
        /* values: block by block, every head of it in turn */
        for (int32_t b = 0; b < nb; b++) {
            const int32_t j0 = b * KV_BLOCK_TOKENS, j1 = n < j0 + KV_BLOCK_TOKENS ? n : j0 + KV_BLOCK_TOKENS;
            if (G > PVD_ROWS)
                for (int32_t h = 0; h < G; h++) n_r[h] = j1;
            /* the next chunk's keys of this block and head, if it is in the segment */
            const int32_t bn = b0 + b + ATTN_CHUNK / KV_BLOCK_TOKENS, next = bn * KV_BLOCK_TOKENS < a->p1;
            for (int32_t g = 0; g < Hkv; g++) {
                const float *v = kv_values_head(a->kv, a->layer, b0 + b, g);
                const float *vb[4] = {v, v, v, v}; /* pv_rows reads vb[j / KV_BLOCK_TOKENS], j in [j0, j1): only [b] */
                const float *pf = next ? kv_keys_block(a->kv, a->layer, bn) + (size_t)g * D * KV_BLOCK_TOKENS : NULL;
                if (G <= PVD_ROWS) { /* the head's rows in one tile: each value vector loaded once */
                    const float *p[PVD_ROWS];
                    for (int32_t i = 0; i < G; i++) p[i] = scores + (size_t)(g * G + i) * ATTN_CHUNK;
                    pvd_rows(vb, D, j0, j1, G, p, acc + g * G, pf);
                } else {
                    pv_chunk(vb, D, scores + (size_t)g * G * ATTN_CHUNK, acc + g * G, n_r, 0, G, j0, pf);
                }
            }
        }
    }
}

static void attn_merge_simd(const float *m, const float *s, const float *o, int32_t n_seg, int32_t n_head, int32_t D,
                            int32_t r0, int32_t r1, float *out) {
    if (D % VL != 0) {
        attn_merge_scalar(m, s, o, n_seg, n_head, D, r0, r1, out);
        return;
    }
    for (int32_t r = r0; r < r1; r++) {
        float *dst = out + (size_t)r * D, M = m[r], S = s[r];
        memcpy(dst, o + (size_t)r * D, sizeof(float) * (size_t)D);
        for (int32_t k = 1; k < n_seg; k++) {
            const size_t i = (size_t)k * (size_t)n_head + (size_t)r;
            merge_segment(&M, &S, dst, m[i], s[i], o + i * (size_t)D, D);
        }
        normalize_row(dst, S, D);
    }
}

/* ---- SwiGLU: gate[i] = silu(gate[i]) * up[i] (kernels.h) -------------------- */

/* silu(g) u with sigmoid(g) from z = e^-|g| (vexp only takes x <= 0):
 * 1 / (1 + z) for g >= 0, z / (1 + z) for g < 0. Lanes are independent. */
ATTN_AI VEC vswiglu(VEC g, VEC u) {
    const VEC z = vexp(vsub(vzero(), vabs(g)));
    const VEC s = vdiv(vsel_neg(g, z, vset1(1.0f)), vadd(vset1(1.0f), z));
    return vmul(vmul(g, s), u);
}

/* The tail goes through the same vector code from a zero-padded copy, so an
 * element's bits do not depend on where a thread's range starts or ends. */
static void swiglu_simd(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + VL <= n; i += VL) vstore(gate + i, vswiglu(vload(gate + i), vload(up + i)));
    if (i < n) {
        float g[VL] = {0}, u[VL] = {0};
        memcpy(g, gate + i, sizeof(float) * (size_t)(n - i));
        memcpy(u, up + i, sizeof(float) * (size_t)(n - i));
        vstore(g, vswiglu(vload(g), vload(u)));
        memcpy(gate + i, g, sizeof(float) * (size_t)(n - i));
    }
}

#endif
