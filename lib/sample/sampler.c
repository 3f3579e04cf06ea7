/* The token sampler: bias, penalties, greedy or top-k/top-p/min-p + draw. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sample/sample.h"
#include "util/util.h"

#define MARK_BIAS 1u /* token has a logit_bias entry */
#define MARK_PEN 2u  /* token is in the penalty window */
#define LANES 8      /* independent accumulators: vectorisable, fixed order */
#define DBLOCK 64    /* tokens per block sum of the full-vocabulary draw */

typedef struct cand {
    float v;    /* adjusted logit, later the unnormalised probability */
    int32_t id;
} cand;

struct sampler {
    int32_t n_vocab;
    float temp, top_p, min_p, pres, freq, rep;
    int32_t top_k;  /* 0 = no top-k (the whole vocabulary) */
    int32_t last_n; /* penalty window: -1 = unbounded, 0 = none */
    bool greedy;
    bool track;     /* penalties are active: keep counts */
    gen_logit_bias *bias; /* sorted by token */
    size_t n_bias;
    uint8_t *mark;        /* MARK_* per token, NULL when no bias and no penalties */
    uint32_t *count;      /* occurrences in the window, per token (track) */
    int32_t *present;     /* tokens with count > 0 (track) */
    int32_t *present_pos; /* index in present[], valid while count > 0 */
    size_t n_present;
    qwq_token *ring; /* the window when last_n > 0 */
    size_t ring_len, ring_pos;
    cand *cands;     /* candidates: top_k entries, or n_vocab for the full path */
    size_t cand_cap;
    float *work;     /* n_vocab floats for the full path */
    double *block_sum; /* kept mass per DBLOCK tokens of work (full path) */
    size_t n_blocks;
    uint64_t rng[4];
};

/* ---- deterministic helpers ---------------------------------------------- */

/* exp(x) for x <= 0, branch-free so that loops over it vectorise (GCC's
 * -O2 cost model vectorises no loop with a branch). x < -87 (including
 * -inf) gives 0. Rounding of k by the 1.5 * 2^23 trick assumes the default
 * round-to-nearest mode. */
static inline float exp_det(float x) {
    uint32_t b = f32_to_bits(x);
    uint32_t lo = -(uint32_t)(b > 0xC2AE0000u); /* x < -87.0f, -inf, or a negative NaN */
    float xc = f32_from_bits((b & ~lo) | (0xC2AE0000u & lo));
    float t = xc * 1.44269504088896341f + 12582912.0f;
    float kf = t - 12582912.0f;                 /* round(x / ln2), exact */
    uint32_t k = f32_to_bits(t) - 0x4B400000u;  /* the same as an integer, two's complement */
    /* Cody-Waite: ln2 = hi + lo, hi with few bits so kf * hi is exact */
    float r = xc - kf * 0.693145751953125f;
    r = r - kf * 1.428606765330187e-6f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    float e = p * f32_from_bits((k + 127u) << 23);
    return f32_from_bits(f32_to_bits(e) & ~lo);
}

float sampler_exp(float x) {
    if (x != x) return 0.0f;
    if (x > 0.0f) return x > 88.0f ? INFINITY : 1.0f / exp_det(-x);
    return exp_det(x);
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* uniform in [0, 1) with 53 random bits */
static double rng_uniform(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * 0x1.0p-53; }

/* The same as sanitize, in bit operations (vectorisable). */
static inline float sanitize_bits(float v) {
    uint32_t b = f32_to_bits(v);
    uint32_t nan = -(uint32_t)((b & 0x7FFFFFFFu) > 0x7F800000u);
    uint32_t pinf = -(uint32_t)(b == 0x7F800000u);
    return f32_from_bits((b & ~(nan | pinf)) | (0xFF800000u & nan) | (0x7F7FFFFFu & pinf));
}

static inline float sanitize(float v) {
    v = v == v ? v : -INFINITY;
    return v > FLT_MAX ? FLT_MAX : v;
}

/* a ranks before b: larger value, then lower id */
static inline bool ranks_before(float av, int32_t aid, float bv, int32_t bid) {
    return (av > bv) | ((av == bv) & (aid < bid)); /* no branches: data-dependent */
}

static int cand_cmp_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (ranks_before(x->v, x->id, y->v, y->id)) return -1;
    if (ranks_before(y->v, y->id, x->v, x->id)) return 1;
    return 0;
}

