/*
 * The public API as a caller sees it: NULL handles and bad arguments, the
 * buffer protocol, "a failed call changes nothing", truncate and fork giving
 * exactly what a fresh session gives, several sessions on one model from
 * several threads, evaluation on a thread with the documented 256 KiB of
 * stack, and the exported symbols of libqwq.so.
 */
#include <pthread.h>
#include <stdint.h>

#include "harness.h"
#include "qwq.h"

static qwq_model *model; /* qwen3-tiny: the full Qwen3 vocabulary */

static int need_model(void) {
    if (model) return 1;
    char path[512];
    if (!testdata_path(path, sizeof path, "models/qwen3-tiny-f16.gguf")) return 0;
    qwq_status st = qwq_load(path, NULL, &model);
    CHECKF(st == QWQ_OK, "load: %s", qwq_last_error());
    return model != NULL;
}

static void test_status_and_version(void) {
    CHECK(strcmp(qwq_status_name(QWQ_OK), "QWQ_OK") == 0);
    CHECK(strcmp(qwq_status_name(QWQ_ERR_CONTEXT_FULL), "QWQ_ERR_CONTEXT_FULL") == 0);
    CHECK(strcmp(qwq_status_name(QWQ_ERR_INTERNAL), "QWQ_ERR_INTERNAL") == 0);
    CHECK(strcmp(qwq_status_name((qwq_status)42), "QWQ_ERR_UNKNOWN") == 0);
    CHECK(strcmp(qwq_version(), QWQ_VERSION_STRING) == 0);
    CHECK(qwq_version_number() == QWQ_VERSION_NUMBER);
}

