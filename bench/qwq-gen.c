/*
 * qwq-gen - writes a random-weight GGUF of any Qwen2 / Qwen3 shape.
 *
 *   qwq-gen --preset qwq-32b --type q4_K_M -o qwq-32b-q4_K_M.gguf
 *   qwq-gen --preset tiny --type q8_0 -o build/models/tiny.gguf
 *
 * The files follow what llama.cpp's converter and llama-quantize write
 * (metadata keys, tensor names, shapes, per-tensor type choices of the
 * q4_K_M / q5_K_M mixes), so other engines load them too. Quantized blocks
 * are produced directly from random bytes with scales chosen so that the
 * dequantized weights have a standard deviation of about --sigma (0.02)
 * and zero mean: nothing goes through floats, and a 20 GB model is written
 * as fast as the disk takes it.
 *
 * The vocabulary is either copied from a GGUF (--vocab-from: every
 * tokenizer.* key) or synthesised: the 256 byte-level tokens, merges of
 * common English words, Qwen's added tokens, [PAD] rows up to --vocab.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "kernels/qtypes.h"
#include "kernels/quant.h"
#include "util/util.h"

/* ---- random numbers ------------------------------------------------------ */

/* Counter-based random bytes: byte p of a tensor's stream is byte p % 8 of
 * mix(key + p / 8), so the content does not depend on how the writer cuts
 * the tensor into chunks. */