/* ---- lifetime ------------------------------------------------------------ */

void sampler_reset(sampler *s, uint64_t seed) {
    if (!s) return;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    if (s->track) {
        for (size_t i = 0; i < s->n_present; i++) {
            int32_t t = s->present[i];
            s->count[t] = 0;
            s->mark[t] &= (uint8_t)~MARK_PEN;
        }
        s->n_present = 0;
        s->ring_len = s->ring_pos = 0;
    }
}

void sampler_free(sampler *s) {
    if (!s) return;
    free(s->bias);
    free(s->mark);
    free(s->count);
    free(s->present);
    free(s->present_pos);
    free(s->ring);
    free(s->cands);
    free(s->work);
    free(s->block_sum);
    free(s);
}

qwq_status sampler_new(const gen_options *opts, int32_t n_vocab, uint64_t seed, sampler **out) {
    if (!out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "sampler_new: out is NULL");
    *out = NULL;
    if (n_vocab <= 0) return err_set(QWQ_ERR_INVALID_ARGUMENT, "sampler_new: n_vocab %d must be > 0", (int)n_vocab);
    gen_options defaults;
    gen_options_init(&defaults);
    const gen_options *o = opts ? opts : &defaults;
    qwq_status st = gen_options_check_vocab(o, n_vocab);
    if (st) return st;
    if (!(o->temperature >= 0) || !(o->top_p >= 0 && o->top_p <= 1) || !(o->min_p >= 0 && o->min_p <= 1) ||
        !(o->repetition_penalty > 0) || o->top_k < 0 || o->repeat_last_n < -1)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "sampler_new: options out of range (use gen_options_parse)");
    sampler *s = mem_calloc(1, sizeof *s, "sampler");
    if (!s) return QWQ_ERR_OUT_OF_MEMORY;
    size_t nv = (size_t)n_vocab;
    s->n_vocab = n_vocab;
    s->temp = o->temperature;
    s->top_p = o->top_p;
    s->min_p = o->min_p;
    s->pres = o->presence_penalty;
    s->freq = o->frequency_penalty;
    s->rep = o->repetition_penalty;
    s->top_k = o->top_k >= n_vocab ? 0 : o->top_k;
    s->last_n = o->repeat_last_n;
    s->greedy = o->temperature == 0.0f || o->top_k == 1;
    s->track = s->last_n != 0 && (s->pres != 0.0f || s->freq != 0.0f || s->rep != 1.0f);
    st = QWQ_ERR_OUT_OF_MEMORY;
    if (o->n_logit_bias) {
        s->bias = mem_calloc(o->n_logit_bias, sizeof *s->bias, "sampler logit_bias");
        if (!s->bias) goto fail;
        memcpy(s->bias, o->logit_bias, o->n_logit_bias * sizeof *s->bias);
        s->n_bias = o->n_logit_bias;
    }
    if (s->n_bias || s->track) {
        s->mark = mem_calloc(nv, 1, "sampler marks");
        if (!s->mark) goto fail;
        for (size_t i = 0; i < s->n_bias; i++) s->mark[s->bias[i].token] |= MARK_BIAS;
    }
    if (s->track) {
        s->count = mem_calloc(nv, sizeof *s->count, "sampler counts");
        s->present = mem_calloc(nv, sizeof *s->present, "sampler history");
        s->present_pos = mem_calloc(nv, sizeof *s->present_pos, "sampler history");
        if (!s->count || !s->present || !s->present_pos) goto fail;
        if (s->last_n > 0) {
            s->ring = mem_calloc((size_t)s->last_n, sizeof *s->ring, "sampler penalty window");
            if (!s->ring) goto fail;
        }
    }
    size_t k = s->greedy ? 1 : s->top_k ? (size_t)s->top_k : nv;
    s->cand_cap = k;
    s->cands = mem_calloc(k, sizeof *s->cands, "sampler candidates");
    if (!s->cands) goto fail;
    if (!s->greedy && s->top_k == 0) {
        s->work = mem_calloc(nv, sizeof *s->work, "sampler scratch");
        s->n_blocks = (nv + DBLOCK - 1) / DBLOCK;
        s->block_sum = mem_calloc(s->n_blocks, sizeof *s->block_sum, "sampler scratch");
        if (!s->work || !s->block_sum) goto fail;
    }
    sampler_reset(s, seed);
    *out = s;
    return QWQ_OK;