static void test_null_handles(void) {
    qwq_model *m = (qwq_model *)1;
    CHECK(qwq_load(NULL, NULL, &m) == QWQ_ERR_INVALID_ARGUMENT && m == NULL);
    CHECK(qwq_last_error()[0] != 0);
    CHECK(qwq_load("x", NULL, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    qwq_model_free(NULL);
    qwq_session_free(NULL);
    CHECK(qwq_model_n_vocab(NULL) == 0);
    CHECK(qwq_model_eos(NULL) == -1);
    CHECK(qwq_model_architecture(NULL) == NULL);
    size_t n = 7;
    qwq_token t[4];
    char buf[8];
    CHECK(qwq_tokenize(NULL, "a", 1, 0, t, 4, &n) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(qwq_detokenize(NULL, t, 0, 0, buf, 8, &n) == QWQ_ERR_INVALID_ARGUMENT);
    qwq_session *s = (qwq_session *)1;
    CHECK(qwq_session_new(NULL, NULL, &s) == QWQ_ERR_INVALID_ARGUMENT && s == NULL);
    CHECK(qwq_session_eval(NULL, t, 1, 0) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(qwq_session_logits(NULL, -1) == NULL);
    CHECK(qwq_session_n_past(NULL) == 0);
    CHECK(qwq_session_truncate(NULL, 0) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(qwq_session_fork(NULL, &s) == QWQ_ERR_INVALID_ARGUMENT && s == NULL);
    CHECK(qwq_generate(NULL, NULL, 0, NULL, NULL, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(qwq_chat_render(NULL, "{}", buf, 8, &n) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(qwq_chat(NULL, "{}", NULL, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    qwq_load_params lp;
    qwq_load_params_init(&lp);
    lp.struct_size = 0;
    CHECK(qwq_load("x", &lp, &m) == QWQ_ERR_INVALID_ARGUMENT);
    qwq_load_params_init(&lp);
    lp.flags = 0x80;
    CHECK(qwq_load("x", &lp, &m) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(qwq_last_error(), "flags") != NULL);
}

static void test_metadata(void) {
    if (!need_model()) return;
    CHECK(strcmp(qwq_model_architecture(model), "qwen3") == 0);
    CHECK(strcmp(qwq_model_name(model), "qwen3-tiny") == 0);
    CHECK(qwq_model_n_vocab(model) == 151936);
    CHECK(qwq_model_n_ctx_train(model) == 40960);
    CHECK(qwq_model_eos(model) == 151645);
    CHECK(qwq_model_bos(model) == 151643);
    CHECK(qwq_model_pad(model) == 151643);
    CHECK(qwq_model_n_layer(model) == 2 && qwq_model_n_embd(model) == 64);
    CHECK(qwq_model_n_head(model) == 4 && qwq_model_n_head_kv(model) == 2 && qwq_model_head_dim(model) == 32);
    CHECK(qwq_model_n_ff(model) == 160);
    CHECK(qwq_model_n_params(model) > 151936ull * 64);
    const char *tmpl = qwq_model_chat_template(model);
    CHECK(tmpl != NULL && strstr(tmpl, "<|im_start|>") != NULL);
    qwq_token id = -1;
    CHECK(qwq_model_token_id(model, "<think>", 7, &id) == QWQ_OK && id == 151667);
    CHECK(qwq_model_token_id(model, "<nope>", 6, &id) == QWQ_ERR_INVALID_ARGUMENT);
    /* metadata as text, through the buffer protocol */
    size_t n = 0;
    char buf[64];
    memset(buf, 'x', sizeof buf);
    CHECK(qwq_model_meta(model, "qwen3.block_count", NULL, 0, &n) == QWQ_ERR_BUFFER_TOO_SMALL && n == 1);
    CHECK(qwq_model_meta(model, "qwen3.block_count", buf, 1, &n) == QWQ_OK && n == 1 && buf[0] == '2' &&
          buf[1] == 'x'); /* exact fit: no room for the NUL, none written */
    CHECK(qwq_model_meta(model, "qwen3.rope.freq_base", buf, sizeof buf, &n) == QWQ_OK && strcmp(buf, "1000000") == 0);
    CHECK(qwq_model_meta(model, "general.architecture", buf, sizeof buf, &n) == QWQ_OK && strcmp(buf, "qwen3") == 0);
    CHECK(qwq_model_meta(model, "tokenizer.ggml.add_bos_token", buf, sizeof buf, &n) == QWQ_OK &&
          strcmp(buf, "false") == 0);
    CHECK(qwq_model_meta(model, "tokenizer.ggml.merges", NULL, 0, &n) == QWQ_ERR_BUFFER_TOO_SMALL && n > 1000000);
    CHECK(qwq_model_meta(model, "no.such.key", buf, sizeof buf, &n) == QWQ_ERR_INVALID_ARGUMENT);
}

static void test_tokenize_buffer_protocol(void) {
    if (!need_model()) return;
    const char *text = "Hello world, this is libqwq.";
    size_t need = 0;
    CHECK(qwq_tokenize(model, text, strlen(text), 0, NULL, 0, &need) == QWQ_ERR_BUFFER_TOO_SMALL);
    REQUIRE(need > 2 && need < 64);
    qwq_token ids[64];
    for (int i = 0; i < 64; i++) ids[i] = -7;
    size_t n = 0;
    CHECK(qwq_tokenize(model, text, strlen(text), 0, ids, need - 1, &n) == QWQ_ERR_BUFFER_TOO_SMALL && n == need);
    for (int i = 0; i < 64; i++) CHECKF(ids[i] == -7, "wrote ids[%d] on a too-small buffer", i);
    CHECK(qwq_tokenize(model, text, strlen(text), 0, ids, need, &n) == QWQ_OK && n == need);
    CHECK(ids[0] == 9707); /* "Hello" */
    char out[64];
    memset(out, 'x', sizeof out);
    size_t len = 0;
    CHECK(qwq_detokenize(model, ids, n, 0, NULL, 0, &len) == QWQ_ERR_BUFFER_TOO_SMALL && len == strlen(text));
    CHECK(qwq_detokenize(model, ids, n, 0, out, len - 1, &len) == QWQ_ERR_BUFFER_TOO_SMALL && out[0] == 'x');
    CHECK(qwq_detokenize(model, ids, n, 0, out, sizeof out, &len) == QWQ_OK && strcmp(out, text) == 0);
    qwq_token bad[2] = {5, 151936};
    CHECK(qwq_detokenize(model, bad, 2, 0, out, sizeof out, &len) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(qwq_last_error(), "151936") != NULL);
    CHECK(qwq_tokenize(model, text, 5, 0x10, ids, 64, &n) == QWQ_ERR_INVALID_ARGUMENT);
    /* special tokens only with the flag */
    CHECK(qwq_tokenize(model, "<think>", 7, QWQ_TOKENIZE_SPECIAL, ids, 64, &n) == QWQ_OK && n == 1 && ids[0] == 151667);
    CHECK(qwq_tokenize(model, "<think>", 7, 0, ids, 64, &n) == QWQ_OK && n > 1);
    CHECK(qwq_tokenize(model, "", 0, 0, ids, 64, &n) == QWQ_OK && n == 0);
}

static qwq_status session_on(qwq_model *m, int n_ctx, int n_threads, qwq_session **s) {
    qwq_session_params p;
    qwq_session_params_init(&p);
    p.n_ctx = n_ctx;
    p.n_threads = n_threads;
    *s = NULL;
    return qwq_session_new(m, &p, s);
}

static qwq_session *new_session(int n_ctx, int n_threads) {
    qwq_session *s = NULL;
    qwq_status st = session_on(model, n_ctx, n_threads, &s);
    CHECKF(st == QWQ_OK, "session: %s", qwq_last_error());
    return s;
}

static qwq_token seq[64];
static void make_seq(void) {
    for (int i = 0; i < 64; i++) seq[i] = (qwq_token)((i * 7919 + 11) % 151643);
}

static int same_logits(const float *a, const float *b) {
    return a && b && memcmp(a, b, sizeof(float) * (size_t)qwq_model_n_vocab(model)) == 0;
}

static void test_session_params(void) {
    if (!need_model()) return;
    qwq_session *s = NULL;
    REQUIRE(qwq_session_new(model, NULL, &s) == QWQ_OK);
    CHECK(qwq_session_n_ctx(s) == 4096);
    CHECK(qwq_session_n_past(s) == 0);
    CHECK(qwq_session_logits(s, -1) == NULL && qwq_last_error()[0] != 0);
    qwq_session_free(s);
    qwq_session_params p;
    qwq_session_params_init(&p);
    p.n_ctx = 40961;
    CHECK(qwq_session_new(model, &p, &s) == QWQ_ERR_INVALID_ARGUMENT && s == NULL);
    CHECK(strstr(qwq_last_error(), "40960") != NULL);
    p.n_ctx = -1;
    CHECK(qwq_session_new(model, &p, &s) == QWQ_ERR_INVALID_ARGUMENT);
    /* an older caller's smaller struct: fields it did not know keep defaults */
    qwq_session_params_init(&p);
    p.n_ctx = 100;
    p.n_threads = 1;
    p.struct_size = offsetof(qwq_session_params, n_threads);
    REQUIRE(qwq_session_new(model, &p, &s) == QWQ_OK);
    CHECK(qwq_session_n_ctx(s) == 100);
    qwq_session_free(s);
}

static void test_failed_eval_changes_nothing(void) {
    if (!need_model()) return;
    make_seq();
    qwq_session *s = new_session(20, 2);
    REQUIRE(s);
    REQUIRE(qwq_session_eval(s, seq, 10, 0) == QWQ_OK);
    float *keep = malloc(sizeof(float) * 151936);
    memcpy(keep, qwq_session_logits(s, -1), sizeof(float) * 151936);
    qwq_token bad[3] = {1, 151936, 2};
    CHECK(qwq_session_eval(s, bad, 3, 0) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(qwq_last_error(), "token 1") != NULL);
    bad[1] = -1;
    CHECK(qwq_session_eval(s, bad, 3, 0) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(qwq_session_eval(s, seq, 0, 0) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(qwq_session_eval(s, NULL, 3, 0) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(qwq_session_eval(s, seq, 3, 0x40) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(qwq_session_eval(s, seq, 11, 0) == QWQ_ERR_CONTEXT_FULL);
    CHECK(qwq_session_n_past(s) == 10);
    CHECK(same_logits(keep, qwq_session_logits(s, -1)));
    /* exactly filling the context works */
    CHECK(qwq_session_eval(s, seq + 10, 10, 0) == QWQ_OK && qwq_session_n_past(s) == 20);
    CHECK(qwq_session_eval(s, seq, 1, 0) == QWQ_ERR_CONTEXT_FULL);
    /* logits indexes */
    CHECK(qwq_session_logits(s, 9) != NULL);
    CHECK(qwq_session_logits(s, 0) == NULL && strstr(qwq_last_error(), "QWQ_EVAL_ALL_LOGITS") != NULL);
    CHECK(qwq_session_logits(s, 10) == NULL);
    CHECK(qwq_session_logits(s, -2) == NULL);
    size_t n = 0;
    qwq_token held[32];
    CHECK(qwq_session_tokens(s, held, 5, &n) == QWQ_ERR_BUFFER_TOO_SMALL && n == 20);
    CHECK(qwq_session_tokens(s, held, 32, &n) == QWQ_OK && n == 20 && memcmp(held, seq, 20 * sizeof *held) == 0);
    free(keep);
    qwq_session_free(s);
}

/* Logits do not depend on how a sequence was split into batches, on
 * truncation and re-evaluation, or on forking. */
static void test_truncate_and_fork_match_fresh_sessions(void) {
    if (!need_model()) return;
    make_seq();
    qwq_token alt[64];
    for (int i = 0; i < 64; i++) alt[i] = (qwq_token)((i * 104729 + 5) % 151643);
    qwq_session *fresh = new_session(256, 2);
    REQUIRE(fresh);
    REQUIRE(qwq_session_eval(fresh, seq, 40, QWQ_EVAL_ALL_LOGITS) == QWQ_OK);
    float *want40 = malloc(sizeof(float) * 151936), *want_alt = malloc(sizeof(float) * 151936);
    memcpy(want40, qwq_session_logits(fresh, 39), sizeof(float) * 151936);
    qwq_session_free(fresh);
    /* seq[0..20) + alt[20..40) from scratch */
    fresh = new_session(256, 1);
    qwq_token mixed[40];
    memcpy(mixed, seq, 20 * sizeof *mixed);
    memcpy(mixed + 20, alt + 20, 20 * sizeof *mixed);
    REQUIRE(qwq_session_eval(fresh, mixed, 40, 0) == QWQ_OK);
    memcpy(want_alt, qwq_session_logits(fresh, -1), sizeof(float) * 151936);
    qwq_session_free(fresh);

    /* truncate in the middle of a KV block, then evaluate the rest again */
    qwq_session *s = new_session(256, 2);
    REQUIRE(qwq_session_eval(s, seq, 40, 0) == QWQ_OK);
    CHECK(qwq_session_truncate(s, 41) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(qwq_session_truncate(s, -1) == QWQ_ERR_INVALID_ARGUMENT);
    REQUIRE(qwq_session_truncate(s, 20) == QWQ_OK);
    CHECK(qwq_session_n_past(s) == 20 && qwq_session_logits(s, -1) == NULL);
    REQUIRE(qwq_session_eval(s, seq + 20, 20, 0) == QWQ_OK);
    CHECK(same_logits(want40, qwq_session_logits(s, -1)));

    /* fork at 20 (inside a shared block): each side diverges */
    REQUIRE(qwq_session_truncate(s, 20) == QWQ_OK);
    qwq_session *f = NULL;
    REQUIRE(qwq_session_fork(s, &f) == QWQ_OK);
    CHECK(qwq_session_n_past(f) == 20);
    for (int t = 20; t < 40; t++) { /* one at a time, alternating sessions */
        REQUIRE(qwq_session_eval(f, alt + t, 1, 0) == QWQ_OK);
        REQUIRE(qwq_session_eval(s, seq + t, 1, 0) == QWQ_OK);
    }
    CHECK(same_logits(want40, qwq_session_logits(s, -1)));
    CHECK(same_logits(want_alt, qwq_session_logits(f, -1)));
    /* freeing the parent leaves the fork intact */
    qwq_session_free(s);
    REQUIRE(qwq_session_truncate(f, 20) == QWQ_OK);
    REQUIRE(qwq_session_eval(f, alt + 20, 20, 0) == QWQ_OK);
    CHECK(same_logits(want_alt, qwq_session_logits(f, -1)));
    qwq_session_free(f);
    free(want40);
    free(want_alt);
}

typedef struct thread_job {
    const qwq_token *tokens;
    int n;
    float *out;
    qwq_status st;
} thread_job;

static void *thread_main(void *p) {
    thread_job *j = p;
    qwq_session *s = NULL;
    j->st = session_on(model, 128, 1, &s);
    for (int rep = 0; rep < 3 && j->st == QWQ_OK; rep++) {
        j->st = qwq_session_truncate(s, 0);
        if (!j->st) j->st = qwq_session_eval(s, j->tokens, (size_t)j->n, 0);
        if (!j->st) memcpy(j->out, qwq_session_logits(s, -1), sizeof(float) * 151936);
    }
    qwq_session_free(s);
    return NULL;
}

static void test_sessions_on_many_threads(void) {
    if (!need_model()) return;
    make_seq();
    enum { N = 4 };
    pthread_t th[N];
    thread_job jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (thread_job){seq + i, 30, malloc(sizeof(float) * 151936), QWQ_OK};
        pthread_create(&th[i], NULL, thread_main, &jobs[i]);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        CHECK(jobs[i].st == QWQ_OK);
        qwq_session *s = new_session(128, 2);
        REQUIRE(qwq_session_eval(s, seq + i, 30, 0) == QWQ_OK);
        CHECKF(same_logits(jobs[i].out, qwq_session_logits(s, -1)), "thread %d differs", i);
        qwq_session_free(s);
        free(jobs[i].out);
    }
}

/* The stack qwq.h asks for: a thread with 256 KiB evaluates a quantized
 * model alone (a prefill batch whose token block is on the stack, one on
 * the heap, then decode steps) and gets the logits of a thread with 8 MiB. */
typedef struct stack_job {
    qwq_model *m;
    const qwq_token *toks;
    float *out;
    qwq_status st;
} stack_job;

static void *stack_job_main(void *arg) {
    stack_job *j = arg;
    qwq_session *s = NULL;
    j->st = session_on(j->m, 128, 1, &s);
    if (!j->st) j->st = qwq_session_eval(s, j->toks, 12, 0);
    if (!j->st) j->st = qwq_session_eval(s, j->toks + 12, 40, 0);
    for (int i = 52; i < 56 && !j->st; i++) j->st = qwq_session_eval(s, j->toks + i, 1, 0);
    if (!j->st) memcpy(j->out, qwq_session_logits(s, -1), sizeof(float) * (size_t)qwq_model_n_vocab(j->m));
    qwq_session_free(s);
    return NULL;
}

static void test_small_thread_stack(void) {
    char path[512];
    if (!testdata_path(path, sizeof path, "models/qwen2-tiny-q4_0.gguf")) return;
    qwq_model *m = NULL;
    REQUIRE(qwq_load(path, NULL, &m) == QWQ_OK);
    const int32_t nv = qwq_model_n_vocab(m);
    qwq_token toks[56];
    for (int i = 0; i < 56; i++) toks[i] = (qwq_token)((i * 7919 + 11) % nv);
    float *big_out = malloc(sizeof(float) * (size_t)nv), *small_out = malloc(sizeof(float) * (size_t)nv);
    REQUIRE(big_out && small_out);
    stack_job big = {m, toks, big_out, QWQ_OK}, small = {m, toks, small_out, QWQ_OK};
    stack_job_main(&big);
    pthread_attr_t attr;
    pthread_t th;
    REQUIRE(pthread_attr_init(&attr) == 0);
    REQUIRE(pthread_attr_setstacksize(&attr, 256 * 1024) == 0);
    REQUIRE(pthread_create(&th, &attr, stack_job_main, &small) == 0);
    pthread_join(th, NULL);
    pthread_attr_destroy(&attr);
    CHECKF(big.st == QWQ_OK && small.st == QWQ_OK, "%d %d", big.st, small.st);
    CHECK(memcmp(big_out, small_out, sizeof(float) * (size_t)nv) == 0);
    free(big_out);
    free(small_out);
    qwq_model_free(m);
}

static void test_chat_not_yet(void) {
    if (!need_model()) return;
    size_t n;
    char buf[16];
    CHECK(qwq_chat_render(model, "{\"messages\":[]}", buf, sizeof buf, &n) == QWQ_ERR_UNSUPPORTED);
}

/* Only qwq_* leaves the shared library, which carries its SONAME. */
static void test_shared_library_exports(void) {
    FILE *p = popen("nm -D --defined-only lib/libqwq.so 2>/dev/null", "r");
    REQUIRE(p != NULL);
    char line[512];
    int n_qwq = 0, n_other = 0;
    while (fgets(line, sizeof line, p)) {
        char *name = strrchr(line, ' ');
        if (!name) continue;
        name++;
        if (strncmp(name, "qwq_", 4) == 0) n_qwq++;
        else if (name[0] != '_') {
            n_other++;
            CHECKF(0, "libqwq.so exports %s", name);
        }
    }
    pclose(p);
    if (n_qwq == 0) SKIP("lib/libqwq.so not built or nm missing");
    CHECK(n_qwq >= 30);
    p = popen("readelf -d lib/libqwq.so 2>/dev/null", "r");
    REQUIRE(p != NULL);
    int soname = 0;
    while (fgets(line, sizeof line, p)) soname |= strstr(line, "SONAME") && strstr(line, "libqwq.so.0");
    pclose(p);
    CHECK(soname);
}

int main(void) {
    RUN(test_status_and_version);
    RUN(test_null_handles);
    RUN(test_metadata);
    RUN(test_tokenize_buffer_protocol);
    RUN(test_session_params);
    RUN(test_failed_eval_changes_nothing);
    RUN(test_truncate_and_fork_match_fresh_sessions);
    RUN(test_sessions_on_many_threads);
    RUN(test_small_thread_stack);
    RUN(test_chat_not_yet);
    RUN(test_shared_library_exports);
    qwq_model_free(model);
    return test_summary();
}
