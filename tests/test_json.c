/* Tests for lib/json: the parser against a valid/invalid corpus written for
 * this project (JSONTestSuite-style cases), limits, truncation, numbers and
 * the writer. */
#include "harness.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>

#include "json/json.h"
#include "util/utf8.h"
#include "util/util.h"

/* Parses from an exact-size heap copy (no terminator: overreads would hit
 * the allocation's end, which the sanitizer build reports). */
static qwq_status parse_exact(const char *text, size_t len, json_doc **out) {
    char *copy = malloc(len ? len : 1);
    if (!copy) return QWQ_ERR_OUT_OF_MEMORY;
    memcpy(copy, text, len);
    qwq_status st = json_parse(copy, len, out);
    free(copy);
    return st;
}

/* Compact re-serialisation of a parse, or NULL. Caller frees. */
static char *reserialise(const char *text, size_t len, unsigned flags) {
    json_doc *d;
    if (parse_exact(text, len, &d) != QWQ_OK) return NULL;
    json_buf b;
    json_buf_init(&b);
    char *out = NULL;
    if (json_write_value(&b, json_root(d), flags) == QWQ_OK) out = json_buf_take(&b, NULL);
    json_buf_free(&b);
    json_doc_free(d);
    return out;
}

typedef struct { const char *in; size_t len; const char *out; } valid_case;
#define V(s, o) {s, sizeof(s) - 1, o}

