/*
 * qwq-bench-tokenizer - tokenizer throughput and vocabulary load time.
 *
 *   qwq-bench-tokenizer [--model FILE.gguf] [--text FILE]... [--mb N] [--runs N]
 *                       [--special] [--json]
 *
 * Loads the vocabulary of the model (default: the qwen3-tiny test model,
 * which has the full 152K-token Qwen3 vocabulary) and reports the time of
 * tokenizer_load (median and range over --runs loads). Then it builds about
 * --mb megabytes (default 4) of English prose and encodes it on one thread,
 * --runs times (default 7, at least 5), reporting MB/s as the median and the
 * min-max range, plus tokens per second and the decode speed. The text is
 * encoded twice per run: in one call (long inputs use a per-call cache of
 * piece results, which repetitive text favours) and in calls of about 2 KiB,
 * the size of a chat turn, which are below the cache threshold and so measure
 * the plain pipeline.
 *
 * The prose is the text files given with --text (e.g. the licences in
 * /usr/share/common-licenses), repeated up to the size; without --text, the
 * English cases of the tokenizer references (special.bin, flag bit 1) when
 * there are any, else sentences drawn from a small built-in set of English
 * prose with a fixed seed. Each run encodes the whole text in one call
 * (flags 0, or QWQ_TOKENIZE_SPECIAL with --special).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/util.h"

static const char *const sentences[] = {
    "The committee met on a grey Tuesday morning to discuss the budget for the coming year.",
    "Nobody expected the meeting to last more than an hour, but by noon they were still arguing.",
    "She had written the report herself, checking every figure twice before she sent it out.",
    "In the end, the river rose faster than anyone in the village had thought possible.",
    "He walked along the harbour wall, counting the boats that had not yet come back.",
    "It is not enough to be right; one must also be understood, and that takes patience.",
    "The library stayed open late during the examinations, and the students were grateful for it.",
    "When the train finally arrived, it was nearly empty, and the conductor looked exhausted.",
    "Most of the old houses on the hill were built of stone quarried a few miles to the north.",
    "Her grandmother kept a garden full of roses, beans, potatoes and a stubborn apple tree.",
    "The results were encouraging, although the sample was small and the method still untested.",
    "If you follow the path past the church, you will reach the bridge in about ten minutes.",
    "They argued about politics, music and football, and agreed on almost nothing at all.",
    "A good teacher does not give answers; a good teacher shows how the answers are found.",
    "The storm knocked out the power for two days, so we read by candlelight and told stories.",
    "By the time the letter reached him, the offer had expired and the position had been filled.",
    "Scientists have long suspected that the climate of the region was once much wetter.",
    "\"I don't think we've met,\" she said, holding out her hand with a polite smile.",
    "The company's profits rose by 12 percent in 2023, driven mainly by sales overseas.",
    "We'll need at least three volunteers, a long table and plenty of coffee for Saturday.",
    "Despite the rain, hundreds of people gathered in the square to hear the announcement.",
    "His first novel was rejected by eleven publishers before it finally found a home.",
    "The museum's new wing, which opened last spring, houses a collection of early maps.",
    "You can't always choose what happens to you, but you can choose how you respond to it.",
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct stats {
    double med, min, max;
} stats;

static stats summarize(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    stats s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
    return s;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n == cap) {
            char *p = realloc(buf, cap * 2);
            if (!p) { free(buf); buf = NULL; break; }
            buf = p;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    *len = n;
    return buf;
}

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* English cases (flag bit 1) of special.bin, joined by newlines; NULL when none */
static char *english_from_special(const char *path, size_t *len) {
    size_t n = 0;
    unsigned char *b = (unsigned char *)read_file(path, &n);
    if (!b || n < 12 || memcmp(b, "QWQTOKC1", 8) != 0) { free(b); return NULL; }
    char *out = malloc(n + 1);
    size_t o = 0, p = 12;
    uint32_t cases = rd32(b + 8);
    for (uint32_t c = 0; c < cases && out; c++) {
        if (p + 4 > n) break;
        uint32_t flags = rd32(b + p);
        p += 4;
        const unsigned char *text = NULL;
        uint32_t tl = 0;
        for (int k = 0; k < 3; k++) {
            if (p + 4 > n) goto done;
            uint32_t l = rd32(b + p);
            if (l > n - p - 4) goto done;
            if (k == 1) { text = b + p + 4; tl = l; }
            p += 4 + (size_t)l;
        }
        if (p + 4 > n) break;
        uint32_t ni = rd32(b + p);
        if ((uint64_t)ni * 4 > n - p - 4) break;
        p += 4 + 4 * (size_t)ni;
        if ((flags & 2) && text) {
            memcpy(out + o, text, tl);
            o += tl;
            out[o++] = '\n';
        }
    }
done:
    free(b);
    if (!out || o == 0) { free(out); return NULL; }
    *len = o;
    return out;
}

