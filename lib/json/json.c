#include "json/json.h"

#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"
#include "util/util.h"

/* ---- DOM ---------------------------------------------------------------- */

struct json_value {
    uint8_t kind;    /* json_kind */
    uint8_t is_int;  /* number written without fraction and exponent */
    uint8_t i64_ok;  /* number is an integer in int64 range; i is exact */
    uint8_t boolean; /* JSON_BOOL */
    size_t n;        /* string bytes, array items, object members, number text bytes */
    union {
        const char *s;      /* string data or number text (NUL-terminated) */
        json_value *items;  /* array items; object: key, value, key, value... */
    } p;
    int64_t i;
    double d;
};

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    /* data follows, aligned for json_value */
} arena_chunk;

#define ARENA_HDR ((sizeof(arena_chunk) + 15) & ~(size_t)15)
#define ARENA_MIN ((size_t)4096)
#define ARENA_MAX ((size_t)1 << 20)

struct json_doc {
    arena_chunk *chunks;
    size_t next_cap;
    json_value root;
};

/* n bytes aligned to align (a power of two <= 16) */
static void *arena_alloc(json_doc *d, size_t n, size_t align) {
    arena_chunk *c = d->chunks;
    size_t off = c ? (c->used + align - 1) & ~(align - 1) : 0;
    if (!c || off > c->cap || c->cap - off < n) {
        size_t cap = d->next_cap < n ? n : d->next_cap;
        size_t total;
        if (!size_add(cap, ARENA_HDR, &total)) {
            err_set(QWQ_ERR_OUT_OF_MEMORY, "JSON document: allocation of %zu bytes overflows", n);
            return NULL;
        }
        c = mem_alloc(total, "JSON document");
        if (!c) return NULL;
        c->cap = cap;
        c->next = d->chunks;
        d->chunks = c;
        if (d->next_cap < ARENA_MAX) d->next_cap *= 2;
        off = 0;
    }
    c->used = off + n;
    return (char *)c + ARENA_HDR + off;
}

void json_doc_free(json_doc *doc) {
    if (!doc) return;
    arena_chunk *c = doc->chunks;
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(doc);
}

size_t json_doc_bytes(const json_doc *doc) {
    if (!doc) return 0;
    size_t n = sizeof *doc;
    for (const arena_chunk *c = doc->chunks; c; c = c->next) n += ARENA_HDR + c->cap;
    return n;
}

const json_value *json_root(const json_doc *doc) { return doc ? &doc->root : NULL; }

json_kind json_type(const json_value *v) { return v ? (json_kind)v->kind : JSON_INVALID; }

const char *json_kind_name(json_kind kind) {
    switch (kind) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "boolean";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    default: return "nothing";
    }
}

size_t json_obj_size(const json_value *v) { return v && v->kind == JSON_OBJECT ? v->n : 0; }

const char *json_obj_key_at(const json_value *v, size_t i, size_t *len) {
    if (!v || v->kind != JSON_OBJECT || i >= v->n) return NULL;
    const json_value *k = &v->p.items[2 * i];
    if (len) *len = k->n;
    return k->p.s;
}

const json_value *json_obj_value_at(const json_value *v, size_t i) {
    if (!v || v->kind != JSON_OBJECT || i >= v->n) return NULL;
    return &v->p.items[2 * i + 1];
}

const json_value *json_obj_get_n(const json_value *v, const char *key, size_t key_len) {
    if (!v || v->kind != JSON_OBJECT || !key) return NULL;
    for (size_t i = 0; i < v->n; i++) {
        const json_value *k = &v->p.items[2 * i];
        if (k->n == key_len && memcmp(k->p.s, key, key_len) == 0) return &v->p.items[2 * i + 1];
    }
    return NULL;
}

const json_value *json_obj_get(const json_value *v, const char *key) {
    return key ? json_obj_get_n(v, key, strlen(key)) : NULL;
}

size_t json_arr_size(const json_value *v) { return v && v->kind == JSON_ARRAY ? v->n : 0; }

