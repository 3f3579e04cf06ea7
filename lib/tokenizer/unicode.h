/*
 * unicode - the Unicode pieces the tokenizer needs: UTF-8 validation and
 * decoding, the character properties the Qwen2 pre-tokenizer pattern uses
 * (\p{L}, \p{N}, White_Space) and NFC normalisation.
 *
 * Invariants
 *  - Tables are generated from the Unicode Character Database 15.0 by
 *    third_party/unicode/gen_unicode_tables.py into unicode_tables.c; they are
 *    const and there is no other state, so every function is thread-safe.
 *  - Functions taking UTF-8 require it to be valid (utf8_validate first);
 *    they never read outside [s, s + n).
 *  - uc_nfc allocates only in the caller's uc_scratch (reused across calls,
 *    freed by uc_scratch_free); an allocation failure is its only error.
 */
#ifndef QWQ_TOKENIZER_UNICODE_H
#define QWQ_TOKENIZER_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qwq.h"

/* property bits of a code point (see gen_unicode_tables.py) */
#define UC_CCC_MASK 0xFFu   /* Canonical_Combining_Class */
#define UC_LETTER (1u << 8) /* General_Category L* */
#define UC_NUMBER (1u << 9) /* General_Category N* */
#define UC_SPACE (1u << 10) /* White_Space */
#define UC_NFC_QC (1u << 11) /* NFC_Quick_Check is No or Maybe */
#define UC_DECOMP (1u << 12) /* has a canonical decomposition (not Hangul) */

/* Longest full canonical decomposition of one code point. */
#define UC_MAX_DECOMP 4

extern const char uc_version[];
extern const uint16_t uc_stage1[];
extern const uint16_t uc_stage2[];
extern const uint32_t uc_decomp_cp[];
extern const uint16_t uc_decomp_pos[];
extern const uint32_t uc_decomp_data[];
extern const uint64_t uc_comp_key[];
extern const uint32_t uc_comp_val[];
extern const size_t uc_n_decomp;
extern const size_t uc_n_comp;

static inline uint32_t uc_props(uint32_t cp) {
    if (cp >= 0x110000u) return 0;
    return uc_stage2[((uint32_t)uc_stage1[cp >> 7] << 7) | (cp & 127u)];
}

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

/* True when the valid UTF-8 s[0..n) is certainly in NFC (the quick check
 * answers Yes); false means it may not be. */
bool uc_nfc_quick(const uint8_t *s, size_t n);

/* Growable buffers for uc_nfc; zero-initialise, free with uc_scratch_free. */
typedef struct uc_scratch {
    uint32_t *cp, *tmp;
    size_t cp_cap, tmp_cap;
    uint8_t *out;
    size_t out_cap;
} uc_scratch;
void uc_scratch_free(uc_scratch *sc);

/* NFC of the valid UTF-8 s[0..n). *out points at the result: s itself when
 * the quick check says it is already NFC, otherwise sc->out (valid until the
 * next call with the same scratch); *n_out gets its length. The only error
 * is QWQ_ERR_OUT_OF_MEMORY (or a size overflow, reported the same way). */
qwq_status uc_nfc(const uint8_t *s, size_t n, uc_scratch *sc, const uint8_t **out,
                  size_t *n_out);

#endif