static void usage(void) {
    fprintf(stderr, "usage: qwq-bench-tokenizer [--model FILE.gguf] [--text FILE]... [--mb N] [--runs N] "
                    "[--special] [--json]\n");
}

int main(int argc, char **argv) {
    const char *model = "../shared/testdata/models/qwen3-tiny-f16.gguf";
    const char *texts[64];
    int n_texts = 0, runs = 7, json = 0;
    uint32_t flags = 0;
    double mb = 4.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--text") && i + 1 < argc && n_texts < 64) texts[n_texts++] = argv[++i];
        else if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--special")) flags = QWQ_TOKENIZE_SPECIAL;
        else if (!strcmp(argv[i], "--json")) json = 1;
        else { usage(); return 2; }
    }
    if (runs < 5) runs = 5;
    if (runs > 101) runs = 101;
    if (!(mb > 0.01 && mb < 1024)) mb = 4.0;

    gguf_file *f;
    if (gguf_open(model, &f) != QWQ_OK) {
        fprintf(stderr, "qwq-bench-tokenizer: %s\n", err_message());
        return 1;
    }
    double load_ms[101];
    tokenizer *t = NULL;
    for (int r = 0; r < runs; r++) {
        double t0 = time_now();
        if (tokenizer_load(f, &t) != QWQ_OK) {
            fprintf(stderr, "qwq-bench-tokenizer: %s: %s\n", model, err_message());
            return 1;
        }
        load_ms[r] = (time_now() - t0) * 1e3;
        if (r + 1 < runs) tokenizer_free(t);
    }
    stats load = summarize(load_ms, runs);

    /* the corpus */
    size_t src_len = 0;
    char *src = NULL;
    const char *source = "built-in English sentences";
    if (n_texts) {
        size_t cap = 0;
        for (int i = 0; i < n_texts; i++) {
            size_t l = 0;
            char *d = read_file(texts[i], &l);
            if (!d) {
                fprintf(stderr, "qwq-bench-tokenizer: cannot read %s\n", texts[i]);
                return 1;
            }
            char *p = realloc(src, cap + l + 1);
            if (!p) return 1;
            src = p;
            memcpy(src + cap, d, l);
            cap += l;
            src[cap++] = '\n';
            free(d);
        }
        src_len = cap;
        source = "--text files";
    } else {
        src = english_from_special("../shared/testdata/tokenizer/special.bin", &src_len);
        if (src) source = "English cases of special.bin";
    }
    size_t target = (size_t)(mb * 1e6), n = 0;
    char *text = malloc(target + 4096);
    if (!text) return 1;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    while (n < target) {
        if (src) {
            size_t l = src_len < target - n ? src_len : target - n;
            memcpy(text + n, src, l);
            n += l;
        } else {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            const char *s = sentences[rng % (sizeof sentences / sizeof sentences[0])];
            size_t l = strlen(s);
            memcpy(text + n, s, l);
            n += l;
            text[n++] = (rng >> 40) % 6 == 0 ? '\n' : ' ';
        }
    }
    /* whole characters only */
    while (n > 0 && ((unsigned char)text[n - 1] & 0xC0) == 0x80) n--;
    if (n > 0 && (unsigned char)text[n - 1] >= 0xC0) n--;

    size_t n_tok = 0;
    tokenizer_encode(t, text, n, flags, NULL, 0, &n_tok);
    qwq_token *ids = malloc((n_tok + 1) * sizeof *ids);
    if (!ids) return 1;
    double enc[101], dec[101], enc2k[101];
    size_t chunk_ids_cap = 4096;
    qwq_token *chunk_ids = malloc(chunk_ids_cap * sizeof *chunk_ids);
    if (!chunk_ids) return 1;
    char *back = malloc(n + 1);
    if (!back) return 1;
    for (int r = 0; r < runs; r++) {
        size_t got = 0;
        double t0 = time_now();
        qwq_status st = tokenizer_encode(t, text, n, flags, ids, n_tok, &got);
        double t1 = time_now();
        if (st != QWQ_OK || got != n_tok) {
            fprintf(stderr, "qwq-bench-tokenizer: encode failed: %s\n", err_message());
            return 1;
        }
        enc[r] = (double)n / 1e6 / (t1 - t0);
        t0 = time_now();
        for (size_t off = 0; off < n;) {
            size_t end = off + 2048 < n ? off + 2048 : n;
            while (end < n && ((unsigned char)text[end] & 0xC0) == 0x80) end++; /* whole characters */
            size_t cn = 0;
            st = tokenizer_encode(t, text + off, end - off, flags, chunk_ids, chunk_ids_cap, &cn);
            if (st != QWQ_OK) {
                fprintf(stderr, "qwq-bench-tokenizer: encode failed: %s\n", err_message());
                return 1;
            }
            off = end;
        }
        t1 = time_now();
        enc2k[r] = (double)n / 1e6 / (t1 - t0);
        size_t bl = 0;
        t0 = time_now();
        st = tokenizer_decode(t, ids, n_tok, 0, back, n + 1, &bl);
        t1 = time_now();
        if (st != QWQ_OK) {
            fprintf(stderr, "qwq-bench-tokenizer: decode failed: %s\n", err_message());
            return 1;
        }
        dec[r] = (double)bl / 1e6 / (t1 - t0);
    }
    stats e = summarize(enc, runs), d = summarize(dec, runs), e2 = summarize(enc2k, runs);
    double tok_per_s = e.med * 1e6 / ((double)n / (double)n_tok);
    if (json) {
        printf("{\"bench\":\"tokenizer\",\"model\":\"%s\",\"n_vocab\":%d,\"source\":\"%s\",\"bytes\":%zu,"
               "\"tokens\":%zu,\"runs\":%d,\"threads\":1,\"special\":%s,"
               "\"load_ms\":{\"median\":%.2f,\"min\":%.2f,\"max\":%.2f},"
               "\"encode_mb_s\":{\"median\":%.2f,\"min\":%.2f,\"max\":%.2f},\"encode_tokens_s\":%.0f,"
               "\"encode_2k_calls_mb_s\":{\"median\":%.2f,\"min\":%.2f,\"max\":%.2f},"
               "\"decode_mb_s\":{\"median\":%.1f,\"min\":%.1f,\"max\":%.1f}}\n",
               model, tokenizer_n_tokens(t), source, n, n_tok, runs, flags ? "true" : "false", load.med, load.min,
               load.max, e.med, e.min, e.max, tok_per_s, e2.med, e2.min, e2.max, d.med, d.min, d.max);
    } else {
        printf("model        %s (%d tokens)\n", model, tokenizer_n_tokens(t));
        printf("load         %.1f ms median (%.1f - %.1f) over %d loads\n", load.med, load.min, load.max, runs);
        printf("text         %zu bytes, %zu tokens (%.2f bytes/token), from %s\n", n, n_tok,
               (double)n / (double)(n_tok ? n_tok : 1), source);
        printf("encode       %.1f MB/s median (%.1f - %.1f), %.2f M tokens/s, 1 thread, %d runs\n", e.med, e.min,
               e.max, tok_per_s / 1e6, runs);
        printf("encode 2KiB  %.1f MB/s median (%.1f - %.1f) in calls of 2 KiB (no piece cache)\n", e2.med, e2.min,
               e2.max);
        printf("decode       %.0f MB/s median (%.0f - %.0f)\n", d.med, d.min, d.max);
    }
    free(chunk_ids);
    free(back);
    free(ids);
    free(text);
    free(src);
    tokenizer_free(t);
    gguf_close(f);
    return 0;
}