const json_value *json_arr_at(const json_value *v, size_t i) {
    if (!v || v->kind != JSON_ARRAY || i >= v->n) return NULL;
    return &v->p.items[i];
}

const char *json_str(const json_value *v, size_t *len) {
    if (!v || v->kind != JSON_STRING) return NULL;
    if (len) *len = v->n;
    return v->p.s;
}

bool json_num_is_int(const json_value *v) { return v && v->kind == JSON_NUMBER && v->is_int; }
double json_num_f64(const json_value *v) { return v && v->kind == JSON_NUMBER ? v->d : 0.0; }

bool json_num_i64(const json_value *v, int64_t *out) {
    if (!v || v->kind != JSON_NUMBER || !v->i64_ok) return false;
    if (out) *out = v->i;
    return true;
}

const char *json_num_text(const json_value *v, size_t *len) {
    if (!v || v->kind != JSON_NUMBER) return NULL;
    if (len) *len = v->n;
    return v->p.s;
}

bool json_bool(const json_value *v) { return v && v->kind == JSON_BOOL && v->boolean; }
bool json_is_null(const json_value *v) { return v && v->kind == JSON_NULL; }

/* ---- parser ------------------------------------------------------------- */

typedef struct frame {
    uint8_t kind;    /* JSON_ARRAY or JSON_OBJECT */
    size_t start;    /* first work-stack slot of this container */
    size_t open_pos; /* byte offset of '[' or '{' */
} frame;

typedef struct parser {
    const unsigned char *s;
    size_t len, pos;
    size_t max_depth;
    json_doc *doc;
    json_value *work; /* values of the open containers, innermost last */
    size_t wn, wcap;
    frame *frames;
    size_t depth, fcap;
    locale_t c_locale; /* created on the first number that needs strtod */
} parser;

static void position(const parser *p, size_t pos, size_t *line, size_t *col) {
    size_t l = 1, c = 1;
    if (pos > p->len) pos = p->len;
    for (size_t i = 0; i < pos; i++) {
        if (p->s[i] == '\n') { l++; c = 1; }
        else if ((p->s[i] & 0xC0) != 0x80) c++;
    }
    *line = l;
    *col = c;
}

static qwq_status fail_at(const parser *p, size_t pos, const char *fmt, ...) QWQ_PRINTF(3, 4);
static qwq_status fail_at(const parser *p, size_t pos, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t line, col;
    position(p, pos, &line, &col);
    return err_set(QWQ_ERR_FORMAT, "JSON: line %zu, column %zu (byte %zu): %s", line, col, pos, msg);
}

/* A short printable description of the byte at pos, for messages. */
static const char *describe(const parser *p, size_t pos, char *buf, size_t cap) {
    if (pos >= p->len) return "end of input";
    unsigned c = p->s[pos];
    if (c >= 0x20 && c < 0x7F) snprintf(buf, cap, "'%c'", (int)c);
    else snprintf(buf, cap, "byte 0x%02X", c);
    return buf;
}

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static qwq_status work_push(parser *p, const json_value *v) {
    if (p->wn == p->wcap) {
        size_t ncap = p->wcap ? p->wcap : 64, bytes;
        if (p->wcap && !size_mul(p->wcap, 2, &ncap))
            return err_set(QWQ_ERR_OUT_OF_MEMORY, "JSON: too many values");
        if (!size_mul(ncap, sizeof(json_value), &bytes))
            return err_set(QWQ_ERR_OUT_OF_MEMORY, "JSON: too many values");
        json_value *w = realloc(p->work, bytes);
        if (!w) return err_set(QWQ_ERR_OUT_OF_MEMORY, "JSON: out of memory (%zu bytes of open values)", bytes);
        p->work = w;
        p->wcap = ncap;
    }
    p->work[p->wn++] = *v;
    return QWQ_OK;
}

