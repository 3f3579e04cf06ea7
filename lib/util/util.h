/*
 * util - the pieces every component shares: the thread-local error message,
 * overflow-checked size arithmetic and half-precision conversion.
 *
 * Invariants
 *  - The error message lives in thread-local storage; there is no other
 *    mutable state here. err_set() is called once, where the cause is known,
 *    and returns its status so that `return err_set(...)` reads naturally.
 *  - size_* helpers return false on overflow and never wrap silently.
 *  - fp16/bf16 conversions are exact (IEEE binary16 / bfloat16 to binary32),
 *    bit for bit what ggml does, including subnormals, inf and NaN.
 */
#ifndef QWQ_UTIL_H
#define QWQ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qwq.h"

#if defined(__GNUC__)
#define QWQ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define QWQ_PRINTF(a, b)
#endif

/* Records the message for this thread and returns status. */
qwq_status err_set(qwq_status status, const char *fmt, ...) QWQ_PRINTF(2, 3);
/* Prefixes the current message with "prefix: " (adds context on the way up). */
qwq_status err_prefix(qwq_status status, const char *fmt, ...) QWQ_PRINTF(2, 3);
void err_clear(void);
const char *err_message(void);

/* ---- checked arithmetic: true when the result fits ---------------------- */
static inline bool size_mul(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool size_add(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }
static inline bool u64_mul(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool u64_add(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_add_overflow(a, b, out); }

/* ---- half precision ------------------------------------------------------ */
static inline float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static inline float fp16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0) return f32_from_bits(sign);
        /* subnormal: value = man * 2^-24, exact in f32 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

/* Round to nearest even, as F16C's vcvtps2ph with the default mode. */
static inline uint16_t fp16_from_f32(float f) {
    uint32_t x = f32_to_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* may carry into inf: correct */
    return (uint16_t)(sign | h);
}

static inline float bf16_to_f32(uint16_t b) { return f32_from_bits((uint32_t)b << 16); }
static inline uint16_t bf16_from_f32(float f) {
    uint32_t x = f32_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 64); /* quiet NaN */
    return (uint16_t)((x + (0x7fffu + ((x >> 16) & 1))) >> 16);
}

/* ---- small helpers -------------------------------------------------------- */
/* malloc/calloc that set QWQ_ERR_OUT_OF_MEMORY with what was being allocated. */
void *mem_alloc(size_t n, const char *what);
void *mem_calloc(size_t count, size_t size, const char *what);
/* aligned to 64 bytes; free with mem_free_aligned */
void *mem_alloc_aligned(size_t n, const char *what);
void mem_free_aligned(void *p);
char *str_dup_n(const char *s, size_t n, const char *what);

/* Monotonic clock in seconds. */
double time_now(void);

#endif
