/*
 * tokenizer - byte-level BPE of Qwen2 / QwQ / Qwen3 GGUF files with exact
 * Hugging Face parity, and a streaming detokenizer.
 *
 * Invariants
 *  - Built once from the tokenizer.ggml.* keys by tokenizer_load, which
 *    validates everything it uses (model "gpt2", a known pre-tokenizer, every
 *    token type, every byte-level token spelled in the GPT-2 byte alphabet and
 *    unique, every merge "left right" naming existing tokens whose
 *    concatenation is a token, special ids in range, all 256 single-byte
 *    tokens present). After load a tokenizer is immutable: every function
 *    here only reads it, so one tokenizer may be used from any number of
 *    threads at once. Per-call scratch memory (including, for inputs of 8 KiB
 *    or more, a small cache of BPE results of repeated pieces) is allocated
 *    and freed inside the call; nothing is shared between calls and there is
 *    no global state. Results never depend on the cache.
 *  - Nothing is printed, nothing aborts on input; failures return a
 *    qwq_status with the message set once by err_set.
 *  - The tokenizer copies what it needs; it does not keep pointers into the
 *    gguf_file (which may be closed after load).
 *
 * Token types (tokenizer.ggml.token_type): 1 normal, 2 unknown, 3 control,
 * 4 user-defined, 5 unused, 6 byte. Types 1, 2 and 6 are byte-level BPE
 * tokens; 3 and 4 are the "added tokens" whose text is literal UTF-8; 5 are
 * padding rows that decode to nothing and are never produced by encode.
 *
 * Encoding (tokenizer_encode), the Hugging Face pipeline:
 *  1. with QWQ_TOKENIZE_SPECIAL, added tokens (types 3 and 4) are split out
 *     of the raw text first, leftmost match first and the longest one at a
 *     position; without the flag no added token is recognised;
 *  2. each remaining segment separately is NFC-normalised (Unicode 15);
 *  3. then split by the Qwen2 pattern
 *       (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
 *        ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *     implemented by hand with Oniguruma's semantics (\s = White_Space,
 *     \p{N} = Nd|Nl|No, case-insensitive contractions so "'S" and "'ſ"
 *     match, first alternative that matches wins);
 *  4. and each piece's UTF-8 bytes are merged by byte-level BPE, lowest merge
 *     rank first and, among equal ranks, leftmost first. When a merge pair
 *     appears twice in the file the later rank wins, as in Hugging Face.
 *  Invalid UTF-8 input is QWQ_ERR_INVALID_ARGUMENT naming the byte offset of
 *  the first byte that is not part of a well-formed sequence; nothing is
 *  written. No BOS/EOS is added.
 *
 * Decoding: the concatenated bytes of the pieces (byte alphabet mapped back;
 * added tokens give their text; unused tokens nothing). Incomplete or
 * invalid UTF-8 is returned as it is (tokenizer_decode) or replaced by
 * U+FFFD (the streaming decoder, which only ever emits valid UTF-8).
 * QWQ_DETOKENIZE_SKIP_SPECIAL drops the tokens Hugging Face's
 * skip_special_tokens drops: control tokens (type 3) other than the
 * code-completion markers <|fim_prefix|>, <|fim_middle|>, <|fim_suffix|>,
 * <|fim_pad|>, <|repo_name|> and <|file_sep|> (Qwen marks those
 * special: false, but GGUF converters type every <|...|> token as control).
 * User-defined tokens (<think>, <tool_call>...) are always kept.
 */
#ifndef QWQ_TOKENIZER_H
#define QWQ_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "qwq.h"

typedef struct tokenizer tokenizer;

enum {
    TOKEN_TYPE_NORMAL = 1,
    TOKEN_TYPE_UNKNOWN = 2,
    TOKEN_TYPE_CONTROL = 3,
    TOKEN_TYPE_USER_DEFINED = 4,
    TOKEN_TYPE_UNUSED = 5,
    TOKEN_TYPE_BYTE = 6
};

/* Builds the tokenizer from the tokenizer.ggml.* keys of f. On failure *out
 * is NULL and the status is QWQ_ERR_FORMAT (malformed or inconsistent data,
 * the key, index and value named), QWQ_ERR_UNSUPPORTED (a tokenizer model
 * or pre-tokenizer this build does not implement) or QWQ_ERR_OUT_OF_MEMORY.
 * tokenizer.ggml.pre may be absent (older conversions of Qwen2); "qwen2",
 * "qwen3" and "deepseek-r1-qwen" are accepted. */
qwq_status tokenizer_load(const gguf_file *f, tokenizer **out);
void tokenizer_free(tokenizer *t); /* NULL is a no-op */