static void test_valid_corpus(void) {
    static const valid_case cases[] = {
        V("{\"a\":1,\"b\":[true,false,null],\"c\":\"x\"}", "{\"a\":1,\"b\":[true,false,null],\"c\":\"x\"}"),
        V(" \t\n\r[ 1 , 2 ]\n", "[1,2]"),
        V("{\"b\":1,\"a\":2,\"c\":3}", "{\"b\":1,\"a\":2,\"c\":3}"),
        V("\"str\"", "\"str\""),
        V("0", "0"),
        V("-0", "-0"),
        V("1.5e3", "1.5e3"),
        V("1E+2", "1E+2"),
        V("-1.0e-2", "-1.0e-2"),
        V("123456789012345678901234567890", "123456789012345678901234567890"),
        V("true", "true"),
        V("false", "false"),
        V("null", "null"),
        V("[]", "[]"),
        V("{}", "{}"),
        V("[[]]", "[[]]"),
        V("[{}]", "[{}]"),
        V("[ ]", "[]"),
        V("{ }", "{}"),
        V("{\"\":0}", "{\"\":0}"),
        V("[[[[[1]]]]]", "[[[[[1]]]]]"),
        V("{\"a\":{\"b\":{\"c\":[1,{\"d\":null}]}}}", "{\"a\":{\"b\":{\"c\":[1,{\"d\":null}]}}}"),
        V("\"\\u0000\"", "\"\\u0000\""),
        V("\"\\/\"", "\"/\""),
        V("\"\\b\\f\\n\\r\\t\\\"\\\\\"", "\"\\b\\f\\n\\r\\t\\\"\\\\\""),
        V("\"\\u00e9\"", "\"\xC3\xA9\""),
        V("\"\\u00E9\"", "\"\xC3\xA9\""),
        V("\"\\ud83d\\ude00\"", "\"\xF0\x9F\x98\x80\""),
        V("\"\\uDBFF\\uDFFF\"", "\"\xF4\x8F\xBF\xBF\""),
        V("\"\\u0001\\u001f\"", "\"\\u0001\\u001f\""),
        V("\"\\u007f\"", "\"\x7F\""),
        V("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"", "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\""),
        V("\"\xEF\xBF\xBF\"", "\"\xEF\xBF\xBF\""), /* U+FFFF: a noncharacter, still valid */
        V("\"\xF4\x8F\xBF\xBF\"", "\"\xF4\x8F\xBF\xBF\""),
        V("\"<tool_call>\"", "\"<tool_call>\""),
        V("[1,\"a\",{\"k\":[]},-2.5]", "[1,\"a\",{\"k\":[]},-2.5]"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = reserialise(cases[i].in, cases[i].len, 0);
        CHECKF(got != NULL, "case %zu <%s> failed to parse: %s", i, cases[i].in, err_message());
        if (got) CHECKF(strcmp(got, cases[i].out) == 0, "case %zu: got <%s> want <%s>", i, got, cases[i].out);
        free(got);
    }
}

typedef struct { const char *in; size_t len; const char *msg; } invalid_case;
#define I(s, m) {s, sizeof(s) - 1, m}

static void test_invalid_corpus(void) {
    static const invalid_case cases[] = {
        I("", "expected a value, found end of input"),
        I(" \n ", "expected a value"),
        I("[1,]", "trailing commas"),
        I("{\"a\":1,}", "expected a member name"),
        I("[1 2]", "expected ',' or ']'"),
        I("[1,,2]", "expected a value"),
        I("{'a':1}", "expected a member name"),
        I("{\"a\" 1}", "expected ':'"),
        I("{\"a\":1 \"b\":2}", "expected ',' or '}'"),
        I("{1:2}", "expected a member name"),
        I("{\"a\"}", "expected ':'"),
        I("01", "leading zeros"),
        I("-01", "leading zeros"),
        I("00", "leading zeros"),
        I("-", "expected a digit after '-'"),
        I("- 1", "expected a digit after '-'"),
        I("--1", "expected a digit after '-'"),
        I("1.", "expected a digit after '.'"),
        I("1.e5", "expected a digit after '.'"),
        I(".5", "expected a value"),
        I("1e", "exponent"),
        I("1e+", "exponent"),
        I("1e+-2", "exponent"),
        I("+1", "expected a value"),
        I("0x10", "expected end of input"),
        I("1_000", "expected end of input"),
        I("NaN", "expected a value"),
        I("Infinity", "expected a value"),
        I("-Infinity", "expected a digit after '-'"),
        I("tru", "expected 'true'"),
        I("trUe", "expected 'true'"),
        I("nul", "expected 'null'"),
        I("True", "expected a value"),
        I("fals", "expected 'false'"),
        I("\"abc", "unterminated string"),
        I("\"abc\\\"", "unterminated string"),
        I("\"\\", "unterminated string"),
        I("\"\\x\"", "invalid escape"),
        I("\"\\'\"", "invalid escape"),
        I("\"\\U0041\"", "invalid escape"),
        I("\"\\u12\"", "4 hex digits"),
        I("\"\\u12G4\"", "4 hex digits"),
        I("\"\\ud800\"", "lone high surrogate"),
        I("\"\\ud800x\"", "lone high surrogate"),
        I("\"\\ud800\\u0041\"", "expected \\uDC00-\\uDFFF"),
        I("\"\\ud800\\ud800\"", "expected \\uDC00-\\uDFFF"),
        I("\"\\udc00\"", "lone low surrogate"),
        I("\"\\udfff\\ud800\"", "lone low surrogate"),
        I("\"a\x01" "b\"", "control character 0x01"),
        I("\"a\nb\"", "control character 0x0A"),
        I("\"a\tb\"", "control character 0x09"),
        I("\"\x00\"", "control character 0x00"),
        I("\"\xC0\xAF\"", "invalid UTF-8"),         /* overlong '/' */
        I("\"\xE0\x80\xAF\"", "invalid UTF-8"),     /* overlong, 3 bytes */
        I("\"\xED\xA0\x80\"", "invalid UTF-8"),     /* encoded surrogate */
        I("\"\xF4\x90\x80\x80\"", "invalid UTF-8"), /* above U+10FFFF */
        I("\"\xFF\"", "invalid UTF-8"),
        I("\"\x80\"", "invalid UTF-8"),
        I("\"\xE2\x82\"", "invalid UTF-8"),         /* truncated sequence */
        I("\"\xC3\"", "invalid UTF-8"),
        I("\xEF\xBB\xBF{}", "byte order mark"),
        I("[1]x", "expected end of input"),
        I("1 2", "expected end of input"),
        I("{} {}", "expected end of input"),
        I("{\"a\":1,\"a\":2}", "duplicate name \"a\""),
        I("{\"a\":{\"x\":1,\"y\":2,\"x\":3}}", "duplicate name \"x\""),
        I("/* c */ 1", "expected a value"),
        I("1 // c", "expected end of input"),
        I("\x00", "expected a value"),
        I("[\"a\"\x00]", "expected ',' or ']'"),
        I("\f1", "expected a value"),
        I("\v1", "expected a value"),
        I("[", "expected a value, found end of input"),
        I("{", "expected a member name"),
        I("{\"a\"", "expected ':'"),
        I("{\"a\":", "expected a value"),
        I("[1,", "expected a value"),
        I("[1", "expected ',' or ']'"),
        I("]", "expected a value"),
        I("}", "expected a value"),
        I("[}", "expected a value"),
        I("{]", "expected a member name"),
        I("[1}", "expected ',' or ']'"),
        I("\xC3\xA9", "expected a value"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_doc *d = (json_doc *)1;
        err_clear();
        qwq_status st = parse_exact(cases[i].in, cases[i].len, &d);
        CHECKF(st == QWQ_ERR_FORMAT, "case %zu <%s>: status %d, want FORMAT", i, cases[i].in, (int)st);
        CHECKF(d == NULL, "case %zu: *out not NULL on error", i);
        CHECKF(strstr(err_message(), cases[i].msg) != NULL, "case %zu <%s>: message <%s> lacks <%s>", i,
               cases[i].in, err_message(), cases[i].msg);
        CHECKF(strstr(err_message(), "line ") && strstr(err_message(), "column ") && strstr(err_message(), "byte "),
               "case %zu: no position in <%s>", i, err_message());
        if (st == QWQ_OK) json_doc_free(d);
    }
}

static void test_error_position(void) {
    const char *t = "[1,\n  2,\n  x]";
    json_doc *d;
    CHECK(json_parse(t, strlen(t), &d) == QWQ_ERR_FORMAT);
    CHECKF(strstr(err_message(), "line 3, column 3 (byte 11)") != NULL, "%s", err_message());
    /* columns count characters, not bytes */
    const char *u = "[\"\xC3\xA9\xC3\xA9\", x]";
    CHECK(json_parse(u, strlen(u), &d) == QWQ_ERR_FORMAT);
    CHECKF(strstr(err_message(), "line 1, column 8 (byte 9)") != NULL, "%s", err_message());
    const char *v = "{\n\"s\": \"a\\qb\"}";
    CHECK(json_parse(v, strlen(v), &d) == QWQ_ERR_FORMAT);
    CHECKF(strstr(err_message(), "line 2, column 9 (byte 10)") != NULL, "%s", err_message());
}

static void test_duplicates_large_object(void) {
    /* more members than the pairwise check covers: the sorted path */
    json_buf b;
    json_buf_init(&b);
    REQUIRE(json_buf_append(&b, "{", 1) == QWQ_OK);
    for (int i = 0; i < 100; i++) {
        char m[32];
        int n = snprintf(m, sizeof m, "%s\"k%d\":%d", i ? "," : "", i, i);
        REQUIRE(json_buf_append(&b, m, (size_t)n) == QWQ_OK);
    }
    REQUIRE(json_buf_append(&b, "}", 1) == QWQ_OK);
    json_doc *d;
    REQUIRE(json_parse(b.data, b.len, &d) == QWQ_OK);
    CHECK(json_obj_size(json_root(d)) == 100);
    int64_t x = -1;
    CHECK(json_num_i64(json_obj_get(json_root(d), "k57"), &x) && x == 57);
    size_t kl;
    CHECK(strcmp(json_obj_key_at(json_root(d), 99, &kl), "k99") == 0 && kl == 3);
    json_doc_free(d);
    b.len--; /* drop '}' and repeat a name far from its twin */
    REQUIRE(json_buf_append(&b, ",\"k3\":0}", 8) == QWQ_OK);
    CHECK(json_parse(b.data, b.len, &d) == QWQ_ERR_FORMAT);
    CHECKF(strstr(err_message(), "duplicate name \"k3\"") != NULL, "%s", err_message());
    json_buf_free(&b);
    /* names that differ only after a NUL are different */
    const char *t = "{\"a\\u0000b\":1,\"a\\u0000c\":2,\"a\":3}";
    REQUIRE(json_parse(t, strlen(t), &d) == QWQ_OK);
    CHECK(json_obj_size(json_root(d)) == 3);
    CHECK(json_num_f64(json_obj_get_n(json_root(d), "a\0c", 3)) == 2.0);
    CHECK(json_num_f64(json_obj_get(json_root(d), "a")) == 3.0);
    json_doc_free(d);
}

static char *nested(size_t depth, size_t *len) {
    char *s = malloc(2 * depth + 1);
    for (size_t i = 0; i < depth; i++) { s[i] = '['; s[2 * depth - 1 - i] = ']'; }
    s[2 * depth] = 0;
    *len = 2 * depth;
    return s;
}

static void test_depth_limit(void) {
    size_t len;
    json_doc *d;
    char *s = nested(JSON_MAX_DEPTH, &len);
    CHECKF(json_parse(s, len, &d) == QWQ_OK, "%s", err_message());
    const json_value *v = json_root(d);
    size_t depth = 0;
    while (json_type(v) == JSON_ARRAY) { depth++; v = json_arr_at(v, 0); }
    CHECK(depth == JSON_MAX_DEPTH);
    json_doc_free(d);
    free(s);
    s = nested(JSON_MAX_DEPTH + 1, &len);
    CHECK(json_parse(s, len, &d) == QWQ_ERR_FORMAT);
    CHECKF(strstr(err_message(), "nesting deeper than 256") != NULL, "%s", err_message());
    CHECKF(strstr(err_message(), "byte 256") != NULL, "%s", err_message());
    free(s);
    /* a million opening brackets: fails at the limit, no stack use */
    len = 1000000;
    s = malloc(len);
    memset(s, '[', len);
    CHECK(json_parse(s, len, &d) == QWQ_ERR_FORMAT);
    memset(s, '{', len);
    CHECK(json_parse(s, len, &d) == QWQ_ERR_FORMAT); /* {{ fails on the name */
    for (size_t i = 0; i + 5 <= len; i += 5) memcpy(s + i, "{\"a\":", 5);
    CHECK(json_parse(s, len, &d) == QWQ_ERR_FORMAT);
    CHECKF(strstr(err_message(), "nesting deeper") != NULL, "%s", err_message());
    free(s);
    /* custom limits */
    json_limits lim = {4, 0};
    const char *t4 = "[[[[1]]]]", *t5 = "[[[{\"a\":[1]}]]]";
    CHECK(json_parse_ex(t4, strlen(t4), &lim, &d) == QWQ_OK);
    json_doc_free(d);
    CHECK(json_parse_ex(t5, strlen(t5), &lim, &d) == QWQ_ERR_FORMAT);
    json_limits small = {0, 8};
    CHECK(json_parse_ex("[1,2,3,4]", 9, &small, &d) == QWQ_ERR_FORMAT);
    CHECKF(strstr(err_message(), "exceeds the limit of 8 bytes") != NULL, "%s", err_message());
    CHECK(json_parse_ex("[1,2,34]", 8, &small, &d) == QWQ_OK);
    json_doc_free(d);
}

static const char sample_doc[] =
    "{\"model\":\"qwq\",\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9llo \\ud83d\\ude00 \\\"q\\\"\"},"
    "{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"}}]}],"
    "\"temperature\":0.7,\"max_tokens\":-12,\"big\":1.5e300,\"stop\":[\"a\",\"\"],\"ok\":true,\"no\":false,"
    "\"nil\":null,\"nested\":[[[{}]],[]],\"utf8\":\"\xE2\x82\xAC\"}";

