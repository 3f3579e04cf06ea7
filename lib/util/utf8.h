/*
 * utf8 - UTF-8 validation, decoding and encoding, shared by the JSON code
 * and the tokenizer.
 *
 * Invariants
 *  - Well-formed means Unicode 15, table 3-7: no overlong forms, no
 *    surrogates, nothing above U+10FFFF, no truncated sequence.
 *  - Nothing reads outside [s, s + n); there is no state (thread-safe).
 */
#ifndef QWQ_UTIL_UTF8_H
#define QWQ_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the well-formed UTF-8 sequence at s[0..n) (n > 0), 0 when the
 * bytes there are not one (Unicode 15, table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF, no truncation). */
size_t utf8_seq_len(const uint8_t *s, size_t n);
/* Offset of the first byte that is not part of well-formed UTF-8, or n. */
size_t utf8_validate(const uint8_t *s, size_t n);
/* Decodes the valid sequence at s (which has at least its length). */
static inline uint32_t utf8_decode(const uint8_t *s, size_t *len) {
    uint8_t b = s[0];
    if (b < 0x80) { *len = 1; return b; }
    if (b < 0xE0) { *len = 2; return ((uint32_t)(b & 0x1F) << 6) | (s[1] & 0x3Fu); }
    if (b < 0xF0) {
        *len = 3;
        return ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3Fu);
    }
    *len = 4;
    return ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
           ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3Fu);
}
/* Writes the UTF-8 of cp (< 0x110000) to out, returns 1..4. */
size_t utf8_encode(uint32_t cp, uint8_t *out);

#endif
