/*
 * Logits against llama.cpp's (../shared/testdata/models/reference): every
 * case (a) as one batch and (b) as a prefix batch then single tokens, with
 * the tolerance the reference states. Also: identical logits whatever the
 * thread count and the batch chunking.
 */
#include <math.h>
#include <stdint.h>

#include "harness.h"
#include "qwq.h"

typedef struct ref_case {
    char name[64], model[64], logits[64];
    int n_vocab, n_tokens, n_positions, split;
    double cos_min, diff_over_std;
    int *tokens, *positions;
} ref_case;

static ref_case cases[32];
static int n_cases;

static int read_manifest(void) {
    char path[512];
    if (!testdata_path(path, sizeof path, "models/reference/reference.manifest")) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char word[32];
    while (fscanf(f, "%31s", word) == 1) {
        if (word[0] == '#') {
            int c;
            while ((c = fgetc(f)) != '\n' && c != EOF) {}
        } else if (strcmp(word, "model") == 0) {
            char a[128], b[128];
            if (fscanf(f, "%127s %127s", a, b) != 2) break;
        } else if (strcmp(word, "case") == 0 && n_cases < 32) {
            ref_case *c = &cases[n_cases++];
            if (fscanf(f, "%63s %63s %d %d %d %d %lf %lf %63s", c->name, c->model, &c->n_vocab, &c->n_tokens,
                       &c->n_positions, &c->split, &c->cos_min, &c->diff_over_std, c->logits) != 9)
                break;
            c->tokens = calloc((size_t)c->n_tokens, sizeof(int));
            c->positions = calloc((size_t)c->n_positions, sizeof(int));
        } else if (strcmp(word, "tokens") == 0 && n_cases) {
            ref_case *c = &cases[n_cases - 1];
            for (int i = 0; i < c->n_tokens; i++)
                if (fscanf(f, "%d", &c->tokens[i]) != 1) break;
        } else if (strcmp(word, "positions") == 0 && n_cases) {
            ref_case *c = &cases[n_cases - 1];
            for (int i = 0; i < c->n_positions; i++)
                if (fscanf(f, "%d", &c->positions[i]) != 1) break;
        }
    }
    fclose(f);
    return n_cases;
}

typedef struct row_error {
    double cos, diff_over_std;
} row_error;

static row_error compare_row(const float *ref, const float *got, int n) {
    double mean = 0, dot = 0, nr = 0, ng = 0, maxd = 0;
    for (int i = 0; i < n; i++) mean += ref[i];
    mean /= n;
    double var = 0;
    for (int i = 0; i < n; i++) {
        var += (ref[i] - mean) * (ref[i] - mean);
        dot += (double)ref[i] * got[i];
        nr += (double)ref[i] * ref[i];
        ng += (double)got[i] * got[i];
        double d = fabs((double)ref[i] - got[i]);
        if (!(d <= maxd)) maxd = d; /* NaN propagates as a failure */
    }
    row_error e = {dot / sqrt(nr * ng), maxd / sqrt(var / n)};
    if (!isfinite(e.cos)) e.cos = -1;
    return e;
}

static qwq_model *load_case_model(const ref_case *c) {
    char rel[256], path[512];
    snprintf(rel, sizeof rel, "models/%s", c->model);
    if (!testdata_path(path, sizeof path, rel)) return NULL;
    qwq_model *m = NULL;
    qwq_status st = qwq_load(path, NULL, &m);
    CHECKF(st == QWQ_OK, "load %s: %s", path, qwq_last_error());
    return m;
}

static float *load_ref_logits(const ref_case *c) {
    char rel[256], path[512];
    snprintf(rel, sizeof rel, "models/reference/%s", c->logits);
    if (!testdata_path(path, sizeof path, rel)) return NULL;
    size_t len = 0;
    float *ref = (float *)test_read_file(path, &len);
    CHECKF(ref && len == (size_t)c->n_positions * c->n_vocab * sizeof(float), "%s: %zu bytes", path, len);
    return ref;
}

static double worst_cos = 1, worst_diff = 0;

