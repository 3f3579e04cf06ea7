/*
 * json - a strict RFC 8259 parser into a read-only DOM, and a small writer.
 *
 * Invariants
 *  - Input is untrusted. json_parse reads exactly [text, text + len) (no NUL
 *    terminator needed, never a byte past the end), accepts exactly the RFC
 *    8259 grammar and nothing else: no comments, no trailing commas, no
 *    single quotes, no NaN/Infinity, no leading zeros or '+', no byte order
 *    mark, no raw control characters in strings, only the four whitespace
 *    bytes. Strings must be valid UTF-8 (no overlong forms, no encoded
 *    surrogates, nothing above U+10FFFF).
 *  - \u escapes: a high surrogate must be followed by an escaped low
 *    surrogate and the pair becomes one 4-byte sequence; a lone surrogate
 *    (either half) is an error, so every decoded string is valid UTF-8.
 *    \u0000 is allowed: strings have an explicit length and may contain NUL
 *    (they are also NUL-terminated for convenience).
 *  - Duplicate names in one object are an error (the I-JSON rule of RFC
 *    7493): a document never means two things. Objects keep their members
 *    in source order (what Python dicts do).
 *  - Numbers keep their source text, a syntactic "is integer" flag (no
 *    fraction and no exponent, as Python's json module decides int vs
 *    float), their value as a double (correctly rounded; values beyond the
 *    double range become +-inf, as in Python) and, when the value is an
 *    integer in int64 range, that integer exactly (also for 1e3 or 2.50e1,
 *    decided from the digits, never through a double).
 *  - Limits: nesting depth (default JSON_MAX_DEPTH = 256) and input size
 *    (default JSON_MAX_BYTES) are checked before they are exceeded. The
 *    parser is iterative: depth costs heap, never C stack. Memory is a
 *    small constant factor of the input: a value takes 40 bytes, so the
 *    worst document ("[0,0,0,...]") keeps ~21 bytes per input byte, and
 *    needs about twice that while it is being parsed.
 *  - Errors are QWQ_ERR_FORMAT with "line L, column C (byte B)" (lines and
 *    columns 1-based, columns counting UTF-8 characters) and what was
 *    expected; limits are QWQ_ERR_FORMAT too; allocation failure is
 *    QWQ_ERR_OUT_OF_MEMORY. On error *out is NULL and nothing leaks.
 *  - A json_doc owns all its memory in one arena (json_doc_free releases
 *    everything); it does not reference the input after json_parse returns.
 *    It is immutable, so any number of threads may read it.
 *  - Accessors accept NULL and values of the wrong type and then return a
 *    neutral answer (NULL, 0, false, JSON_INVALID), so lookups can be
 *    chained: json_obj_get(json_obj_get(root, "a"), "b").
 *  - The writer emits valid JSON only: strings must be valid UTF-8
 *    (QWQ_ERR_INVALID_ARGUMENT naming the byte offset otherwise); DOM
 *    numbers are written as their source text.
 */
#ifndef QWQ_JSON_H
#define QWQ_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qwq.h"

#define JSON_MAX_DEPTH 256
#define JSON_MAX_BYTES ((size_t)256 << 20) /* 256 MiB */

typedef enum json_kind {
    JSON_INVALID = 0, /* only returned for a NULL value */
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_kind;

typedef struct json_doc json_doc;
typedef struct json_value json_value;

typedef struct json_limits {
    size_t max_depth; /* 0 = JSON_MAX_DEPTH; containers nested deeper fail */
    size_t max_bytes; /* 0 = JSON_MAX_BYTES; longer input fails */
} json_limits;

/* Parses exactly one JSON value (surrounded by optional whitespace). */
qwq_status json_parse(const char *text, size_t len, json_doc **out);
qwq_status json_parse_ex(const char *text, size_t len, const json_limits *limits,
                         json_doc **out);
void json_doc_free(json_doc *doc); /* NULL is a no-op */
/* Bytes the document holds (its arena chunks and header). */
size_t json_doc_bytes(const json_doc *doc);
const json_value *json_root(const json_doc *doc);

json_kind json_type(const json_value *v);
const char *json_kind_name(json_kind kind); /* "null", "object"... */

/* Objects: members in source order. key_at returns the decoded name
 * (NUL-terminated; *len gets its byte length when len is not NULL). */
size_t json_obj_size(const json_value *v);
const char *json_obj_key_at(const json_value *v, size_t i, size_t *len);
const json_value *json_obj_value_at(const json_value *v, size_t i);
/* The member named key (a NUL-terminated name), or NULL. Linear search. */
const json_value *json_obj_get(const json_value *v, const char *key);
const json_value *json_obj_get_n(const json_value *v, const char *key, size_t key_len);

size_t json_arr_size(const json_value *v);
const json_value *json_arr_at(const json_value *v, size_t i);

/* Decoded string (NUL-terminated, may also contain NUL), or NULL when v is
 * not a string. */
const char *json_str(const json_value *v, size_t *len);

/* Numbers. json_num_is_int: written without fraction and exponent.
 * json_num_f64: the value (0 when v is not a number). json_num_i64: true
 * and *out set when the value is mathematically an integer within
 * [INT64_MIN, INT64_MAX]; false (and *out untouched) otherwise.
 * json_num_text: the source text, e.g. "-1.50e3". */
bool json_num_is_int(const json_value *v);
double json_num_f64(const json_value *v);
bool json_num_i64(const json_value *v, int64_t *out);
const char *json_num_text(const json_value *v, size_t *len);

bool json_bool(const json_value *v); /* false unless v is true */
bool json_is_null(const json_value *v);

/* ---- writer ------------------------------------------------------------- */

/* A growable output buffer. data is NUL-terminated after every successful
 * append (data may be NULL while len == 0). */
typedef struct json_buf {
    char *data;
    size_t len, cap;
} json_buf;

/* Writer flags. Default: compact separators, non-ASCII written as UTF-8,
 * only '"', '\\' and control characters escaped. */
#define JSON_WRITE_ASCII 1u         /* escape non-ASCII as \uXXXX (pairs above U+FFFF), like Python's ensure_ascii */
#define JSON_WRITE_PY_SEPARATORS 2u /* ", " and ": " like Python's json.dumps default */

void json_buf_init(json_buf *b);
void json_buf_free(json_buf *b);
void json_buf_reset(json_buf *b); /* len = 0, keeps the allocation */
qwq_status json_buf_append(json_buf *b, const char *s, size_t n);
/* Hands the text over: returns data (never NULL, "" when empty) which the
 * caller frees with free(); the buffer is left empty. NULL on OOM. */
char *json_buf_take(json_buf *b, size_t *len);

/* Appends s as a quoted, escaped JSON string. Escapes: \" \\ \n \r \t \b
 * \f and \u00XX for the other control characters (and DEL and beyond with
 * JSON_WRITE_ASCII). s must be valid UTF-8 (it may contain NUL). */
qwq_status json_write_string(json_buf *b, const char *s, size_t len, unsigned flags);
/* Appends v re-serialised: members in order, numbers as their source
 * text, strings re-escaped per flags. */
qwq_status json_write_value(json_buf *b, const json_value *v, unsigned flags);

#endif