static void test_truncated_prefixes(void) {
    size_t full = sizeof sample_doc - 1;
    json_doc *d;
    CHECKF(parse_exact(sample_doc, full, &d) == QWQ_OK, "%s", err_message());
    json_doc_free(d);
    for (size_t n = 0; n < full; n++) {
        d = (json_doc *)1;
        qwq_status st = parse_exact(sample_doc, n, &d);
        CHECKF(st == QWQ_ERR_FORMAT, "prefix of %zu bytes: status %d", n, (int)st);
        CHECKF(d == NULL, "prefix %zu", n);
        CHECKF(strstr(err_message(), "byte ") != NULL, "prefix %zu: %s", n, err_message());
    }
}

static void test_mutations_do_not_crash(void) {
    /* flip, delete and insert bytes at every position; any outcome but a
     * crash, a wrong status or a bad round trip is a failure */
    size_t full = sizeof sample_doc - 1;
    char *buf = malloc(full + 1);
    static const char subst[] = "{}[]\",:\\0-e.x \x80\xFF";
    int ok = 0, bad = 0;
    for (size_t i = 0; i < full; i++) {
        for (size_t k = 0; k < sizeof subst - 1; k++) {
            memcpy(buf, sample_doc, full);
            buf[i] = subst[k];
            json_doc *d;
            qwq_status st = parse_exact(buf, full, &d);
            CHECKF(st == QWQ_OK || st == QWQ_ERR_FORMAT, "status %d", (int)st);
            if (st == QWQ_OK) {
                ok++;
                /* a valid mutant must round-trip through the writer */
                json_buf b;
                json_buf_init(&b);
                CHECK(json_write_value(&b, json_root(d), 0) == QWQ_OK);
                char *again = reserialise(b.data, b.len, 0);
                CHECK(again && strcmp(again, b.data) == 0);
                free(again);
                json_buf_free(&b);
                json_doc_free(d);
            } else {
                bad++;
            }
        }
        /* deletion of byte i */
        memcpy(buf, sample_doc, i);
        memcpy(buf + i, sample_doc + i + 1, full - i - 1);
        json_doc *d;
        qwq_status st = parse_exact(buf, full - 1, &d);
        CHECK(st == QWQ_OK || st == QWQ_ERR_FORMAT);
        if (st == QWQ_OK) json_doc_free(d);
    }
    CHECK(ok > 0 && bad > 0);
    free(buf);
}