static inline uint64_t mix64(uint64_t key, uint64_t ctr) {
    uint64_t z = key + (ctr + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void random_bytes_at(uint64_t key, uint64_t offset, uint8_t *p, size_t n) {
    uint64_t ctr = offset / 8;
    size_t skip = (size_t)(offset % 8), i = 0;
    if (skip && n) {
        uint64_t v = mix64(key, ctr++);
        uint8_t b[8];
        memcpy(b, &v, 8);
        for (; skip < 8 && i < n; skip++, i++) p[i] = b[skip];
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t v = mix64(key, ctr++);
        memcpy(p + i, &v, 8);
    }
    if (i < n) {
        uint64_t v = mix64(key, ctr);
        memcpy(p + i, &v, n - i);
    }
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- model description ------------------------------------------------------ */

typedef struct model_cfg {
    char arch[8]; /* qwen2 / qwen3 */
    char name[64];
    int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    bool tied;
    float theta, eps;
} model_cfg;

typedef struct preset {
    const char *name;
    model_cfg cfg;
} preset;

static const preset presets[] = {
    {"qwq-32b", {"qwen2", "QwQ-32B (random weights)", 64, 5120, 40, 8, 128, 27648, 152064, 131072, false, 1e6f, 1e-5f}},
    {"qwen3-32b", {"qwen3", "Qwen3-32B (random weights)", 64, 5120, 64, 8, 128, 25600, 151936, 40960, false, 1e6f, 1e-6f}},
    {"qwen2.5-7b", {"qwen2", "Qwen2.5-7B (random weights)", 28, 3584, 28, 4, 128, 18944, 152064, 32768, false, 1e6f, 1e-6f}},
    {"qwen2.5-0.5b", {"qwen2", "Qwen2.5-0.5B (random weights)", 24, 896, 14, 2, 64, 4864, 151936, 32768, true, 1e6f, 1e-6f}},
    {"qwen3-0.6b", {"qwen3", "Qwen3-0.6B (random weights)", 28, 1024, 16, 8, 128, 3072, 151936, 40960, true, 1e6f, 1e-6f}},
    {"tiny", {"qwen2", "tiny (random weights)", 4, 256, 8, 2, 32, 768, 1152, 4096, false, 1e6f, 1e-5f}},
    {"tiny-qwen3", {"qwen3", "tiny-qwen3 (random weights)", 4, 256, 8, 2, 64, 768, 1152, 4096, true, 1e6f, 1e-6f}},
};

/* ---- weight types and mixes ---------------------------------------------------- */

typedef enum mix { MIX_NONE, MIX_K_M } mix;

typedef struct ftype_desc {
    const char *name;
    uint32_t base;      /* qtype of most 2-D weights */
    mix mix;
    uint32_t file_type; /* llama_ftype written to general.file_type */
} ftype_desc;

static const ftype_desc ftypes[] = {
    {"f32", QTYPE_F32, MIX_NONE, 0},     {"f16", QTYPE_F16, MIX_NONE, 1},
    {"bf16", QTYPE_BF16, MIX_NONE, 32},  {"q8_0", QTYPE_Q8_0, MIX_NONE, 7},
    {"q4_0", QTYPE_Q4_0, MIX_NONE, 2},   {"q4_1", QTYPE_Q4_1, MIX_NONE, 3},
    {"q5_0", QTYPE_Q5_0, MIX_NONE, 8},   {"q5_1", QTYPE_Q5_1, MIX_NONE, 9},
    {"q2_K", QTYPE_Q2_K, MIX_NONE, 10},  {"q3_K", QTYPE_Q3_K, MIX_NONE, 11},
    {"q4_K", QTYPE_Q4_K, MIX_NONE, 14},  {"q5_K", QTYPE_Q5_K, MIX_NONE, 16},
    {"q6_K", QTYPE_Q6_K, MIX_NONE, 18},  {"q4_K_M", QTYPE_Q4_K, MIX_K_M, 15},
    {"q5_K_M", QTYPE_Q5_K, MIX_K_M, 17},
};

static bool is_float_type(uint32_t t) { return t == QTYPE_F32 || t == QTYPE_F16 || t == QTYPE_BF16; }
static bool is_k_type(uint32_t t) { return t >= QTYPE_Q2_K && t <= QTYPE_Q6_K; }

/* llama.cpp's choice for layers i of n in the _M mixes: the first and last
 * eighth, and every third layer in between. */
static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* A K type on a row that is not whole super-blocks falls back to a 32-block
 * type, as llama-quantize does (it picks iq4_nl for q2_K/q3_K, which libqwq
 * does not run: q4_0 here, the same size). */
static uint32_t fit_type(uint32_t t, uint64_t ne0) {
    if (!is_k_type(t) || ne0 % QK_K == 0) return t;
    switch (t) {
    case QTYPE_Q4_K: return QTYPE_Q5_0;
    case QTYPE_Q5_K: return QTYPE_Q5_1;
    case QTYPE_Q6_K: return QTYPE_Q8_0;
    default: return QTYPE_Q4_0;
    }
}

typedef enum tkind { T_EMBD, T_OUTPUT, T_NORM, T_BIAS, T_ATTN_V, T_FFN_DOWN, T_WEIGHT } tkind;

/* The type of a tensor, the way llama-quantize chooses it (no imatrix). */
static uint32_t pick_type(const ftype_desc *ft, bool pure, tkind kind, int layer, int n_layer,
                          uint64_t ne0, bool tied) {
    if (kind == T_NORM || kind == T_BIAS) return QTYPE_F32;
    uint32_t t = ft->base;
    if (is_float_type(t) || pure) return t;
    if (kind == T_OUTPUT || (kind == T_EMBD && tied)) {
        if (ne0 % qtype_get(t)->block_elems != 0) return QTYPE_Q8_0;
        if (t != QTYPE_Q8_0) t = QTYPE_Q6_K;
        return fit_type(t, ne0);
    }
    if (ft->mix == MIX_K_M && (kind == T_ATTN_V || kind == T_FFN_DOWN) && use_more_bits(layer, n_layer))
        t = QTYPE_Q6_K;
    return fit_type(t, ne0);
}

/* ---- block generators ---------------------------------------------------------- */

#define GAUSS_N 4096

typedef struct gen_tables {
    float gauss[GAUSS_N];  /* N(0,1) quantiles, shuffled-free: indexed by random bits */
} gen_tables;

/* Inverse of the standard normal CDF (Acklam's rational approximation,
 * relative error ~1e-9: plenty for random weights). */
static double norm_ppf(double p) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    double q, r;
    if (p < 0.02425) {
        q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - 0.02425) return -norm_ppf(1 - p);
    q = p - 0.5;
    r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

static void tables_init(gen_tables *g) {
    for (int i = 0; i < GAUSS_N; i++) g->gauss[i] = (float)norm_ppf((i + 0.5) / GAUSS_N);
}

/* How to produce one tensor. */
typedef struct tensor_gen {
    char name[64];
    uint32_t n_dims;
    uint64_t ne[2];
    uint32_t type;
    tkind kind;
    uint64_t seed;
    /* element tables (float types) */
    float mean, sd;
    union {
        float f32[GAUSS_N];
        uint16_t h[GAUSS_N];
    } vals;
    /* per-block scale tables, indexed by a random byte (quantized types) */
    uint16_t dtab[256], mtab[256];
} tensor_gen;

/* Standard deviation of the integer levels of each type and the mean scale
 * the generator uses, so that d = sd / (level_sd * mean_scale). */
static void gen_prepare(tensor_gen *t, const gen_tables *g) {
    if (is_float_type(t->type)) {
        for (int i = 0; i < GAUSS_N; i++) {
            float v = t->mean + t->sd * g->gauss[i];
            if (t->type == QTYPE_F32) t->vals.f32[i] = v;
            else if (t->type == QTYPE_F16) t->vals.h[i] = fp16_from_f32(v);
            else t->vals.h[i] = bf16_from_f32(v);
        }
        return;
    }
    double level_sd = 1, scale = 1, center = 0; /* center: offset removed by m / dmin */
    switch (t->type) {
    case QTYPE_Q8_0: level_sd = sqrt(127.0 * 128.0 / 3.0); break; /* uniform -127..127 */
    case QTYPE_Q4_0: level_sd = sqrt(255.0 / 12.0); break;          /* -8..7 */
    case QTYPE_Q4_1: level_sd = sqrt(255.0 / 12.0); center = 7.5; break;
    case QTYPE_Q5_0: level_sd = sqrt(1023.0 / 12.0); break;
    case QTYPE_Q5_1: level_sd = sqrt(1023.0 / 12.0); center = 15.5; break;
    case QTYPE_Q2_K: level_sd = sqrt(15.0 / 12.0); scale = 11.5; center = 1.5; break; /* sc 8..15 */
    case QTYPE_Q3_K: level_sd = sqrt(63.0 / 12.0); scale = 23.5; break;              /* s 16..31 */
    case QTYPE_Q4_K: level_sd = sqrt(255.0 / 12.0); scale = 47.5; center = 7.5; break; /* sc 32..63 */
    case QTYPE_Q5_K: level_sd = sqrt(1023.0 / 12.0); scale = 47.5; center = 15.5; break;
    case QTYPE_Q6_K: level_sd = sqrt(4095.0 / 12.0); scale = 47.5; break; /* s 32..63 */
    default: break;
    }
    /* scale sd per block around the target (x0.75..x1.25) keeps the overall sd */
    double d0 = t->sd / (level_sd * scale) / sqrt(1.0 + 0.25 * 0.25 / 3.0);
    /* Types whose levels are not centred (q4_0: -8..7) get a random sign on
     * d, as ggml's quantizers also produce, so the weights have zero mean. */
    bool flip = t->type == QTYPE_Q4_0 || t->type == QTYPE_Q5_0 || t->type == QTYPE_Q3_K || t->type == QTYPE_Q6_K;
    for (int k = 0; k < 256; k++) {
        double d = flip ? d0 * (0.75 + 0.5 * (k & 127) / 127.0) * (k & 128 ? -1 : 1) : d0 * (0.75 + 0.5 * k / 255.0);
        t->dtab[k] = fp16_from_f32((float)d);
        double dr = fp16_to_f32(t->dtab[k]);
        /* Q4_1 / Q5_1: m = -center * d; K types: dmin = center * d (the mins equal the scales) */
        t->mtab[k] = fp16_from_f32((float)(t->type == QTYPE_Q4_1 || t->type == QTYPE_Q5_1 ? -center * dr : center * dr));
    }
}

static void put_h(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/* Packs 8 six-bit scales and mins (Q4_K / Q5_K layout). */
static void pack_k_scales(uint8_t *s, const uint8_t *sc, const uint8_t *m) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)((m[j] & 63) | (m[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
}

/* Fills n bytes (whole blocks) of tensor t. The bytes start random; then the
 * fields that carry scales get values in range. */
static void gen_blocks(const tensor_gen *t, uint64_t offset, uint8_t *buf, size_t n) {
    random_bytes_at(t->seed, offset, buf, n);
    size_t i;
    switch (t->type) {
    case QTYPE_F32:
        for (i = 0; i + 4 <= n; i += 4) {
            uint32_t v;
            memcpy(&v, buf + i, 4);
            memcpy(buf + i, &t->vals.f32[v & (GAUSS_N - 1)], 4);
        }
        break;
    case QTYPE_F16:
    case QTYPE_BF16:
        for (i = 0; i + 2 <= n; i += 2) {
            uint16_t v;
            memcpy(&v, buf + i, 2);
            memcpy(buf + i, &t->vals.h[v & (GAUSS_N - 1)], 2);
        }
        break;
    case QTYPE_Q8_0:
        for (i = 0; i < n; i += sizeof(block_q8_0)) {
            block_q8_0 *b = (block_q8_0 *)(buf + i);
            put_h((uint8_t *)&b->d, t->dtab[buf[i]]);
            /* ggml's levels are -127..127: -128 becomes 0 (keeps the mean at 0) */
            for (int j = 0; j < QK8_0; j++) b->qs[j] = (int8_t)(b->qs[j] == -128 ? 0 : b->qs[j]);
        }
        break;
    case QTYPE_Q4_0:
    case QTYPE_Q5_0:
        for (i = 0; i < n; i += qtype_get(t->type)->block_bytes) put_h(buf + i, t->dtab[buf[i]]);
        break;
    case QTYPE_Q4_1:
    case QTYPE_Q5_1:
        for (i = 0; i < n; i += qtype_get(t->type)->block_bytes) {
            uint8_t k = buf[i];
            put_h(buf + i, t->dtab[k]);
            put_h(buf + i + 2, t->mtab[k]);
        }
        break;
    case QTYPE_Q2_K:
        for (i = 0; i < n; i += sizeof(block_q2_K)) {
            block_q2_K *b = (block_q2_K *)(buf + i);
            uint8_t k = b->qs[0];
            for (int j = 0; j < QK_K / 16; j++) {
                uint8_t sc = (uint8_t)(8 + (b->scales[j] & 7));
                b->scales[j] = (uint8_t)(sc | sc << 4);
            }
            put_h((uint8_t *)&b->d, t->dtab[k]);
            put_h((uint8_t *)&b->dmin, t->mtab[k]);
        }
        break;
    case QTYPE_Q3_K:
        for (i = 0; i < n; i += sizeof(block_q3_K)) {
            block_q3_K *b = (block_q3_K *)(buf + i);
            /* low nibbles stay random (0..15), high bits all 3: s = 16..31 */
            memset(b->scales + 8, 0xff, 4);
            put_h((uint8_t *)&b->d, t->dtab[b->qs[0]]);
        }
        break;
    case QTYPE_Q4_K:
    case QTYPE_Q5_K:
        for (i = 0; i < n; i += qtype_get(t->type)->block_bytes) {
            /* d, dmin and scales sit at the same place in both layouts */
            block_q4_K *b = (block_q4_K *)(buf + i);
            uint8_t sc[8];
            for (int j = 0; j < 8; j++) sc[j] = (uint8_t)(32 + (b->scales[j] & 31));
            pack_k_scales(b->scales, sc, sc);
            uint8_t k = b->qs[0];
            put_h((uint8_t *)&b->d, t->dtab[k]);
            put_h((uint8_t *)&b->dmin, t->mtab[k]);
        }
        break;
    case QTYPE_Q6_K:
        for (i = 0; i < n; i += sizeof(block_q6_K)) {
            block_q6_K *b = (block_q6_K *)(buf + i);
            for (int j = 0; j < QK_K / 16; j++) b->scales[j] = (int8_t)(32 + (b->scales[j] & 31));
            put_h((uint8_t *)&b->d, t->dtab[b->ql[0]]);
        }
        break;
    default: break;
    }
}

/* ---- writing with progress ----------------------------------------------------------- */

typedef struct gen_ctx {
    tensor_gen *tensors;
    size_t n_tensors;
    uint64_t seed;
    uint64_t bytes_done, total, next_report;
    double t0;
    bool progress;
} gen_ctx;

static qwq_status fill_tensor(void *user, size_t index, uint64_t offset, void *buf, size_t n) {
    gen_ctx *g = user;
    const tensor_gen *t = &g->tensors[index];
    gen_blocks(t, offset, buf, n);
    g->bytes_done += n;
    if (g->progress && g->bytes_done >= g->next_report) {
        double dt = time_now() - g->t0;
        fprintf(stderr, "\r  %6.2f / %.2f GB  %5.1f%%  %7.1f MB/s ", g->bytes_done / 1e9, g->total / 1e9,
                100.0 * (double)g->bytes_done / (double)(g->total ? g->total : 1), dt > 0 ? g->bytes_done / dt / 1e6 : 0.0);
        fflush(stderr);
        g->next_report = g->bytes_done + (256u << 20);
    }
    return QWQ_OK;
}

/* ---- vocabulary ---------------------------------------------------------------------- */

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static int sl_push(strlist *l, const char *s, size_t len) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        char **p = realloc(l->v, cap * sizeof *p);
        if (!p) return -1;
        l->v = p;
        l->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = 0;
    l->v[l->n++] = c;
    return 0;
}

static void sl_free(strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static ssize_t sl_find(const strlist *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0) return (ssize_t)i;
    return -1;
}

/* UTF-8 of a code point below 0x800 (all GPT-2 byte characters are). */
static size_t utf8_put(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

/* GPT-2's byte -> printable character map, and the order of the byte tokens
 * in Qwen's vocabulary (printable bytes first, then the others). */
static void byte_alphabet(unsigned cp_of_byte[256], uint8_t order[256]) {
    int n = 0, extra = 0;
    bool printable[256] = {false};
    for (int b = 33; b <= 126; b++) printable[b] = true;
    for (int b = 161; b <= 172; b++) printable[b] = true;
    for (int b = 174; b <= 255; b++) printable[b] = true;
    for (int b = 0; b < 256; b++)
        if (printable[b]) { cp_of_byte[b] = (unsigned)b; order[n++] = (uint8_t)b; }
    for (int b = 0; b < 256; b++)
        if (!printable[b]) { cp_of_byte[b] = 256u + (unsigned)extra++; order[n++] = (uint8_t)b; }
}

/* Text pieces that get merges, most frequent first; a leading space becomes
 * the 'Ġ' of byte-level BPE. */
static const char *const merge_words[] = {
    /* frequent pairs and fragments */
    "  ", "    ", "in", "er", "on", "re", "at", "en", "or", "an", "es", "is", "it", "al", "ar", "ed",
    "ing", "ion", "th", "he", "ou", "le", "st", "nd", "ic", "as", "ent", "ly", "ve", "ch", "ll",
    "\n\n", "ation", "ter", "ers", "tion", "ight", "ment", "ness", "able", "ful", "ous",
    /* words after a space */
    " the", " of", " and", " to", " a", " in", " is", " you", " that", " it", " he", " was", " for",
    " on", " are", " as", " with", " his", " they", " I", " at", " be", " this", " have", " from",
    " or", " one", " had", " by", " word", " but", " not", " what", " all", " were", " we", " when",
    " your", " can", " said", " there", " use", " an", " each", " which", " she", " do", " how",
    " their", " if", " will", " up", " other", " about", " out", " many", " then", " them", " these",
    " so", " some", " her", " would", " make", " like", " him", " into", " time", " has", " look",
    " two", " more", " write", " go", " see", " number", " no", " way", " could", " people", " my",
    " than", " first", " water", " been", " call", " who", " its", " now", " find", " long", " down",
    " day", " did", " get", " come", " made", " may", " part", " sky", " blue", " why", " light",
    " sun", " air", " color", " colour", " because", " scatter", " scattering", " short", " shorter",
    " wavelength", " wavelengths", " red", " reason", " question", " answer", " think", " model",
    " random", " weights", " hello", " world", " over", " new", " sound", " take", " only", " little",
    " work", " know", " place", " year", " live", " me", " back", " give", " most", " very", " after",
    " thing", " our", " just", " name", " good", " sentence", " man", " say", " great", " where",
    " help", " through", " much", " before", " line", " right", " too", " mean", " old", " any",
    " same", " tell", " boy", " follow", " came", " want", " show", " also", " around", " form",
    " three", " small", " set", " put", " end", " does", " another", " well", " large", " must",
    " big", " even", " such", " turn", " here", " ask", " went", " men", " read", " need", " land",
    " different", " home", " us", " move", " try", " kind", " hand", " picture", " again", " change",
    " off", " play", " spell", " away", " animal", " house", " point", " page", " letter", " mother",
    " found", " study", " still", " learn", " should", " world", " high", " every", " near", " add",
    " food", " between", " own", " below", " country", " plant", " last", " school", " father",
    " keep", " tree", " never", " start", " city", " earth", " eye", " thought", " head", " under",
    " story", " saw", " left", " few", " while", " along", " might", " close", " something", " seem",
    " next", " hard", " open", " example", " begin", " life", " always", " those", " both", " paper",
    " together", " got", " group", " often", " run", " important", " until", " children", " side",
    " feet", " car", " mile", " night", " walk", " white", " sea", " began", " grow", " took",
    " river", " four", " carry", " state", " once", " book", " hear", " stop", " without", " second",
    " later", " miss", " idea", " enough", " eat", " face", " watch", " far", " really", " almost",
    " let", " above", " girl", " sometimes", " mountain", " cut", " young", " talk", " soon", " list",
    " song", " being", " leave", " family", " problem", " step", " let's", " solve", " math",
    " code", " function", " return", " true", " false", " data", " value", " user", " assistant",
    " system", " tool", " call", " result", " therefore", " however", " The", " It", " This", " What",
    /* words at the start of a line or sentence */
    "The", "Why", "What", "How", "I", "It", "This", "In", "Hello", "Okay", "So", "Let", "We",
    "You", "A", "To", "If", "When", "Yes", "No", "user", "assistant", "system", "think", "Answer",
    /* punctuation runs */
    ".\n", ",\n", ".\n\n", "?\n", "**", "...", "--", "==", "()", "{}", "[]", "://", "'s", "'t",
};

/* Minimal byte-level BPE: applies the merges to the symbols of one piece
 * (lowest rank first) and returns the number of symbols left. */
static size_t bpe_apply(char syms[][48], size_t n, const strlist *merges) {
    for (;;) {
        ssize_t best = -1;
        size_t best_at = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            char pair[100];
            snprintf(pair, sizeof pair, "%s %s", syms[i], syms[i + 1]);
            ssize_t r = sl_find(merges, pair);
            if (r >= 0 && (best < 0 || r < best)) { best = r; best_at = i; }
        }
        if (best < 0) return n;
        size_t la = strlen(syms[best_at]), lb = strlen(syms[best_at + 1]);
        if (la + lb >= sizeof syms[0]) return n; /* cannot happen: pieces are short */
        memcpy(syms[best_at] + la, syms[best_at + 1], lb + 1);
        memmove(syms[best_at + 1], syms[best_at + 2], (n - best_at - 2) * sizeof syms[0]);
        n--;
    }
}

/* Token types as the converter writes them. */
enum { TOK_NORMAL = 1, TOK_CONTROL = 3, TOK_USER = 4, TOK_UNUSED = 5 };

static const char *const added_tokens[] = {
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>",
};
#define N_ADDED (sizeof added_tokens / sizeof added_tokens[0])

static const char chat_template[] =
    "{%- for message in messages %}\n"
    "    {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n<think>\\n' }}\n"
    "{%- endif %}\n";

typedef struct vocab {
    strlist tokens, merges;
    int32_t *types;
    int32_t eos, bos;
} vocab;

/* Builds the synthetic vocabulary with exactly n_vocab tokens (merges are
 * cut when n_vocab is small). */
static int vocab_synth(vocab *v, int n_vocab) {
    memset(v, 0, sizeof *v);
    unsigned cp[256];
    uint8_t order[256];
    byte_alphabet(cp, order);
    size_t min_vocab = 256 + N_ADDED;
    if ((size_t)n_vocab < min_vocab) {
        fprintf(stderr, "qwq-gen: --vocab %d is too small for the synthetic vocabulary (at least %zu)\n", n_vocab, min_vocab);
        return -1;
    }
    size_t max_merges = (size_t)n_vocab - min_vocab;
    for (int i = 0; i < 256; i++) {
        char s[4];
        size_t l = utf8_put(s, cp[order[i]]);
        if (sl_push(&v->tokens, s, l)) return -1;
    }
    for (size_t w = 0; w < sizeof merge_words / sizeof merge_words[0] && v->merges.n < max_merges; w++) {
        const char *word = merge_words[w];
        size_t wl = strlen(word);
        if (wl > 20) continue; /* symbols below hold at most 2 bytes per character */
        char syms[48][48];
        size_t n = 0;
        for (size_t i = 0; i < wl; i++, n++) {
            size_t l = utf8_put(syms[n], cp[(unsigned char)word[i]]);
            syms[n][l] = 0;
        }
        n = bpe_apply(syms, n, &v->merges);
        while (n > 1 && v->merges.n < max_merges) {
            char pair[100], joined[100];
            snprintf(pair, sizeof pair, "%s %s", syms[0], syms[1]);
            snprintf(joined, sizeof joined, "%s%s", syms[0], syms[1]);
            if (sl_push(&v->merges, pair, strlen(pair))) return -1;
            if (sl_find(&v->tokens, joined) < 0 && sl_push(&v->tokens, joined, strlen(joined))) return -1;
            n = bpe_apply(syms, n, &v->merges);
        }
    }
    /* a merge whose result was already a token leaves a slot: fill up to
     * min_vocab + merges first, then added tokens, then padding */
    size_t n_normal = v->tokens.n;
    for (size_t i = 0; i < N_ADDED; i++)
        if (sl_push(&v->tokens, added_tokens[i], strlen(added_tokens[i]))) return -1;
    while (v->tokens.n < (size_t)n_vocab) {
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%zu]", v->tokens.n);
        if (sl_push(&v->tokens, pad, strlen(pad))) return -1;
    }
    v->types = malloc(v->tokens.n * sizeof *v->types);
    if (!v->types) return -1;
    for (size_t i = 0; i < v->tokens.n; i++) {
        if (i < n_normal) v->types[i] = TOK_NORMAL;
        else if (i < n_normal + N_ADDED) v->types[i] = v->tokens.v[i][1] == '|' ? TOK_CONTROL : TOK_USER;
        else v->types[i] = TOK_UNUSED;
    }
    v->bos = (int32_t)n_normal;     /* <|endoftext|> */
    v->eos = (int32_t)n_normal + 2; /* <|im_end|> */
    return 0;
}

static void vocab_free(vocab *v) {
    sl_free(&v->tokens);
    sl_free(&v->merges);
    free(v->types);
}

static qwq_status add_synth_vocab(gguf_writer *w, const vocab *v) {
    qwq_status st = gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2");
    if (!st) st = gguf_writer_add_str(w, "tokenizer.ggml.pre", "qwen2");
    if (!st) st = gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens.v, NULL, v->tokens.n);
    if (!st) st = gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->types, v->tokens.n);
    if (!st) st = gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges.v, NULL, v->merges.n);
    if (!st) st = gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    if (!st) st = gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)v->bos);
    if (!st) st = gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
    if (!st) st = gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", false);
    if (!st) st = gguf_writer_add_str(w, "tokenizer.chat_template", chat_template);
    return st;
}

