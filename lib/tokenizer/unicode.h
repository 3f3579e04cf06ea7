/*
 * unicode - the Unicode pieces the tokenizer needs (UTF-8 itself is in
 * util/utf8.h, included here): the character properties the Qwen2 pre-tokenizer pattern uses
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

#include "util/utf8.h"

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