static int hexval(unsigned c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* Reads the 4 hex digits of a \u escape whose backslash is at pos; end is
 * the offset of the closing quote. */
static qwq_status read_u4(const parser *p, size_t pos, size_t end, uint32_t *out) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; k++) {
        size_t q = pos + 2 + k;
        int h = q < end ? hexval(p->s[q]) : -1;
        if (h < 0) return fail_at(p, q, "expected 4 hex digits after \\u");
        v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return QWQ_OK;
}

static qwq_status parse_string(parser *p, json_value *out) {
    size_t open = p->pos;
    size_t i = open + 1;
    while (i < p->len) {
        unsigned char c = p->s[i];
        if (c == '"') break;
        i += c == '\\' ? 2 : 1;
    }
    if (i >= p->len) return fail_at(p, open, "unterminated string (expected '\"' before the end of input)");
    size_t end = i, raw = end - open - 1, cap;
    if (!size_add(raw, 1, &cap)) return err_set(QWQ_ERR_OUT_OF_MEMORY, "JSON: string too long");
    char *dst = arena_alloc(p->doc, cap, 1);
    if (!dst) return QWQ_ERR_OUT_OF_MEMORY;
    size_t o = 0;
    i = open + 1;
    while (i < end) {
        unsigned char c = p->s[i];
        if (c >= 0x20 && c < 0x80 && c != '\\') {
            dst[o++] = (char)c;
            i++;
        } else if (c < 0x20) {
            return fail_at(p, i, "control character 0x%02X in a string must be escaped", c);
        } else if (c >= 0x80) {
            const size_t k = utf8_seq_len((const uint8_t *)p->s + i, end - i);
            if (!k) return fail_at(p, i, "invalid UTF-8 in a string");
            memcpy(dst + o, p->s + i, k);
            o += k;
            i += k;
        } else {
            unsigned char e = p->s[i + 1]; /* i + 1 < end: the scan skipped it */
            char simple = 0;
            switch (e) {
            case '"': simple = '"'; break;
            case '\\': simple = '\\'; break;
            case '/': simple = '/'; break;
            case 'b': simple = '\b'; break;
            case 'f': simple = '\f'; break;
            case 'n': simple = '\n'; break;
            case 'r': simple = '\r'; break;
            case 't': simple = '\t'; break;
            case 'u': break;
            default:
                if (e >= 0x20 && e < 0x7F)
                    return fail_at(p, i + 1, "invalid escape '\\%c' (expected one of \" \\ / b f n r t u)", e);
                return fail_at(p, i + 1, "invalid escape: byte 0x%02X after '\\'", e);
            }
            if (simple) {
                dst[o++] = simple;
                i += 2;
                continue;
            }
            uint32_t cp = 0;
            qwq_status st = read_u4(p, i, end, &cp);
            if (st) return st;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail_at(p, i, "lone low surrogate \\u%04X (not preceded by a high surrogate)", (unsigned)cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                size_t j = i + 6;
                uint32_t lo = 0;
                if (j + 1 >= end || p->s[j] != '\\' || p->s[j + 1] != 'u')
                    return fail_at(p, i, "lone high surrogate \\u%04X (expected \\uDC00-\\uDFFF after it)", (unsigned)cp);
                st = read_u4(p, j, end, &lo);
                if (st) return st;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail_at(p, j, "high surrogate \\u%04X followed by \\u%04X (expected \\uDC00-\\uDFFF)",
                                   (unsigned)cp, (unsigned)lo);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 12;
            } else {
                i += 6;
            }
            o += utf8_encode(cp, (uint8_t *)dst + o);
        }
    }
    dst[o] = 0;
    memset(out, 0, sizeof *out);
    out->kind = JSON_STRING;
    out->n = o;
    out->p.s = dst;
    p->pos = end + 1;
    return QWQ_OK;
}

