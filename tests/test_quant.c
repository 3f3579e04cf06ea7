/*
 * test_quant - the scalar reference kernels (lib/kernels/quant.h).
 *
 * 1. Unit tests that need no file: half-precision conversions against
 *    independent formulas, block sizes against the type table, every
 *    dequantizer on random blocks against a per-element formula written
 *    from the README's table (reading fields by byte offset, not through the
 *    library's structs), activation quantizers against their definition,
 *    dot products on random and extreme blocks against a double-precision
 *    sum of the dequantized values.
 * 2. The ggml references in ../shared/testdata/quant (see its README):
 *    w -> w.dequant bit for bit; our quantization of a against a.q; our
 *    dot products against w.dot_a and w.dot_a.ref.
 *
 * TEST_VERBOSE=1 prints the observed dot-product errors per type.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "harness.h"
#include "kernels/qtypes.h"
#include "kernels/quant.h"
#include "util/util.h"

/* ---- helpers ---------------------------------------------------------------- */


/* uniform in [-1, 1) */
static float rng_unit(uint64_t *s) {
    return (float)((double)(test_splitmix64(s) >> 11) * 0x1p-52 - 1.0);
}

/* roughly normal (sum of four uniforms, unit variance) */
static float rng_normal(uint64_t *s) {
    double v = 0;
    for (int i = 0; i < 4; i++) v += rng_unit(s);
    return (float)(v * 0.8660254037844386);
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static float f16at(const uint8_t *p) { return fp16_to_f32(rd16(p)); }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

static const uint32_t weight_types[] = {
    QTYPE_F32,  QTYPE_F16,  QTYPE_BF16, QTYPE_Q4_0, QTYPE_Q4_1, QTYPE_Q5_0, QTYPE_Q5_1,
    QTYPE_Q8_0, QTYPE_Q2_K, QTYPE_Q3_K, QTYPE_Q4_K, QTYPE_Q5_K, QTYPE_Q6_K,
};
#define N_WEIGHT_TYPES (sizeof weight_types / sizeof weight_types[0])

static const char *tname(uint32_t t) {
    const qtype_info *qi = qtype_get(t);
    return qi ? qi->name : "?";
}

/* ---- the per-element reference (README "Value formulas") ------------------- */

/* Element e of the block at p, fields read by byte offset. */
static float ref_elem(uint32_t type, const uint8_t *p, int e) {
    switch (type) {
    case QTYPE_F32: {
        float f;
        memcpy(&f, p + 4 * e, 4);
        return f;
    }
    case QTYPE_F16: return f16at(p + 2 * e);
    case QTYPE_BF16: return f32_from_bits((uint32_t)rd16(p + 2 * e) << 16);
    case QTYPE_Q4_0: {
        int q = e < 16 ? p[2 + e] & 15 : p[2 + e - 16] >> 4;
        return (float)(q - 8) * f16at(p);
    }
    case QTYPE_Q4_1: {
        int q = e < 16 ? p[4 + e] & 15 : p[4 + e - 16] >> 4;
        return (float)q * f16at(p) + f16at(p + 2);
    }
    case QTYPE_Q5_0: {
        int lo = e < 16 ? p[6 + e] & 15 : p[6 + e - 16] >> 4;
        int hi = (rd32(p + 2) >> e) & 1;
        return (float)((lo | hi << 4) - 16) * f16at(p);
    }
    case QTYPE_Q5_1: {
        int lo = e < 16 ? p[8 + e] & 15 : p[8 + e - 16] >> 4;
        int hi = (rd32(p + 4) >> e) & 1;
        return (float)(lo | hi << 4) * f16at(p) + f16at(p + 2);
    }
    case QTYPE_Q8_0: return (float)(int8_t)p[2 + e] * f16at(p);
    case QTYPE_Q8_1: return f16at(p) * (float)(int8_t)p[4 + e];
    case QTYPE_Q2_K: {
        int n = e / 128, j = e % 128 / 32, h = e % 32 / 16, l = e % 16;
        int sc = p[8 * n + 2 * j + h];
        int q = (p[16 + 32 * n + 16 * h + l] >> (2 * j)) & 3;
        return (f16at(p + 80) * (float)(sc & 15)) * (float)q - (f16at(p + 82) * (float)(sc >> 4));
    }
    case QTYPE_Q3_K: {
        int n = e / 128, j = e % 128 / 32, h = e % 32 / 16, l = e % 16;
        int i = 8 * n + 2 * j + h;
        const uint8_t *sc = p + 96;
        int lo = i < 8 ? sc[i] & 15 : sc[i - 8] >> 4;
        int hi = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
        int s = (lo | hi << 4) - 32;
        int q = ((p[32 + 32 * n + 16 * h + l] >> (2 * j)) & 3) - ((p[16 * h + l] >> (4 * n + j)) & 1 ? 0 : 4);
        return (f16at(p + 108) * (float)s) * (float)q;
    }
    case QTYPE_Q4_K:
    case QTYPE_Q5_K: {
        int g = e / 64, h = e % 64 / 32, l = e % 32, i = 2 * g + h;
        const uint8_t *sc = p + 4;
        int s, m;
        if (i < 4) {
            s = sc[i] & 63;
            m = sc[i + 4] & 63;
        } else {
            s = (sc[i + 4] & 15) | (sc[i - 4] >> 6) << 4;
            m = (sc[i + 4] >> 4) | (sc[i] >> 6) << 4;
        }
        const uint8_t *qs = p + (type == QTYPE_Q4_K ? 16 : 48);
        int q = h == 0 ? qs[32 * g + l] & 15 : qs[32 * g + l] >> 4;
        if (type == QTYPE_Q5_K) q += ((p[16 + l] >> i) & 1) << 4;
        return (f16at(p) * (float)s) * (float)q - (f16at(p + 2) * (float)m);
    }
    case QTYPE_Q6_K: {
        int n = e / 128, k = e % 128 / 32, l = e % 32;
        const uint8_t *ql = p, *qh = p + 128;
        const int8_t s = (int8_t)p[192 + 8 * n + 2 * k + l / 16];
        int low;
        switch (k) {
        case 0: low = ql[64 * n + l] & 15; break;
        case 1: low = ql[64 * n + 32 + l] & 15; break;
        case 2: low = ql[64 * n + l] >> 4; break;
        default: low = ql[64 * n + 32 + l] >> 4; break;
        }
        int q = (low | ((qh[32 * n + l] >> (2 * k)) & 3) << 4) - 32;
        return (f16at(p + 208) * (float)s) * (float)q;
    }
    case QTYPE_Q8_K: {
        float d;
        memcpy(&d, p, 4);
        return d * (float)(int8_t)p[4 + e];
    }
    default: return NAN;
    }
}

/* Byte offsets of the f16 scale fields of a block (-1 ends the list). */
static const int *f16_fields(uint32_t type) {
    static const int none[] = {-1}, at0[] = {0, -1}, at02[] = {0, 2, -1};
    static const int q2k[] = {80, 82, -1}, q3k[] = {108, -1}, q6k[] = {208, -1};
    switch (type) {
    case QTYPE_Q4_0: case QTYPE_Q5_0: case QTYPE_Q8_0: return at0;
    case QTYPE_Q4_1: case QTYPE_Q5_1: case QTYPE_Q8_1: case QTYPE_Q4_K: case QTYPE_Q5_K: return at02;
    case QTYPE_Q2_K: return q2k;
    case QTYPE_Q3_K: return q3k;
    case QTYPE_Q6_K: return q6k;
    default: return none;
    }
}

/* A random exponent field in [elo, ehi] (biased as in binary16: 0 is the
 * subnormal range, 15 is 2^0, 30 the largest finite binade). */
static int rand_exp(uint64_t *s, int elo, int ehi) {
    return elo + (int)(test_splitmix64(s) % (uint64_t)(ehi - elo + 1));
}

/* A finite f16 with a random sign, mantissa and exponent field in [elo, ehi]. */
static uint16_t rand_f16(uint64_t *s, int elo, int ehi) {
    uint64_t r = test_splitmix64(s);
    int e = rand_exp(s, elo, ehi);
    return (uint16_t)(((r >> 20) & 1) << 15 | (uint32_t)e << 10 | ((r >> 32) & 0x3ff));
}

/* Fills nblocks blocks of type with bytes of pattern (0: random, else the
 * byte itself) and makes every float field finite: f16 scales get exponent
 * fields in [elo, ehi]; f32/f16/bf16 elements and the f32 scale of q8_K
 * get magnitudes of about 2^(elo - 15 .. ehi - 15). */
static void fill_blocks(uint32_t type, uint8_t *buf, size_t nblocks, int pattern, uint64_t *s,
                        int elo, int ehi) {
    const qtype_info *qi = qtype_get(type);
    size_t bytes = nblocks * qi->block_bytes;
    for (size_t i = 0; i < bytes; i++) buf[i] = pattern ? (uint8_t)pattern : (uint8_t)test_splitmix64(s);
    for (size_t b = 0; b < nblocks; b++) {
        uint8_t *p = buf + b * qi->block_bytes;
        if (type == QTYPE_F32 || type == QTYPE_Q8_K) {
            float f = rng_normal(s) * ldexpf(1.0f, rand_exp(s, elo, ehi) - 15);
            memcpy(p, &f, 4);
        } else if (type == QTYPE_F16) {
            wr16(p, rand_f16(s, elo, ehi));
        } else if (type == QTYPE_BF16) {
            wr16(p, bf16_from_f32(rng_normal(s) * ldexpf(1.0f, rand_exp(s, elo, ehi) - 15)));
        } else {
            for (const int *f = f16_fields(type); *f >= 0; f++) wr16(p + *f, rand_f16(s, elo, ehi));
        }
    }
}

/* ---- 1. unit tests ------------------------------------------------------------ */

static void test_block_sizes(void) {
    static const struct { uint32_t type; size_t size; } sizes[] = {
        {QTYPE_F16, sizeof(block_f16)},   {QTYPE_BF16, sizeof(block_bf16)}, {QTYPE_Q4_0, sizeof(block_q4_0)},
        {QTYPE_Q4_1, sizeof(block_q4_1)}, {QTYPE_Q5_0, sizeof(block_q5_0)}, {QTYPE_Q5_1, sizeof(block_q5_1)},
        {QTYPE_Q8_0, sizeof(block_q8_0)}, {QTYPE_Q8_1, sizeof(block_q8_1)}, {QTYPE_Q2_K, sizeof(block_q2_K)},
        {QTYPE_Q3_K, sizeof(block_q3_K)}, {QTYPE_Q4_K, sizeof(block_q4_K)}, {QTYPE_Q5_K, sizeof(block_q5_K)},
        {QTYPE_Q6_K, sizeof(block_q6_K)}, {QTYPE_Q8_K, sizeof(block_q8_K)},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const qtype_info *qi = qtype_get(sizes[i].type);
        REQUIRE(qi != NULL);
        CHECKF(qi->block_bytes == sizes[i].size, "%s: struct %zu bytes, table %u", qi->name, sizes[i].size,
               qi->block_bytes);
    }
    /* field offsets the README gives */
    CHECK(offsetof(block_q5_0, qs) == 6 && offsetof(block_q5_1, qh) == 4 && offsetof(block_q5_1, qs) == 8);
    CHECK(offsetof(block_q2_K, d) == 80 && offsetof(block_q2_K, dmin) == 82);
    CHECK(offsetof(block_q3_K, scales) == 96 && offsetof(block_q3_K, d) == 108);
    CHECK(offsetof(block_q4_K, qs) == 16 && offsetof(block_q5_K, qh) == 16 && offsetof(block_q5_K, qs) == 48);
    CHECK(offsetof(block_q6_K, qh) == 128 && offsetof(block_q6_K, scales) == 192 && offsetof(block_q6_K, d) == 208);
    CHECK(offsetof(block_q8_K, qs) == 4 && offsetof(block_q8_K, bsums) == 260);
    CHECK(offsetof(block_q8_1, s) == 2 && offsetof(block_q8_1, qs) == 4);
    /* the table's f16 scale fields are the structs' d and m / dmin */
    static const struct { uint32_t type; int n; size_t off[2]; } scales[] = {
        {QTYPE_Q4_0, 1, {offsetof(block_q4_0, d)}},
        {QTYPE_Q5_0, 1, {offsetof(block_q5_0, d)}},
        {QTYPE_Q8_0, 1, {offsetof(block_q8_0, d)}},
        {QTYPE_Q4_1, 2, {offsetof(block_q4_1, d), offsetof(block_q4_1, m)}},
        {QTYPE_Q5_1, 2, {offsetof(block_q5_1, d), offsetof(block_q5_1, m)}},
        {QTYPE_Q2_K, 2, {offsetof(block_q2_K, d), offsetof(block_q2_K, dmin)}},
        {QTYPE_Q3_K, 1, {offsetof(block_q3_K, d)}},
        {QTYPE_Q4_K, 2, {offsetof(block_q4_K, d), offsetof(block_q4_K, dmin)}},
        {QTYPE_Q5_K, 2, {offsetof(block_q5_K, d), offsetof(block_q5_K, dmin)}},
        {QTYPE_Q6_K, 1, {offsetof(block_q6_K, d)}},
    };
    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++) {
        const qtype_info *qi = qtype_get(scales[i].type);
        CHECKF(qi->n_scales == scales[i].n, "%s: %d scale fields, want %d", qi->name, qi->n_scales, scales[i].n);
        for (int f = 0; f < scales[i].n && f < qi->n_scales; f++)
            CHECKF(qi->scale_off[f] == scales[i].off[f], "%s: scale field %d at %d, struct at %zu", qi->name, f,
                   qi->scale_off[f], scales[i].off[f]);
    }
}

