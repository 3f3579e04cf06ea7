/*
 * Tokenizer tests: Hugging Face parity on the shared references
 * (hf-qwen2.inp/.out, special.bin) with the full Qwen3 vocabulary, NFC against
 * the Unicode conformance vectors, round-trip and streaming properties on
 * seeded random UTF-8, the buffer protocol, invalid input, load-time
 * validation on synthetic GGUF files, and the reduced qwen2-tiny vocabulary.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "harness.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/util.h"

/* ---- shared fixtures ------------------------------------------------------------ */

typedef struct loaded {
    int tried;
    gguf_file *file;
    tokenizer *tok;
} loaded;

static loaded g_q3, g_q2;

/* The tokenizer of a reference model, loaded once; NULL (and the case
 * skipped or failed) when it cannot be had. */
static tokenizer *model_tok(loaded *l, const char *rel) {
    char path[1024];
    if (!testdata_path(path, sizeof path, rel)) return NULL;
    if (!l->tried) {
        l->tried = 1;
        if (gguf_open(path, &l->file) != QWQ_OK) {
            test_fail_at(__FILE__, __LINE__, "gguf_open %s: %s", path, err_message());
            return NULL;
        }
        if (tokenizer_load(l->file, &l->tok) != QWQ_OK) {
            test_fail_at(__FILE__, __LINE__, "tokenizer_load %s: %s", path, err_message());
            return NULL;
        }
    }
    if (!l->tok) test_fail_at(__FILE__, __LINE__, "%s did not load earlier", rel);
    return l->tok;
}
static tokenizer *q3(void) { return model_tok(&g_q3, "models/qwen3-tiny-f16.gguf"); }
static tokenizer *q2(void) { return model_tok(&g_q2, "models/qwen2-tiny-f16.gguf"); }

/* encode into a malloc'd array (size query first, then the call proper) */
static qwq_status encode_all(const tokenizer *t, const char *s, size_t n, uint32_t flags, qwq_token **ids,
                             size_t *n_ids) {
    size_t need = 0;
    *ids = NULL;
    qwq_status st = tokenizer_encode(t, s, n, flags, NULL, 0, &need);
    if (st != QWQ_OK && st != QWQ_ERR_BUFFER_TOO_SMALL) return st;
    *ids = malloc((need + 1) * sizeof(qwq_token));
    if (!*ids) return QWQ_ERR_OUT_OF_MEMORY;
    return tokenizer_encode(t, s, n, flags, *ids, need, n_ids);
}

static char *decode_all(const tokenizer *t, const qwq_token *ids, size_t n, uint32_t flags, size_t *len) {
    size_t need = 0;
    qwq_status st = tokenizer_decode(t, ids, n, flags, NULL, 0, &need);
    if (st != QWQ_OK && st != QWQ_ERR_BUFFER_TOO_SMALL) return NULL;
    char *out = malloc(need + 1);
    if (!out) return NULL;
    if (tokenizer_decode(t, ids, n, flags, out, need + 1, len) != QWQ_OK) {
        free(out);
        return NULL;
    }
    return out;
}

static void fmt_ids(char *buf, size_t cap, const qwq_token *ids, size_t n) {
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && o + 16 < cap; i++) o += (size_t)snprintf(buf + o, cap - o, " %d", ids[i]);
    if (n && o + 16 >= cap) snprintf(buf + o, cap - o, " ...");
}

static int ids_equal(const qwq_token *a, size_t na, const qwq_token *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* NFC through the library (checked on its own against the conformance
 * vectors in test_nfc_vectors) */
static uint8_t *nfc_copy(const uint8_t *s, size_t n, size_t *out_n) {
    uc_scratch sc;
    memset(&sc, 0, sizeof sc);
    const uint8_t *p;
    uint8_t *r = NULL;
    if (uc_nfc(s, n, &sc, &p, out_n) == QWQ_OK) {
        r = malloc(*out_n + 1);
        if (r) memcpy(r, p, *out_n);
    }
    uc_scratch_free(&sc);
    return r;
}

/* deterministic generator (xorshift64*) */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}
static uint32_t rng_below(uint64_t *s, uint32_t n) { return (uint32_t)(rng_next(s) % n); }

/* ---- the Qwen3 vocabulary: basic facts ---------------------------------------------- */

static void test_qwen3_vocab_facts(void) {
    tokenizer *t = q3();
    if (!t) return;
    CHECK(tokenizer_n_tokens(t) == 151936);
    CHECK(tokenizer_eos(t) == 151645);
    CHECK(tokenizer_bos(t) == 151643);
    CHECK(tokenizer_pad(t) == 151643);
    CHECK(tokenizer_find(t, "<think>", 7) == 151667);
    CHECK(tokenizer_find(t, "</think>", 8) == 151668);
    CHECK(tokenizer_find(t, "<tool_call>", 11) == 151657);
    CHECK(tokenizer_find(t, "<|im_end|>", 10) == 151645);
    CHECK(tokenizer_find(t, "Hello", 5) == 9707);
    CHECK(tokenizer_find(t, " \xF0\x9F", 3) == 11162); /* a piece that ends inside a character */
    CHECK(tokenizer_find(t, "<thinkx>", 8) == -1);
    CHECK(tokenizer_find(t, "[PAD151669]", 11) == -1); /* unused rows decode to nothing */
    CHECK(tokenizer_find(t, "", 0) == -1);
    CHECK(tokenizer_token_type(t, 9707) == TOKEN_TYPE_NORMAL);
    CHECK(tokenizer_token_type(t, 151645) == TOKEN_TYPE_CONTROL);
    CHECK(tokenizer_token_type(t, 151667) == TOKEN_TYPE_USER_DEFINED);
    CHECK(tokenizer_token_type(t, 151669) == TOKEN_TYPE_UNUSED);
    CHECK(tokenizer_token_type(t, 151936) == 0);
    CHECK(tokenizer_token_type(t, -1) == 0);
    /* HF skip_special_tokens: special: true added tokens only */
    for (qwq_token id = 151643; id <= 151668; id++)
        CHECKF(tokenizer_is_special_skippable(t, id) == (id <= 151656), "skippable(%d)", id);
    CHECK(!tokenizer_is_special_skippable(t, 9707));
    CHECK(!tokenizer_is_special_skippable(t, 151700));
    size_t len = 99;
    const char *p = tokenizer_piece(t, 11162, &len);
    CHECK(p && len == 3 && memcmp(p, " \xF0\x9F", 3) == 0);
    p = tokenizer_piece(t, 151644, &len);
    CHECK(p && len == 12 && memcmp(p, "<|im_start|>", 12) == 0);
    p = tokenizer_piece(t, 151700, &len);
    CHECK(p && len == 0);
    p = tokenizer_piece(t, 151936, &len);
    CHECK(p == NULL && len == 0);
    p = tokenizer_piece(t, 198, &len); /* 'Ċ' = "\n" */
    CHECK(p && len == 1 && p[0] == '\n');
    CHECK(tokenizer_max_piece_len(t) >= 16);
}

/* ---- hf-qwen2.inp / .out: 46 cases from the Hugging Face tokenizer ------------------- */