static const double pow10_exact[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static qwq_status parse_number(parser *p, json_value *out) {
    const unsigned char *s = p->s;
    size_t start = p->pos, i = start;
    bool neg = false;
    if (s[i] == '-') { neg = true; i++; }
    if (i >= p->len || !is_digit(s[i])) {
        char b[16];
        return fail_at(p, i, "expected a digit after '-', found %s", describe(p, i, b, sizeof b));
    }
    size_t int_start = i;
    if (s[i] == '0') {
        i++;
        if (i < p->len && is_digit(s[i])) return fail_at(p, int_start, "leading zeros are not allowed in numbers");
    } else {
        while (i < p->len && is_digit(s[i])) i++;
    }
    size_t int_end = i, frac_start = i, frac_end = i;
    bool is_int = true;
    if (i < p->len && s[i] == '.') {
        is_int = false;
        i++;
        frac_start = i;
        while (i < p->len && is_digit(s[i])) i++;
        frac_end = i;
        if (frac_end == frac_start) {
            char b[16];
            return fail_at(p, i, "expected a digit after '.', found %s", describe(p, i, b, sizeof b));
        }
    }
    int64_t exp10 = 0;
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        is_int = false;
        i++;
        bool eneg = false;
        if (i < p->len && (s[i] == '+' || s[i] == '-')) { eneg = s[i] == '-'; i++; }
        size_t es = i;
        while (i < p->len && is_digit(s[i])) {
            if (exp10 < 1000000000) exp10 = exp10 * 10 + (s[i] - '0'); /* saturates */
            i++;
        }
        if (i == es) {
            char b[16];
            return fail_at(p, i, "expected a digit in the exponent, found %s", describe(p, i, b, sizeof b));
        }
        if (eneg) exp10 = -exp10;
    }
    size_t text_len = i - start, cap;
    if (!size_add(text_len, 1, &cap)) return err_set(QWQ_ERR_OUT_OF_MEMORY, "JSON: number too long");
    char *text = arena_alloc(p->doc, cap, 1);
    if (!text) return QWQ_ERR_OUT_OF_MEMORY;
    memcpy(text, s + start, text_len);
    text[text_len] = 0;

    /* Significant digits D (integer then fraction digits) and value
     * D * 10^e: strip leading and trailing zeros, decide exactly. */
    size_t n_int = int_end - int_start, n_frac = frac_end - frac_start;
    size_t nd = n_int + n_frac;
    #define DIGIT(k) ((k) < n_int ? s[int_start + (k)] : s[frac_start + (k) - n_int])
    size_t first = 0, last = nd;
    while (first < nd && DIGIT(first) == '0') first++;
    while (last > first && DIGIT(last - 1) == '0') last--;
    int64_t e = exp10 - (int64_t)n_frac + (int64_t)(nd - last);
    bool zero = first == last;
    bool i64_ok = false, small = false;
    uint64_t mant = 0;
    int64_t ival = 0;
    if (last - first <= 19) {
        small = true;
        for (size_t k = first; k < last; k++) {
            uint64_t d = (uint64_t)(DIGIT(k) - '0');
            if (!u64_mul(mant, 10, &mant) || !u64_add(mant, d, &mant)) { small = false; break; }
        }
    }
    #undef DIGIT
    if (zero) {
        i64_ok = true;
        ival = 0;
    } else if (small && e >= 0 && e <= 19) {
        uint64_t m = mant;
        bool ok = true;
        for (int64_t k = 0; k < e && ok; k++) ok = u64_mul(m, 10, &m);
        if (ok) {
            if (!neg && m <= (uint64_t)INT64_MAX) { i64_ok = true; ival = (int64_t)m; }
            else if (neg && m <= (uint64_t)INT64_MAX + 1) {
                i64_ok = true;
                ival = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
            }
        }
    }
    double d;
    if (zero) {
        d = neg ? -0.0 : 0.0;
    } else if (small && mant <= ((uint64_t)1 << 53) && e >= -22 && e <= 22) {
        /* exact operands and one correctly rounded operation */
        d = e >= 0 ? (double)mant * pow10_exact[e] : (double)mant / pow10_exact[-e];
        if (neg) d = -d;
    } else {
        if (p->c_locale == (locale_t)0) {
            p->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
            if (p->c_locale == (locale_t)0)
                return err_set(QWQ_ERR_OUT_OF_MEMORY, "JSON: cannot create the C locale for number conversion");
        }
        d = strtod_l(text, NULL, p->c_locale);
    }
    memset(out, 0, sizeof *out);
    out->kind = JSON_NUMBER;
    out->is_int = is_int;
    out->i64_ok = i64_ok;
    out->n = text_len;
    out->p.s = text;
    out->i = ival;
    out->d = d;
    p->pos = i;
    return QWQ_OK;
}