fail:
    sampler_free(s);
    return st;
}

qwq_status sampler_accept(sampler *s, qwq_token token) {
    if (!s) return err_set(QWQ_ERR_INVALID_ARGUMENT, "sampler_accept: sampler is NULL");
    if (token < 0 || token >= s->n_vocab)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "sampler_accept: token %d is out of range [0, %d)", (int)token,
                       (int)s->n_vocab);
    if (!s->track) return QWQ_OK;
    if (s->last_n > 0) {
        if (s->ring_len == (size_t)s->last_n) {
            int32_t old = s->ring[s->ring_pos];
            if (--s->count[old] == 0) {
                int32_t pos = s->present_pos[old];
                int32_t last = s->present[--s->n_present];
                s->present[pos] = last;
                s->present_pos[last] = pos;
                s->mark[old] &= (uint8_t)~MARK_PEN;
            }
        } else {
            s->ring_len++;
        }
        s->ring[s->ring_pos] = token;
        s->ring_pos = (s->ring_pos + 1) % (size_t)s->last_n;
    }
    if (s->count[token]++ == 0) {
        s->present_pos[token] = (int32_t)s->n_present;
        s->present[s->n_present++] = token;
        s->mark[token] |= MARK_PEN;
    }
    if (s->count[token] == 0) s->count[token] = UINT32_MAX; /* saturate (never in practice) */
    return QWQ_OK;
}

/* ---- logits -------------------------------------------------------------- */

static float bias_of(const sampler *s, int32_t t) {
    size_t lo = 0, hi = s->n_bias;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->bias[mid].token < t) lo = mid + 1;
        else hi = mid;
    }
    return s->bias[lo].bias; /* present: the token is marked */
}

/* The logit of a marked token after bias and penalties. */
static float adjusted(const sampler *s, const float *logits, int32_t t) {
    float v = sanitize(logits[t]);
    uint8_t m = s->mark[t];
    if (m & MARK_BIAS) {
        float b = bias_of(s, t);
        if (b <= -100.0f) return -INFINITY;
        v += b;
    }
    if (m & MARK_PEN) {
        if (s->rep != 1.0f) v = v <= 0.0f ? v * s->rep : v / s->rep;
        v -= (float)s->count[t] * s->freq + s->pres;
    }
    return sanitize(v);
}

/* ---- top-k by a bounded min-heap (root = the worst kept) ----------------- */