/* Copies every tokenizer.* key of src; tokens and token types are padded
 * with [PAD] entries of type 5 up to n_vocab. */
static qwq_status add_copied_vocab(gguf_writer *w, const gguf_file *src, uint64_t n_vocab, strlist *keep,
                                   int32_t **keep_types) {
    const gguf_kv *tok = gguf_find_kv(src, "tokenizer.ggml.tokens");
    const gguf_kv *tt = gguf_find_kv(src, "tokenizer.ggml.token_type");
    uint64_t n_src = tok ? tok->arr_len : 0;
    for (uint64_t i = 0; i < src->n_kv; i++) {
        const gguf_kv *kv = &src->kv[i];
        if (strncmp(kv->key, "tokenizer.", 10) != 0) continue;
        qwq_status st;
        if (n_src < n_vocab && (kv == tok || kv == tt)) {
            if (kv == tok) {
                for (uint64_t k = 0; k < n_vocab; k++) {
                    int rc;
                    if (k < n_src) {
                        gguf_str s = gguf_arr_str(kv, k);
                        rc = sl_push(keep, s.ptr, (size_t)s.len);
                    } else {
                        char pad[32];
                        snprintf(pad, sizeof pad, "[PAD%llu]", (unsigned long long)k);
                        rc = sl_push(keep, pad, strlen(pad));
                    }
                    if (rc) return err_set(QWQ_ERR_OUT_OF_MEMORY, "vocabulary copy");
                }
                st = gguf_writer_add_arr_str(w, kv->key, (const char *const *)keep->v, NULL, keep->n);
            } else {
                *keep_types = malloc(n_vocab * sizeof **keep_types);
                if (!*keep_types) return err_set(QWQ_ERR_OUT_OF_MEMORY, "vocabulary copy");
                for (uint64_t k = 0; k < n_vocab; k++)
                    (*keep_types)[k] = k < kv->arr_len ? gguf_arr_i32(kv, k) : TOK_UNUSED;
                st = gguf_writer_add_arr(w, kv->key, GGUF_TYPE_INT32, *keep_types, n_vocab);
            }
        } else {
            st = gguf_writer_add_kv_copy(w, kv);
        }
        if (st) return st;
    }
    return QWQ_OK;
}