static qwq_status parse_literal(parser *p, const char *word, json_value *out) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
        /* report the first byte that differs */
        size_t k = 0;
        while (p->pos + k < p->len && k < n && p->s[p->pos + k] == (unsigned char)word[k]) k++;
        char b[16];
        return fail_at(p, p->pos + k, "expected '%s', found %s", word, describe(p, p->pos + k, b, sizeof b));
    }
    p->pos += n;
    memset(out, 0, sizeof *out);
    if (word[0] == 'n') out->kind = JSON_NULL;
    else { out->kind = JSON_BOOL; out->boolean = word[0] == 't'; }
    return QWQ_OK;
}

static int key_cmp(const void *a, const void *b) {
    const json_value *x = *(const json_value *const *)a, *y = *(const json_value *const *)b;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return memcmp(x->p.s, y->p.s, x->n);
}

static qwq_status duplicate_key(const parser *p, const frame *f, const json_value *k) {
    char shown[80];
    size_t o = 0;
    for (size_t i = 0; i < k->n && o + 5 < sizeof shown; i++) {
        unsigned char c = (unsigned char)k->p.s[i];
        shown[o++] = c >= 0x20 && c != 0x7F ? (char)c : '?';
    }
    shown[o] = 0;
    size_t line, col;
    position(p, f->open_pos, &line, &col);
    return fail_at(p, p->pos ? p->pos - 1 : 0, "duplicate name \"%s%s\" in the object opened at line %zu, column %zu",
                   shown, o < k->n ? "..." : "", line, col);
}

/* Members are the work-stack slots [start, wn): key, value, key, value... */
static qwq_status check_duplicates(const parser *p, const frame *f) {
    size_t n = (p->wn - f->start) / 2;
    if (n < 2) return QWQ_OK;
    const json_value *m = p->work + f->start;
    if (n <= 16) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (m[2 * i].n == m[2 * j].n && memcmp(m[2 * i].p.s, m[2 * j].p.s, m[2 * i].n) == 0)
                    return duplicate_key(p, f, &m[2 * i]);
        return QWQ_OK;
    }
    const json_value **keys = mem_calloc(n, sizeof *keys, "JSON duplicate-name check");
    if (!keys) return QWQ_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < n; i++) keys[i] = &m[2 * i];
    qsort(keys, n, sizeof *keys, key_cmp);
    qwq_status st = QWQ_OK;
    for (size_t i = 1; i < n && !st; i++)
        if (key_cmp(&keys[i - 1], &keys[i]) == 0) st = duplicate_key(p, f, keys[i]);
    free(keys);
    return st;
}

/* Pops the innermost container into the arena; *out gets its value. */
static qwq_status close_container(parser *p, json_value *out) {
    frame *f = &p->frames[p->depth - 1];
    size_t count = p->wn - f->start;
    if (f->kind == JSON_OBJECT) {
        qwq_status st = check_duplicates(p, f);
        if (st) return st;
    }
    memset(out, 0, sizeof *out);
    out->kind = f->kind;
    out->n = f->kind == JSON_OBJECT ? count / 2 : count;
    if (count) {
        size_t bytes;
        if (!size_mul(count, sizeof(json_value), &bytes))
            return err_set(QWQ_ERR_OUT_OF_MEMORY, "JSON: container too large");
        json_value *items = arena_alloc(p->doc, bytes, 16);
        if (!items) return QWQ_ERR_OUT_OF_MEMORY;
        memcpy(items, p->work + f->start, bytes);
        out->p.items = items;
    }
    p->wn = f->start;
    p->depth--;
    return QWQ_OK;
}