static void test_kernel_table(void) {
    static const struct { uint32_t w, a; } act[] = {
        {QTYPE_F32, QTYPE_F32},   {QTYPE_F16, QTYPE_F32},   {QTYPE_BF16, QTYPE_F32},
        {QTYPE_Q4_0, QTYPE_Q8_0}, {QTYPE_Q4_1, QTYPE_Q8_1}, {QTYPE_Q5_0, QTYPE_Q8_0},
        {QTYPE_Q5_1, QTYPE_Q8_1}, {QTYPE_Q8_0, QTYPE_Q8_0}, {QTYPE_Q2_K, QTYPE_Q8_K},
        {QTYPE_Q3_K, QTYPE_Q8_K}, {QTYPE_Q4_K, QTYPE_Q8_K}, {QTYPE_Q5_K, QTYPE_Q8_K},
        {QTYPE_Q6_K, QTYPE_Q8_K},
    };
    for (size_t i = 0; i < sizeof act / sizeof act[0]; i++) {
        const quant_kernels *k = quant_kernels_scalar(act[i].w);
        REQUIRE(k != NULL);
        CHECK(k->type == act[i].w);
        CHECKF(k->act_type == act[i].a && quant_act_type(act[i].w) == act[i].a, "%s: act type %u",
               tname(act[i].w), k->act_type);
        CHECK(k->dequant && k->quantize_act && k->dot);
        const qtype_info *wi = qtype_get(act[i].w), *ai = qtype_get(act[i].a);
        uint32_t align = wi->block_elems > ai->block_elems ? wi->block_elems : ai->block_elems;
        CHECKF(k->row_align == align, "%s: row_align %u", tname(act[i].w), k->row_align);
        CHECKF(qtype_get(act[i].w)->supported, "%s should be flagged supported", tname(act[i].w));
        /* activation row sizes */
        CHECK(quant_act_row_size(act[i].w, 1024) == 1024 / ai->block_elems * ai->block_bytes);
        CHECK(quant_act_row_size(act[i].w, 5120) == 5120 / ai->block_elems * ai->block_bytes);
        if (align > 1) CHECK(quant_act_row_size(act[i].w, align + align / 2) == 0);
        CHECK(quant_act_row_size(act[i].w, -256) == 0);
    }
    CHECK(quant_act_row_size(QTYPE_Q4_K, 256) == 292);
    CHECK(quant_act_row_size(QTYPE_Q4_0, 256) == 8 * 34);
    CHECK(quant_act_row_size(QTYPE_Q5_1, 256) == 8 * 36);
    CHECK(quant_act_row_size(QTYPE_F16, 3) == 12);
    /* no kernels: activation-only types and the types libqwq does not run */
    static const uint32_t none[] = {QTYPE_Q8_1, QTYPE_Q8_K, QTYPE_IQ4_NL, 16, 23, 29, 39, 99};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        CHECKF(quant_kernels_scalar(none[i]) == NULL, "type %u has kernels", none[i]);
        CHECK(quant_act_type(none[i]) == UINT32_MAX);
        CHECK(quant_act_row_size(none[i], 256) == 0);
    }
    const qtype_info *iq = qtype_get(QTYPE_IQ4_NL);
    REQUIRE(iq != NULL);
    CHECK(!iq->supported && strcmp(iq->name, "iq4_nl") == 0);
}