static void heap_sift_down(cand *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, w = i;
        if (l < n && ranks_before(h[w].v, h[w].id, h[l].v, h[l].id)) w = l;
        if (l + 1 < n && ranks_before(h[w].v, h[w].id, h[l + 1].v, h[l + 1].id)) w = l + 1;
        if (w == i) return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void heap_offer(cand *h, size_t *n, size_t k, float v, int32_t id) {
    if (*n < k) {
        size_t i = (*n)++;
        h[i].v = v;
        h[i].id = id;
        while (i) { /* sift up: the worst rises to the root */
            size_t p = (i - 1) / 2;
            if (!ranks_before(h[p].v, h[p].id, h[i].v, h[i].id)) break;
            cand t = h[i];
            h[i] = h[p];
            h[p] = t;
            i = p;
        }
    } else if (ranks_before(v, id, h[0].v, h[0].id)) {
        h[0].v = v;
        h[0].id = id;
        heap_sift_down(h, *n, 0);
    }
}

#define BLOCK 64

/* Whether any of BLOCK logits could enter the heap (NaN never does). */
static inline bool block_any_ge(const float *b, float thr) {
    int32_t any[LANES] = {0};
    for (size_t j = 0; j < BLOCK; j += LANES)
        for (size_t l = 0; l < LANES; l++) any[l] |= b[j + l] >= thr;
    int32_t r = 0;
    for (size_t l = 0; l < LANES; l++) r |= any[l];
    return r != 0;
}

/* The k best tokens by adjusted logit into s->cands, best first; returns
 * how many (fewer than k when fewer tokens are finite). */
static size_t select_top_k(sampler *s, const float *logits, size_t k) {
    cand *h = s->cands;
    size_t n = 0, nv = (size_t)s->n_vocab;
    const uint8_t *mark = s->mark;
    if (mark) {
        for (size_t i = 0; i < s->n_bias; i++) {
            int32_t t = s->bias[i].token;
            float v = adjusted(s, logits, t);
            if (v > -INFINITY) heap_offer(h, &n, k, v, t);
        }
        for (size_t i = 0; i < s->n_present; i++) {
            int32_t t = s->present[i];
            if (mark[t] & MARK_BIAS) continue; /* done above */
            float v = adjusted(s, logits, t);
            if (v > -INFINITY) heap_offer(h, &n, k, v, t);
        }
    }
    size_t i = 0;
    for (; i < nv && n < k; i++) {
        if (mark && mark[i]) continue;
        float v = sanitize(logits[i]);
        if (v > -INFINITY) heap_offer(h, &n, k, v, (int32_t)i);
    }
    if (n == k) {
        float thr = h[0].v;
        for (; i + BLOCK <= nv; i += BLOCK) {
            const float *b = logits + i;
            if (!block_any_ge(b, thr)) continue;
            for (size_t j = 0; j < BLOCK; j++) {
                if (!(b[j] >= thr) || (mark && mark[i + j])) continue;
                heap_offer(h, &n, k, sanitize(b[j]), (int32_t)(i + j));
                thr = h[0].v;
            }
        }
        for (; i < nv; i++) {
            if (!(logits[i] >= thr) || (mark && mark[i])) continue;
            heap_offer(h, &n, k, sanitize(logits[i]), (int32_t)i);
            thr = h[0].v;
        }
    }
    qsort(h, n, sizeof *h, cand_cmp_desc);
    return n;
}

/* ---- selection for top-p without top-k ------------------------------------ */

static void cand_swap(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Median of three of c[lo], c[mid], c[hi - 1], moved to c[hi - 1]; then
 * partitions c[lo, hi) around it. Returns the pivot's index: c[lo, p)
 * rank before it, c[p + 1, hi) after it. Keys are unique (ids are). */
static size_t partition(cand *c, size_t lo, size_t hi) {
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    if (ranks_before(c[mid].v, c[mid].id, c[lo].v, c[lo].id)) cand_swap(&c[mid], &c[lo]);
    if (ranks_before(c[last].v, c[last].id, c[lo].v, c[lo].id)) cand_swap(&c[last], &c[lo]);
    if (ranks_before(c[mid].v, c[mid].id, c[last].v, c[last].id)) cand_swap(&c[mid], &c[last]);
    cand pivot = c[last];
    size_t store = lo;
    for (size_t j = lo; j < last; j++) {
        /* branch-free Lomuto: always swap, advance on "ranks before"; a
         * swap that does not advance exchanges two "after" elements */
        bool before = ranks_before(c[j].v, c[j].id, pivot.v, pivot.id);
        cand x = c[j];
        c[j] = c[store];
        c[store] = x;
        store += before;
    }
    cand_swap(&c[store], &c[last]);
    return store;
}

/* The nucleus of c[0..n) (masses in .v): reorders c so that c[0..m) are
 * the m best-ranked and returns the smallest such m whose mass reaches
 * thr (n when none does). A selection, not a sort: expected O(n). The
 * nucleus comes out in no particular (but deterministic) order. */
static size_t nucleus(cand *c, size_t n, double thr) {
    size_t lo = 0, hi = n; /* c[0, lo) are in, with mass `before`; the boundary is in [lo, hi) */
    double before = 0;
    int rounds = 0;
    while (hi > lo) {
        if (hi - lo <= 16 || ++rounds > 64) { /* small, or bad pivots: rank the rest */
            qsort(c + lo, hi - lo, sizeof *c, cand_cmp_desc);
            for (size_t i = lo; i < hi; i++) {
                before += c[i].v;
                if (before >= thr) return i + 1;
            }
            return hi;
        }
        size_t p = partition(c, lo, hi);
        double left = 0;
        for (size_t i = lo; i < p; i++) left += c[i].v;
        if (before + left >= thr) {
            hi = p; /* the boundary ranks before the pivot */
            continue;
        }
        before += left + c[p].v;
        if (before >= thr) return p + 1;
        lo = p + 1;
    }
    return lo;
}

/* ---- the candidate set ----------------------------------------------------- */

typedef struct cset {
    size_t n;     /* number of candidates */
    double total; /* their unnormalised mass */
    /* false: s->cands[0..n) in rank order, masses in .v;
     * true: the tokens i with work[i] >= floor, in id order, with the mass
     * of each DBLOCK-token block in block_sum (the full vocabulary without
     * top_p: nothing needs ranking) */
    bool in_work;
    bool ranked; /* s->cands are in rank order */
    float floor;
} cset;

static float lanes_max(const float *w, size_t n) {
    float m[LANES];
    for (size_t j = 0; j < LANES; j++) m[j] = -INFINITY;
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (size_t j = 0; j < LANES; j++) m[j] = w[i + j] > m[j] ? w[i + j] : m[j];
    for (; i < n; i++) m[0] = w[i] > m[0] ? w[i] : m[0];
    float r = m[0];
    for (size_t j = 1; j < LANES; j++) r = m[j] > r ? m[j] : r;
    return r;
}

static void copy_sanitized(float *restrict w, const float *restrict l, size_t n) {
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (size_t j = 0; j < LANES; j++) w[i + j] = sanitize_bits(l[i + j]);
    for (; i < n; i++) w[i] = sanitize_bits(l[i]);
}

/* w[i] = exp((w[i] - vmax) / temp) */
static void exp_pass(float *w, size_t n, float vmax, float temp) {
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (size_t j = 0; j < LANES; j++) w[i + j] = exp_det((w[i + j] - vmax) / temp);
    for (; i < n; i++) w[i] = exp_det((w[i] - vmax) / temp);
}

/* Mass of the tokens of w[lo, hi) with e >= floor, and how many there are.
 * The order of the additions is fixed by the code (4 partial sums over a
 * full DBLOCK block; one for a partial block), whatever the compiler does
 * with it. */
static double block_mass(const float *w, size_t lo, size_t hi, float floor, size_t *count) {
    if (hi - lo == DBLOCK) {
        double a[4] = {0};
        int32_t c[4] = {0};
        for (size_t i = lo; i < hi; i += 4)
            for (size_t j = 0; j < 4; j++) {
                float e = w[i + j];
                uint32_t keep = -(uint32_t)(e >= floor);
                a[j] += (double)f32_from_bits(f32_to_bits(e) & keep);
                c[j] += (int32_t)(keep & 1u);
            }
        *count += (size_t)(c[0] + c[1] + c[2] + c[3]);
        return (a[0] + a[1]) + (a[2] + a[3]);
    }
    double t = 0;
    for (size_t i = lo; i < hi; i++)
        if (w[i] >= floor) { t += w[i]; (*count)++; }
    return t;
}

/* Total mass of w >= floor over all blocks (block sums into bs if given). */
static double vocab_mass(const float *w, size_t nv, float floor, double *bs, size_t *count) {
    double total = 0;
    for (size_t lo = 0, b = 0; lo < nv; lo += DBLOCK, b++) {
        size_t hi = lo + DBLOCK < nv ? lo + DBLOCK : nv;
        double m = block_mass(w, lo, hi, floor, count);
        if (bs) bs[b] = m;
        total += m;
    }
    return total;
}

static bool top_k_set(sampler *s, const float *logits, cset *cs) {
    size_t n = select_top_k(s, logits, s->greedy ? 1 : (size_t)s->top_k);
    if (n == 0) return false;
    cs->in_work = false;
    cs->ranked = true;
    if (s->greedy) {
        s->cands[0].v = 1.0f;
        cs->n = 1;
        cs->total = 1.0;
        return true;
    }
    cand *c = s->cands;
    float vmax = c[0].v;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        c[i].v = exp_det((c[i].v - vmax) / s->temp);
        sum += c[i].v;
    }
    size_t m = n;
    if (s->top_p < 1.0f) {
        double thr = (double)s->top_p * sum, cum = 0;
        for (size_t i = 0; i < n; i++) {
            cum += c[i].v;
            if (cum >= thr) { m = i + 1; break; }
        }
    }
    size_t keep = 0;
    double kept = 0;
    for (size_t i = 0; i < m; i++) {
        if (s->min_p > 0.0f && !(c[i].v >= s->min_p)) continue;
        if (!(c[i].v > 0.0f)) continue;
        c[keep++] = c[i];
        kept += c[i].v;
    }
    cs->n = keep; /* >= 1: the first has e = 1 >= min_p */
    cs->total = kept;
    return keep > 0;
}

static bool full_set(sampler *s, const float *logits, cset *cs) {
    size_t nv = (size_t)s->n_vocab;
    float *w = s->work;
    copy_sanitized(w, logits, nv);
    if (s->mark) {
        for (size_t k = 0; k < s->n_bias; k++) w[s->bias[k].token] = adjusted(s, logits, s->bias[k].token);
        for (size_t k = 0; k < s->n_present; k++) w[s->present[k]] = adjusted(s, logits, s->present[k]);
    }
    float vmax = lanes_max(w, nv);
    if (vmax == -INFINITY) return false;
    exp_pass(w, nv, vmax, s->temp); /* the maximum gets e = 1 */
    float floor = s->min_p > 0.0f ? s->min_p : FLT_MIN; /* e < FLT_MIN counts as 0 */
    if (s->top_p >= 1.0f) {
        size_t count = 0;
        cs->total = vocab_mass(w, nv, floor, s->block_sum, &count);
        cs->in_work = true;
        cs->ranked = false;
        cs->floor = floor;
        cs->n = count;
        return count > 0;
    }
    size_t ignored = 0;
    double all = vocab_mass(w, nv, 0.0f, NULL, &ignored);
    /* top-p. Tokens with e < cut hold less than (1 - top_p) of the mass
     * together (n_vocab * cut < (1 - top_p) * all), so the nucleus lies
     * among the tokens >= cut: only those are collected. min_p keeps a
     * prefix of the ranking too; the answer is the shorter prefix. */
    float cut = (float)((1.0 - (double)s->top_p) * all / (double)nv * 0.999999);
    float f2 = cut > floor ? cut : floor;
    cand *c = s->cands;
    size_t n = 0, i = 0;
    for (; i + BLOCK <= nv; i += BLOCK) {
        if (!block_any_ge(w + i, f2)) continue;
        for (size_t j = i; j < i + BLOCK; j++) { /* branch-free compaction: n <= j */
            c[n].v = w[j];
            c[n].id = (int32_t)j;
            n += w[j] >= f2;
        }
    }
    for (; i < nv; i++) {
        c[n].v = w[i];
        c[n].id = (int32_t)i;
        n += w[i] >= f2;
    }
    n = nucleus(c, n, (double)s->top_p * all);
    double kept = 0;
    for (size_t k = 0; k < n; k++) kept += c[k].v;
    cs->in_work = false;
    cs->ranked = false;
    cs->n = n;
    cs->total = kept;
    return n > 0;
}

/* Fills *cs, or sets the error and returns false. */
static bool prepare(sampler *s, const float *logits, cset *cs) {
    bool ok = s->greedy || s->top_k > 0 ? top_k_set(s, logits, cs) : full_set(s, logits, cs);
    if (!ok) err_set(QWQ_ERR_INVALID_ARGUMENT, "sampler: no token can be sampled (every logit is -inf, NaN or banned)");
    return ok;
}

static qwq_token draw_in_work(const sampler *s, const cset *cs, double target) {
    const float *w = s->work;
    size_t nv = (size_t)s->n_vocab;
    double cum = 0;
    qwq_token last = -1;
    for (size_t b = 0; b < s->n_blocks; b++) {
        double bs = s->block_sum[b];
        if (bs <= 0) continue;
        size_t lo = b * DBLOCK, hi = lo + DBLOCK < nv ? lo + DBLOCK : nv;
        if (target < cum + bs) {
            double c = cum;
            for (size_t i = lo; i < hi; i++) {
                if (!(w[i] >= cs->floor)) continue;
                c += w[i];
                last = (qwq_token)i;
                if (target < c) return last;
            }
            return last; /* rounding between the block's two sums */
        }
        cum += bs;
        for (size_t i = hi; i-- > lo;)
            if (w[i] >= cs->floor) { last = (qwq_token)i; break; }
    }
    return last; /* rounding: target reached the total */
}

qwq_token sampler_sample(sampler *s, const float *logits) {
    if (!s || !logits) {
        err_set(QWQ_ERR_INVALID_ARGUMENT, "sampler_sample: NULL argument");
        return -1;
    }
    cset cs;
    if (!prepare(s, logits, &cs)) return -1;
    if (s->greedy) return s->cands[0].id;
    double target = rng_uniform(s->rng) * cs.total; /* one draw per non-greedy sample */
    if (cs.in_work) return draw_in_work(s, &cs, target);
    const cand *c = s->cands;
    double cum = 0;
    for (size_t i = 0; i < cs.n; i++) {
        cum += c[i].v;
        if (target < cum) return c[i].id;
    }
    return c[cs.n - 1].id; /* rounding: target reached the total */
}

qwq_status sampler_candidates(sampler *s, const float *logits, qwq_token *ids, float *probs, size_t cap,
                              size_t *n_out) {
    if (!s || !logits || !n_out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "sampler_candidates: NULL argument");
    cset cs;
    if (!prepare(s, logits, &cs)) return QWQ_ERR_INVALID_ARGUMENT;
    *n_out = cs.n;
    if (cap < cs.n)
        return err_set(QWQ_ERR_BUFFER_TOO_SMALL, "sampler_candidates: %zu candidates, room for %zu", cs.n, cap);
    if (!ids || !probs) return err_set(QWQ_ERR_INVALID_ARGUMENT, "sampler_candidates: NULL output");
    if (cs.in_work) { /* gather and rank (the full path has n_vocab cands) */
        size_t n = 0;
        for (size_t i = 0; i < (size_t)s->n_vocab; i++)
            if (s->work[i] >= cs.floor) { s->cands[n].v = s->work[i]; s->cands[n].id = (int32_t)i; n++; }
        qsort(s->cands, n, sizeof *s->cands, cand_cmp_desc);
    } else if (!cs.ranked) {
        qsort(s->cands, cs.n, sizeof *s->cands, cand_cmp_desc);
    }
    for (size_t i = 0; i < cs.n; i++) {
        ids[i] = s->cands[i].id;
        probs[i] = (float)(s->cands[i].v / cs.total);
    }
    return QWQ_OK;
}