static qwq_status open_container(parser *p, json_kind kind) {
    if (p->depth >= p->max_depth)
        return fail_at(p, p->pos, "nesting deeper than %zu levels", p->max_depth);
    if (p->depth == p->fcap) {
        size_t ncap = p->fcap ? p->fcap * 2 : 16;
        if (ncap > p->max_depth) ncap = p->max_depth;
        frame *f = realloc(p->frames, ncap * sizeof *f);
        if (!f) return err_set(QWQ_ERR_OUT_OF_MEMORY, "JSON: out of memory for nesting");
        p->frames = f;
        p->fcap = ncap;
    }
    frame *f = &p->frames[p->depth++];
    f->kind = (uint8_t)kind;
    f->start = p->wn;
    f->open_pos = p->pos;
    p->pos++;
    return QWQ_OK;
}

/* Reads `"name" :` inside an object, pushing the name. */
static qwq_status parse_key(parser *p) {
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '"') {
        char b[16];
        return fail_at(p, p->pos, "expected a member name (a string), found %s", describe(p, p->pos, b, sizeof b));
    }
    json_value k;
    qwq_status st = parse_string(p, &k);
    if (st) return st;
    st = work_push(p, &k);
    if (st) return st;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ':') {
        char b[16];
        return fail_at(p, p->pos, "expected ':' after the member name, found %s", describe(p, p->pos, b, sizeof b));
    }
    p->pos++;
    return QWQ_OK;
}

static qwq_status parse_document(parser *p) {
    json_value v;
    qwq_status st;
    if (p->len >= 3 && p->s[0] == 0xEF && p->s[1] == 0xBB && p->s[2] == 0xBF)
        return fail_at(p, 0, "byte order mark before the value (not allowed)");
    for (;;) {
        /* expecting a value */
        skip_ws(p);
        if (p->pos >= p->len) return fail_at(p, p->pos, "expected a value, found end of input");
        unsigned char c = p->s[p->pos];
        if (c == '{' || c == '[') {
            json_kind kind = c == '{' ? JSON_OBJECT : JSON_ARRAY;
            st = open_container(p, kind);
            if (st) return st;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == (kind == JSON_OBJECT ? '}' : ']')) {
                p->pos++;
                st = close_container(p, &v);
                if (st) return st;
            } else {
                if (kind == JSON_OBJECT) {
                    st = parse_key(p);
                    if (st) return st;
                }
                continue;
            }
        } else if (c == '"') {
            st = parse_string(p, &v);
            if (st) return st;
        } else if (c == '-' || is_digit(c)) {
            st = parse_number(p, &v);
            if (st) return st;
        } else if (c == 't') {
            if ((st = parse_literal(p, "true", &v))) return st;
        } else if (c == 'f') {
            if ((st = parse_literal(p, "false", &v))) return st;
        } else if (c == 'n') {
            if ((st = parse_literal(p, "null", &v))) return st;
        } else {
            char b[16];
            const char *what = p->depth && c == (p->frames[p->depth - 1].kind == JSON_ARRAY ? ']' : '}')
                                   ? " (trailing commas are not allowed)" : "";
            return fail_at(p, p->pos, "expected a value, found %s%s", describe(p, p->pos, b, sizeof b), what);
        }
        /* have a complete value v */
        for (;;) {
            if (p->depth == 0) {
                p->doc->root = v;
                skip_ws(p);
                if (p->pos != p->len) {
                    char b[16];
                    return fail_at(p, p->pos, "expected end of input after the value, found %s",
                                   describe(p, p->pos, b, sizeof b));
                }
                return QWQ_OK;
            }
            st = work_push(p, &v);
            if (st) return st;
            frame *f = &p->frames[p->depth - 1];
            char close = f->kind == JSON_OBJECT ? '}' : ']';
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                if (f->kind == JSON_OBJECT) {
                    st = parse_key(p);
                    if (st) return st;
                }
                break; /* next value */
            }
            if (p->pos < p->len && p->s[p->pos] == (unsigned char)close) {
                p->pos++;
                st = close_container(p, &v);
                if (st) return st;
                continue; /* the container is a complete value */
            }
            char b[16];
            return fail_at(p, p->pos, "expected ',' or '%c' in the %s opened at byte %zu, found %s", close,
                           f->kind == JSON_OBJECT ? "object" : "array", f->open_pos,
                           describe(p, p->pos, b, sizeof b));
        }
    }
}