static void test_hf_qwen2_cases(void) {
    char pin[1024], pout[1024];
    if (!testdata_path(pin, sizeof pin, "tokenizer/hf-qwen2.inp")) return;
    if (!testdata_path(pout, sizeof pout, "tokenizer/hf-qwen2.out")) return;
    tokenizer *t = q3();
    if (!t) return;
    size_t nin = 0, nout = 0;
    char *in = (char *)test_read_file(pin, &nin);
    char *out = (char *)test_read_file(pout, &nout);
    REQUIRE(in && out);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t seplen = sizeof sep - 1;
    size_t pos = 0, opos = 0;
    int n_cases = 0, n_ok = 0;
    for (;;) {
        char *end = NULL;
        for (size_t i = pos; i + seplen <= nin; i++)
            if (memcmp(in + i, sep, seplen) == 0) { end = in + i; break; }
        if (!end) break;
        size_t tlen = (size_t)(end - (in + pos));
        /* the expected line */
        size_t lend = opos;
        while (lend < nout && out[lend] != '\n') lend++;
        qwq_token want[512];
        size_t nwant = 0;
        for (char *q = out + opos; q < out + lend && nwant < 512;) {
            char *e2;
            long v = strtol(q, &e2, 10);
            if (e2 == q) break;
            want[nwant++] = (qwq_token)v;
            q = e2;
        }
        for (uint32_t flags = 0; flags <= QWQ_TOKENIZE_SPECIAL; flags++) {
            qwq_token *got = NULL;
            size_t ngot = 0;
            qwq_status st = encode_all(t, in + pos, tlen, flags, &got, &ngot);
            int ok = st == QWQ_OK && ids_equal(got, ngot, want, nwant);
            if (!ok) {
                char a[400], b[400];
                fmt_ids(a, sizeof a, got ? got : want, got ? ngot : 0);
                fmt_ids(b, sizeof b, want, nwant);
                test_fail_at(__FILE__, __LINE__, "hf-qwen2 case %d (flags %u) \"%.40s\": got%s, want%s (%s)", n_cases,
                             flags, in + pos, a, b, st == QWQ_OK ? "ok" : err_message());
            } else if (flags == 0) {
                n_ok++;
            }
            /* all 46 texts are NFC: decoding gives the text back */
            if (st == QWQ_OK && flags == 0) {
                size_t dl = 0;
                char *d = decode_all(t, got, ngot, 0, &dl);
                CHECKF(d && dl == tlen && memcmp(d, in + pos, tlen) == 0, "hf-qwen2 case %d does not decode back",
                       n_cases);
                free(d);
            }
            free(got);
        }
        n_cases++;
        pos = (size_t)(end - in) + seplen;
        opos = lend + 1;
    }
    CHECKF(n_cases == 46, "read %d cases, expected 46", n_cases);
    CHECKF(n_ok == 46, "%d of %d cases exact", n_ok, n_cases);
    free(in);
    free(out);
}

/* ---- special.bin: 40 cases with added tokens, special on and off ---------------------- */

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void test_special_cases(void) {
    char path[1024];
    if (!testdata_path(path, sizeof path, "tokenizer/special.bin")) return;
    tokenizer *t = q3();
    if (!t) return;
    size_t n = 0;
    unsigned char *b = test_read_file(path, &n);
    REQUIRE(b && n >= 12 && memcmp(b, "QWQTOKC1", 8) == 0);
    uint32_t n_cases = rd32(b + 8);
    size_t o = 12;
    uint32_t n_ok = 0, n_special = 0;
    for (uint32_t c = 0; c < n_cases; c++) {
        /* u32 flags, then name, text and nfc each as u32 length + bytes, then u32 n_ids + ids */
        const char *field[3];
        uint32_t flen[3];
        REQUIRE(o + 4 <= n);
        uint32_t flags = rd32(b + o);
        o += 4;
        for (int k = 0; k < 3; k++) {
            REQUIRE(o + 4 <= n);
            flen[k] = rd32(b + o);
            REQUIRE(flen[k] <= n - o - 4);
            field[k] = (const char *)b + o + 4;
            o += 4 + (size_t)flen[k];
        }
        REQUIRE(o + 4 <= n);
        uint32_t n_ids = rd32(b + o);
        o += 4;
        REQUIRE((uint64_t)n_ids * 4 <= n - o);
        const char *name = field[0], *text = field[1], *nfc = field[2];
        uint32_t name_len = flen[0], text_len = flen[1], nfc_len = flen[2];
        qwq_token *want = malloc((n_ids + 1) * sizeof *want);
        REQUIRE(want);
        for (uint32_t i = 0; i < n_ids; i++) want[i] = (qwq_token)rd32(b + o + 4 * i);
        o += 4ull * n_ids;
        uint32_t tflags = (flags & 1) ? QWQ_TOKENIZE_SPECIAL : 0;
        n_special += (flags & 1);
        qwq_token *got = NULL;
        size_t ngot = 0;
        qwq_status st = encode_all(t, text, text_len, tflags, &got, &ngot);
        int ok = st == QWQ_OK && ids_equal(got, ngot, want, n_ids);
        if (!ok) {
            char a[600], w[600];
            fmt_ids(a, sizeof a, got, st == QWQ_OK ? ngot : 0);
            fmt_ids(w, sizeof w, want, n_ids);
            test_fail_at(__FILE__, __LINE__, "%.*s: got%s\n   want%s", (int)name_len, name, a, w);
        }
        if (st == QWQ_OK && !tflags)
            for (size_t i = 0; i < ngot; i++) CHECKF(got[i] < 151643, "%.*s: plain mode produced %d", (int)name_len, name, got[i]);
        /* the expected detokenization of the reference ids */
        size_t dl = 0;
        char *d = decode_all(t, want, n_ids, 0, &dl);
        int dec_ok = d && dl == nfc_len && memcmp(d, nfc, nfc_len) == 0;
        CHECKF(dec_ok, "%.*s: detokenization differs from the expected nfc text", (int)name_len, name);
        if (ok && dec_ok) n_ok++;
        free(d);
        free(got);
        free(want);
    }
    CHECKF(n_cases == 40 && n_ok == 40, "%u of %u special cases exact", n_ok, n_cases);
    CHECK(n_special == 20);
    CHECK(o == n);
    free(b);
}

/* ---- edge cases: ids from the Hugging Face tokenizer (tokenizers 0.23 with a
 * tokenizer.json rebuilt from the qwen3-tiny GGUF, add_special_tokens=false,
 * no added tokens), chosen for the corners of the pattern: NEL is \s, BOM is
 * not, case-insensitive contractions, every \p{N} alone, NFC inside words,
 * whitespace runs before newlines and words. ---------------------------------------- */

typedef struct edge_case {
    const char *text;
    size_t n;
    qwq_token ids[16];
} edge_case;

