/*
 * qwq_generate on the tiny Qwen3 model (random weights, real vocabulary):
 * determinism, seeds, the event sequence and usage, cancellation, option
 * errors that change nothing, stop strings across token boundaries, the
 * reasoning/answer channels and the reasoning budget. Token choices are
 * steered with logit_bias (+100 makes a token the greedy choice).
 */
#include <stdint.h>

#include "harness.h"
#include "qwq.h"

static qwq_model *model;

enum { HELLO = 9707, THINK = 151667, END_THINK = 151668, IM_END = 151645, EOT = 151643 };

static int need_model(void) {
    if (model) return 1;
    char path[512];
    if (!testdata_path(path, sizeof path, "models/qwen3-tiny-f16.gguf")) return 0;
    CHECKF(qwq_load(path, NULL, &model) == QWQ_OK, "%s", qwq_last_error());
    return model != NULL;
}

typedef struct capture {
    qwq_token tokens[256];
    qwq_channel channels[256];
    int n_tokens;
    char text[4096];
    size_t text_len;
    char reasoning[4096];
    size_t reasoning_len;
    int n_done, events_after_done, n_tool_calls;
    qwq_event done;
    int cancel_after; /* cancel on this TOKEN event (1-based), 0 = never */
} capture;

static int on_event(const qwq_event *e, void *user) {
    capture *c = user;
    if (c->n_done) c->events_after_done++;
    if (e->type == QWQ_EVENT_DONE) {
        c->n_done++;
        c->done = *e;
        return 0;
    }
    if (e->type == QWQ_EVENT_TOOL_CALL) {
        c->n_tool_calls++;
        return 0;
    }
    CHECK(e->text != NULL && e->tool_name != NULL);
    if (c->n_tokens < 256) {
        c->tokens[c->n_tokens] = e->token;
        c->channels[c->n_tokens] = e->channel;
    }
    c->n_tokens++;
    char *dst = e->channel == QWQ_CHANNEL_REASONING ? c->reasoning : c->text;
    size_t *len = e->channel == QWQ_CHANNEL_REASONING ? &c->reasoning_len : &c->text_len;
    if (*len + e->text_len < sizeof c->text) {
        memcpy(dst + *len, e->text, e->text_len);
        *len += e->text_len;
        dst[*len] = 0;
    }
    return c->cancel_after && c->n_tokens >= c->cancel_after;
}

static qwq_session *session_with(const char *prompt, uint32_t flags) {
    qwq_session_params sp;
    qwq_session_params_init(&sp);
    sp.n_ctx = 512;
    qwq_session *s = NULL;
    if (qwq_session_new(model, &sp, &s) != QWQ_OK) return NULL;
    qwq_token ids[128];
    size_t n = 0;
    if (qwq_tokenize(model, prompt, strlen(prompt), flags, ids, 128, &n) != QWQ_OK ||
        qwq_session_eval(s, ids, n, 0) != QWQ_OK) {
        qwq_session_free(s);
        return NULL;
    }
    return s;
}

#define NO_END "\"logit_bias\":{\"151645\":-100,\"151643\":-100}"