/* ---- the model ------------------------------------------------------------------------ */

static int add_tensor_desc(tensor_gen *list, size_t *n, const char *name, tkind kind, uint32_t type, uint64_t ne0,
                           uint64_t ne1, float sigma, uint64_t seed) {
    tensor_gen *t = &list[(*n)++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    t->type = type;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->n_dims = ne1 ? 2 : 1;
    t->seed = seed ^ hash_str(name);
    t->mean = kind == T_NORM ? 1.0f : 0.0f;
    t->sd = kind == T_NORM ? 0.05f : sigma;
    return 0;
}

static size_t build_tensors(const model_cfg *c, const ftype_desc *ft, bool pure, float sigma, uint64_t seed,
                            tensor_gen *list) {
    size_t n = 0;
    uint64_t E = (uint64_t)c->n_embd, Q = (uint64_t)c->n_head * (uint64_t)c->head_dim,
             KV = (uint64_t)c->n_head_kv * (uint64_t)c->head_dim, F = (uint64_t)c->n_ff, V = (uint64_t)c->n_vocab;
    bool q3 = strcmp(c->arch, "qwen3") == 0;
    int L = c->n_layer;
#define ADD(nm, kind, layer, ne0, ne1) \
    add_tensor_desc(list, &n, nm, kind, pick_type(ft, pure, kind, layer, L, ne0, c->tied), ne0, ne1, sigma, seed)
    ADD("token_embd.weight", T_EMBD, 0, E, V);
    ADD("output_norm.weight", T_NORM, 0, E, 0);
    if (!c->tied) ADD("output.weight", T_OUTPUT, 0, E, V);
    for (int i = 0; i < L; i++) {
        char nm[64];
#define BLK(suffix, kind, ne0, ne1) (snprintf(nm, sizeof nm, "blk.%d.%s", i, suffix), ADD(nm, kind, i, ne0, ne1))
        BLK("attn_norm.weight", T_NORM, E, 0);
        BLK("attn_q.weight", T_WEIGHT, E, Q);
        if (!q3) BLK("attn_q.bias", T_BIAS, Q, 0);
        BLK("attn_k.weight", T_WEIGHT, E, KV);
        if (!q3) BLK("attn_k.bias", T_BIAS, KV, 0);
        BLK("attn_v.weight", T_ATTN_V, E, KV);
        if (!q3) BLK("attn_v.bias", T_BIAS, KV, 0);
        BLK("attn_output.weight", T_WEIGHT, Q, E);
        if (q3) {
            BLK("attn_k_norm.weight", T_NORM, (uint64_t)c->head_dim, 0);
            BLK("attn_q_norm.weight", T_NORM, (uint64_t)c->head_dim, 0);
        }
        BLK("ffn_down.weight", T_FFN_DOWN, F, E);
        BLK("ffn_gate.weight", T_WEIGHT, E, F);
        BLK("ffn_norm.weight", T_NORM, E, 0);
        BLK("ffn_up.weight", T_WEIGHT, E, F);
#undef BLK
    }
#undef ADD
    return n;
}

/* ---- command line ---------------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: qwq-gen [options] -o OUT.gguf\n"
            "Writes a random-weight Qwen2/Qwen3 GGUF (loadable by libqwq and llama.cpp).\n\n"
            "  --preset NAME     qwq-32b, qwen3-32b, qwen2.5-7b, qwen2.5-0.5b, qwen3-0.6b,\n"
            "                    tiny (default), tiny-qwen3\n"
            "  --type T          f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_K q3_K q4_K q5_K q6_K\n"
            "                    q4_K_M q5_K_M (default q8_0). Quantized types put output.weight\n"
            "                    (token_embd when tied) in Q6_K as llama-quantize does; the _M\n"
            "                    mixes also use Q6_K for attn_v/ffn_down of layers llama.cpp picks\n"
            "  --pure            every 2-D weight in --type, output included\n"
            "  --arch qwen2|qwen3  --layers N  --hidden N  --heads N  --kv-heads N\n"
            "  --head-dim N  --ffn N  --vocab N  --ctx N  --theta F  --eps F\n"
            "  --tied / --untied  share token_embd as the output projection (no output.weight)\n"
            "  --seed N          random seed (default 1)\n"
            "  --sigma F         standard deviation of the weights (default 0.02)\n"
            "  --vocab-from F    copy the tokenizer.* keys of GGUF file F (else a small synthetic\n"
            "                    byte-level BPE vocabulary with Qwen's special tokens)\n"
            "  --name S          general.name\n"
            "  --gguf-version N  2 or 3 (default 3)\n"
            "  --no-fsync        do not fsync before stopping the clock\n"
            "  --direct          write with O_DIRECT (faster on some disks; the file is then\n"
            "                    not left in the page cache)\n"
            "  --list            print the tensors and sizes, write nothing\n"
            "  -q, --quiet       no progress output\n"
            "  -o, --output F    the file to write\n");
}

static bool parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

static const char *type_name(uint32_t t) { return qtype_get(t) ? qtype_get(t)->name : "?"; }

int main(int argc, char **argv) {
    const preset *pre = &presets[5]; /* tiny */
    model_cfg cfg;
    const char *out_path = NULL, *vocab_from = NULL, *type_str = "q8_0", *name = NULL;
    bool pure = false, list_only = false, quiet = false, do_fsync = true, direct = false;
    int gguf_version = 3;
    uint64_t seed = 1;
    float sigma = 0.02f;
    /* overrides, applied after the preset */
    int o_layers = -1, o_hidden = -1, o_heads = -1, o_kv = -1, o_hd = -1, o_ffn = -1, o_vocab = -1, o_ctx = -1;
    int o_tied = -1;
    const char *o_arch = NULL;
    float o_theta = 0, o_eps = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV() do { if (!v) { fprintf(stderr, "qwq-gen: %s needs a value\n", a); return 2; } i++; } while (0)
#define INTOPT(flag, var, lo, hi)                                                           \
        if (strcmp(a, flag) == 0) {                                                         \
            NEEDV();                                                                        \
            if (!parse_int(v, lo, hi, &var)) {                                              \
                fprintf(stderr, "qwq-gen: %s: bad value '%s' (%ld..%ld)\n", a, v, (long)(lo), (long)(hi)); \
                return 2;                                                                   \
            }                                                                               \
            continue;                                                                       \
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(stdout); return 0; }
        if (strcmp(a, "--preset") == 0) {
            NEEDV();
            pre = NULL;
            for (size_t k = 0; k < sizeof presets / sizeof presets[0]; k++)
                if (strcasecmp(presets[k].name, v) == 0) pre = &presets[k];
            if (!pre) {
                fprintf(stderr, "qwq-gen: unknown preset '%s'\n", v);
                usage(stderr);
                return 2;
            }
            continue;
        }
        INTOPT("--layers", o_layers, 1, 4096)
        INTOPT("--hidden", o_hidden, 1, 1 << 20)
        INTOPT("--heads", o_heads, 1, 4096)
        INTOPT("--kv-heads", o_kv, 1, 4096)
        INTOPT("--head-dim", o_hd, 2, 4096)
        INTOPT("--ffn", o_ffn, 1, 1 << 22)
        INTOPT("--vocab", o_vocab, 1, 1 << 24)
        INTOPT("--ctx", o_ctx, 1, 1 << 30)
        INTOPT("--gguf-version", gguf_version, 2, 3)
        if (strcmp(a, "--arch") == 0) { NEEDV(); o_arch = v; continue; }
        if (strcmp(a, "--type") == 0) { NEEDV(); type_str = v; continue; }
        if (strcmp(a, "--name") == 0) { NEEDV(); name = v; continue; }
        if (strcmp(a, "--vocab-from") == 0) { NEEDV(); vocab_from = v; continue; }
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) { NEEDV(); out_path = v; continue; }
        if (strcmp(a, "--seed") == 0) { NEEDV(); seed = strtoull(v, NULL, 0); continue; }
        if (strcmp(a, "--sigma") == 0) { NEEDV(); sigma = strtof(v, NULL); continue; }
        if (strcmp(a, "--theta") == 0) { NEEDV(); o_theta = strtof(v, NULL); continue; }
        if (strcmp(a, "--eps") == 0) { NEEDV(); o_eps = strtof(v, NULL); continue; }
        if (strcmp(a, "--tied") == 0) { o_tied = 1; continue; }
        if (strcmp(a, "--untied") == 0) { o_tied = 0; continue; }
        if (strcmp(a, "--pure") == 0) { pure = true; continue; }
        if (strcmp(a, "--list") == 0) { list_only = true; continue; }
        if (strcmp(a, "--no-fsync") == 0) { do_fsync = false; continue; }
        if (strcmp(a, "--direct") == 0) { direct = true; continue; }
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) { quiet = true; continue; }
        fprintf(stderr, "qwq-gen: unknown option '%s'\n", a);
        usage(stderr);
        return 2;