static const edge_case edge_cases[] = {
    {"\xc2\x85x", 3, {126, 227, 87}},
    {"a\357\273\277b", 3, {64, 3225, 65}},
    {" \xc2\x85 \xc2\x85\x0a", 5, {2139, 227, 2139, 227, 198}},
    {"'\xc5\xbf", 2, {6, 144815}},
    {"I'M here", 3, {40, 27603, 1588}},
    {"x'S'T'RE'VE'LL'D'm", 10, {87, 13272, 17323, 94153, 6, 4491, 6, 4086, 27705, 2776}},
    {"\xc2\xb2\xc2\xbd\xe2\x85\xab\xe2\x91\xa0\xd9\xa3", 8, {29456, 26062, 70467, 104, 48312, 254, 149, 96}},
    {"\x09Hello\xc2\xa0world", 4, {197, 9707, 4102, 14615}},
    {"  \x0a\x0a  x", 3, {18611, 220, 856}},
    {"a \x0d\x0a b \x0d\x0d\x0a", 4, {64, 2529, 293, 94691}},
    {" \xf0\x9f\xa6\x99", 3, {11162, 99, 247}},
    {"x\xcc\x81y", 3, {87, 53839, 88}},
    {"e\xcc\x81\xcc\xa3", 2, {124635, 53839}},
    {"\xe2\x84\xab\xe2\x84\xa6", 2, {144044, 144572}},
    {"\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", 1, {126317}},
    {"\xe3\x80\x80x\xe3\x80\x80 y", 4, {22441, 87, 22441, 379}},
    {"1,000.50$", 9, {16, 11, 15, 15, 15, 13, 20, 15, 3}},
    {"<|im_start|>", 6, {27, 91, 318, 4906, 91, 29}},
    {"\xe0\xa4\x95\xe0\xa4\xbc\xe0\xa5\x8d", 4, {64704, 5502, 120, 29607}},
    {"don't stop\x0a\x0a\x0aI've", 6, {15007, 944, 2936, 1406, 40, 3003}},
    {"\xef\xac\x81ne \xef\xac\x80", 5, {144300, 811, 32495, 105, 222}},
    {"\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 \xf0\x9f\x87\xab\xf0\x9f\x87\xb7", 11,
     {145367, 378, 235, 145233, 378, 235, 145665, 11162, 229, 104, 145070}},
    {"\xd7\xa9\xd7\x81\xd6\xb8", 5, {58411, 146, 116, 147, 223}},
    {" \xc2\x85hello", 4, {220, 126, 227, 14990}},     /* NEL is \s: " " then NEL+word */
    {" \xef\xbb\xbfhello", 2, {75780, 14990}},         /* BOM is not: " BOM" then the word */
    {"\xe2\x80\xa8\xe2\x80\xa8 x", 5, {378, 101, 378, 101, 856}},
    {"a\xc2\xa0\xc2\xa0 b", 3, {64, 9238, 293}},
};

static void check_encode(const tokenizer *t, const char *s, size_t n, uint32_t flags, const qwq_token *want,
                         size_t nwant, const char *what) {
    qwq_token *got = NULL;
    size_t ngot = 0;
    qwq_status st = encode_all(t, s, n, flags, &got, &ngot);
    if (st != QWQ_OK || !ids_equal(got, ngot, want, nwant)) {
        char a[600], w[600];
        fmt_ids(a, sizeof a, got, st == QWQ_OK ? ngot : 0);
        fmt_ids(w, sizeof w, want, nwant);
        test_fail_at(__FILE__, __LINE__, "%s: got%s\n   want%s (%s)", what, a, w, st == QWQ_OK ? "ok" : err_message());
    }
    free(got);
}

static void test_edge_cases(void) {
    tokenizer *t = q3();
    if (!t) return;
    for (size_t i = 0; i < sizeof edge_cases / sizeof edge_cases[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "edge case %zu", i);
        check_encode(t, edge_cases[i].text, strlen(edge_cases[i].text), 0, edge_cases[i].ids, edge_cases[i].n, what);
    }
    /* pieces longer than the short-BPE limit (the heap path), same reference */
    qwq_token want[128];
    char buf[640];
    memset(buf, 'a', 300);
    for (int i = 0; i < 37; i++) want[i] = 69440;
    want[37] = 28458;
    check_encode(t, buf, 300, 0, want, 38, "'a' x 300");
    memset(buf, ' ', 200);
    want[0] = 56940;
    want[1] = 37144;
    check_encode(t, buf, 200, 0, want, 2, "' ' x 200");
    for (int i = 0; i < 100; i++) memcpy(buf + 2 * i, "ab", 2);
    memset(buf + 200, '!', 80);
    for (int i = 0; i < 100; i++) want[i] = 370;
    for (int i = 100; i < 110; i++) want[i] = 50667;
    check_encode(t, buf, 280, 0, want, 110, "'ab' x 100 + '!' x 80");
    for (int i = 0; i < 70; i++) memcpy(buf + 2 * i, "\xc3\xa9", 2);
    for (int i = 0; i < 70; i++) want[i] = 963;
    check_encode(t, buf, 140, 0, want, 70, "U+00E9 x 70");
    /* added-token splitting details (special on): spaces stay text, partial
     * tokens are text, the longest token at the leftmost position wins */
    const qwq_token sp[] = {220, 151644, 220};
    check_encode(t, " <|im_start|> ", 14, QWQ_TOKENIZE_SPECIAL, sp, 3, "spaces around an added token");
    const qwq_token adj[] = {151667, 151668, 151645};
    check_encode(t, "<think></think><|im_end|>", 25, QWQ_TOKENIZE_SPECIAL, adj, 3, "adjacent added tokens");
    /* NFC is per segment: U+0338 after an added token stays as it is */
    size_t n1 = 0, n2 = 0;
    qwq_token *a = NULL, *b = NULL;
    CHECK(encode_all(t, "<|im_end|>\xcc\xb8", 12, QWQ_TOKENIZE_SPECIAL, &a, &n1) == QWQ_OK);
    CHECK(encode_all(t, "\xcc\xb8", 2, 0, &b, &n2) == QWQ_OK);
    CHECK(a && b && n1 == n2 + 1 && a[0] == 151645 && ids_equal(a + 1, n1 - 1, b, n2));
    free(a);
    free(b);
}

/* ---- NFC against NormalizationTest.txt 15.0 (third_party/unicode/nfc_tests.txt) -------- */

static size_t parse_cps(const char *s, const char *end, uint8_t *out, size_t cap) {
    size_t o = 0;
    while (s < end) {
        char *e;
        unsigned long cp = strtoul(s, &e, 16);
        if (e == s) break;
        if (o + 4 <= cap) o += utf8_encode((uint32_t)cp, out + o);
        s = e;
    }
    return o;
}

static void test_nfc_vectors(void) {
    const char *path = "third_party/unicode/nfc_tests.txt";
    size_t n = 0;
    char *data = (char *)test_read_file(path, &n);
    if (!data) SKIP("%s not found (run the tests from the repository root)", path);
    uc_scratch sc;
    memset(&sc, 0, sizeof sc);
    int lines = 0, bad = 0;
    for (char *line = data; line < data + n;) {
        char *eol = memchr(line, '\n', (size_t)(data + n - line));
        if (!eol) eol = data + n;
        char *semi = memchr(line, ';', (size_t)(eol - line));
        if (line[0] != '#' && semi) {
            uint8_t src[256], want[256];
            size_t ns = parse_cps(line, semi, src, sizeof src), nw = parse_cps(semi + 1, eol, want, sizeof want);
            const uint8_t *got;
            size_t ng = 0;
            CHECK(utf8_validate(src, ns) == ns);
            if (uc_nfc(src, ns, &sc, &got, &ng) != QWQ_OK || ng != nw || memcmp(got, want, nw) != 0) {
                if (++bad <= 5) test_fail_at(__FILE__, __LINE__, "NFC of %.*s", (int)(semi - line), line);
            }
            /* NFC is idempotent, and the quick check never says yes wrongly */
            if (uc_nfc_quick(src, ns)) CHECK(ns == nw && memcmp(src, want, nw) == 0);
            lines++;
        }
        line = eol + 1;
    }
    CHECKF(lines > 3000, "only %d NFC vectors", lines);
    CHECKF(bad == 0, "%d of %d NFC vectors wrong", bad, lines);
    uc_scratch_free(&sc);
    free(data);
}