static void test_dispatch_rejects(void) {
    uint8_t block[512] = {0};
    float out[256];
    for (int i = 0; i < 256; i++) out[i] = 7.0f;
    CHECK(!dequant_row(QTYPE_IQ4_NL, block, out, 32));
    CHECK(!dequant_row(99, block, out, 32));
    CHECK(!dequant_row(QTYPE_Q4_0, block, out, 33));
    CHECK(!dequant_row(QTYPE_Q4_K, block, out, 128));
    CHECK(!dequant_row(QTYPE_Q8_0, block, out, -32));
    CHECK(out[0] == 7.0f && out[255] == 7.0f); /* nothing written */
    CHECK(dequant_row(QTYPE_Q4_0, block, out, 0));
    CHECK(dequant_row(QTYPE_Q8_K, block, out, 256) && out[0] == 0.0f);
    CHECK(!quantize_row_act(QTYPE_IQ4_NL, out, block, 32));
    CHECK(!quantize_row_act(QTYPE_Q2_K, out, block, 32)); /* q8_K needs whole super-blocks */
    CHECK(vec_dot(QTYPE_IQ4_NL, block, block, 32) == 0.0f);
    CHECK(vec_dot(QTYPE_Q4_0, block, block, 31) == 0.0f);
}

/* binary16 -> binary32 from the definition, in double. */
static double ref_fp16_value(uint16_t h) {
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return sign ? -v : v;
}

static void test_fp16(void) {
    /* every binary16 value: exact decode, and back to the same bits */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fp16_to_f32((uint16_t)h);
        int e = (h >> 10) & 31;
        if (e == 31) {
            uint32_t want = (h & 0x8000u) << 16 | 0x7f800000u | (h & 0x3ffu) << 13;
            CHECKF(f32_to_bits(f) == want, "fp16 %04x -> %08x", h, f32_to_bits(f));
            if (h & 0x3ff) CHECK((fp16_from_f32(f) & 0x7fff) > 0x7c00); /* NaN stays NaN */
            else CHECK(fp16_from_f32(f) == h);
            continue;
        }
        double want = ref_fp16_value((uint16_t)h);
        CHECKF((double)f == want && (signbit(f) != 0) == (h >> 15 != 0), "fp16 %04x -> %a, want %a", h, f, want);
        CHECKF(fp16_from_f32(f) == h, "fp16 round trip %04x -> %04x", h, fp16_from_f32(f));
    }
    /* rounding: between consecutive finite magnitudes h and h + 1, the
     * midpoint goes to the even one, anything else to the nearer one. */
    for (uint32_t h = 0; h < 0x7bff + 1; h++) {
        for (int sign = 0; sign < 2; sign++) {
            uint16_t s = (uint16_t)(sign << 15);
            double lo = ref_fp16_value((uint16_t)h), hi = h == 0x7bff ? 65536.0 : ref_fp16_value((uint16_t)(h + 1));
            float mid = (float)((lo + hi) / 2); /* exact: 12 significant bits */
            uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
            float below = nextafterf(mid, 0.0f), above = nextafterf(mid, INFINITY);
            if (sign) { mid = -mid; below = -below; above = -above; }
            CHECKF(fp16_from_f32(mid) == (s | even), "fp16 tie above %04x: %04x", h, fp16_from_f32(mid));
            CHECKF(fp16_from_f32(below) == (s | h), "fp16 below mid of %04x: %04x", h, fp16_from_f32(below));
            CHECKF(fp16_from_f32(above) == (s | (h + 1)), "fp16 above mid of %04x", h);
        }
    }
    CHECK(fp16_from_f32(65520.0f) == 0x7c00 && fp16_from_f32(-65520.0f) == 0xfc00);
    CHECK(fp16_from_f32(nextafterf(65520.0f, 0)) == 0x7bff);
    CHECK(fp16_from_f32(1e10f) == 0x7c00 && fp16_from_f32(INFINITY) == 0x7c00);
    CHECK(fp16_from_f32(0x1p-25f) == 0 && fp16_from_f32(nextafterf(0x1p-25f, 1)) == 1);
    CHECK(fp16_from_f32(1e-30f) == 0 && fp16_from_f32(-1e-30f) == 0x8000 && fp16_from_f32(-0.0f) == 0x8000);
}