static void test_greedy_is_deterministic_and_stays_in_the_session(void) {
    if (!need_model()) return;
    capture a = {0}, b = {0};
    qwq_session *s1 = session_with("The sky is", 0), *s2 = session_with("The sky is", 0);
    REQUIRE(s1 && s2);
    int32_t before = qwq_session_n_past(s1);
    const char *opt = "{\"max_tokens\":12,\"temperature\":0," NO_END "}";
    REQUIRE(qwq_generate(s1, NULL, 0, opt, on_event, &a) == QWQ_OK);
    REQUIRE(qwq_generate(s2, NULL, 0, opt, on_event, &b) == QWQ_OK);
    CHECK(a.n_tokens == 12 && b.n_tokens == 12);
    CHECK(memcmp(a.tokens, b.tokens, sizeof(qwq_token) * 12) == 0);
    CHECK(a.n_done == 1 && a.events_after_done == 0);
    CHECK(a.done.finish_reason == QWQ_FINISH_LENGTH);
    CHECK(a.done.usage.completion_tokens == 12 && a.done.usage.prompt_tokens == 0);
    CHECK(qwq_session_n_past(s1) == before + 12);
    qwq_token held[64];
    size_t n = 0;
    REQUIRE(qwq_session_tokens(s1, held, 64, &n) == QWQ_OK);
    CHECK(memcmp(held + before, a.tokens, sizeof(qwq_token) * 12) == 0);
    /* the text of the events is the detokenization of the tokens */
    char text[4096];
    size_t len = 0;
    REQUIRE(qwq_detokenize(model, a.tokens, 12, QWQ_DETOKENIZE_SKIP_SPECIAL, text, sizeof text, &len) == QWQ_OK);
    CHECKF(len == a.text_len && memcmp(text, a.text, len) == 0, "events '%s' vs detokenized '%.*s'", a.text,
           (int)len, text);
    /* a follow-up call continues after the generated tokens */
    capture c = {0};
    REQUIRE(qwq_generate(s1, NULL, 0, "{\"max_tokens\":3,\"temperature\":0}", on_event, &c) == QWQ_OK);
    CHECK(qwq_session_n_past(s1) >= before + 12);
    /* the prompt given to generate is counted */
    capture d = {0};
    qwq_token p[2] = {HELLO, HELLO};
    REQUIRE(qwq_generate(s2, p, 2, "{\"max_tokens\":1,\"temperature\":0}", on_event, &d) == QWQ_OK);
    CHECK(d.done.usage.prompt_tokens == 2);
    qwq_session_free(s1);
    qwq_session_free(s2);
}

static void test_seeds(void) {
    if (!need_model()) return;
    capture a = {0}, b = {0}, c = {0};
    const char *opt42 = "{\"max_tokens\":16,\"temperature\":1.5,\"top_k\":0,\"top_p\":1,\"seed\":42," NO_END "}";
    const char *opt43 = "{\"max_tokens\":16,\"temperature\":1.5,\"top_k\":0,\"top_p\":1,\"seed\":43," NO_END "}";
    qwq_session *s = session_with("Once upon a time", 0);
    REQUIRE(s);
    qwq_session *f1 = NULL, *f2 = NULL;
    REQUIRE(qwq_session_fork(s, &f1) == QWQ_OK && qwq_session_fork(s, &f2) == QWQ_OK);
    REQUIRE(qwq_generate(s, NULL, 0, opt42, on_event, &a) == QWQ_OK);
    REQUIRE(qwq_generate(f1, NULL, 0, opt42, on_event, &b) == QWQ_OK);
    REQUIRE(qwq_generate(f2, NULL, 0, opt43, on_event, &c) == QWQ_OK);
    CHECK(a.n_tokens == 16 && memcmp(a.tokens, b.tokens, sizeof(qwq_token) * 16) == 0);
    CHECK(memcmp(a.tokens, c.tokens, sizeof(qwq_token) * 16) != 0); /* 16 draws at T=1.5 over 152K ids */
    qwq_session_free(s);
    qwq_session_free(f1);
    qwq_session_free(f2);
}

static void test_cancel(void) {
    if (!need_model()) return;
    qwq_session *s = session_with("Count:", 0);
    REQUIRE(s);
    int32_t before = qwq_session_n_past(s);
    capture c = {0};
    c.cancel_after = 3;
    qwq_status st = qwq_generate(s, NULL, 0, "{\"max_tokens\":50,\"temperature\":0," NO_END "}", on_event, &c);
    CHECK(st == QWQ_ERR_CANCELLED);
    CHECK(c.n_tokens == 3 && c.n_done == 1);
    CHECK(c.done.finish_reason == QWQ_FINISH_CANCELLED && c.done.usage.completion_tokens == 3);
    CHECK(qwq_session_n_past(s) == before + 3); /* what was generated stays */
    qwq_session_free(s);
}