static void test_nfc_basics(void) {
    static const struct {
        const char *in, *out;
    } v[] = {
        {"e\xcc\x81", "\xc3\xa9"},                         /* e + acute -> é */
        {"\xe2\x84\xab", "\xc3\x85"},                      /* ANGSTROM SIGN -> Å (singleton) */
        {"\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81"}, /* jamo L V T -> 각 */
        {"a\xcc\xa3\xcc\x81", "\xe1\xba\xa1\xcc\x81"},     /* reorder: dot below composes first */
        {"a\xcc\x81\xcc\xa3", "\xe1\xba\xa1\xcc\x81"},
        {"\xcc\x81" "a", "\xcc\x81" "a"},                  /* leading non-starter stays */
        {"\xef\xac\x81", "\xef\xac\x81"},                  /* ﬁ: compatibility only, NFC keeps it */
        {">\xcc\xb8", "\xe2\x89\xaf"},                     /* > + U+0338 -> U+226F */
        {"\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc"},      /* U+0958 is excluded from composition */
        {"", ""},
    };
    uc_scratch sc;
    memset(&sc, 0, sizeof sc);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        const uint8_t *got;
        size_t ng = 0, nw = strlen(v[i].out);
        CHECKF(uc_nfc((const uint8_t *)v[i].in, strlen(v[i].in), &sc, &got, &ng) == QWQ_OK && ng == nw &&
                   memcmp(got, v[i].out, nw) == 0,
               "NFC case %zu", i);
    }
    /* a long run of alternating combining classes (the linear-time sort) */
    size_t n = 4001;
    uint8_t *s = malloc(2 * n + 1);
    REQUIRE(s);
    s[0] = 'x';
    for (size_t i = 0; i < 2000; i++) memcpy(s + 1 + 2 * i, (i & 1) ? "\xcc\x81" : "\xcc\xa3", 2); /* 230, 220 */
    const uint8_t *got;
    size_t ng = 0;
    CHECK(uc_nfc(s, n, &sc, &got, &ng) == QWQ_OK);
    /* x (no composite with either mark), 1000 dot-below (220), 1000 acute (230) */
    CHECK(ng == n && got[0] == 'x');
    int ordered = 1;
    for (size_t i = 0; i < 2000 && ng == n; i++)
        if (memcmp(got + 1 + 2 * i, i < 1000 ? "\xcc\xa3" : "\xcc\x81", 2) != 0) ordered = 0;
    CHECK(ordered);
    free(s);
    uc_scratch_free(&sc);
}

/* ---- random valid UTF-8 -------------------------------------------------------------------- */

static const uint32_t ranges[][2] = {
    {0x20, 0x7E},       {0x20, 0x7E},       {0x20, 0x7E},     {0xA0, 0xFF},     {0x100, 0x24F},
    {0x300, 0x36F},     {0x300, 0x36F},     {0x370, 0x3FF},   {0x400, 0x4FF},   {0x530, 0x58F},
    {0x591, 0x5F4},     {0x600, 0x6FF},     {0x900, 0x97F},   {0x980, 0x9FF},   {0xB80, 0xBFF},
    {0xE00, 0xE7F},     {0x10A0, 0x10FF},   {0x1100, 0x11FF}, {0x1200, 0x137F}, {0x1DC0, 0x1DFF},
    {0x1E00, 0x1FFF},   {0x2000, 0x206F},   {0x20D0, 0x20F0}, {0x2100, 0x218F}, {0x2460, 0x24FF},
    {0x3000, 0x30FF},   {0x4E00, 0x9FFF},   {0xAC00, 0xD7A3}, {0xFB00, 0xFB4F}, {0xFE00, 0xFE2F},
    {0xFF00, 0xFFEF},   {0x1D400, 0x1D7FF}, {0x1F300, 0x1FAFF}, {0x10000, 0x10FFFF},
};
static const uint32_t specials[] = {'\n', '\r', '\t', ' ', ' ', ' ', '\'', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x3000,
                                    0xFEFF, 0x200D, 0xFE0F, 0x0B, 0x0C, 0x1C, '0', '7', 0xB2, 0xBD, 0x17F, 0x212B, 0x2126};

static size_t random_utf8(uint64_t *rng, uint8_t *out, size_t max_cps) {
    size_t n = 1 + rng_below(rng, (uint32_t)max_cps), o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp;
        if (rng_below(rng, 4) == 0) {
            cp = specials[rng_below(rng, sizeof specials / sizeof specials[0])];
        } else {
            const uint32_t *r = ranges[rng_below(rng, sizeof ranges / sizeof ranges[0])];
            do cp = r[0] + rng_below(rng, r[1] - r[0] + 1);
            while (cp >= 0xD800 && cp < 0xE000);
        }
        if (rng_below(rng, 8) == 0 && i + 1 < n) { /* contractions and words */
            static const char *const words[] = {"'s", "'RE", "'ll", " the", "Hello", " don't", "123", "  \n"};
            const char *w = words[rng_below(rng, 8)];
            memcpy(out + o, w, strlen(w));
            o += strlen(w);
            continue;
        }
        o += utf8_encode(cp, out + o);
    }
    return o;
}

static void test_roundtrip_property(void) {
    tokenizer *t = q3();
    if (!t) return;
    uint64_t rng = 0x5eed1234abcdull;
    uint8_t buf[64 * 8];
    int bad = 0, total = 0;
    for (int iter = 0; iter < 4000; iter++) {
        size_t n = random_utf8(&rng, buf, 48);
        REQUIRE(utf8_validate(buf, n) == n);
        qwq_token *ids = NULL;
        size_t nids = 0;
        qwq_status st = encode_all(t, (const char *)buf, n, 0, &ids, &nids);
        size_t nn = 0, dl = 0;
        uint8_t *want = nfc_copy(buf, n, &nn);
        char *d = st == QWQ_OK ? decode_all(t, ids, nids, 0, &dl) : NULL;
        int ok = st == QWQ_OK && want && d && dl == nn && memcmp(d, want, nn) == 0;
        for (size_t i = 0; ok && i < nids; i++)
            if (ids[i] < 0 || ids[i] >= 151643) ok = 0;
        if (!ok && ++bad <= 5) {
            char hex[200];
            size_t o = 0;
            for (size_t i = 0; i < n && o + 4 < sizeof hex; i++) o += (size_t)snprintf(hex + o, sizeof hex - o, "%02x", buf[i]);
            test_fail_at(__FILE__, __LINE__, "round trip of %s (%s)", hex, st == QWQ_OK ? "mismatch" : err_message());
        }
        total++;
        free(ids);
        free(want);
        free(d);
    }
    CHECKF(bad == 0, "%d of %d random strings do not round-trip", bad, total);
}

/* ---- buffer protocol ---------------------------------------------------------------------- */

static void test_buffer_protocol(void) {
    tokenizer *t = q3();
    if (!t) return;
    const char *s = "Hello world, this is a test.";
    size_t need = 0;
    CHECK(tokenizer_encode(t, s, strlen(s), 0, NULL, 0, &need) == QWQ_ERR_BUFFER_TOO_SMALL);
    CHECK(need == 8);
    qwq_token out[16];
    for (int i = 0; i < 16; i++) out[i] = -77;
    size_t n = 0;
    CHECK(tokenizer_encode(t, s, strlen(s), 0, out, need - 1, &n) == QWQ_ERR_BUFFER_TOO_SMALL);
    CHECK(n == need);
    int untouched = 1;
    for (int i = 0; i < 16; i++)
        if (out[i] != -77) untouched = 0;
    CHECKF(untouched, "a too-small buffer was written to");
    CHECK(tokenizer_encode(t, s, strlen(s), 0, out, need, &n) == QWQ_OK && n == need);
    CHECK(out[0] == 9707 && out[1] == 1879 && out[need] == -77);
    /* empty input: zero tokens, with or without a buffer */
    CHECK(tokenizer_encode(t, "", 0, 0, NULL, 0, &n) == QWQ_OK && n == 0);
    CHECK(tokenizer_encode(t, NULL, 0, QWQ_TOKENIZE_SPECIAL, out, 16, &n) == QWQ_OK && n == 0);

    /* decode */
    char text[64];
    memset(text, '#', sizeof text);
    CHECK(tokenizer_decode(t, out, need, 0, NULL, 0, &n) == QWQ_ERR_BUFFER_TOO_SMALL && n == strlen(s));
    CHECK(tokenizer_decode(t, out, need, 0, text, strlen(s) - 1, &n) == QWQ_ERR_BUFFER_TOO_SMALL && n == strlen(s));
    CHECK(text[0] == '#');
    /* exactly the length: no room for the NUL, still fine */
    CHECK(tokenizer_decode(t, out, need, 0, text, strlen(s), &n) == QWQ_OK && n == strlen(s));
    CHECK(memcmp(text, s, n) == 0 && text[n] == '#');
    CHECK(tokenizer_decode(t, out, need, 0, text, sizeof text, &n) == QWQ_OK && n == strlen(s) && text[n] == 0);
    CHECK(tokenizer_decode(t, NULL, 0, 0, text, 1, &n) == QWQ_OK && n == 0 && text[0] == 0);
}