static void test_bf16(void) {
    for (uint32_t b = 0; b < 65536; b++) {
        float f = bf16_to_f32((uint16_t)b);
        CHECK(f32_to_bits(f) == b << 16);
        if ((b & 0x7f80) == 0x7f80 && (b & 0x7f)) CHECK((bf16_from_f32(f) & 0x7fff) > 0x7f80);
        else CHECKF(bf16_from_f32(f) == b, "bf16 round trip %04x", b);
        if ((b & 0x7fff) < 0x7f80) {
            /* midpoint to the next magnitude: ties to even */
            uint32_t mid = b << 16 | 0x8000u;
            uint16_t even = (b & 1) ? (uint16_t)(b + 1) : (uint16_t)b;
            CHECKF(bf16_from_f32(f32_from_bits(mid)) == even, "bf16 tie above %04x", b);
            CHECK(bf16_from_f32(f32_from_bits(mid - 1)) == b);
            CHECK(bf16_from_f32(f32_from_bits(mid + 1)) == b + 1);
        }
    }
}

/* Every dequantizer on random blocks (and byte patterns) against ref_elem,
 * compared as bits; f16 scales span subnormal to large magnitudes. */
static void test_dequant_random(void) {
    enum { NB = 8 };
    static uint8_t buf[NB * 256 * 4]; /* NB blocks of the largest type, or NB * 256 f32 */
    static float out[NB * 256];
    static const uint32_t types[] = {
        QTYPE_F32,  QTYPE_F16,  QTYPE_BF16, QTYPE_Q4_0, QTYPE_Q4_1, QTYPE_Q5_0, QTYPE_Q5_1, QTYPE_Q8_0,
        QTYPE_Q8_1, QTYPE_Q2_K, QTYPE_Q3_K, QTYPE_Q4_K, QTYPE_Q5_K, QTYPE_Q6_K, QTYPE_Q8_K,
    };
    static const int patterns[] = {0, 0, 0, 0, 0xff, 0x80, 0x55, 0x00};
    uint64_t seed = 42;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const uint32_t type = types[t];
        const qtype_info *qi = qtype_get(type);
        /* float types: NB * 256 elements; block types: NB blocks */
        const size_t nblocks = qi->block_elems == 1 ? NB * 256 : NB;
        const int64_t n = (int64_t)(nblocks * qi->block_elems);
        int bad = 0;
        for (size_t pi = 0; pi < sizeof patterns / sizeof patterns[0] && !bad; pi++) {
            /* odd patterns: subnormal to small scales; even: normal to the largest */
            int elo = pi % 2 ? 0 : 1, ehi = pi % 2 ? 12 : 30;
            fill_blocks(type, buf, nblocks, patterns[pi], &seed, elo, ehi);
            REQUIRE(dequant_row(type, buf, out, n));
            for (int64_t e = 0; e < n && !bad; e++) {
                const uint8_t *blk = buf + (size_t)(e / qi->block_elems) * qi->block_bytes;
                float want = ref_elem(type, blk, (int)(e % qi->block_elems));
                if (f32_to_bits(out[e]) != f32_to_bits(want)) {
                    test_fail_at(__FILE__, __LINE__, "%s pattern %zu: element %" PRId64 " is %a (%08x), want %a (%08x)",
                                 qi->name, pi, e, out[e], f32_to_bits(out[e]), want, f32_to_bits(want));
                    bad = 1;
                }
            }
        }
    }
}

/* Checks one quantized activation row against the definition of its type. */
static void check_act_row(uint32_t act, const float *x, const void *q, int64_t n, const char *what) {
    static float dec[4096];
    REQUIRE(n <= 4096);
    REQUIRE(dequant_row(act, q, dec, n));
    if (act == QTYPE_Q8_0 || act == QTYPE_Q8_1) {
        const size_t bs = act == QTYPE_Q8_0 ? sizeof(block_q8_0) : sizeof(block_q8_1);
        const size_t qoff = act == QTYPE_Q8_0 ? 2 : 4;
        for (int64_t b = 0; b < n / 32; b++) {
            const uint8_t *p = (const uint8_t *)q + b * bs;
            const float *xb = x + 32 * b;
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
            const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            CHECKF(rd16(p) == fp16_from_f32(d), "%s block %" PRId64 ": d %04x, want %04x", what, b, rd16(p),
                   fp16_from_f32(d));
            int sum = 0, n127 = 0;
            for (int j = 0; j < 32; j++) {
                const int v = (int8_t)p[qoff + j];
                const float t = xb[j] * id; /* x / d as the reference computes it */
                sum += v;
                n127 += v == 127 || v == -127;
                CHECKF(v >= -127 && v <= 127, "%s: q %d out of range", what, v);
                /* nearest, ties away from zero */
                const float err = fabsf(t - (float)v);
                CHECKF(err < 0.5f || (err == 0.5f && fabsf((float)v) > fabsf(t)), "%s block %" PRId64
                       " elem %d: x*id %a -> %d", what, b, j, t, v);
                if (d == 0.0f) CHECK(v == 0);
            }
            if (amax > 0) CHECKF(n127 >= 1, "%s block %" PRId64 ": no element at +-127", what, b);
            if (act == QTYPE_Q8_1)
                CHECKF(rd16(p + 2) == fp16_from_f32((float)sum * d), "%s block %" PRId64 ": s %04x", what, b,
                       rd16(p + 2));
        }
    } else if (act == QTYPE_Q8_K) {
        for (int64_t b = 0; b < n / QK_K; b++) {
            const block_q8_K *y = (const block_q8_K *)q + b;
            const float *xb = x + QK_K * b;
            float amax = 0, max = 0;
            for (int j = 0; j < QK_K; j++)
                if (fabsf(xb[j]) > amax) amax = fabsf(xb[j]), max = xb[j];
            if (amax == 0) {
                CHECK(f32_to_bits(y->d) == 0);
                for (int j = 0; j < QK_K; j++) CHECK(y->qs[j] == 0);
                for (int i = 0; i < 16; i++) CHECK(y->bsums[i] == 0);
                continue;
            }
            const float scale = -127.0f / max;
            CHECKF(f32_to_bits(y->d) == f32_to_bits(1.0f / scale), "%s block %" PRId64 ": d %a", what, b, y->d);
            int first_max = -1;
            for (int j = 0; j < QK_K; j++) {
                const int v = y->qs[j];
                const float t = scale * xb[j];
                const float err = fabsf(t - (float)v);
                /* nearest, ties to even */
                CHECKF(err < 0.5f || (err == 0.5f && v % 2 == 0), "%s: scale*x %a -> %d", what, t, v);
                CHECK(v >= -127 && v <= 127);
                if (first_max < 0 && fabsf(xb[j]) == amax) first_max = j;
            }
            CHECKF(y->qs[first_max] == -127, "%s: largest element -> %d", what, y->qs[first_max]);
            for (int i = 0; i < 16; i++) {
                int s = 0;
                for (int l = 0; l < 16; l++) s += y->qs[16 * i + l];
                CHECKF(y->bsums[i] == s, "%s block %" PRId64 ": bsums[%d] %d, want %d", what, b, i, y->bsums[i], s);
            }
        }
    }
    /* the decode is within half a step of x, plus what the rounding of the
     * stored scale (f16 for q8_0/q8_1, down to 0 for tiny blocks) adds */
    const int blk = act == QTYPE_Q8_K ? QK_K : 32;
    for (int64_t b = 0; b < n / blk; b++) {
        float amax = 0;
        for (int j = 0; j < blk; j++) amax = fmaxf(amax, fabsf(x[b * blk + j]));
        const double step = amax / 127.0;
        const uint8_t *p = (const uint8_t *)q + b * qtype_get(act)->block_bytes;
        double d_stored;
        if (act == QTYPE_Q8_K) {
            float d;
            memcpy(&d, p, 4);
            d_stored = fabs(d);
        } else {
            d_stored = fabs(f16at(p));
        }
        const double bound = 0.5 * step + 127.0 * fabs(step - d_stored) + 1e-6 * amax;
        for (int j = 0; j < blk; j++) {
            const double err = fabs((double)x[b * blk + j] - (double)dec[b * blk + j]);
            CHECKF(err <= bound, "%s block %" PRId64 ": |x - decode| = %g > %g (step %g)", what, b, err, bound, step);
        }
    }
}