#undef INTOPT
#undef NEEDV
    }

    cfg = pre->cfg;
    if (o_arch) {
        if (strcmp(o_arch, "qwen2") != 0 && strcmp(o_arch, "qwen3") != 0) {
            fprintf(stderr, "qwq-gen: --arch must be qwen2 or qwen3\n");
            return 2;
        }
        snprintf(cfg.arch, sizeof cfg.arch, "%s", o_arch);
    }
    if (o_layers > 0) cfg.n_layer = o_layers;
    if (o_hidden > 0) cfg.n_embd = o_hidden;
    if (o_heads > 0) cfg.n_head = o_heads;
    if (o_kv > 0) cfg.n_head_kv = o_kv;
    if (o_hd > 0) cfg.head_dim = o_hd;
    else if (o_hidden > 0 || o_heads > 0) cfg.head_dim = cfg.n_embd / cfg.n_head;
    if (o_ffn > 0) cfg.n_ff = o_ffn;
    if (o_vocab > 0) cfg.n_vocab = o_vocab;
    if (o_ctx > 0) cfg.n_ctx = o_ctx;
    if (o_tied >= 0) cfg.tied = o_tied;
    if (o_theta > 0) cfg.theta = o_theta;
    if (o_eps > 0) cfg.eps = o_eps;
    if (name) snprintf(cfg.name, sizeof cfg.name, "%s", name);
    if (!(sigma > 0 && sigma < 100)) {
        fprintf(stderr, "qwq-gen: --sigma must be in (0, 100)\n");
        return 2;
    }
    if (cfg.n_head % cfg.n_head_kv != 0 || cfg.head_dim % 2 != 0) {
        fprintf(stderr, "qwq-gen: heads (%d) must be a multiple of kv heads (%d), head dim (%d) even\n",
                cfg.n_head, cfg.n_head_kv, cfg.head_dim);
        return 2;
    }
    const ftype_desc *ft = NULL;
    for (size_t k = 0; k < sizeof ftypes / sizeof ftypes[0]; k++)
        if (strcasecmp(ftypes[k].name, type_str) == 0) ft = &ftypes[k];
    if (!ft) {
        fprintf(stderr, "qwq-gen: unknown --type '%s'\n", type_str);
        usage(stderr);
        return 2;
    }
    if (!out_path && !list_only) {
        fprintf(stderr, "qwq-gen: no output file (-o)\n");
        usage(stderr);
        return 2;
    }

    /* vocabulary first: a copied one may be larger than the preset's rows */
    gguf_file *vsrc = NULL;
    vocab voc;
    memset(&voc, 0, sizeof voc);
    if (vocab_from) {
        if (gguf_open(vocab_from, &vsrc) != QWQ_OK) {
            fprintf(stderr, "qwq-gen: --vocab-from: %s\n", err_message());
            return 1;
        }
        const gguf_kv *tok = gguf_find_kv(vsrc, "tokenizer.ggml.tokens");
        if (!tok || tok->type != GGUF_TYPE_ARRAY || tok->arr_type != GGUF_TYPE_STRING) {
            fprintf(stderr, "qwq-gen: %s has no tokenizer.ggml.tokens\n", vocab_from);
            gguf_close(vsrc);
            return 1;
        }
        if (tok->arr_len > (uint64_t)cfg.n_vocab) {
            if (o_vocab > 0) {
                fprintf(stderr, "qwq-gen: --vocab %d is smaller than the %llu tokens of %s\n", cfg.n_vocab,
                        (unsigned long long)tok->arr_len, vocab_from);
                gguf_close(vsrc);
                return 2;
            }
            if (!quiet)
                fprintf(stderr, "note: %s has %llu tokens: using that many embedding rows instead of %d\n", vocab_from,
                        (unsigned long long)tok->arr_len, cfg.n_vocab);
            cfg.n_vocab = (int)tok->arr_len;
        }
    } else if (vocab_synth(&voc, cfg.n_vocab) != 0) {
        vocab_free(&voc);
        return 2;
    }

    size_t max_tensors = 3 + (size_t)cfg.n_layer * 16;
    tensor_gen *tensors = calloc(max_tensors, sizeof *tensors);
    gen_tables *tables = malloc(sizeof *tables);
    if (!tensors || !tables) {
        fprintf(stderr, "qwq-gen: out of memory\n");
        free(tensors);
        free(tables);
        vocab_free(&voc);
        gguf_close(vsrc);
        return 1;
    }
    tables_init(tables);
    size_t n_tensors = build_tensors(&cfg, ft, pure, sigma, seed, tensors);

    gguf_writer *w = NULL;
    qwq_status st = gguf_writer_new((uint32_t)gguf_version, 0, &w);
    const char *A = cfg.arch;
    char key[96];