qwq_status json_parse_ex(const char *text, size_t len, const json_limits *limits, json_doc **out) {
    if (!out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "json_parse: out is NULL");
    *out = NULL;
    if (!text && len) return err_set(QWQ_ERR_INVALID_ARGUMENT, "json_parse: text is NULL");
    size_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : JSON_MAX_BYTES;
    size_t max_depth = limits && limits->max_depth ? limits->max_depth : JSON_MAX_DEPTH;
    if (len > max_bytes)
        return err_set(QWQ_ERR_FORMAT, "JSON: input of %zu bytes exceeds the limit of %zu bytes", len, max_bytes);
    json_doc *doc = mem_calloc(1, sizeof *doc, "JSON document");
    if (!doc) return QWQ_ERR_OUT_OF_MEMORY;
    doc->next_cap = ARENA_MIN;
    parser p;
    memset(&p, 0, sizeof p);
    p.s = (const unsigned char *)(text ? text : "");
    p.len = len;
    p.max_depth = max_depth;
    p.doc = doc;
    qwq_status st = parse_document(&p);
    free(p.work);
    free(p.frames);
    if (p.c_locale != (locale_t)0) freelocale(p.c_locale);
    if (st) {
        json_doc_free(doc);
        return st;
    }
    *out = doc;
    return QWQ_OK;
}

qwq_status json_parse(const char *text, size_t len, json_doc **out) {
    return json_parse_ex(text, len, NULL, out);
}

/* ---- writer ------------------------------------------------------------- */

void json_buf_init(json_buf *b) { memset(b, 0, sizeof *b); }

void json_buf_free(json_buf *b) {
    if (!b) return;
    free(b->data);
    memset(b, 0, sizeof *b);
}