static void test_not_nul_terminated(void) {
    json_doc *d;
    const char buf[] = "[1,2]]";
    REQUIRE(json_parse(buf, 5, &d) == QWQ_OK);
    CHECK(json_arr_size(json_root(d)) == 2);
    json_doc_free(d);
    const char s[] = "\"abc\"def";
    REQUIRE(json_parse(s, 5, &d) == QWQ_OK);
    size_t n;
    CHECK(strcmp(json_str(json_root(d), &n), "abc") == 0 && n == 3);
    json_doc_free(d);
    const char num[] = "12345";
    REQUIRE(json_parse(num, 3, &d) == QWQ_OK);
    int64_t x;
    CHECK(json_num_i64(json_root(d), &x) && x == 123);
    CHECK(strcmp(json_num_text(json_root(d), &n), "123") == 0 && n == 3);
    json_doc_free(d);
    const char lit[] = "truex";
    REQUIRE(json_parse(lit, 4, &d) == QWQ_OK);
    CHECK(json_bool(json_root(d)));
    json_doc_free(d);
    CHECK(json_parse(lit, 3, &d) == QWQ_ERR_FORMAT);
    /* the document is self-contained: the input may go away */
    char *tmp = malloc(32);
    strcpy(tmp, "{\"k\":\"v\",\"n\":1.25}");
    REQUIRE(json_parse(tmp, strlen(tmp), &d) == QWQ_OK);
    memset(tmp, 'X', 18);
    free(tmp);
    CHECK(strcmp(json_str(json_obj_get(json_root(d), "k"), NULL), "v") == 0);
    CHECK(strcmp(json_num_text(json_obj_get(json_root(d), "n"), NULL), "1.25") == 0);
    json_doc_free(d);
    /* NULL text with length 0 is the empty document (an error), not a crash */
    CHECK(json_parse(NULL, 0, &d) == QWQ_ERR_FORMAT);
    CHECK(json_parse(NULL, 3, &d) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(json_parse("1", 1, NULL) == QWQ_ERR_INVALID_ARGUMENT);
}

typedef struct {
    const char *text;
    int is_int, i64_ok;
    int64_t i;
    double d;
} num_case;

static void test_numbers(void) {
    static const num_case cases[] = {
        {"0", 1, 1, 0, 0.0},
        {"-0", 1, 1, 0, -0.0},
        {"0.0", 0, 1, 0, 0.0},
        {"1", 1, 1, 1, 1.0},
        {"-1", 1, 1, -1, -1.0},
        {"9223372036854775807", 1, 1, INT64_MAX, 9223372036854775807.0},
        {"-9223372036854775808", 1, 1, INT64_MIN, -9223372036854775808.0},
        {"9223372036854775808", 1, 0, 0, 9223372036854775808.0},
        {"-9223372036854775809", 1, 0, 0, -9223372036854775809.0},
        {"18446744073709551616", 1, 0, 0, 18446744073709551616.0},
        {"9007199254740993", 1, 1, 9007199254740993LL, 9007199254740992.0}, /* 2^53+1: i64 exact, double rounds */
        {"1e18", 0, 1, 1000000000000000000LL, 1e18},
        {"1E19", 0, 0, 0, 1e19},
        {"9.223372036854775807e18", 0, 1, INT64_MAX, 9223372036854775807.0},
        {"-9.223372036854775808E+18", 0, 1, INT64_MIN, -9223372036854775808.0},
        {"9.223372036854775808e18", 0, 0, 0, 9223372036854775808.0},
        {"2.50e1", 0, 1, 25, 25.0},
        {"100e-2", 0, 1, 1, 1.0},
        {"0.1e1", 0, 1, 1, 1.0},
        {"1.5", 0, 0, 0, 1.5},
        {"1.00000000000000000001", 0, 0, 0, 1.0},
        {"123.456e1", 0, 0, 0, 1234.56},
        {"0e99999999999", 0, 1, 0, 0.0},
        {"0.000e-5", 0, 1, 0, 0.0},
        {"1e-99999999999", 0, 0, 0, 0.0},
        {"0.1", 0, 0, 0, 0.1},
        {"-2.5e-3", 0, 0, 0, -0.0025},
        {"1.7976931348623157e308", 0, 0, 0, DBL_MAX},
        {"2.2250738585072014e-308", 0, 0, 0, DBL_MIN},
        {"4.9406564584124654e-324", 0, 0, 0, 4.9406564584124654e-324},
        {"3.14159265358979323846264338327950288", 0, 0, 0, 3.14159265358979323846},
        {"123456789012345678901234567890", 1, 0, 0, 1.2345678901234568e29},
        {"0.30000000000000004", 0, 0, 0, 0.30000000000000004},
        {"1e23", 0, 0, 0, 1e23},
        {"8.98846567431158e307", 0, 0, 0, 8.98846567431158e307},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        json_doc *d;
        const char *t = cases[k].text;
        REQUIRE(json_parse(t, strlen(t), &d) == QWQ_OK);
        const json_value *v = json_root(d);
        CHECK(json_type(v) == JSON_NUMBER);
        CHECKF(json_num_is_int(v) == (cases[k].is_int != 0), "%s: is_int", t);
        int64_t x = 42;
        bool ok = json_num_i64(v, &x);
        CHECKF(ok == (cases[k].i64_ok != 0), "%s: i64_ok %d", t, (int)ok);
        if (ok) CHECKF(x == cases[k].i, "%s: i64 %lld", t, (long long)x);
        else CHECKF(x == 42, "%s: *out touched", t);
        double dv = json_num_f64(v);
        CHECKF(dv == cases[k].d && signbit(dv) == signbit(cases[k].d), "%s: f64 %.17g want %.17g", t, dv,
               cases[k].d);
        json_doc_free(d);
    }
    json_doc *d;
    REQUIRE(json_parse("[1e400,-1e400]", 14, &d) == QWQ_OK);
    CHECK(isinf(json_num_f64(json_arr_at(json_root(d), 0))) && json_num_f64(json_arr_at(json_root(d), 0)) > 0);
    CHECK(isinf(json_num_f64(json_arr_at(json_root(d), 1))) && json_num_f64(json_arr_at(json_root(d), 1)) < 0);
    json_doc_free(d);
}

static void test_numbers_ignore_locale(void) {
    /* strtod follows LC_NUMERIC; the parser must not */
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ru_RU.UTF-8"};
    char *old = setlocale(LC_NUMERIC, NULL);
    char saved[64];
    snprintf(saved, sizeof saved, "%s", old ? old : "C");
    const char *got = NULL;
    for (size_t i = 0; i < 4 && !got; i++) got = setlocale(LC_NUMERIC, names[i]);
    json_doc *d;
    const char *t = "[1.2345678901234567e-300,0.1e-30,3.25]";
    qwq_status st = json_parse(t, strlen(t), &d);
    if (got) setlocale(LC_NUMERIC, saved);
    REQUIRE(st == QWQ_OK);
    CHECK(json_num_f64(json_arr_at(json_root(d), 0)) == 1.2345678901234567e-300);
    CHECK(json_num_f64(json_arr_at(json_root(d), 1)) == 0.1e-30);
    CHECK(json_num_f64(json_arr_at(json_root(d), 2)) == 3.25);
    json_doc_free(d);
}

static void test_strings_and_escapes(void) {
    json_doc *d;
    const char *t = "[\"a\\u0000b\",\"\\ud83d\\ude00\",\"\\u20AC\",\"\\\"\\\\\\/\",\"\"]";
    REQUIRE(json_parse(t, strlen(t), &d) == QWQ_OK);
    const json_value *r = json_root(d);
    size_t n;
    const char *s = json_str(json_arr_at(r, 0), &n);
    CHECK(n == 3 && memcmp(s, "a\0b", 4) == 0); /* NUL inside, NUL-terminated */
    s = json_str(json_arr_at(r, 1), &n);
    CHECK(n == 4 && memcmp(s, "\xF0\x9F\x98\x80", 4) == 0);
    s = json_str(json_arr_at(r, 2), &n);
    CHECK(n == 3 && strcmp(s, "\xE2\x82\xAC") == 0);
    s = json_str(json_arr_at(r, 3), &n);
    CHECK(n == 3 && strcmp(s, "\"\\/") == 0);
    s = json_str(json_arr_at(r, 4), &n);
    CHECK(n == 0 && s && s[0] == 0);
    CHECK(json_str(r, &n) == NULL);
    json_doc_free(d);
    /* every BMP code point outside the surrogates round-trips via \u */
    for (uint32_t cp = 1; cp < 0x10000; cp += 97) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        char in[16];
        snprintf(in, sizeof in, "\"\\u%04x\"", (unsigned)cp);
        REQUIRE(json_parse(in, 8, &d) == QWQ_OK);
        s = json_str(json_root(d), &n);
        size_t len = 0;
        CHECKF(utf8_seq_len((const uint8_t *)s, n) == n && utf8_decode((const uint8_t *)s, &len) == cp && len == n,
               "U+%04X", (unsigned)cp);
        json_doc_free(d);
    }
}