static void test_quantize_act(void) {
    static float x[4096];
    static uint8_t q[4096 / 256 * 292];
    static const uint32_t acts[] = {QTYPE_Q8_0, QTYPE_Q8_1, QTYPE_Q8_K};
    uint64_t seed = 7;
    for (int kind = 0; kind < 9; kind++) {
        for (int i = 0; i < 4096; i++) {
            switch (kind) {
            case 0: x[i] = rng_normal(&seed); break;
            case 1: x[i] = rng_normal(&seed) * 1e-30f; break;            /* tiny (d underflows in f16) */
            case 2: x[i] = rng_normal(&seed) * 3e4f; break;              /* large */
            case 3: x[i] = (i / 256) % 2 ? 0.0f : rng_normal(&seed); break; /* zero blocks */
            case 4: x[i] = 0.0123f; break;
            case 5: x[i] = (float)((int)(test_splitmix64(&seed) % 255) - 127) / 127.0f * 2.0f; break; /* grid */
            case 6: x[i] = (float)(i % 64) - 31.5f; break;
            case 7: /* exact ties: amax 127 makes d = 1 (q8_0/q8_1) and scale = -1 (q8_K) */
                x[i] = i % 32 == 0 ? 127.0f : (float)(i % 126) + (i % 3 ? 0.5f : -0.5f);
                if (i % 2) x[i] = -x[i];
                break;
            default: x[i] = i % 37 == 0 ? 100.0f * rng_normal(&seed) : rng_normal(&seed); break;
            }
        }
        for (size_t a = 0; a < 3; a++) {
            char what[64];
            snprintf(what, sizeof what, "%s kind %d", tname(acts[a]), kind);
            memset(q, 0xcd, sizeof q);
            if (acts[a] == QTYPE_Q8_0) quantize_row_q8_0(x, q, 4096);
            else if (acts[a] == QTYPE_Q8_1) quantize_row_q8_1(x, q, 4096);
            else quantize_row_q8_K(x, q, 4096);
            check_act_row(acts[a], x, q, 4096, what);
        }
    }
    /* quantize_row_act picks the activation type and copies for floats */
    float y[256];
    CHECK(quantize_row_act(QTYPE_F16, x, y, 256) && memcmp(x, y, sizeof y) == 0);
    uint8_t q2[292], q3[292];
    quantize_row_q8_K(x, q2, 256);
    CHECK(quantize_row_act(QTYPE_Q6_K, x, q3, 256) && memcmp(q2, q3, 292) == 0);
}

/* The reference quantizer computes x / d as x * (1 / d) with d = amax / 127,
 * not as x * (127 / amax): the two differ in the last bit for some amax,
 * which moves a value across a rounding boundary now and then. Builds such
 * values on purpose and checks that the q8_0 and q8_1 quantizers take the
 * reference's side. */
static void test_quantize_scale_semantics(void) {
    uint64_t seed = 3;
    int found = 0;
    float x[32];
    block_q8_0 y0;
    block_q8_1 y1;
    for (int trial = 0; trial < 20000 && found < 50; trial++) {
        const float amax = 0.5f + 200.0f * (rng_unit(&seed) + 1.0f);
        const float d = amax / 127.0f, id = 1.0f / d, id_alt = 127.0f / amax;
        if (id == id_alt) continue;
        const int k = (int)(test_splitmix64(&seed) % 126);
        float v = ((float)k + 0.5f) / id;
        for (int step = -8; step <= 8; step++) {
            float xv = v;
            for (int s = 0; s < (step < 0 ? -step : step); s++) xv = nextafterf(xv, step < 0 ? 0.0f : INFINITY);
            if (roundf(xv * id) == roundf(xv * id_alt) || xv >= amax) continue;
            memset(x, 0, sizeof x);
            x[0] = amax;
            x[5] = xv;
            x[6] = -xv;
            quantize_row_q8_0(x, &y0, 32);
            quantize_row_q8_1(x, &y1, 32);
            const int want = (int)roundf(xv * id);
            CHECKF(y0.qs[5] == want && y0.qs[6] == -want, "q8_0: amax %a, x %a -> %d, want %d", amax, xv, y0.qs[5], want);
            CHECKF(y1.qs[5] == want && y1.qs[6] == -want, "q8_1: amax %a, x %a -> %d, want %d", amax, xv, y1.qs[5], want);
            found++;
            break;
        }
    }
    CHECKF(found >= 50, "only %d boundary cases found", found);
}