static void test_bad_options_change_nothing(void) {
    if (!need_model()) return;
    qwq_session *s = session_with("Hi", 0);
    REQUIRE(s);
    int32_t before = qwq_session_n_past(s);
    const float *logits = qwq_session_logits(s, -1);
    REQUIRE(logits);
    float first = logits[0];
    capture c = {0};
    qwq_token p[1] = {HELLO};
    struct {
        const char *json;
        qwq_status want;
        const char *mention;
    } cases[] = {
        {"{\"max_tokenz\":5}", QWQ_ERR_FORMAT, "max_tokenz"},
        {"{\"max_tokens\":-5}", QWQ_ERR_INVALID_ARGUMENT, "max_tokens"},
        {"{\"temperature\":\"hot\"}", QWQ_ERR_INVALID_ARGUMENT, "temperature"},
        {"{\"logit_bias\":{\"151936\":5}}", QWQ_ERR_INVALID_ARGUMENT, "151936"},
        {"{\"response_format\":{\"type\":\"json_object\"}}", QWQ_ERR_UNSUPPORTED, "response_format"},
        {"{\"top_p\":", QWQ_ERR_FORMAT, "options_json"},
        {"[1]", QWQ_ERR_INVALID_ARGUMENT, "must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        qwq_status st = qwq_generate(s, p, 1, cases[i].json, on_event, &c);
        CHECKF(st == cases[i].want, "%s: %s (%s)", cases[i].json, qwq_status_name(st), qwq_last_error());
        CHECKF(strstr(qwq_last_error(), cases[i].mention) != NULL, "%s: message '%s'", cases[i].json,
               qwq_last_error());
    }
    CHECK(c.n_tokens == 0 && c.n_done == 0);
    CHECK(qwq_session_n_past(s) == before);
    CHECK(qwq_session_logits(s, -1) && qwq_session_logits(s, -1)[0] == first);
    /* an out-of-range prompt token is refused before anything runs */
    qwq_token bad[2] = {HELLO, 151936};
    CHECK(qwq_generate(s, bad, 2, NULL, on_event, &c) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(qwq_session_n_past(s) == before);
    /* nothing to continue from */
    qwq_session *empty = NULL;
    REQUIRE(qwq_session_new(model, NULL, &empty) == QWQ_OK);
    CHECK(qwq_generate(empty, NULL, 0, NULL, on_event, &c) == QWQ_ERR_INVALID_ARGUMENT);
    qwq_session_free(empty);
    qwq_session_free(s);
}

/* "Hello" forced on every step: the answer is HelloHelloHello...; the stop
 * string "oHe" spans two tokens and must cut the text at "Hell". */
static void test_stop_string_across_tokens(void) {
    if (!need_model()) return;
    qwq_session *s = session_with("Say:", 0);
    REQUIRE(s);
    capture c = {0};
    REQUIRE(qwq_generate(s, NULL, 0,
                         "{\"max_tokens\":10,\"temperature\":0,\"logit_bias\":{\"9707\":100},\"stop\":[\"xyz\",\"oHe\"]}",
                         on_event, &c) == QWQ_OK);
    CHECKF(strcmp(c.text, "Hell") == 0, "text '%s'", c.text);
    CHECK(c.done.finish_reason == QWQ_FINISH_STOP);
    CHECK(c.done.usage.completion_tokens == 2);
    /* a prefix of a stop string that does not complete is released */
    capture d = {0};
    REQUIRE(qwq_generate(s, NULL, 0,
                         "{\"max_tokens\":3,\"temperature\":0,\"logit_bias\":{\"9707\":100},\"stop\":\"Hello!\"}",
                         on_event, &d) == QWQ_OK);
    CHECKF(strcmp(d.text, "HelloHelloHello") == 0, "text '%s'", d.text);
    CHECK(d.done.finish_reason == QWQ_FINISH_LENGTH);
    qwq_session_free(s);
}

static void test_reasoning_channel(void) {
    if (!need_model()) return;
    /* the prompt opens a <think> block: generation starts in reasoning */
    qwq_session *s = session_with("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n",
                                  QWQ_TOKENIZE_SPECIAL);
    REQUIRE(s);
    capture c = {0};
    REQUIRE(qwq_generate(s, NULL, 0, "{\"max_tokens\":2,\"temperature\":0,\"logit_bias\":{\"9707\":100}}", on_event,
                         &c) == QWQ_OK);
    CHECK(c.n_tokens == 2 && c.channels[0] == QWQ_CHANNEL_REASONING);
    CHECKF(strcmp(c.reasoning, "HelloHello") == 0 && c.text_len == 0, "reasoning '%s' text '%s'", c.reasoning,
           c.text);
    CHECK(c.done.usage.reasoning_tokens == 2);
    /* </think> closes it: markup is not text, and what follows is the answer */
    capture d = {0};
    REQUIRE(qwq_generate(s, NULL, 0, "{\"max_tokens\":1,\"temperature\":0,\"logit_bias\":{\"151668\":100}}",
                         on_event, &d) == QWQ_OK);
    CHECK(d.n_tokens == 1 && d.tokens[0] == END_THINK && d.text_len == 0 && d.reasoning_len == 0);
    capture e = {0};
    REQUIRE(qwq_generate(s, NULL, 0, "{\"max_tokens\":2,\"temperature\":0,\"logit_bias\":{\"9707\":100}}", on_event,
                         &e) == QWQ_OK);
    CHECK(e.channels[0] == QWQ_CHANNEL_CONTENT && strcmp(e.text, "HelloHello") == 0);
    CHECK(e.done.usage.reasoning_tokens == 0);
    qwq_session_free(s);
}

static void test_reasoning_budget_and_exclude(void) {
    if (!need_model()) return;
    qwq_session *s = session_with("<|im_start|>assistant\n<think>\n", QWQ_TOKENIZE_SPECIAL);
    REQUIRE(s);
    capture c = {0};
    REQUIRE(qwq_generate(s, NULL, 0,
                         "{\"max_tokens\":6,\"temperature\":0,\"logit_bias\":{\"9707\":100},"
                         "\"reasoning\":{\"max_tokens\":3}}",
                         on_event, &c) == QWQ_OK);
    CHECK(c.n_tokens == 6);
    CHECK(c.tokens[3] == END_THINK); /* the budget closes the block */
    CHECKF(strcmp(c.reasoning, "HelloHelloHello") == 0, "reasoning '%s'", c.reasoning);
    CHECKF(strcmp(c.text, "HelloHello") == 0, "text '%s'", c.text);
    CHECK(c.done.usage.reasoning_tokens == 4 && c.done.usage.completion_tokens == 6);
    qwq_session_free(s);
    /* exclude: reasoning is not streamed, the answer is */
    s = session_with("<|im_start|>assistant\n<think>\n", QWQ_TOKENIZE_SPECIAL);
    REQUIRE(s);
    capture d = {0};
    REQUIRE(qwq_generate(s, NULL, 0,
                         "{\"max_tokens\":6,\"temperature\":0,\"logit_bias\":{\"9707\":100},"
                         "\"reasoning\":{\"max_tokens\":3,\"exclude\":true}}",
                         on_event, &d) == QWQ_OK);
    CHECK(d.reasoning_len == 0 && strcmp(d.text, "HelloHello") == 0);
    CHECK(d.done.usage.reasoning_tokens == 4);
    qwq_session_free(s);
}

static void test_end_of_turn_stops(void) {
    if (!need_model()) return;
    qwq_session *s = session_with("Hi", 0);
    REQUIRE(s);
    int32_t before = qwq_session_n_past(s);
    capture c = {0};
    REQUIRE(qwq_generate(s, NULL, 0, "{\"max_tokens\":5,\"temperature\":0,\"logit_bias\":{\"151645\":100}}",
                         on_event, &c) == QWQ_OK);
    CHECK(c.n_tokens == 0 && c.done.finish_reason == QWQ_FINISH_STOP && c.done.usage.completion_tokens == 0);
    CHECK(qwq_session_n_past(s) == before); /* the end-of-turn token is not evaluated */
    qwq_session_free(s);
}

static void test_context_full_ends_with_length(void) {
    if (!need_model()) return;
    qwq_session_params sp;
    qwq_session_params_init(&sp);
    sp.n_ctx = 6;
    qwq_session *s = NULL;
    REQUIRE(qwq_session_new(model, &sp, &s) == QWQ_OK);
    qwq_token p[4] = {HELLO, HELLO, HELLO, HELLO};
    capture c = {0};
    REQUIRE(qwq_generate(s, p, 4, "{\"temperature\":0," NO_END "}", on_event, &c) == QWQ_OK);
    CHECK(c.n_tokens == 2 && c.done.finish_reason == QWQ_FINISH_LENGTH && qwq_session_n_past(s) == 6);
    qwq_session_free(s);
}

int main(void) {
    RUN(test_greedy_is_deterministic_and_stays_in_the_session);
    RUN(test_seeds);
    RUN(test_cancel);
    RUN(test_bad_options_change_nothing);
    RUN(test_stop_string_across_tokens);
    RUN(test_reasoning_channel);
    RUN(test_reasoning_budget_and_exclude);
    RUN(test_end_of_turn_stops);
    RUN(test_context_full_ends_with_length);
    qwq_model_free(model);
    return test_summary();
}