static void test_arguments(void) {
    tokenizer *t = q3();
    if (!t) return;
    qwq_token out[8];
    size_t n = 0;
    CHECK(tokenizer_encode(t, "x", 1, 0, NULL, 8, &n) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(tokenizer_encode(t, NULL, 3, 0, out, 8, &n) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(tokenizer_encode(t, "x", 1, 0, out, 8, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(tokenizer_encode(t, "x", 1, 4u, out, 8, &n) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(tokenizer_encode(NULL, "x", 1, 0, out, 8, &n) == QWQ_ERR_INVALID_ARGUMENT);
    char text[32];
    qwq_token ids[3] = {9707, 151936, 1879};
    CHECK(tokenizer_decode(t, ids, 3, 0, text, sizeof text, &n) == QWQ_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(err_message(), "token 1") != NULL, "message: %s", err_message());
    ids[1] = -5;
    CHECK(tokenizer_decode(t, ids, 3, 0, text, sizeof text, &n) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(tokenizer_decode(t, ids, 1, 2u, text, sizeof text, &n) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(tokenizer_decode(t, ids, 1, 0, NULL, 4, &n) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(tokenizer_decode(t, NULL, 2, 0, text, sizeof text, &n) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(tokenizer_n_tokens(NULL) == 0 && tokenizer_eos(NULL) == -1);
    tokenizer_free(NULL);
}

static void test_skip_special(void) {
    tokenizer *t = q3();
    if (!t) return;
    const qwq_token ids[] = {151644, 872, 198, 151645, 151667, 151657, 151659, 151643, 151700};
    size_t n = 0;
    char *d = decode_all(t, ids, 9, QWQ_DETOKENIZE_SKIP_SPECIAL, &n);
    const char *want = "user\n<think><tool_call><|fim_prefix|>";
    CHECKF(d && n == strlen(want) && memcmp(d, want, n) == 0, "got \"%s\"", d ? d : "(null)");
    free(d);
    d = decode_all(t, ids, 9, 0, &n);
    const char *want2 = "<|im_start|>user\n<|im_end|><think><tool_call><|fim_prefix|><|endoftext|>";
    CHECKF(d && n == strlen(want2) && memcmp(d, want2, n) == 0, "got \"%s\"", d ? d : "(null)");
    free(d);
}

/* ---- invalid UTF-8 --------------------------------------------------------------------------- */

static void test_invalid_utf8(void) {
    tokenizer *t = q3();
    if (!t) return;
    static const struct {
        const char *s;
        size_t len, off;
    } v[] = {
        {"ab\x80", 3, 2},                 /* lone continuation byte */
        {"\xc0\x80", 2, 0},               /* overlong NUL */
        {"x\xc1\xbf", 3, 1},              /* overlong */
        {"xy\xe0\x80\x80", 5, 2},         /* overlong 3-byte */
        {"\xed\xa0\x80", 3, 0},           /* surrogate U+D800 */
        {"abc\xf4\x90\x80\x80", 7, 3},    /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 0},       /* invalid lead byte */
        {"hello \xe2\x82", 8, 6},         /* truncated at the end */
        {"\xe2\x82x", 3, 0},              /* truncated in the middle */
        {"\xff", 1, 0},
        {"<|im_end|>\xfe", 11, 10},
        {"ok\x00\xc3", 4, 3},             /* NUL is valid, the truncated é not */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        for (uint32_t flags = 0; flags <= QWQ_TOKENIZE_SPECIAL; flags++) {
            qwq_token out[32];
            for (int k = 0; k < 32; k++) out[k] = -9;
            size_t n = 12345;
            qwq_status st = tokenizer_encode(t, v[i].s, v[i].len, flags, out, 32, &n);
            CHECKF(st == QWQ_ERR_INVALID_ARGUMENT, "case %zu: status %d", i, st);
            char want[64];
            snprintf(want, sizeof want, "offset %zu", v[i].off);
            CHECKF(strstr(err_message(), want) != NULL, "case %zu: message \"%s\" lacks \"%s\"", i, err_message(), want);
            CHECKF(out[0] == -9, "case %zu: output written on error", i);
        }
    }
    /* a NUL byte is a character like any other */
    qwq_token out[8];
    size_t n = 0;
    CHECK(tokenizer_encode(t, "a\0b", 3, 0, out, 8, &n) == QWQ_OK && n == 3);
    CHECK(utf8_validate((const uint8_t *)"\xf0\x9f\xa6\x99", 4) == 4);
    CHECK(utf8_validate((const uint8_t *)"\xf0\x9f\xa6", 3) == 0);
    CHECK(utf8_validate((const uint8_t *)"\xef\xbf\xbf\xf4\x8f\xbf\xbf", 7) == 7);
}

/* ---- streaming decoder ------------------------------------------------------------------------ */

/* Reference lossy conversion written independently of the decoder: a byte
 * sequence that is not well formed becomes U+FFFD per maximal subpart, the
 * longest prefix of some well-formed sequence (found by trying completions). */
static int is_valid_prefix(const uint8_t *p, size_t k) {
    static const uint8_t fill[] = {0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF};
    for (size_t total = k + 1; total <= 4; total++) {
        size_t free_n = total - k, combos = 1;
        for (size_t i = 0; i < free_n; i++) combos *= 6;
        for (size_t c = 0; c < combos; c++) {
            uint8_t b[4];
            memcpy(b, p, k);
            size_t x = c;
            for (size_t i = 0; i < free_n; i++) { b[k + i] = fill[x % 6]; x /= 6; }
            if (utf8_seq_len(b, total) == total) return 1;
        }
    }
    return 0;
}

static size_t ref_lossy(const uint8_t *s, size_t n, uint8_t *out) {
    size_t i = 0, o = 0;
    while (i < n) {
        size_t l = utf8_seq_len(s + i, n - i);
        if (l) {
            memcpy(out + o, s + i, l);
            o += l;
            i += l;
            continue;
        }
        size_t k = 1;
        for (size_t kk = n - i < 3 ? n - i : 3; kk >= 1; kk--)
            if (is_valid_prefix(s + i, kk)) { k = kk; break; }
        memcpy(out + o, "\xef\xbf\xbd", 3);
        o += 3;
        i += k;
    }
    return o;
}

/* Streams ids one at a time; checks every chunk is valid UTF-8 and returns the
 * concatenation (malloc'd). */
static char *stream_all(const tokenizer *t, const qwq_token *ids, size_t n, uint32_t flags, size_t *len, int *chunks_ok) {
    size_t cap = 64, o = 0;
    char *all = malloc(cap);
    tok_stream st;
    tok_stream_init(&st);
    *chunks_ok = 1;
    size_t chunk_cap = TOK_STREAM_OUT_MAX(tokenizer_max_piece_len(t));
    char *chunk = malloc(chunk_cap);
    for (size_t i = 0; i <= n && all && chunk; i++) {
        size_t w = i < n ? tok_stream_push(&st, t, ids[i], flags, chunk, chunk_cap) : tok_stream_flush(&st, chunk, chunk_cap);
        if (utf8_validate((const uint8_t *)chunk, w) != w) *chunks_ok = 0;
        while (o + w + 1 > cap) {
            cap *= 2;
            char *p = realloc(all, cap);
            if (!p) { free(all); all = NULL; break; }
            all = p;
        }
        if (all) { memcpy(all + o, chunk, w); o += w; }
    }
    free(chunk);
    *len = o;
    return all;
}

static void test_stream_example(void) {
    tokenizer *t = q3();
    if (!t) return;
    /* " 🦙" is 11162 99 247 = bytes 20 F0 9F | A6 | 99 */
    tok_stream s;
    tok_stream_init(&s);
    char out[64];
    CHECK(tok_stream_push(&s, t, 11162, 0, out, sizeof out) == 1 && out[0] == ' ');
    CHECK(tok_stream_push(&s, t, 99, 0, out, sizeof out) == 0);
    CHECK(tok_stream_push(&s, t, 247, 0, out, sizeof out) == 4 && memcmp(out, "\xf0\x9f\xa6\x99", 4) == 0);
    CHECK(tok_stream_flush(&s, out, sizeof out) == 0);
    /* an incomplete character at the end becomes U+FFFD */
    CHECK(tok_stream_push(&s, t, 11162, 0, out, sizeof out) == 1);
    CHECK(tok_stream_flush(&s, out, sizeof out) == 3 && memcmp(out, "\xef\xbf\xbd", 3) == 0);
    /* interrupted by another token: the held bytes can no longer complete */
    CHECK(tok_stream_push(&s, t, 11162, 0, out, sizeof out) == 1);
    size_t w = tok_stream_push(&s, t, 151667, 0, out, sizeof out);
    CHECK(w == 10 && memcmp(out, "\xef\xbf\xbd<think>", 10) == 0);
    /* skipped control tokens emit nothing and keep the held bytes */
    CHECK(tok_stream_push(&s, t, 11162, 0, out, sizeof out) == 1);
    CHECK(tok_stream_push(&s, t, 151645, QWQ_DETOKENIZE_SKIP_SPECIAL, out, sizeof out) == 0);
    CHECK(tok_stream_push(&s, t, 99, 0, out, sizeof out) == 0);
    CHECK(tok_stream_push(&s, t, 247, 0, out, sizeof out) == 4);
    /* a buffer below the documented bound: nothing happens */
    CHECK(tok_stream_push(&s, t, 9707, 0, out, 5) == 0);
    CHECK(tok_stream_push(&s, t, 9707, 0, out, TOK_STREAM_OUT_MAX(5)) == 5);
    CHECK(tok_stream_push(&s, t, -1, 0, out, sizeof out) == 0);
    /* raw bytes: maximal subparts */
    tok_stream_init(&s);
    w = tok_stream_push_bytes(&s, "\xe2\x82" "a\xf0\x80\x80" "b\xed\xa0\x80", 10, out, sizeof out);
    CHECK(w == 3 + 1 + 9 + 1 + 9);
    CHECK(memcmp(out, "\xef\xbf\xbd" "a" "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "b", 14) == 0);
}

static void test_stream_property(void) {
    tokenizer *t = q3();
    if (!t) return;
    uint64_t rng = 0xfeedfaceull;
    uint8_t buf[64 * 8];
    int bad = 0;
    /* 1. tokens of valid text: chunks concatenate to the whole decode */
    for (int iter = 0; iter < 1500; iter++) {
        size_t n = random_utf8(&rng, buf, 40);
        qwq_token *ids = NULL;
        size_t nids = 0, dl = 0, sl = 0;
        int chunks_ok = 0;
        if (encode_all(t, (const char *)buf, n, 0, &ids, &nids) != QWQ_OK) { bad++; free(ids); continue; }
        char *d = decode_all(t, ids, nids, 0, &dl);
        char *s = stream_all(t, ids, nids, 0, &sl, &chunks_ok);
        if (!d || !s || !chunks_ok || sl != dl || memcmp(s, d, dl) != 0) bad++;
        free(ids);
        free(d);
        free(s);
    }
    CHECKF(bad == 0, "%d streams of valid text differ from the whole decode", bad);
    /* 2. arbitrary token sequences (byte tokens split characters anywhere) */
    bad = 0;
    for (int iter = 0; iter < 1500; iter++) {
        qwq_token ids[24];
        size_t nids = 1 + rng_below(&rng, 24);
        for (size_t i = 0; i < nids; i++) {
            uint32_t r = rng_below(&rng, 4);
            if (r == 0) ids[i] = tokenizer_find(t, (const char[]){(char)(0x80 + rng_below(&rng, 128))}, 1);
            else if (r == 1) ids[i] = 151643 + (qwq_token)rng_below(&rng, 40);
            else ids[i] = (qwq_token)rng_below(&rng, 151643);
        }
        uint32_t flags = rng_below(&rng, 2) ? QWQ_DETOKENIZE_SKIP_SPECIAL : 0;
        size_t dl = 0, sl = 0;
        int chunks_ok = 0;
        char *d = decode_all(t, ids, nids, flags, &dl);
        char *s = stream_all(t, ids, nids, flags, &sl, &chunks_ok);
        uint8_t *want = d ? malloc(3 * dl + 1) : NULL;
        size_t wl = want ? ref_lossy((const uint8_t *)d, dl, want) : 0;
        if (!d || !s || !want || !chunks_ok || sl != wl || memcmp(s, want, wl) != 0) {
            if (++bad <= 3) test_fail_at(__FILE__, __LINE__, "stream iteration %d: chunks_ok %d, %zu vs %zu bytes", iter, chunks_ok, sl, wl);
        }
        free(d);
        free(s);
        free(want);
    }
    CHECKF(bad == 0, "%d arbitrary streams wrong", bad);
}

/* ---- threads: one tokenizer, concurrent callers ------------------------------------------------- */

typedef struct thread_job {
    const tokenizer *t;
    const char *text;
    size_t len;
    qwq_token *ids;
    size_t n;
    qwq_status st;
} thread_job;

static void *thread_encode(void *arg) {
    thread_job *j = arg;
    for (int r = 0; r < 5; r++) {
        free(j->ids);
        j->st = encode_all(j->t, j->text, j->len, QWQ_TOKENIZE_SPECIAL, &j->ids, &j->n);
    }
    return NULL;
}

static void test_threads(void) {
    tokenizer *t = q3();
    if (!t) return;
    uint64_t rng = 77;
    size_t cap = 200000, len = 0;
    char *text = malloc(cap);
    REQUIRE(text);
    while (len + 600 < cap) {
        len += random_utf8(&rng, (uint8_t *)text + len, 60);
        if (rng_below(&rng, 5) == 0) {
            memcpy(text + len, "<|im_start|>", 12);
            len += 12;
        }
    }
    qwq_token *ref = NULL;
    size_t nref = 0;
    REQUIRE(encode_all(t, text, len, QWQ_TOKENIZE_SPECIAL, &ref, &nref) == QWQ_OK);
    thread_job jobs[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (thread_job){t, text, len, NULL, 0, QWQ_OK};
        CHECK(pthread_create(&th[i], NULL, thread_encode, &jobs[i]) == 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].st == QWQ_OK && ids_equal(jobs[i].ids, jobs[i].n, ref, nref));
        free(jobs[i].ids);
    }
    free(ref);
    free(text);
}

/* Long inputs take another path (a per-call cache of piece results): the
 * tokens of segments joined by an added token must equal the tokens of each
 * short segment (encoded without the cache) with the added token between. */
static void test_long_input(void) {
    tokenizer *t = q3();
    if (!t) return;
    uint64_t rng = 4242;
    size_t cap = 300000, len = 0, n_expect = 0, cap_expect = 1 << 18;
    char *text = malloc(cap);
    qwq_token *expect = malloc(cap_expect * sizeof *expect);
    REQUIRE(text && expect);
    int segments = 0;
    while (len + 4000 < cap) {
        /* segments of prose-like text: repeated words, so the cache is hit */
        size_t start = len;
        for (int w = 0; w < 40; w++) {
            static const char *const words[] = {"the", " the", " house", " of", " cards", ",", " and", " we'll",
                                                " see", ".\n", " \303\234ber", " na\xc3\xafve", " 42", "  ", "\t"};
            const char *x = words[rng_below(&rng, 15)];
            memcpy(text + len, x, strlen(x));
            len += strlen(x);
        }
        len += random_utf8(&rng, (uint8_t *)text + len, 8);
        qwq_token *ids = NULL;
        size_t n = 0;
        REQUIRE(encode_all(t, text + start, len - start, 0, &ids, &n) == QWQ_OK);
        REQUIRE(n_expect + n + 1 <= cap_expect);
        memcpy(expect + n_expect, ids, n * sizeof *ids);
        n_expect += n;
        free(ids);
        memcpy(text + len, "<|im_end|>", 10);
        len += 10;
        expect[n_expect++] = 151645;
        segments++;
    }
    qwq_token *got = NULL;
    size_t ngot = 0;
    CHECK(len >= 65536 && segments > 100);
    CHECK(encode_all(t, text, len, QWQ_TOKENIZE_SPECIAL, &got, &ngot) == QWQ_OK);
    CHECKF(got && ids_equal(got, ngot, expect, n_expect), "long input: %zu tokens, want %zu", ngot, n_expect);
    free(got);
    free(expect);
    free(text);
}

/* ---- the reduced qwen2-tiny vocabulary ------------------------------------------------------------ */

static void test_qwen2_tiny(void) {
    tokenizer *t = q2();
    if (!t) return;
    CHECK(tokenizer_n_tokens(t) == 3072);
    CHECK(tokenizer_eos(t) == 3002);
    CHECK(tokenizer_bos(t) == 3000 && tokenizer_pad(t) == 3000);
    CHECK(tokenizer_find(t, "<|im_end|>", 10) == 3002);
    CHECK(tokenizer_find(t, "<think>", 7) == 3024);
    const qwq_token hello[] = {39, 301, 385};
    check_encode(t, "Hello", 5, 0, hello, 3, "qwen2-tiny Hello");
    const qwq_token chat[] = {3001, 39, 301, 385, 3002};
    check_encode(t, "<|im_start|>Hello<|im_end|>", 27, QWQ_TOKENIZE_SPECIAL, chat, 5, "qwen2-tiny chat markup");
    /* round trip on the small vocabulary too */
    uint64_t rng = 99;
    uint8_t buf[64 * 8];
    int bad = 0;
    for (int iter = 0; iter < 500; iter++) {
        size_t n = random_utf8(&rng, buf, 30), nn = 0, dl = 0, nids = 0;
        qwq_token *ids = NULL;
        uint8_t *want = nfc_copy(buf, n, &nn);
        char *d = NULL;
        if (encode_all(t, (const char *)buf, n, 0, &ids, &nids) == QWQ_OK) d = decode_all(t, ids, nids, 0, &dl);
        if (!want || !d || dl != nn || memcmp(d, want, nn) != 0) bad++;
        free(ids);
        free(want);
        free(d);
    }
    CHECKF(bad == 0, "%d of 500 strings do not round-trip on qwen2-tiny", bad);
}

/* ---- load-time validation on synthetic GGUF files ---------------------------------------------------- */

typedef struct gbuf {
    uint8_t *p;
    size_t n, cap;
    uint64_t n_kv;
} gbuf;

static void gb_raw(gbuf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t nc = (b->cap ? b->cap * 2 : 4096);
        while (nc < b->n + n) nc *= 2;
        b->p = realloc(b->p, nc);
        b->cap = nc;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void gb_u32(gbuf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    gb_raw(b, x, 4);
}
static void gb_u64(gbuf *b, uint64_t v) {
    gb_u32(b, (uint32_t)v);
    gb_u32(b, (uint32_t)(v >> 32));
}
static void gb_str(gbuf *b, const char *s, size_t n) {
    gb_u64(b, n);
    gb_raw(b, s, n);
}
static void kv_str(gbuf *b, const char *key, const char *val) {
    gb_str(b, key, strlen(key));
    gb_u32(b, GGUF_TYPE_STRING);
    gb_str(b, val, strlen(val));
    b->n_kv++;
}
static void kv_u32(gbuf *b, const char *key, uint32_t v) {
    gb_str(b, key, strlen(key));
    gb_u32(b, GGUF_TYPE_UINT32);
    gb_u32(b, v);
    b->n_kv++;
}

/* GPT-2 byte alphabet, built the way the original bytes_to_unicode does */
static void bytes_to_unicode(uint32_t map[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int self = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        map[b] = self ? (uint32_t)b : 256u + (uint32_t)n++;
    }
}

typedef struct vocab_spec {
    int drop_byte;       /* leave out the token of this byte (-1: none) */
    const char *merges[4];
    int n_merges;
    int32_t type_override_id, type_override;
    int type_count_delta;
    const char *extra_token; /* appended raw spelling, type 1 */
    int dup_token;           /* append a duplicate of "a" */
    const char *added;       /* an added token (type 3), "" allowed */
    const char *model, *pre;
    int eos;
} vocab_spec;

/* Builds a GGUF image: 256 byte tokens, "ab", "abc", the extra ones, then
 * the added token. */
static uint8_t *build_vocab(const vocab_spec *v, size_t *size) {
    uint32_t map[256];
    bytes_to_unicode(map);
    char *toks[300];
    int32_t types[300];
    int nt = 0;
    for (int b = 0; b < 256; b++) {
        if (b == v->drop_byte) continue;
        uint8_t u[4];
        size_t l = utf8_encode(map[b], u);
        toks[nt] = calloc(1, 8);
        memcpy(toks[nt], u, l);
        types[nt++] = 1;
    }
    toks[nt] = strdup("ab"), types[nt++] = 1;
    toks[nt] = strdup("abc"), types[nt++] = 1;
    if (v->extra_token) toks[nt] = strdup(v->extra_token), types[nt++] = 1;
    if (v->dup_token) toks[nt] = strdup("a"), types[nt++] = 1;
    if (v->added) toks[nt] = strdup(v->added), types[nt++] = 3;
    if (v->type_override_id >= 0 && v->type_override_id < nt) types[v->type_override_id] = v->type_override;
    gbuf b = {0};
    kv_str(&b, "tokenizer.ggml.model", v->model ? v->model : "gpt2");
    if (v->pre) kv_str(&b, "tokenizer.ggml.pre", v->pre);
    gb_str(&b, "tokenizer.ggml.tokens", strlen("tokenizer.ggml.tokens"));
    gb_u32(&b, GGUF_TYPE_ARRAY);
    gb_u32(&b, GGUF_TYPE_STRING);
    gb_u64(&b, (uint64_t)nt);
    for (int i = 0; i < nt; i++) gb_str(&b, toks[i], strlen(toks[i]));
    b.n_kv++;
    int ntypes = nt + v->type_count_delta;
    gb_str(&b, "tokenizer.ggml.token_type", strlen("tokenizer.ggml.token_type"));
    gb_u32(&b, GGUF_TYPE_ARRAY);
    gb_u32(&b, GGUF_TYPE_INT32);
    gb_u64(&b, (uint64_t)ntypes);
    for (int i = 0; i < ntypes; i++) gb_u32(&b, (uint32_t)(i < nt ? types[i] : 1));
    b.n_kv++;
    gb_str(&b, "tokenizer.ggml.merges", strlen("tokenizer.ggml.merges"));
    gb_u32(&b, GGUF_TYPE_ARRAY);
    gb_u32(&b, GGUF_TYPE_STRING);
    gb_u64(&b, (uint64_t)v->n_merges);
    for (int i = 0; i < v->n_merges; i++) gb_str(&b, v->merges[i], strlen(v->merges[i]));
    b.n_kv++;
    if (v->eos) kv_u32(&b, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    for (int i = 0; i < nt; i++) free(toks[i]);
    /* header in front, padding to the alignment behind */
    gbuf h = {0};
    gb_raw(&h, "GGUF", 4);
    gb_u32(&h, 3);
    gb_u64(&h, 0);
    gb_u64(&h, b.n_kv);
    gb_raw(&h, b.p, b.n);
    while (h.n % 32) gb_raw(&h, "", 1);
    free(b.p);
    *size = h.n;
    return h.p;
}

static qwq_status load_spec(const vocab_spec *v, tokenizer **t, gguf_file **f, uint8_t **img) {
    size_t size = 0;
    *img = build_vocab(v, &size);
    *t = NULL;
    *f = NULL;
    qwq_status st = gguf_parse(*img, size, f);
    if (st != QWQ_OK) {
        test_fail_at(__FILE__, __LINE__, "synthetic GGUF does not parse: %s", err_message());
        return st;
    }
    return tokenizer_load(*f, t);
}

static vocab_spec good_spec(void) {
    vocab_spec v;
    memset(&v, 0, sizeof v);
    v.drop_byte = -1;
    v.merges[0] = "a b";
    v.merges[1] = "ab c";
    v.n_merges = 2;
    v.type_override_id = -1;
    v.added = "<x>";
    v.eos = 258; /* the added token: 256 bytes, ab, abc, <x> */
    return v;
}

static void expect_load(vocab_spec v, qwq_status want, const char *msg_part, const char *what) {
    tokenizer *t;
    gguf_file *f;
    uint8_t *img;
    qwq_status st = load_spec(&v, &t, &f, &img);
    CHECKF(st == want, "%s: status %d, want %d (%s)", what, st, want, err_message());
    if (st != QWQ_OK && msg_part)
        CHECKF(strstr(err_message(), msg_part) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err_message(), msg_part);
    if (st != QWQ_OK) CHECK(t == NULL);
    tokenizer_free(t);
    gguf_close(f);
    free(img);
}

static void test_load_validation(void) {
    /* the well-formed synthetic vocabulary works end to end */
    vocab_spec v = good_spec();
    tokenizer *t;
    gguf_file *f;
    uint8_t *img;
    REQUIRE(load_spec(&v, &t, &f, &img) == QWQ_OK);
    CHECK(tokenizer_n_tokens(t) == 259);
    qwq_token out[8];
    size_t n = 0;
    CHECK(tokenizer_encode(t, "abc", 3, 0, out, 8, &n) == QWQ_OK && n == 1 && out[0] == 257);
    CHECK(tokenizer_encode(t, "ab<x>", 5, QWQ_TOKENIZE_SPECIAL, out, 8, &n) == QWQ_OK && n == 2 && out[0] == 256 &&
          out[1] == 258);
    CHECK(tokenizer_encode(t, "ab<x>", 5, 0, out, 8, &n) == QWQ_OK && n == 4);
    CHECK(tokenizer_eos(t) == 258 && tokenizer_bos(t) == -1 && tokenizer_pad(t) == -1);
    CHECK(tokenizer_find(t, "<x>", 3) == 258 && tokenizer_is_special_skippable(t, 258));
    tokenizer_free(t);
    gguf_close(f);
    free(img);

    v = good_spec();
    v.eos = 259;
    expect_load(v, QWQ_ERR_FORMAT, "eos_token_id", "eos out of range");

    v = good_spec();
    v.merges[1] = "ab q";
    v.merges[2] = "ab d";
    v.n_merges = 3;
    expect_load(v, QWQ_ERR_FORMAT, "merges[1]", "merge result not in vocabulary");
    v = good_spec();
    v.merges[0] = "a xyz";
    expect_load(v, QWQ_ERR_FORMAT, "merges[0]", "merge of a missing token");
    v = good_spec();
    v.merges[1] = "abc";
    expect_load(v, QWQ_ERR_FORMAT, "merges[1]", "merge without a space");
    v = good_spec();
    v.merges[1] = "a b c";
    expect_load(v, QWQ_ERR_FORMAT, "merges[1]", "merge with two spaces");
    v = good_spec();
    v.type_override_id = 10;
    v.type_override = 9;
    expect_load(v, QWQ_ERR_FORMAT, "token_type[10]", "token type 9");
    v = good_spec();
    v.type_count_delta = -1;
    expect_load(v, QWQ_ERR_FORMAT, "token_type", "token_type too short");
    v = good_spec();
    v.drop_byte = 0;
    v.eos = 0;
    expect_load(v, QWQ_ERR_FORMAT, "0x00", "missing byte token");
    v = good_spec();
    v.extra_token = "a b"; /* a literal space is not in the byte alphabet */
    v.eos = 0;
    expect_load(v, QWQ_ERR_FORMAT, "tokens[258]", "byte-level token outside the alphabet");
    v = good_spec();
    v.dup_token = 1;
    v.eos = 0;
    expect_load(v, QWQ_ERR_FORMAT, "duplicates", "duplicate token");
    v = good_spec();
    v.added = "";
    v.eos = 0;
    expect_load(v, QWQ_ERR_FORMAT, "tokens[258]", "empty added token");
    v = good_spec();
    v.model = "llama";
    expect_load(v, QWQ_ERR_UNSUPPORTED, "llama", "SentencePiece model");
    v = good_spec();
    v.pre = "llama-bpe";
    expect_load(v, QWQ_ERR_UNSUPPORTED, "llama-bpe", "another pre-tokenizer");
    v = good_spec();
    v.pre = "qwen2";
    expect_load(v, QWQ_OK, NULL, "qwen2 pre-tokenizer");
}

int main(void) {
    RUN(test_nfc_basics);
    RUN(test_nfc_vectors);
    RUN(test_qwen3_vocab_facts);
    RUN(test_hf_qwen2_cases);
    RUN(test_special_cases);
    RUN(test_edge_cases);
    RUN(test_roundtrip_property);
    RUN(test_buffer_protocol);
    RUN(test_arguments);
    RUN(test_skip_special);
    RUN(test_invalid_utf8);
    RUN(test_stream_example);
    RUN(test_stream_property);
    RUN(test_threads);
    RUN(test_long_input);
    RUN(test_qwen2_tiny);
    RUN(test_load_validation);
    tokenizer_free(g_q3.tok);
    gguf_close(g_q3.file);
    tokenizer_free(g_q2.tok);
    gguf_close(g_q2.file);
    return test_summary();
}