/* Dot products on random blocks: against a double-precision sum over the
 * dequantized weights and activations. For q4_1/q5_1 the reference takes
 * the min term as the kernel defines it (m * s, s the f16 field). */
static void test_dot_random(void) {
    enum { N = 1024 };
    static uint8_t w[N * 4], aq[N * 4]; /* f32 rows are the largest */
    static float x[N], wd[N], ad[N];
    static const int patterns[] = {0, 0, 0, 0xff, 0x00, 0x80, 0x77};
    uint64_t seed = 99;
    for (size_t t = 0; t < N_WEIGHT_TYPES; t++) {
        const uint32_t type = weight_types[t];
        const quant_kernels *k = quant_kernels_scalar(type);
        REQUIRE(k != NULL);
        const qtype_info *qi = qtype_get(type);
        double worst = 0;
        for (size_t pi = 0; pi < sizeof patterns / sizeof patterns[0]; pi++) {
            for (int akind = 0; akind < 3; akind++) {
                fill_blocks(type, w, N / qi->block_elems, patterns[pi], &seed, 5, 17);
                for (int i = 0; i < N; i++)
                    x[i] = akind == 0 ? rng_normal(&seed) : akind == 1 ? 1.0f : (i % 2 ? -3.0f : 3.0f);
                REQUIRE(quantize_row_act(type, x, aq, N));
                REQUIRE(dequant_row(type, w, wd, N));
                if (k->act_type == QTYPE_F32) memcpy(ad, aq, sizeof ad);
                else REQUIRE(dequant_row(k->act_type, aq, ad, N));
                double ref = 0, mag = 0;
                for (int i = 0; i < N; i++) {
                    ref += (double)wd[i] * (double)ad[i];
                    mag += fabs((double)wd[i] * (double)ad[i]);
                }
                if (type == QTYPE_Q4_1 || type == QTYPE_Q5_1) {
                    for (int b = 0; b < N / 32; b++) {
                        const block_q8_1 *a1 = (const block_q8_1 *)aq + b;
                        const uint8_t *wb = w + (size_t)b * qi->block_bytes;
                        double sq = 0;
                        for (int j = 0; j < 32; j++) sq += a1->qs[j];
                        const double m = f16at(wb + 2), s = fp16_to_f32(a1->s), d = fp16_to_f32(a1->d);
                        ref += m * (s - d * sq);
                        mag += fabs(m * s);
                    }
                }
                const float got = vec_dot(type, w, aq, N);
                const double err = fabs((double)got - ref);
                CHECKF(err <= 1e-5 * mag, "%s pattern %zu act %d: dot %.9g, ref %.9g (rel %.3g)", qi->name, pi,
                       akind, got, ref, mag > 0 ? err / mag : err);
                if (mag > 0 && err / mag > worst) worst = err / mag;
                CHECK(k->dot(w, aq, N) == got);
            }
        }
        if (getenv("TEST_VERBOSE"))
            fprintf(stderr, "  random dot %-5s max |err| / sum|w*a| = %.3g\n", qi->name, worst);
    }
}

/* ---- 2. the ggml reference files --------------------------------------------- */

typedef struct dot_stats {
    const char *name;
    double mine_ref, mine_ggml, mine_exact, ggmlaq_ggml, ggmlaq_ref, adiff;
    int q_diffs, n_q;
} dot_stats;

static dot_stats stats[16];
static int n_stats;

static const gguf_tensor *need_tensor(const gguf_file *f, const char *name, uint32_t type, uint64_t ne0,
                                      uint64_t ne1) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) {
        test_fail_at(__FILE__, __LINE__, "tensor '%s' missing", name);
        return NULL;
    }
    if ((type != UINT32_MAX && t->type != type) || t->ne[0] != ne0 || t->ne[1] != ne1) {
        test_fail_at(__FILE__, __LINE__, "tensor '%s': type %u, %" PRIu64 " x %" PRIu64 "", name, t->type,
                     t->ne[0], t->ne[1]);
        return NULL;
    }
    return t;
}

/* Relative tolerance of a dot product against ggml's (w.dot_a) or the
 * exact reference (w.dot_a.ref), relative to sum |w * a| of the row. */
static double dot_rel_tolerance(uint32_t type) {
    return type == QTYPE_Q4_1 || type == QTYPE_Q5_1 ? 1e-3 : 1e-5;
}