/* Entries of tokenizer.ggml.tokens (valid ids are [0, n)). */
int32_t tokenizer_n_tokens(const tokenizer *t);

/* Token ids of text[0..len), see the top of this file. flags: 0 or
 * QWQ_TOKENIZE_SPECIAL (other bits are QWQ_ERR_INVALID_ARGUMENT). Buffer
 * protocol of qwq.h: on success *n_out ids are in out; when cap is too small
 * nothing is written, *n_out is the count needed and the result is
 * QWQ_ERR_BUFFER_TOO_SMALL. text may be NULL when len is 0, out when cap is 0. */
qwq_status tokenizer_encode(const tokenizer *t, const char *text, size_t len, uint32_t flags,
                            qwq_token *out, size_t cap, size_t *n_out);

/* Bytes of the pieces of ids[0..n), see above. flags: 0 or
 * QWQ_DETOKENIZE_SKIP_SPECIAL. An id outside [0, n_tokens) is
 * QWQ_ERR_INVALID_ARGUMENT naming its index. Buffer protocol; the text is
 * NUL-terminated when there is room (*n_out does not count the NUL). */
qwq_status tokenizer_decode(const tokenizer *t, const qwq_token *ids, size_t n, uint32_t flags,
                            char *out, size_t cap, size_t *n_out);

/* The decoded bytes of one token (not NUL-terminated; length in *len), or
 * NULL with *len = 0 for an id out of range. Unused tokens give "" (len 0).
 * The bytes belong to the tokenizer and live until tokenizer_free. */
const char *tokenizer_piece(const tokenizer *t, qwq_token id, size_t *len);
/* Longest piece of any token, in bytes. */
size_t tokenizer_max_piece_len(const tokenizer *t);
/* The token type (TOKEN_TYPE_*), 0 for an id out of range. */
int tokenizer_token_type(const tokenizer *t, qwq_token id);
/* True for the ids QWQ_DETOKENIZE_SKIP_SPECIAL drops (see above). */
bool tokenizer_is_special_skippable(const tokenizer *t, qwq_token id);
/* The id whose decoded text is exactly text[0..len), -1 if none. Added
 * tokens are preferred over a byte-level token with the same text. */
qwq_token tokenizer_find(const tokenizer *t, const char *text, size_t len);
/* tokenizer.ggml.eos_token_id / bos_token_id / padding_token_id, -1 when
 * the key is absent. */
qwq_token tokenizer_eos(const tokenizer *t);
qwq_token tokenizer_bos(const tokenizer *t);
qwq_token tokenizer_pad(const tokenizer *t);

/* ---- streaming decoder --------------------------------------------------------
 * Holds back the bytes of an incomplete UTF-8 character (at most 3) until the
 * next pieces complete it, so that each emitted chunk is valid UTF-8 and the
 * concatenation of all chunks (with the final flush) equals the whole
 * decode when that is valid UTF-8. A byte sequence that can no longer
 * become a valid character is replaced by one U+FFFD per maximal ill-formed
 * subpart (the Unicode "best practice", as WHATWG and Python do). No
 * allocation; the state is a few bytes and may be copied. */
typedef struct tok_stream {
    uint8_t held[4];
    uint8_t n_held;
} tok_stream;

/* Room that tok_stream_push needs in out for a piece of piece_len bytes (an
 * invalid byte can become the 3 bytes of U+FFFD; held bytes add at most 9);
 * TOK_STREAM_FLUSH_MAX for tok_stream_flush. */
#define TOK_STREAM_OUT_MAX(piece_len) (3 * (size_t)(piece_len) + 12)
#define TOK_STREAM_FLUSH_MAX 12

void tok_stream_init(tok_stream *s);
/* Appends the bytes of token id (nothing for an id out of range, or for a
 * skippable token when flags has QWQ_DETOKENIZE_SKIP_SPECIAL) and writes the
 * now complete valid UTF-8 to out; returns the number of bytes written. When
 * cap < TOK_STREAM_OUT_MAX(piece length) nothing happens and 0 is returned
 * (the state is unchanged: push the token again with a larger buffer). */
size_t tok_stream_push(tok_stream *s, const tokenizer *t, qwq_token id, uint32_t flags, char *out,
                       size_t cap);
/* Same on raw bytes (used by tok_stream_push; handy for other byte sources). */
size_t tok_stream_push_bytes(tok_stream *s, const char *bytes, size_t n, char *out, size_t cap);
/* End of stream: the held bytes (an incomplete character) as one U+FFFD.
 * Returns the bytes written (0 when nothing was held); needs cap >=
 * TOK_STREAM_FLUSH_MAX, else returns 0 and keeps the state. The stream is
 * reset and may be reused. */
size_t tok_stream_flush(tok_stream *s, char *out, size_t cap);

#endif