static void test_accessors(void) {
    json_doc *d;
    const char *t = "{\"z\":1,\"a\":[10,20,30],\"m\":{\"x\":true},\"s\":\"v\",\"n\":null,\"f\":false}";
    REQUIRE(json_parse(t, strlen(t), &d) == QWQ_OK);
    const json_value *r = json_root(d);
    CHECK(json_type(r) == JSON_OBJECT);
    CHECK(json_obj_size(r) == 6);
    const char *order[] = {"z", "a", "m", "s", "n", "f"};
    for (size_t i = 0; i < 6; i++) {
        size_t kl;
        CHECK(strcmp(json_obj_key_at(r, i, &kl), order[i]) == 0 && kl == 1);
        CHECK(json_obj_value_at(r, i) == json_obj_get(r, order[i]));
    }
    CHECK(json_obj_key_at(r, 6, NULL) == NULL && json_obj_value_at(r, 6) == NULL);
    const json_value *a = json_obj_get(r, "a");
    CHECK(json_arr_size(a) == 3);
    CHECK(json_num_f64(json_arr_at(a, 2)) == 30.0);
    CHECK(json_arr_at(a, 3) == NULL);
    CHECK(json_bool(json_obj_get(json_obj_get(r, "m"), "x")));
    CHECK(!json_bool(json_obj_get(r, "f")) && json_type(json_obj_get(r, "f")) == JSON_BOOL);
    CHECK(json_is_null(json_obj_get(r, "n")));
    CHECK(!json_is_null(json_obj_get(r, "missing")));
    CHECK(json_obj_get(r, "missing") == NULL);
    CHECK(json_obj_get(json_obj_get(r, "missing"), "deeper") == NULL); /* chaining */
    CHECK(json_type(NULL) == JSON_INVALID);
    CHECK(json_obj_size(a) == 0 && json_arr_size(r) == 0);
    CHECK(json_arr_at(r, 0) == NULL);
    CHECK(json_obj_get(a, "z") == NULL);
    CHECK(json_num_f64(json_obj_get(r, "s")) == 0.0);
    CHECK(json_num_text(json_obj_get(r, "s"), NULL) == NULL);
    CHECK(!json_num_i64(json_obj_get(r, "s"), NULL));
    CHECK(strcmp(json_kind_name(JSON_OBJECT), "object") == 0);
    CHECK(json_root(NULL) == NULL);
    json_doc_free(d);
    json_doc_free(NULL);
}