static void check_file(const char *file, uint32_t type) {
    char path[1024], relpath[128];
    snprintf(relpath, sizeof relpath, "quant/%s", file);
    if (!testdata_path(path, sizeof path, relpath)) return;
    gguf_file *f = NULL;
    qwq_status st = gguf_open(path, &f);
    if (st != QWQ_OK) {
        test_fail_at(__FILE__, __LINE__, "gguf_open(%s): %s", path, err_message());
        return;
    }
    const qtype_info *qi = qtype_get(type);
    const quant_kernels *k = quant_kernels_scalar(type);
    uint32_t type_id = 0, block = 0, tsize = 0, rows = 0, cols = 0, vdt = 0;
    CHECK(gguf_get_u32(f, "quant.type_id", &type_id) == QWQ_OK && type_id == type);
    CHECK(gguf_get_u32(f, "quant.block_size", &block) == QWQ_OK && block == qi->block_elems);
    CHECK(gguf_get_u32(f, "quant.type_size", &tsize) == QWQ_OK && tsize == qi->block_bytes);
    CHECK(gguf_get_u32(f, "quant.rows", &rows) == QWQ_OK && rows == 16);
    CHECK(gguf_get_u32(f, "quant.cols", &cols) == QWQ_OK && cols == 1024);
    CHECK(gguf_get_u32(f, "quant.vec_dot_type_id", &vdt) == QWQ_OK);
    const uint32_t R = 16, C = 1024;
    const gguf_tensor *tw = need_tensor(f, "w", type, C, R);
    const gguf_tensor *twd = need_tensor(f, "w.dequant", QTYPE_F32, C, R);
    const gguf_tensor *ta = need_tensor(f, "a", QTYPE_F32, C, 1);
    const gguf_tensor *taq = need_tensor(f, "a.q", vdt, C, 1);
    const gguf_tensor *taqd = need_tensor(f, "a.q.dequant", QTYPE_F32, C, 1);
    const gguf_tensor *tdot = need_tensor(f, "w.dot_a", QTYPE_F32, R, 1);
    const gguf_tensor *tref = need_tensor(f, "w.dot_a.ref", QTYPE_F32, R, 1);
    if (!tw || !twd || !ta || !taq || !taqd || !tdot || !tref || !k) {
        gguf_close(f);
        return;
    }
    /* ggml's vec_dot type is ours, except that our float weights take f32 */
    const uint32_t act = k->act_type;
    CHECKF(act == vdt || (act == QTYPE_F32 && (vdt == QTYPE_F16 || vdt == QTYPE_BF16)), "%s: vec_dot type %u vs %u",
           qi->name, vdt, act);

    const size_t row_bytes = C / qi->block_elems * qi->block_bytes;
    CHECK(tw->n_bytes == row_bytes * R);
    const float *wdq = twd->data, *a = ta->data, *aqd = taqd->data, *dot_ggml = tdot->data, *dot_ref = tref->data;

    /* 1. w -> w.dequant, bit for bit */
    static float row[1024];
    int mismatches = 0;
    for (uint32_t r = 0; r < R; r++) {
        REQUIRE(dequant_row(type, (const uint8_t *)tw->data + r * row_bytes, row, C));
        for (uint32_t c = 0; c < C; c++) {
            if (f32_to_bits(row[c]) != f32_to_bits(wdq[r * C + c])) {
                if (mismatches++ == 0)
                    test_fail_at(__FILE__, __LINE__, "%s: first dequant mismatch at row %u col %u: %a (%08x), ggml %a (%08x)",
                                 qi->name, r, c, row[c], f32_to_bits(row[c]), wdq[r * C + c],
                                 f32_to_bits(wdq[r * C + c]));
            }
        }
    }
    CHECKF(mismatches == 0, "%s: %d of %u dequantized values differ", qi->name, mismatches, R * C);

    /* 2. our quantization of a against ggml's a.q */
    static uint8_t my_aq[1024 / 32 * 36 + 1024 * 4];
    static float my_ad[1024], gg_ad[1024];
    REQUIRE(quant_act_row_size(type, C) <= sizeof my_aq);
    REQUIRE(quantize_row_act(type, a, my_aq, C));
    int q_diffs = 0;
    if (act == QTYPE_F32) {
        memcpy(my_ad, my_aq, sizeof my_ad);
        /* ggml's activations are a rounded to f16/bf16: our converters
         * reproduce them bit for bit, and decode them exactly */
        const uint16_t *h = taq->data;
        REQUIRE(dequant_row(vdt, taq->data, gg_ad, C));
        for (uint32_t i = 0; i < C; i++) {
            uint16_t mine = vdt == QTYPE_F16 ? fp16_from_f32(a[i]) : bf16_from_f32(a[i]);
            if (mine != h[i]) q_diffs++;
            CHECKF(f32_to_bits(gg_ad[i]) == f32_to_bits(aqd[i]), "%s: a.q[%u] decodes to %a, file %a", qi->name, i,
                   gg_ad[i], aqd[i]);
        }
        CHECKF(q_diffs == 0, "%s: %d activations round differently from ggml's a.q", qi->name, q_diffs);
    } else {
        /* decoding ggml's bytes reproduces a.q.dequant exactly */
        REQUIRE(dequant_row(act, taq->data, gg_ad, C));
        REQUIRE(dequant_row(act, my_aq, my_ad, C));
        for (uint32_t i = 0; i < C; i++)
            CHECKF(f32_to_bits(gg_ad[i]) == f32_to_bits(aqd[i]), "%s: a.q[%u] decodes to %a, a.q.dequant %a",
                   qi->name, i, gg_ad[i], aqd[i]);
        /* ours: same scales; each value equal, or one step apart where the
         * scaled value is within 1e-3 of a rounding tie (ggml-cpu's SIMD
         * quantizer may compute x / d differently and rounds ties to even) */
        const int blk = act == QTYPE_Q8_K ? QK_K : 32;
        const qtype_info *ai = qtype_get(act);
        for (uint32_t b = 0; b < C / (uint32_t)blk; b++) {
            const uint8_t *mine = my_aq + b * ai->block_bytes, *theirs = (const uint8_t *)taq->data + b * ai->block_bytes;
            const size_t dbytes = act == QTYPE_Q8_K ? 4 : 2;
            CHECKF(memcmp(mine, theirs, dbytes) == 0, "%s: a.q block %u scale differs", qi->name, b);
            float amax = 0;
            for (int j = 0; j < blk; j++) amax = fmaxf(amax, fabsf(a[b * blk + j]));
            for (int j = 0; j < blk; j++) {
                const uint32_t i = b * (uint32_t)blk + (uint32_t)j;
                if (f32_to_bits(my_ad[i]) == f32_to_bits(aqd[i])) continue;
                q_diffs++;
                const double t = fabs((double)a[i]) * 127.0 / amax, frac = t - floor(t);
                const double step = fabs((double)my_ad[i] - (double)aqd[i]);
                CHECKF(fabs(frac - 0.5) < 1e-3 && step <= 1.0001 * amax / 127.0,
                       "%s: a[%u] = %a quantized to %a, ggml %a (not a tie)", qi->name, i, a[i], my_ad[i], aqd[i]);
            }
        }
        if (act == QTYPE_Q8_1) {
            for (uint32_t b = 0; b < C / 32; b++) {
                const block_q8_1 *m1 = (const block_q8_1 *)my_aq + b, *g1 = (const block_q8_1 *)taq->data + b;
                int same = memcmp(m1->qs, g1->qs, 32) == 0;
                if (same) CHECKF(m1->s == g1->s, "%s: a.q block %u: s %04x, ggml %04x", qi->name, b, m1->s, g1->s);
            }
        }
        if (act == QTYPE_Q8_K) {
            for (uint32_t b = 0; b < C / QK_K; b++) {
                const block_q8_K *g = (const block_q8_K *)taq->data + b;
                for (int i = 0; i < 16; i++) {
                    int s = 0;
                    for (int l = 0; l < 16; l++) s += g->qs[16 * i + l];
                    CHECKF(g->bsums[i] == s, "%s: ggml's a.q bsums[%d] = %d, sum %d", qi->name, i, g->bsums[i], s);
                }
            }
        }
        check_act_row(act, a, my_aq, C, qi->name);
    }

    /* 3. dot products. For each row: mag = sum |w.dequant * a.q.dequant|;
     * adiff = sum |w.dequant| * |our decoded a - a.q.dequant| bounds how far
     * our own activation rounding can move the result from the file's
     * (0 when our a.q equals ggml's; the f16/bf16 rounding of a for float
     * weights, which take unrounded f32 activations here). */
    const double rel = dot_rel_tolerance(type);
    dot_stats *ds = &stats[n_stats < 16 ? n_stats++ : 15];
    memset(ds, 0, sizeof *ds);
    ds->name = qi->name;
    ds->q_diffs = q_diffs;
    ds->n_q = (int)C;
    static float gg_aq_f32[1024];
    const void *gg_act = taq->data;
    if (act == QTYPE_F32) { /* ggml's f16/bf16 activations, converted exactly */
        memcpy(gg_aq_f32, gg_ad, sizeof gg_aq_f32);
        gg_act = gg_aq_f32;
    }
    for (uint32_t r = 0; r < R; r++) {
        const void *wr = (const uint8_t *)tw->data + r * row_bytes;
        const float *wdr = wdq + r * C;
        double mag = 0, adiff = 0, exact = 0;
        for (uint32_t c = 0; c < C; c++) {
            mag += fabs((double)wdr[c] * (double)aqd[c]);
            adiff += fabs((double)wdr[c]) * fabs((double)my_ad[c] - (double)aqd[c]);
            exact += (double)wdr[c] * (double)my_ad[c];
        }
        if (act == QTYPE_Q8_1) { /* the kernel's min term uses the f16 s field */
            for (uint32_t b = 0; b < C / 32; b++) {
                const block_q8_1 *m1 = (const block_q8_1 *)my_aq + b;
                const double m = f16at((const uint8_t *)wr + b * qi->block_bytes + 2);
                double sq = 0;
                for (int j = 0; j < 32; j++) sq += m1->qs[j];
                exact += m * ((double)fp16_to_f32(m1->s) - (double)fp16_to_f32(m1->d) * sq);
            }
        }
        const float mine = vec_dot(type, wr, my_aq, C);
        const float theirs = vec_dot(type, wr, gg_act, C);
        const double e_ref = fabs((double)mine - dot_ref[r]), e_ggml = fabs((double)mine - dot_ggml[r]);
        const double e_exact = fabs((double)mine - exact);
        const double g_ggml = fabs((double)theirs - dot_ggml[r]), g_ref = fabs((double)theirs - dot_ref[r]);
        CHECKF(e_ref <= rel * mag + adiff, "%s row %u: our dot %.9g vs w.dot_a.ref %.9g (rel %.3g)", qi->name, r, mine,
               dot_ref[r], e_ref / mag);
        CHECKF(e_ggml <= rel * mag + adiff, "%s row %u: our dot %.9g vs w.dot_a %.9g (rel %.3g)", qi->name, r, mine,
               dot_ggml[r], e_ggml / mag);
        CHECKF(e_exact <= 1e-5 * mag, "%s row %u: our dot %.9g vs exact %.9g of our own a.q (rel %.3g)", qi->name, r,
               mine, exact, e_exact / mag);
        CHECKF(g_ggml <= 1e-5 * mag, "%s row %u: dot with ggml's a.q %.9g vs w.dot_a %.9g (rel %.3g)", qi->name, r,
               theirs, dot_ggml[r], g_ggml / mag);
        CHECKF(g_ref <= rel * mag, "%s row %u: dot with ggml's a.q %.9g vs w.dot_a.ref %.9g (rel %.3g)", qi->name, r,
               theirs, dot_ref[r], g_ref / mag);
        if (mag > 0) {
            ds->mine_ref = fmax(ds->mine_ref, e_ref / mag);
            ds->mine_ggml = fmax(ds->mine_ggml, e_ggml / mag);
            ds->mine_exact = fmax(ds->mine_exact, e_exact / mag);
            ds->ggmlaq_ggml = fmax(ds->ggmlaq_ggml, g_ggml / mag);
            ds->ggmlaq_ref = fmax(ds->ggmlaq_ref, g_ref / mag);
            ds->adiff = fmax(ds->adiff, adiff / mag);
        }
    }
    gguf_close(f);
}