#define K(suffix) (snprintf(key, sizeof key, "%s.%s", A, suffix), key)
    if (!st) st = gguf_writer_add_str(w, "general.architecture", A);
    if (!st) st = gguf_writer_add_str(w, "general.type", "model");
    if (!st) st = gguf_writer_add_str(w, "general.name", cfg.name);
    if (!st) st = gguf_writer_add_str(w, "general.description", "random weights written by libqwq's qwq-gen");
    if (!st) st = gguf_writer_add_u32(w, "general.file_type", ft->file_type);
    if (!st) st = gguf_writer_add_u32(w, "general.quantization_version", 2);
    if (!st) st = gguf_writer_add_u32(w, K("block_count"), (uint32_t)cfg.n_layer);
    if (!st) st = gguf_writer_add_u32(w, K("context_length"), (uint32_t)cfg.n_ctx);
    if (!st) st = gguf_writer_add_u32(w, K("embedding_length"), (uint32_t)cfg.n_embd);
    if (!st) st = gguf_writer_add_u32(w, K("feed_forward_length"), (uint32_t)cfg.n_ff);
    if (!st) st = gguf_writer_add_u32(w, K("attention.head_count"), (uint32_t)cfg.n_head);
    if (!st) st = gguf_writer_add_u32(w, K("attention.head_count_kv"), (uint32_t)cfg.n_head_kv);
    if (!st) st = gguf_writer_add_f32(w, K("rope.freq_base"), cfg.theta);
    if (!st) st = gguf_writer_add_f32(w, K("attention.layer_norm_rms_epsilon"), cfg.eps);
    if (!st && (strcmp(A, "qwen3") == 0 || cfg.head_dim * cfg.n_head != cfg.n_embd)) {
        st = gguf_writer_add_u32(w, K("attention.key_length"), (uint32_t)cfg.head_dim);
        if (!st) st = gguf_writer_add_u32(w, K("attention.value_length"), (uint32_t)cfg.head_dim);
    }