static void run_case(const ref_case *c, int n_threads) {
    qwq_model *m = load_case_model(c);
    if (!m) return;
    float *ref = load_ref_logits(c);
    if (!ref) { qwq_model_free(m); return; }
    CHECK(qwq_model_n_vocab(m) == c->n_vocab);
    qwq_session_params sp;
    qwq_session_params_init(&sp);
    sp.n_threads = n_threads;
    sp.n_ctx = 1024;
    for (int mode = 0; mode < 2; mode++) {
        qwq_session *s = NULL;
        REQUIRE(qwq_session_new(m, &sp, &s) == QWQ_OK);
        int k = 0; /* next stored position */
        float *copy = calloc((size_t)c->n_positions * c->n_vocab, sizeof(float));
        if (mode == 0) {
            qwq_status st = qwq_session_eval(s, (const qwq_token *)c->tokens, (size_t)c->n_tokens, QWQ_EVAL_ALL_LOGITS);
            CHECKF(st == QWQ_OK, "%s: eval: %s", c->name, qwq_last_error());
            for (k = 0; k < c->n_positions; k++) {
                const float *row = qwq_session_logits(s, c->positions[k]);
                CHECKF(row != NULL, "%s: logits(%d): %s", c->name, c->positions[k], qwq_last_error());
                if (row) memcpy(copy + (size_t)k * c->n_vocab, row, (size_t)c->n_vocab * sizeof(float));
            }
        } else {
            qwq_status st = qwq_session_eval(s, (const qwq_token *)c->tokens, (size_t)c->split, QWQ_EVAL_ALL_LOGITS);
            CHECKF(st == QWQ_OK, "%s: eval prefix: %s", c->name, qwq_last_error());
            for (k = 0; k < c->n_positions && c->positions[k] < c->split; k++) {
                const float *row = qwq_session_logits(s, c->positions[k]);
                if (row) memcpy(copy + (size_t)k * c->n_vocab, row, (size_t)c->n_vocab * sizeof(float));
            }
            for (int t = c->split; t < c->n_tokens; t++) {
                st = qwq_session_eval(s, (const qwq_token *)&c->tokens[t], 1, 0);
                CHECKF(st == QWQ_OK, "%s: eval token %d: %s", c->name, t, qwq_last_error());
                if (k < c->n_positions && c->positions[k] == t) {
                    const float *row = qwq_session_logits(s, -1);
                    if (row) memcpy(copy + (size_t)k * c->n_vocab, row, (size_t)c->n_vocab * sizeof(float));
                    k++;
                }
            }
            CHECK(qwq_session_n_past(s) == c->n_tokens);
        }
        for (k = 0; k < c->n_positions; k++) {
            row_error e = compare_row(ref + (size_t)k * c->n_vocab, copy + (size_t)k * c->n_vocab, c->n_vocab);
            if (e.cos < worst_cos) worst_cos = e.cos;
            if (e.diff_over_std > worst_diff) worst_diff = e.diff_over_std;
            CHECKF(e.cos >= c->cos_min && e.diff_over_std <= c->diff_over_std,
                   "%s (%s, %d threads) position %d: cosine %.8f (min %.6f), max|diff|/std %.5f (max %.3f)", c->name,
                   mode ? "incremental" : "one batch", n_threads, c->positions[k], e.cos, c->cos_min,
                   e.diff_over_std, c->diff_over_std);
            if (getenv("TEST_VERBOSE"))
                fprintf(stderr, "  %s %s pos %d: cos %.9f diff/std %.5f\n", c->name, mode ? "incr" : "batch",
                        c->positions[k], e.cos, e.diff_over_std);
        }
        free(copy);
        qwq_session_free(s);
    }
    free(ref);
    qwq_model_free(m);
}

static void test_reference_cases(void) {
    if (!read_manifest()) return;
    CHECKF(n_cases == 13, "manifest has %d cases", n_cases);
    for (int i = 0; i < n_cases; i++) run_case(&cases[i], 2);
    fprintf(stderr, "reference: %d cases, worst cosine %.8f, worst max|diff|/std %.5f\n", n_cases, worst_cos,
            worst_diff);
}

/* Bit-identical logits for 1, 2 and 3 threads, with the batch split into
 * chunks of 7 tokens, and token by token (the decode path, whose threads
 * each take a contiguous run of row chunks and steal from the others', and
 * whose attention runs by segments from 257 positions on: 300 tokens make
 * two). */
static void test_thread_and_chunk_invariance(void) {
    char path[512];
    if (!testdata_path(path, sizeof path, "models/qwen2-tiny-q8_0.gguf")) return;
    qwq_model *m = NULL;
    REQUIRE(qwq_load(path, NULL, &m) == QWQ_OK);
    enum { N = 300 };
    qwq_token toks[N];
    for (int i = 0; i < N; i++) toks[i] = (qwq_token)((i * 977 + 13) % 3000);
    float *first = NULL;
    int configs[][2] = {{1, 0}, {2, 0}, {3, 0}, {2, 7}, {1, 1}, {2, 1}, {3, 1}, {3, 2}};
    for (size_t c = 0; c < sizeof configs / sizeof *configs; c++) {
        qwq_session_params sp;
        qwq_session_params_init(&sp);
        sp.n_threads = configs[c][0];
        sp.n_batch = configs[c][1];
        qwq_session *s = NULL;
        REQUIRE(qwq_session_new(m, &sp, &s) == QWQ_OK);
        REQUIRE(qwq_session_eval(s, toks, N, 0) == QWQ_OK);
        const float *l = qwq_session_logits(s, -1);
        REQUIRE(l != NULL);
        size_t bytes = (size_t)qwq_model_n_vocab(m) * sizeof(float);
        if (!first) {
            first = malloc(bytes);
            memcpy(first, l, bytes);
        } else {
            CHECKF(memcmp(first, l, bytes) == 0, "logits differ with %d threads, n_batch %d", configs[c][0],
                   configs[c][1]);
        }
        qwq_session_free(s);
    }
    free(first);
    qwq_model_free(m);
}

int main(void) {
    RUN(test_reference_cases);
    RUN(test_thread_and_chunk_invariance);
    return test_summary();
}