static void test_large_flat_array(void) {
    size_t count = 200000, len = 2 * count + 1;
    char *s = malloc(len);
    s[0] = '[';
    for (size_t i = 0; i < count; i++) { s[1 + 2 * i] = (char)('0' + i % 10); s[2 + 2 * i] = ','; }
    s[len - 1] = ']';
    json_doc *d;
    REQUIRE(json_parse(s, len, &d) == QWQ_OK);
    CHECK(json_arr_size(json_root(d)) == count);
    int64_t x;
    CHECK(json_num_i64(json_arr_at(json_root(d), 123457), &x) && x == 7);
    /* the worst case the header documents: ~21 bytes kept per input byte */
    double per_byte = (double)json_doc_bytes(d) / (double)len;
    CHECKF(per_byte < 22.5, "%.1f bytes per input byte", per_byte);
    json_doc_free(d);
    free(s);
}

static void test_writer(void) {
    json_buf b;
    json_buf_init(&b);
    const char raw[] = "a\"b\\c\n\r\t\b\f\x01\x1f\x7f/\xC3\xA9\xF0\x9F\x98\x80\0z";
    REQUIRE(json_write_string(&b, raw, sizeof raw - 1, 0) == QWQ_OK);
    const char *want = "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f/\xC3\xA9\xF0\x9F\x98\x80\\u0000z\"";
    CHECKF(strcmp(b.data, want) == 0, "got %s", b.data);
    json_buf_reset(&b);
    REQUIRE(json_write_string(&b, raw, sizeof raw - 1, JSON_WRITE_ASCII) == QWQ_OK);
    want = "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\\u007f/\\u00e9\\ud83d\\ude00\\u0000z\"";
    CHECKF(strcmp(b.data, want) == 0, "got %s", b.data);
    /* what was written parses back to the same bytes */
    json_doc *d;
    REQUIRE(json_parse(b.data, b.len, &d) == QWQ_OK);
    size_t n;
    const char *s = json_str(json_root(d), &n);
    CHECK(n == sizeof raw - 1 && memcmp(s, raw, n) == 0);
    json_doc_free(d);
    /* invalid UTF-8 is refused, with the offset */
    json_buf_reset(&b);
    CHECK(json_write_string(&b, "ab\xC0\xAF", 4, 0) == QWQ_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(err_message(), "byte 2") != NULL, "%s", err_message());
    CHECK(json_write_string(&b, "\xED\xA0\x80", 3, JSON_WRITE_ASCII) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(json_write_string(&b, "\xE2\x82", 2, 0) == QWQ_ERR_INVALID_ARGUMENT);
    json_buf_reset(&b);
    CHECK(json_write_string(&b, "", 0, 0) == QWQ_OK && strcmp(b.data, "\"\"") == 0);
    json_buf_free(&b);
    /* Python separators and ensure_ascii, as json.dumps(x) prints */
    const char *t = "{\"a\": [1, 2.50, {\"b\": null}], \"\xC3\xA9\": \"\xE2\x82\xAC\", \"t\":true}";
    char *py = reserialise(t, strlen(t), JSON_WRITE_PY_SEPARATORS | JSON_WRITE_ASCII);
    REQUIRE(py);
    CHECKF(strcmp(py, "{\"a\": [1, 2.50, {\"b\": null}], \"\\u00e9\": \"\\u20ac\", \"t\": true}") == 0, "%s", py);
    free(py);
    char *compact = reserialise(t, strlen(t), 0);
    REQUIRE(compact);
    CHECKF(strcmp(compact, "{\"a\":[1,2.50,{\"b\":null}],\"\xC3\xA9\":\"\xE2\x82\xAC\",\"t\":true}") == 0, "%s",
           compact);
    free(compact);
    /* take from an empty buffer gives "" */
    json_buf_init(&b);
    size_t tl = 9;
    char *e = json_buf_take(&b, &tl);
    CHECK(e && e[0] == 0 && tl == 0);
    free(e);
    CHECK(json_write_value(&b, NULL, 0) == QWQ_ERR_INVALID_ARGUMENT);
    json_buf_free(&b);
}

static void test_writer_deep_value(void) {
    /* the writer is iterative too: a document at the depth limit set by
     * the caller (far deeper than the default) writes back unchanged */
    size_t len;
    char *s = nested(20000, &len);
    json_limits lim = {30000, 0};
    json_doc *d;
    REQUIRE(json_parse_ex(s, len, &lim, &d) == QWQ_OK);
    json_buf b;
    json_buf_init(&b);
    CHECK(json_write_value(&b, json_root(d), 0) == QWQ_OK);
    CHECK(b.len == len && memcmp(b.data, s, len) == 0);
    json_buf_free(&b);
    json_doc_free(d);
    free(s);
}

static void test_utf8_helpers(void) {
    CHECK(utf8_validate((const uint8_t *)"abc", 3) == 3);
    CHECK(utf8_validate((const uint8_t *)"ab\xC3", 3) == 2);
    CHECK(utf8_validate((const uint8_t *)"\xF0\x9F\x98\x80z\xFE", 6) == 5);
    size_t len = 0;
    CHECK(utf8_seq_len((const uint8_t *)"\xF4\x8F\xBF\xBF", 4) == 4);
    CHECK(utf8_decode((const uint8_t *)"\xF4\x8F\xBF\xBF", &len) == 0x10FFFF && len == 4);
    CHECK(utf8_seq_len((const uint8_t *)"\xF0\x8F\xBF\xBF", 4) == 0); /* overlong */
    CHECK(utf8_seq_len((const uint8_t *)"\xC1\xBF", 2) == 0);
    CHECK(utf8_seq_len((const uint8_t *)"\xF5\x80\x80\x80", 4) == 0);
    CHECK(utf8_seq_len((const uint8_t *)"\xED\xA0\x80", 3) == 0); /* surrogate */
    CHECK(utf8_seq_len((const uint8_t *)"\xE2\x82", 2) == 0);      /* truncated */
}

int main(void) {
    RUN(test_valid_corpus);
    RUN(test_invalid_corpus);
    RUN(test_error_position);
    RUN(test_duplicates_large_object);
    RUN(test_depth_limit);
    RUN(test_truncated_prefixes);
    RUN(test_mutations_do_not_crash);
    RUN(test_not_nul_terminated);
    RUN(test_numbers);
    RUN(test_numbers_ignore_locale);
    RUN(test_strings_and_escapes);
    RUN(test_accessors);
    RUN(test_large_flat_array);
    RUN(test_writer);
    RUN(test_writer_deep_value);
    RUN(test_utf8_helpers);
    return test_summary();
}