void json_buf_reset(json_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

qwq_status json_buf_append(json_buf *b, const char *s, size_t n) {
    size_t need;
    if (!size_add(b->len, n, &need) || !size_add(need, 1, &need))
        return err_set(QWQ_ERR_OUT_OF_MEMORY, "JSON writer: output too long");
    if (need > b->cap) {
        size_t ncap = b->cap ? b->cap : 64;
        while (ncap < need) {
            if (!size_mul(ncap, 2, &ncap)) { ncap = need; break; }
        }
        char *d = realloc(b->data, ncap);
        if (!d) return err_set(QWQ_ERR_OUT_OF_MEMORY, "JSON writer: out of memory (%zu bytes)", ncap);
        b->data = d;
        b->cap = ncap;
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
    return QWQ_OK;
}

char *json_buf_take(json_buf *b, size_t *len) {
    char *d = b->data;
    if (!d) {
        d = mem_alloc(1, "JSON text");
        if (!d) return NULL;
        d[0] = 0;
    }
    if (len) *len = b->len;
    memset(b, 0, sizeof *b);
    return d;
}

static qwq_status put_u4(json_buf *b, uint32_t v) {
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\', 'u', hex[(v >> 12) & 15], hex[(v >> 8) & 15], hex[(v >> 4) & 15], hex[v & 15]};
    return json_buf_append(b, e, 6);
}

qwq_status json_write_string(json_buf *b, const char *s, size_t len, unsigned flags) {
    const unsigned char *u = (const unsigned char *)s;
    bool ascii = flags & JSON_WRITE_ASCII;
    qwq_status st = json_buf_append(b, "\"", 1);
    size_t run = 0, i = 0; /* [run, i) is pending verbatim output */
    while (!st && i < len) {
        unsigned char c = u[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7F) { i++; continue; }
        if (c >= 0x80 || (c == 0x7F && !ascii)) {
            uint32_t cp = c;
            size_t k = c == 0x7F ? 1 : utf8_seq_len(u + i, len - i);
            if (k > 1) cp = utf8_decode(u + i, &k);
            if (!k) {
                st = err_set(QWQ_ERR_INVALID_ARGUMENT, "JSON writer: invalid UTF-8 at byte %zu of a string", i);
                break;
            }
            if (!ascii) { i += k; continue; }
            st = json_buf_append(b, s + run, i - run);
            if (!st && cp >= 0x10000) {
                cp -= 0x10000;
                st = put_u4(b, 0xD800 + (cp >> 10));
                if (!st) st = put_u4(b, 0xDC00 + (cp & 0x3FF));
            } else if (!st) {
                st = put_u4(b, cp);
            }
            i += k;
            run = i;
            continue;
        }
        st = json_buf_append(b, s + run, i - run);
        if (st) break;
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default: break;
        }
        st = esc ? json_buf_append(b, esc, 2) : put_u4(b, c);
        i++;
        run = i;
    }
    if (!st) st = json_buf_append(b, s + run, i - run);
    if (!st) st = json_buf_append(b, "\"", 1);
    return st;
}

typedef struct wframe {
    const json_value *v;
    size_t i;
} wframe;

qwq_status json_write_value(json_buf *b, const json_value *v, unsigned flags) {
    if (!v) return err_set(QWQ_ERR_INVALID_ARGUMENT, "JSON writer: value is NULL");
    const char *comma = flags & JSON_WRITE_PY_SEPARATORS ? ", " : ",";
    const char *colon = flags & JSON_WRITE_PY_SEPARATORS ? ": " : ":";
    size_t comma_n = strlen(comma), colon_n = strlen(colon);
    wframe *stack = NULL;
    size_t depth = 0, cap = 0;
    qwq_status st = QWQ_OK;
    const json_value *cur = v;
    for (;;) {
        /* write cur (opening containers), then unwind finished frames */
        if (cur) {
            switch (cur->kind) {
            case JSON_NULL: st = json_buf_append(b, "null", 4); break;
            case JSON_BOOL: st = cur->boolean ? json_buf_append(b, "true", 4) : json_buf_append(b, "false", 5); break;
            case JSON_NUMBER: st = json_buf_append(b, cur->p.s, cur->n); break;
            case JSON_STRING: st = json_write_string(b, cur->p.s, cur->n, flags); break;
            case JSON_ARRAY:
            case JSON_OBJECT:
                st = json_buf_append(b, cur->kind == JSON_ARRAY ? "[" : "{", 1);
                if (st) break;
                if (depth == cap) {
                    size_t ncap = cap ? cap * 2 : 16;
                    wframe *ns = realloc(stack, ncap * sizeof *ns);
                    if (!ns) { st = err_set(QWQ_ERR_OUT_OF_MEMORY, "JSON writer: out of memory"); break; }
                    stack = ns;
                    cap = ncap;
                }
                stack[depth].v = cur;
                stack[depth].i = 0;
                depth++;
                break;
            default: st = err_set(QWQ_ERR_INVALID_ARGUMENT, "JSON writer: invalid value"); break;
            }
            if (st) break;
            cur = NULL;
        }
        if (depth == 0) break;
        wframe *f = &stack[depth - 1];
        if (f->i == f->v->n) {
            st = json_buf_append(b, f->v->kind == JSON_ARRAY ? "]" : "}", 1);
            if (st) break;
            depth--;
            continue;
        }
        if (f->i) st = json_buf_append(b, comma, comma_n);
        if (st) break;
        if (f->v->kind == JSON_ARRAY) {
            cur = &f->v->p.items[f->i];
        } else {
            const json_value *k = &f->v->p.items[2 * f->i];
            st = json_write_string(b, k->p.s, k->n, flags);
            if (!st) st = json_buf_append(b, colon, colon_n);
            if (st) break;
            cur = &f->v->p.items[2 * f->i + 1];
        }
        f->i++;
    }
    free(stack);
    return st;
}