#undef K
    strlist kept = {0};
    int32_t *kept_types = NULL;
    if (!st) st = vsrc ? add_copied_vocab(w, vsrc, (uint64_t)cfg.n_vocab, &kept, &kept_types) : add_synth_vocab(w, &voc);

    gen_ctx g = {.tensors = tensors, .n_tensors = n_tensors, .seed = seed, .progress = !quiet && isatty(2)};
    uint64_t n_params = 0;
    uint64_t type_bytes[QTYPE_COUNT] = {0};
    for (size_t i = 0; !st && i < n_tensors; i++) {
        tensor_gen *t = &tensors[i];
        gen_prepare(t, tables);
        st = gguf_writer_add_tensor_cb(w, t->name, t->n_dims, t->ne, t->type, fill_tensor, &g);
        if (!st) {
            gguf_tensor_layout lay;
            gguf_writer_tensor_layout(w, i, &lay);
            n_params += t->ne[0] * (t->n_dims > 1 ? t->ne[1] : 1);
            type_bytes[t->type] += lay.n_bytes;
            if (list_only)
                printf("%-28s %-7s [%6llu, %6llu]  %10.2f MB\n", t->name, type_name(t->type),
                       (unsigned long long)t->ne[0], (unsigned long long)(t->n_dims > 1 ? t->ne[1] : 1), lay.n_bytes / 1e6);
        }
    }
    uint64_t total = 0;
    if (!st) st = gguf_writer_file_size(w, &total);
    int rc = 0;
    if (st) {
        fprintf(stderr, "qwq-gen: %s\n", err_message());
        rc = 1;
    }
    g.total = total;
    if (!rc && (!quiet || list_only)) {
        fprintf(list_only ? stdout : stderr,
                "%s: %s, %d layers, hidden %d, heads %d/%d x %d, ffn %d, vocab %d%s, %s%s\n"
                "  %zu tensors, %.3f B parameters, %.3f GB:",
                out_path ? out_path : "(list)", cfg.arch, cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.n_head_kv,
                cfg.head_dim, cfg.n_ff, cfg.n_vocab, cfg.tied ? " (tied)" : "", ft->name, pure ? " (pure)" : "",
                n_tensors, n_params / 1e9, total / 1e9);
        for (uint32_t t = 0; t < QTYPE_COUNT; t++)
            if (type_bytes[t])
                fprintf(list_only ? stdout : stderr, " %s %.1f MB", type_name(t), type_bytes[t] / 1e6);
        fprintf(list_only ? stdout : stderr, "\n");
    }
    if (!rc && !list_only) {
        /* the directory of the output may not exist yet: create one level */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", out_path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = 0;
            mkdir(dir, 0755);
        }
        int fd = -1;
        if (direct) {
            fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
            if (fd < 0 && errno == EINVAL && !quiet)
                fprintf(stderr, "note: %s does not support O_DIRECT; writing through the page cache\n", out_path);
        }
        if (fd < 0) fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            fprintf(stderr, "qwq-gen: cannot create %s: %s\n", out_path, strerror(errno));
            rc = 1;
        } else {
            g.t0 = time_now();
            st = gguf_writer_write_fd(w, fd);
            if (!st && do_fsync && fsync(fd) != 0)
                st = err_set(QWQ_ERR_IO, "fsync %s: %s", out_path, strerror(errno));
            double dt = time_now() - g.t0;
            if (close(fd) != 0 && !st) st = err_set(QWQ_ERR_IO, "close %s: %s", out_path, strerror(errno));
            if (g.progress) fprintf(stderr, "\r%60s\r", "");
            if (st) {
                fprintf(stderr, "qwq-gen: %s\n", err_message());
                unlink(out_path);
                rc = 1;
            } else if (!quiet) {
                fprintf(stderr, "wrote %s: %.3f GB in %.2f s, %.1f MB/s%s\n", out_path, total / 1e9, dt,
                        dt > 0 ? total / dt / 1e6 : 0.0,
                        direct ? " (O_DIRECT)" : do_fsync ? " (fsync'd)" : " (page cache, not synced)");
            }
        }
    }
    gguf_writer_free(w);
    sl_free(&kept);
    free(kept_types);
    gguf_close(vsrc);
    vocab_free(&voc);
    free(tensors);
    free(tables);
    return rc;
}