#define FILE_CASE(fn, file, type) \
    static void test_file_##fn(void) { check_file(file, type); }
FILE_CASE(f16, "f16.gguf", QTYPE_F16)
FILE_CASE(bf16, "bf16.gguf", QTYPE_BF16)
FILE_CASE(q4_0, "q4_0.gguf", QTYPE_Q4_0)
FILE_CASE(q4_1, "q4_1.gguf", QTYPE_Q4_1)
FILE_CASE(q5_0, "q5_0.gguf", QTYPE_Q5_0)
FILE_CASE(q5_1, "q5_1.gguf", QTYPE_Q5_1)
FILE_CASE(q8_0, "q8_0.gguf", QTYPE_Q8_0)
FILE_CASE(q2_K, "q2_k.gguf", QTYPE_Q2_K)
FILE_CASE(q3_K, "q3_k.gguf", QTYPE_Q3_K)
FILE_CASE(q4_K, "q4_k.gguf", QTYPE_Q4_K)
FILE_CASE(q5_K, "q5_k.gguf", QTYPE_Q5_K)
FILE_CASE(q6_K, "q6_k.gguf", QTYPE_Q6_K)

static void test_file_unsupported_iq4_nl(void) {
    char path[1024];
    if (!testdata_path(path, sizeof path, "quant/unsupported-iq4_nl.gguf")) return;
    gguf_file *f = NULL;
    qwq_status st = gguf_open(path, &f);
    REQUIRE(st == QWQ_OK); /* a valid file: rejecting the type is the model loader's job */
    const gguf_tensor *w = gguf_find_tensor(f, "w");
    CHECK(w != NULL && w->type == QTYPE_IQ4_NL);
    if (w) {
        const qtype_info *qi = qtype_get(w->type);
        CHECK(qi != NULL && !qi->supported && strcmp(qi->name, "iq4_nl") == 0);
        CHECK(qi != NULL && qi->block_elems == 32 && qi->block_bytes == 18);
        CHECK(quant_kernels_scalar(w->type) == NULL);
        float out[32];
        CHECK(!dequant_row(w->type, w->data, out, 32));
    }
    gguf_close(f);
}

static void print_stats(void) {
    if (!getenv("TEST_VERBOSE")) return;
    fprintf(stderr, "  dot |err| / sum|w*a| per row, max over the 16 rows:\n");
    fprintf(stderr, "  type   ours~ref   ours~ggml  ours~exact ggml_aq~ggml ggml_aq~ref  a-diff  a.q values differing\n");
    for (int i = 0; i < n_stats; i++) {
        const dot_stats *s = &stats[i];
        fprintf(stderr, "  %-5s %10.3g %10.3g %10.3g %10.3g %10.3g %10.3g  %d/%d\n", s->name, s->mine_ref,
                s->mine_ggml, s->mine_exact, s->ggmlaq_ggml, s->ggmlaq_ref, s->adiff, s->q_diffs, s->n_q);
    }
}

int main(void) {
    RUN(test_block_sizes);
    RUN(test_kernel_table);
    RUN(test_dispatch_rejects);
    RUN(test_fp16);
    RUN(test_bf16);
    RUN(test_dequant_random);
    RUN(test_quantize_act);
    RUN(test_quantize_scale_semantics);
    RUN(test_dot_random);
    RUN(test_file_f16);
    RUN(test_file_bf16);
    RUN(test_file_q4_0);
    RUN(test_file_q4_1);
    RUN(test_file_q5_0);
    RUN(test_file_q5_1);
    RUN(test_file_q8_0);
    RUN(test_file_q2_K);
    RUN(test_file_q3_K);
    RUN(test_file_q4_K);
    RUN(test_file_q5_K);
    RUN(test_file_q6_K);
    RUN(test_file_unsupported_iq4_nl);
    print_stats();
    return test_summary();
}
