/* Tests for lib/generate/stream: channels, markup, trimming, stop strings,
 * tool calls. */
#include "harness.h"

#include "generate/stream.h"
#include "json/json.h"
#include "util/utf8.h"
#include "util/util.h"

#define MAXCALLS 8
#define RC QWQ_CHANNEL_REASONING
#define CC QWQ_CHANNEL_CONTENT
#define TC QWQ_CHANNEL_TOOL_CALL

/* What a generator would have turned into events, gathered per channel. */
typedef struct collected {
    char text[3][4096];
    size_t len[3];
    int n_calls;
    struct {
        int valid;
        char name[128], args[1024], raw[1024], error[256];
    } calls[MAXCALLS];
    int stop;
    int reasoning_tokens; /* from the per-push flags */
    int pushes_after_stop;
} collected;

static void take(collected *c, const stream_out *o) {
    if (o->text_len) {
        size_t ch = (size_t)o->channel;
        if (c->len[ch] + o->text_len < sizeof c->text[ch]) {
            memcpy(c->text[ch] + c->len[ch], o->text, o->text_len);
            c->len[ch] += o->text_len;
            c->text[ch][c->len[ch]] = 0;
        }
    }
    if (o->tool_call && c->n_calls < MAXCALLS) {
        const stream_tool_call *t = o->tool_call;
        c->calls[c->n_calls].valid = t->valid;
        snprintf(c->calls[c->n_calls].name, 128, "%s", t->name);
        snprintf(c->calls[c->n_calls].args, 1024, "%s", t->arguments);
        snprintf(c->calls[c->n_calls].raw, 1024, "%s", t->raw);
        snprintf(c->calls[c->n_calls].error, 256, "%s", t->error);
        c->n_calls++;
    }
    if (o->stop_hit) c->stop = 1;
    if (o->reasoning_token) c->reasoning_tokens++;
}

/* A token: a mark and its piece. */
typedef struct { stream_mark mark; const char *piece; } tk;
#define T(s) {STREAM_MARK_NONE, s}
#define THINK {STREAM_MARK_THINK_OPEN, "<think>"}
#define UNTHINK {STREAM_MARK_THINK_CLOSE, "</think>"}
#define TOOL {STREAM_MARK_TOOL_OPEN, "<tool_call>"}
#define UNTOOL {STREAM_MARK_TOOL_CLOSE, "</tool_call>"}

/* Feeds the tokens, then stream_finish; stops feeding at a stop hit. With
 * sep, a '|' goes into the collected answer after each markup token, so
 * that text runs on either side of it stay apart. */
static void run_tokens_sep(const stream_params *p, const tk *toks, size_t n, collected *c, bool sep) {
    memset(c, 0, sizeof *c);
    stream_proc *sp;
    if (stream_new(p, &sp) != QWQ_OK) {
        test_fail_at(__FILE__, __LINE__, "stream_new: %s", err_message());
        return;
    }
    stream_out o;
    for (size_t i = 0; i < n; i++) {
        if (c->stop) {
            if (stream_push(sp, (qwq_token)i, toks[i].mark, toks[i].piece, strlen(toks[i].piece), 0, &o) ==
                QWQ_ERR_INVALID_ARGUMENT)
                c->pushes_after_stop++;
            continue;
        }
        qwq_status st = stream_push(sp, (qwq_token)i, toks[i].mark, toks[i].piece, strlen(toks[i].piece), 0, &o);
        if (st) test_fail_at(__FILE__, __LINE__, "push %zu: %s", i, err_message());
        CHECK(o.token == (qwq_token)i);
        CHECK(o.text != NULL && o.text[o.text_len] == 0);
        take(c, &o);
        if (sep && toks[i].mark != STREAM_MARK_NONE && c->len[CC] + 1 < sizeof c->text[CC]) {
            c->text[CC][c->len[CC]++] = '|'; /* after what the markup released */
            c->text[CC][c->len[CC]] = 0;
        }
    }
    CHECK(stream_finish(sp, &o) == QWQ_OK);
    CHECK(o.token == -1 && !o.stop_hit && !o.reasoning_token);
    take(c, &o);
    CHECK(stream_reasoning_tokens(sp) == c->reasoning_tokens);
    int valid = 0;
    for (int i = 0; i < c->n_calls; i++) valid += c->calls[i].valid;
    CHECK(stream_tool_calls(sp) == valid);
    CHECK(stream_done(sp));
    stream_free(sp);
}

static void run_tokens(const stream_params *p, const tk *toks, size_t n, collected *c) {
    run_tokens_sep(p, toks, n, c, false);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_plain_content(void) {
    tk toks[] = {T("Hello"), T(" world"), T("\n"), T(""), T("!"), T("\n")};
    collected c;
    run_tokens(NULL, toks, N(toks), &c);
    CHECKF(strcmp(c.text[CC], "Hello world\n!\n") == 0, "<%s>", c.text[CC]);
    CHECK(c.len[RC] == 0 && c.len[TC] == 0 && c.n_calls == 0 && !c.stop && c.reasoning_tokens == 0);
    /* NUL bytes in a piece are text like any other */
    stream_proc *sp;
    REQUIRE(stream_new(NULL, &sp) == QWQ_OK);
    stream_out o;
    CHECK(stream_push(sp, 1, STREAM_MARK_NONE, "a\0b", 3, 0, &o) == QWQ_OK);
    CHECK(o.text_len == 3 && memcmp(o.text, "a\0b", 3) == 0 && o.channel == CC);
    stream_free(sp);
}

static void test_start_in_reasoning(void) {
    stream_params p;
    stream_params_init(&p);
    p.start_in_reasoning = true;
    tk toks[] = {T("\n"), T("Okay"), T(","), T(" so"), T("\n\n"), UNTHINK, T("\n\n"), T("The"), T(" answer"), T(".")};
    collected c;
    run_tokens(&p, toks, N(toks), &c);
    CHECKF(strcmp(c.text[RC], "Okay, so") == 0, "<%s>", c.text[RC]);
    CHECKF(strcmp(c.text[CC], "The answer.") == 0, "<%s>", c.text[CC]);
    CHECK(c.reasoning_tokens == 6); /* five pieces and </think> */
    CHECK(strstr(c.text[RC], "think") == NULL && strstr(c.text[CC], "think") == NULL);
    /* without trimming every byte but the markup survives */
    p.trim_newlines = false;
    run_tokens(&p, toks, N(toks), &c);
    CHECKF(strcmp(c.text[RC], "\nOkay, so\n\n") == 0, "<%s>", c.text[RC]);
    CHECKF(strcmp(c.text[CC], "\n\nThe answer.") == 0, "<%s>", c.text[CC]);
}

static void test_channel_switching(void) {
    tk toks[] = {T("Hi"), THINK, T("\nHmm"), T("\n"), T("\n"), T("more"), T("\n"), UNTHINK, T("\n\nYes"), THINK,
                 T("again"), UNTHINK, T("done")};
    collected c;
    run_tokens(NULL, toks, N(toks), &c);
    CHECKF(strcmp(c.text[RC], "Hmm\n\nmoreagain") == 0, "<%s>", c.text[RC]);
    CHECKF(strcmp(c.text[CC], "HiYesdone") == 0, "<%s>", c.text[CC]);
    CHECK(c.reasoning_tokens == 10); /* <think> + 5 pieces + </think>, then 3 */

    /* per-push outputs: held newlines go out with the next text, markup
     * events carry the markup's channel */
    stream_proc *sp;
    REQUIRE(stream_new(NULL, &sp) == QWQ_OK);
    stream_out o;
    CHECK(stream_channel(sp) == CC);
    CHECK(stream_push(sp, 1, STREAM_MARK_THINK_OPEN, "<think>", 7, 0, &o) == QWQ_OK);
    CHECK(o.channel == RC && o.text_len == 0 && o.reasoning_token && stream_channel(sp) == RC);
    CHECK(stream_push(sp, 2, STREAM_MARK_NONE, "a\n", 2, 0, &o) == QWQ_OK);
    CHECK(o.channel == RC && o.text_len == 1 && strcmp(o.text, "a") == 0);
    CHECK(stream_push(sp, 3, STREAM_MARK_NONE, "\n", 1, 0, &o) == QWQ_OK);
    CHECK(o.text_len == 0);
    CHECK(stream_push(sp, 4, STREAM_MARK_NONE, "b", 1, 0, &o) == QWQ_OK);
    CHECK(strcmp(o.text, "\n\nb") == 0);
    CHECK(stream_push(sp, 5, STREAM_MARK_THINK_CLOSE, "</think>", 8, 0, &o) == QWQ_OK);
    CHECK(o.channel == RC && o.text_len == 0 && o.reasoning_token && stream_channel(sp) == CC);
    CHECK(stream_push(sp, 6, STREAM_MARK_NONE, "x", 1, 0, &o) == QWQ_OK);
    CHECK(o.channel == CC && !o.reasoning_token && strcmp(o.text, "x") == 0);
    CHECK(stream_push(sp, 7, STREAM_MARK_TOOL_OPEN, "<tool_call>", 11, 0, &o) == QWQ_OK);
    CHECK(o.channel == TC && o.text_len == 0 && stream_channel(sp) == TC);
    CHECK(stream_push(sp, 8, STREAM_MARK_NONE, "{}", 2, 0, &o) == QWQ_OK);
    CHECK(o.channel == TC && strcmp(o.text, "{}") == 0);
    CHECK(stream_push(sp, 9, STREAM_MARK_TOOL_CLOSE, "</tool_call>", 12, 0, &o) == QWQ_OK);
    CHECK(o.channel == TC && o.tool_call && !o.tool_call->valid && stream_channel(sp) == CC);
    CHECK(stream_reasoning_tokens(sp) == 5);
    stream_free(sp);
}

static void test_hide_reasoning(void) {
    stream_params p;
    stream_params_init(&p);
    p.start_in_reasoning = true;
    p.hide_reasoning = true;
    tk toks[] = {T("secret"), T("\n"), T("thoughts"), UNTHINK, T("\n\nvisible")};
    collected c;
    run_tokens(&p, toks, N(toks), &c);
    CHECK(c.len[RC] == 0);
    CHECK(strcmp(c.text[CC], "visible") == 0);
    CHECK(c.reasoning_tokens == 4);
}

static void test_stray_markup(void) {
    tk toks[] = {T("a"), UNTHINK, T("\nb"), UNTOOL, T("c"), THINK, THINK, T("r"), UNTHINK, UNTHINK, T("d")};
    collected c;
    run_tokens(NULL, toks, N(toks), &c);
    CHECKF(strcmp(c.text[CC], "abcd") == 0, "<%s>", c.text[CC]);
    CHECKF(strcmp(c.text[RC], "r") == 0, "<%s>", c.text[RC]);
    CHECK(c.n_calls == 0);
    /* tool markup inside reasoning is ordinary text */
    stream_params p;
    stream_params_init(&p);
    p.start_in_reasoning = true;
    tk t2[] = {T("I could"), TOOL, T(" here"), UNTOOL, UNTHINK, T("ok")};
    run_tokens(&p, t2, N(t2), &c);
    CHECKF(strcmp(c.text[RC], "I could<tool_call> here</tool_call>") == 0, "<%s>", c.text[RC]);
    CHECK(c.n_calls == 0 && strcmp(c.text[CC], "ok") == 0 && c.len[TC] == 0);
    /* markers inside a tool call are part of its text */
    tk t3[] = {TOOL, T("{\"name\":\"f\",\"arguments\":{\"t\":\""), THINK, UNTHINK, TOOL, T("\"}}"), UNTOOL};
    run_tokens(NULL, t3, N(t3), &c);
    REQUIRE(c.n_calls == 1);
    CHECK(c.calls[0].valid);
    CHECKF(strcmp(c.calls[0].args, "{\"t\":\"<think></think><tool_call>\"}") == 0, "%s", c.calls[0].args);
    CHECK(c.reasoning_tokens == 0);
}

static stream_params stops(const char **s, size_t n, size_t *lens) {
    stream_params p;
    stream_params_init(&p);
    for (size_t i = 0; i < n; i++) lens[i] = strlen(s[i]);
    p.stop = s;
    p.stop_len = lens;
    p.n_stop = n;
    return p;
}

static void test_stop_split_across_pieces(void) {
    const char *s[] = {"</answer>"};
    size_t l[1];
    stream_params p = stops(s, 1, l);
    stream_proc *sp;
    REQUIRE(stream_new(&p, &sp) == QWQ_OK);
    stream_out o;
    CHECK(stream_push(sp, 1, STREAM_MARK_NONE, "The", 3, 0, &o) == QWQ_OK && strcmp(o.text, "The") == 0);
    CHECK(stream_push(sp, 2, STREAM_MARK_NONE, " result</", 9, 0, &o) == QWQ_OK);
    CHECKF(strcmp(o.text, " result") == 0, "<%s>", o.text); /* "</" held */
    CHECK(stream_push(sp, 3, STREAM_MARK_NONE, "ans", 3, 0, &o) == QWQ_OK && o.text_len == 0 && !o.stop_hit);
    CHECK(stream_push(sp, 4, STREAM_MARK_NONE, "wer> extra", 10, 0, &o) == QWQ_OK);
    CHECK(o.stop_hit && o.text_len == 0);
    CHECK(stream_done(sp));
    CHECK(stream_push(sp, 5, STREAM_MARK_NONE, "x", 1, 0, &o) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(stream_finish(sp, &o) == QWQ_OK && o.text_len == 0 && !o.tool_call);
    stream_free(sp);

    /* the stop string arrives in one piece with text on both sides */
    tk t2[] = {T("ab"), T("c</answer>def"), T("never")};
    collected c;
    run_tokens(&p, t2, N(t2), &c);
    CHECK(strcmp(c.text[CC], "abc") == 0 && c.stop && c.pushes_after_stop == 1);
    /* one character per piece */
    tk t3[] = {T("x"), T("<"), T("/"), T("a"), T("n"), T("s"), T("w"), T("e"), T("r"), T(">"), T("y")};
    run_tokens(&p, t3, N(t3), &c);
    CHECK(strcmp(c.text[CC], "x") == 0 && c.stop);
}

static void test_stop_prefix_released(void) {
    const char *s[] = {"STOP", "\n\nUser:"};
    size_t l[2];
    stream_params p = stops(s, 2, l);
    stream_proc *sp;
    REQUIRE(stream_new(&p, &sp) == QWQ_OK);
    stream_out o;
    CHECK(stream_push(sp, 1, STREAM_MARK_NONE, "ST", 2, 0, &o) == QWQ_OK && o.text_len == 0);
    CHECK(stream_push(sp, 2, STREAM_MARK_NONE, "OR", 2, 0, &o) == QWQ_OK);
    CHECKF(strcmp(o.text, "STOR") == 0, "<%s>", o.text);
    CHECK(stream_push(sp, 3, STREAM_MARK_NONE, "Y S", 3, 0, &o) == QWQ_OK);
    CHECKF(strcmp(o.text, "Y ") == 0, "<%s>", o.text);
    CHECK(stream_finish(sp, &o) == QWQ_OK); /* the end releases the held "S" */
    CHECKF(strcmp(o.text, "S") == 0 && o.channel == CC, "<%s>", o.text);
    stream_free(sp);

    tk t2[] = {T("Hi"), T("\n"), T("\n"), T("Used"), T(" it")};
    collected c;
    run_tokens(&p, t2, N(t2), &c);
    CHECKF(strcmp(c.text[CC], "Hi\n\nUsed it") == 0 && !c.stop, "<%s>", c.text[CC]);
    tk t3[] = {T("Hi"), T("\n"), T("\n"), T("User"), T(":"), T(" more")};
    run_tokens(&p, t3, N(t3), &c);
    CHECKF(strcmp(c.text[CC], "Hi") == 0 && c.stop, "<%s>", c.text[CC]);
    /* overlapping candidates: "SSTOP" must still stop after "S" */
    tk t4[] = {T("S"), T("S"), T("T"), T("O"), T("P")};
    run_tokens(&p, t4, N(t4), &c);
    CHECKF(strcmp(c.text[CC], "S") == 0 && c.stop, "<%s>", c.text[CC]);
    /* the earliest of several matches wins */
    tk t5[] = {T("a\n\nUser: b STOP")};
    run_tokens(&p, t5, N(t5), &c);
    CHECK(strcmp(c.text[CC], "a") == 0 && c.stop);
    /* held text goes out at a channel switch, on the answer's channel */
    REQUIRE(stream_new(&p, &sp) == QWQ_OK);
    CHECK(stream_push(sp, 1, STREAM_MARK_NONE, "ok ST", 5, 0, &o) == QWQ_OK && strcmp(o.text, "ok ") == 0);
    CHECK(stream_push(sp, 2, STREAM_MARK_THINK_OPEN, "<think>", 7, 0, &o) == QWQ_OK);
    CHECK(o.channel == CC && strcmp(o.text, "ST") == 0 && stream_channel(sp) == RC);
    stream_free(sp);
    /* multi-byte stop strings */
    const char *u[] = {"\xE3\x80\x82\xE2\x86\x92"}; /* "。→" */
    size_t ul[1];
    stream_params pu = stops(u, 1, ul);
    tk t6[] = {T("\xE5\xA5\xBD"), T("\xE3\x80\x82"), T("\xE2\x86\x92"), T("x")};
    run_tokens(&pu, t6, N(t6), &c);
    CHECK(strcmp(c.text[CC], "\xE5\xA5\xBD") == 0 && c.stop);
    tk t7[] = {T("\xE5\xA5\xBD"), T("\xE3\x80\x82"), T("\xE5\xA5\xBD")};
    run_tokens(&pu, t7, N(t7), &c);
    CHECK(strcmp(c.text[CC], "\xE5\xA5\xBD\xE3\x80\x82\xE5\xA5\xBD") == 0 && !c.stop);
}

static void test_stop_only_in_content(void) {
    const char *s[] = {"Question:"};
    size_t l[1];
    stream_params p = stops(s, 1, l);
    p.start_in_reasoning = true;
    tk toks[] = {T("The Question:"), T(" is hard"), UNTHINK, T("\n\nAnswer. Question:"), T(" again")};
    collected c;
    run_tokens(&p, toks, N(toks), &c);
    CHECKF(strcmp(c.text[RC], "The Question: is hard") == 0, "<%s>", c.text[RC]);
    CHECKF(strcmp(c.text[CC], "Answer. ") == 0 && c.stop, "<%s>", c.text[CC]);
    /* nor inside tool calls */
    p.start_in_reasoning = false;
    tk t2[] = {TOOL, T("{\"name\":\"ask\",\"arguments\":{\"q\":\"Question: x\"}}"), UNTOOL, T("Question: y")};
    run_tokens(&p, t2, N(t2), &c);
    REQUIRE(c.n_calls == 1);
    CHECK(c.calls[0].valid && strstr(c.calls[0].args, "Question: x"));
    CHECK(c.len[CC] == 0 && c.stop);
}

/* The same text cut into pieces at every pair of points gives the same
 * output: nothing depends on where token boundaries fall. */
static void test_splits_do_not_matter(void) {
    const char *s[] = {"<END>", "\n\nQ:"};
    size_t l[2];
    stream_params p = stops(s, 2, l);
    p.start_in_reasoning = true;
    const char *reason = "\n\nthink <END> a\n\nQ: b\n\n";
    const char *answer = "\n\nThe <EN> answer\n\n\nis <END> not this";
    collected ref;
    tk whole[] = {{STREAM_MARK_NONE, reason}, UNTHINK, {STREAM_MARK_NONE, answer}};
    run_tokens(&p, whole, 3, &ref);
    CHECKF(strcmp(ref.text[RC], "think <END> a\n\nQ: b") == 0, "<%s>", ref.text[RC]);
    CHECKF(strcmp(ref.text[CC], "The <EN> answer\n\n\nis ") == 0 && ref.stop, "<%s>", ref.text[CC]);
    size_t al = strlen(answer), rl = strlen(reason);
    char a1[64], a2[64], a3[64], r1[64], r2[64];
    for (size_t i = 0; i <= al; i++) {
        for (size_t j = i; j <= al; j++) {
            memcpy(a1, answer, i); a1[i] = 0;
            memcpy(a2, answer + i, j - i); a2[j - i] = 0;
            memcpy(a3, answer + j, al - j); a3[al - j] = 0;
            size_t k = (i * 7 + j) % (rl + 1);
            memcpy(r1, reason, k); r1[k] = 0;
            memcpy(r2, reason + k, rl - k); r2[rl - k] = 0;
            tk t[] = {{STREAM_MARK_NONE, r1}, {STREAM_MARK_NONE, r2}, UNTHINK, {STREAM_MARK_NONE, a1},
                      {STREAM_MARK_NONE, a2}, {STREAM_MARK_NONE, a3}};
            collected c;
            run_tokens(&p, t, N(t), &c);
            CHECKF(strcmp(c.text[RC], ref.text[RC]) == 0, "split %zu/%zu/%zu: reasoning <%s>", k, i, j, c.text[RC]);
            CHECKF(strcmp(c.text[CC], ref.text[CC]) == 0, "split %zu/%zu: answer <%s>", i, j, c.text[CC]);
            CHECK(c.stop);
        }
    }
}

static void test_tool_calls_valid(void) {
    tk toks[] = {T("Let me check.\n"), TOOL, T("\n{\"name\": \"get_weather\", "),
                 T("\"arguments\": {\"city\": \"Paris\", \"opts\": {\"units\": \"c\", \"x\": [1, {\"y\": \"}\"}]}}}"),
                 T("\n"), UNTOOL, T("\n"), TOOL,
                 T("\n{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1, \\\"s\\\": \\\"\\u00e9\\\"}\"}\n"), UNTOOL,
                 T("\n")};
    collected c;
    run_tokens(NULL, toks, N(toks), &c);
    CHECKF(strcmp(c.text[CC], "Let me check.") == 0, "<%s>", c.text[CC]);
    REQUIRE(c.n_calls == 2);
    CHECK(c.calls[0].valid && strcmp(c.calls[0].name, "get_weather") == 0);
    CHECKF(strcmp(c.calls[0].args, "{\"city\":\"Paris\",\"opts\":{\"units\":\"c\",\"x\":[1,{\"y\":\"}\"}]}}") == 0, "%s",
           c.calls[0].args);
    CHECK(strcmp(c.calls[0].raw,
                 "\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"opts\": {\"units\": \"c\", "
                 "\"x\": [1, {\"y\": \"}\"}]}}}\n") == 0);
    CHECK(c.calls[0].error[0] == 0);
    CHECK(c.calls[1].valid && strcmp(c.calls[1].name, "f") == 0);
    CHECKF(strcmp(c.calls[1].args, "{\"a\":1,\"s\":\"\xC3\xA9\"}") == 0, "%s", c.calls[1].args);
    /* the tool channel streamed the raw text of both calls */
    CHECK(strstr(c.text[TC], "get_weather") && strstr(c.text[TC], "\\\"a\\\""));
    CHECK(strstr(c.text[TC], "tool_call") == NULL);

    /* no arguments, null arguments, extra members, a name with escapes */
    tk t2[] = {TOOL, T("{\"name\":\"now\"}"), UNTOOL, TOOL, T("{\"name\":\"n\\u00fc\",\"arguments\":null,\"id\":3}"),
               UNTOOL, TOOL, T(" {\"arguments\": {}, \"name\": \"z\"} "), UNTOOL};
    run_tokens(NULL, t2, N(t2), &c);
    REQUIRE(c.n_calls == 3);
    CHECK(c.calls[0].valid && strcmp(c.calls[0].args, "{}") == 0 && strcmp(c.calls[0].name, "now") == 0);
    CHECK(c.calls[1].valid && strcmp(c.calls[1].args, "{}") == 0 && strcmp(c.calls[1].name, "n\xC3\xBC") == 0);
    CHECK(c.calls[2].valid && strcmp(c.calls[2].args, "{}") == 0 && strcmp(c.calls[2].name, "z") == 0);
    /* the arguments written back parse, with the same members */
    json_doc *d;
    const char *big = "{\"name\":\"q\",\"arguments\":{\"text\":\"line1\\nline2 \\\"quoted\\\" \\\\ \\t\","
                      "\"n\":-1.5e3,\"list\":[true,false,null,{\"deep\":{\"er\":[[]]}}]}}";
    tk t3[] = {TOOL, {STREAM_MARK_NONE, big}, UNTOOL};
    run_tokens(NULL, t3, N(t3), &c);
    REQUIRE(c.n_calls == 1 && c.calls[0].valid);
    CHECKF(strcmp(c.calls[0].args, "{\"text\":\"line1\\nline2 \\\"quoted\\\" \\\\ \\t\",\"n\":-1.5e3,"
                                    "\"list\":[true,false,null,{\"deep\":{\"er\":[[]]}}]}") == 0, "%s", c.calls[0].args);
    REQUIRE(json_parse(c.calls[0].args, strlen(c.calls[0].args), &d) == QWQ_OK);
    CHECK(json_obj_size(json_root(d)) == 3);
    json_doc_free(d);
}

static void test_tool_calls_invalid(void) {
    static const struct { const char *body; const char *why; } cases[] = {
        {"not json", "not valid JSON"},
        {"{\"name\": \"f\", \"arguments\": {\"a\": 1}", "not valid JSON"}, /* a brace short */
        {"[1, 2]", "not a JSON object"},
        {"{\"arguments\": {}}", "no \"name\""},
        {"{\"name\": \"\", \"arguments\": {}}", "no \"name\""},
        {"{\"name\": 5, \"arguments\": {}}", "no \"name\""},
        {"{\"name\": \"f\", \"arguments\": [1]}", "\"arguments\" is not a JSON object"},
        {"{\"name\": \"f\", \"arguments\": 7}", "\"arguments\" is not a JSON object"},
        {"{\"name\": \"f\", \"arguments\": \"{oops\"}", "\"arguments\" is a string that is not valid JSON"},
        {"{\"name\": \"f\", \"arguments\": \"[1]\"}", "\"arguments\" is not a JSON object"},
        {"", "not valid JSON"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        tk t[] = {T("before"), TOOL, {STREAM_MARK_NONE, cases[i].body}, UNTOOL, T("after")};
        collected c;
        run_tokens(NULL, t, N(t), &c);
        REQUIRE(c.n_calls == 1);
        CHECKF(!c.calls[0].valid, "case %zu valid", i);
        CHECKF(strcmp(c.calls[0].raw, cases[i].body) == 0, "case %zu raw <%s>", i, c.calls[0].raw);
        CHECKF(strstr(c.calls[0].error, cases[i].why) != NULL, "case %zu: <%s>", i, c.calls[0].error);
        CHECK(c.calls[0].name[0] == 0 && c.calls[0].args[0] == 0);
        CHECK(strcmp(c.text[CC], "beforeafter") == 0);
    }
    /* unterminated at the end: reported by stream_finish */
    stream_proc *sp;
    REQUIRE(stream_new(NULL, &sp) == QWQ_OK);
    stream_out o;
    CHECK(stream_push(sp, 1, STREAM_MARK_TOOL_OPEN, "<tool_call>", 11, 0, &o) == QWQ_OK && !o.tool_call);
    CHECK(stream_push(sp, 2, STREAM_MARK_NONE, "{\"name\": \"f\"", 12, 0, &o) == QWQ_OK && !o.tool_call);
    CHECK(stream_finish(sp, &o) == QWQ_OK);
    REQUIRE(o.tool_call != NULL);
    CHECK(!o.tool_call->valid && strstr(o.tool_call->error, "unterminated") != NULL);
    CHECK(strcmp(o.tool_call->raw, "{\"name\": \"f\"") == 0 && o.tool_call->raw_len == 12);
    CHECK(stream_tool_calls(sp) == 0);
    CHECK(stream_finish(sp, &o) == QWQ_OK && o.tool_call == NULL && o.text_len == 0); /* once only */
    stream_free(sp);
}

static void test_final_flag(void) {
    const char *s[] = {"STOP"};
    size_t l[1];
    stream_params p = stops(s, 1, l);
    stream_proc *sp;
    REQUIRE(stream_new(&p, &sp) == QWQ_OK);
    stream_out o;
    CHECK(stream_push(sp, 1, STREAM_MARK_NONE, "a\n", 2, 0, &o) == QWQ_OK && strcmp(o.text, "a") == 0);
    CHECK(stream_push(sp, 2, STREAM_MARK_NONE, "ST", 2, STREAM_FINAL, &o) == QWQ_OK);
    CHECKF(strcmp(o.text, "\nST") == 0 && !o.stop_hit, "<%s>", o.text); /* everything held comes out */
    CHECK(stream_done(sp));
    CHECK(stream_push(sp, 3, STREAM_MARK_NONE, "x", 1, 0, &o) == QWQ_ERR_INVALID_ARGUMENT);
    stream_free(sp);
    /* final inside a tool call */
    REQUIRE(stream_new(NULL, &sp) == QWQ_OK);
    CHECK(stream_push(sp, 1, STREAM_MARK_TOOL_OPEN, "<tool_call>", 11, 0, &o) == QWQ_OK);
    CHECK(stream_push(sp, 2, STREAM_MARK_NONE, "{", 1, STREAM_FINAL, &o) == QWQ_OK);
    CHECK(o.tool_call && !o.tool_call->valid && strcmp(o.tool_call->raw, "{") == 0);
    CHECK(o.channel == TC && strcmp(o.text, "{") == 0);
    stream_free(sp);
    /* final on </tool_call>: the call is complete and valid */
    REQUIRE(stream_new(NULL, &sp) == QWQ_OK);
    CHECK(stream_push(sp, 1, STREAM_MARK_TOOL_OPEN, "<tool_call>", 11, 0, &o) == QWQ_OK);
    CHECK(stream_push(sp, 2, STREAM_MARK_NONE, "{\"name\":\"g\"}", 12, 0, &o) == QWQ_OK);
    CHECK(stream_push(sp, 3, STREAM_MARK_TOOL_CLOSE, "</tool_call>", 12, STREAM_FINAL, &o) == QWQ_OK);
    CHECK(o.tool_call && o.tool_call->valid && strcmp(o.tool_call->name, "g") == 0 && stream_tool_calls(sp) == 1);
    stream_free(sp);
    /* trailing reasoning newlines are released at the end (no </think>) */
    stream_params pr;
    stream_params_init(&pr);
    pr.start_in_reasoning = true;
    REQUIRE(stream_new(&pr, &sp) == QWQ_OK);
    CHECK(stream_push(sp, 1, STREAM_MARK_NONE, "cut\n", 4, 0, &o) == QWQ_OK && strcmp(o.text, "cut") == 0);
    CHECK(stream_finish(sp, &o) == QWQ_OK && strcmp(o.text, "\n") == 0 && o.channel == RC);
    stream_free(sp);
}

static void test_arguments(void) {
    stream_proc *sp = (stream_proc *)1;
    const char *s[] = {"ok", ""};
    size_t l[2] = {2, 0};
    stream_params p;
    stream_params_init(&p);
    p.stop = s;
    p.stop_len = l;
    p.n_stop = 2;
    CHECK(stream_new(&p, &sp) == QWQ_ERR_INVALID_ARGUMENT && sp == NULL);
    p.stop = NULL;
    CHECK(stream_new(&p, &sp) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(stream_new(NULL, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    REQUIRE(stream_new(NULL, &sp) == QWQ_OK);
    stream_out o;
    CHECK(stream_push(sp, 1, STREAM_MARK_NONE, NULL, 3, 0, &o) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(stream_push(sp, 1, STREAM_MARK_NONE, NULL, 0, 0, &o) == QWQ_OK && o.text_len == 0);
    CHECK(stream_push(sp, 1, (stream_mark)9, "x", 1, 0, &o) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(stream_push(sp, 1, STREAM_MARK_NONE, "x", 1, 4, &o) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(stream_push(sp, 1, STREAM_MARK_NONE, "x", 1, 0, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(!stream_done(sp));
    stream_free(sp);
    stream_free(NULL);
    /* the stop strings are copied */
    char buf[8] = "END";
    const char *bs[] = {buf};
    size_t bl[] = {3};
    p.stop = bs;
    p.stop_len = bl;
    p.n_stop = 1;
    REQUIRE(stream_new(&p, &sp) == QWQ_OK);
    strcpy(buf, "XXX");
    CHECK(stream_push(sp, 1, STREAM_MARK_NONE, "aEND", 4, 0, &o) == QWQ_OK && o.stop_hit && strcmp(o.text, "a") == 0);
    stream_free(sp);
}

/* Random token sequences: whatever the order of markup and text, the
 * answer never shows markup or a stop string, every output is accounted
 * for, and the counters agree with the per-push flags. */
static void test_random_sequences(void) {
    static const tk alphabet[] = {T("a"), T("\n"), T("\n\n"), T("ST"), T("OP"), T("S"), T("TOP"), T("{"),
                                  T("}"), T("\"name\": \"f\""), T(", "), T(""), T("\xC3\xA9"), THINK, UNTHINK,
                                  TOOL, UNTOOL};
    const char *s[] = {"STOP"};
    size_t l[1];
    uint64_t x = 12345;
    for (int round = 0; round < 3000; round++) {
        stream_params p = stops(s, 1, l);
        p.start_in_reasoning = round & 1;
        p.trim_newlines = (round & 2) != 0;
        tk seq[40];
        size_t n = 1 + (size_t)(round % 40);
        for (size_t i = 0; i < n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            seq[i] = alphabet[(x >> 33) % N(alphabet)];
        }
        collected c;
        run_tokens_sep(&p, seq, n, &c, true);
        CHECKF(strstr(c.text[CC], "STOP") == NULL, "round %d: <%s>", round, c.text[CC]);
        CHECK(strstr(c.text[CC], "think>") == NULL && strstr(c.text[CC], "tool_call>") == NULL);
        CHECK(strstr(c.text[RC], "think>") == NULL);
        CHECK(utf8_validate((const uint8_t *)c.text[CC], c.len[CC]) == c.len[CC]);
        CHECK(utf8_validate((const uint8_t *)c.text[RC], c.len[RC]) == c.len[RC]);
        if (p.trim_newlines) CHECK(c.len[RC] == 0 || (c.text[RC][0] != '\n'));
        for (int k = 0; k < c.n_calls; k++)
            CHECK(c.calls[k].valid ? c.calls[k].error[0] == 0 && c.calls[k].args[0] == '{' : c.calls[k].error[0] != 0);
    }
}

int main(void) {
    RUN(test_plain_content);
    RUN(test_start_in_reasoning);
    RUN(test_channel_switching);
    RUN(test_hide_reasoning);
    RUN(test_stray_markup);
    RUN(test_stop_split_across_pieces);
    RUN(test_stop_prefix_released);
    RUN(test_stop_only_in_content);
    RUN(test_splits_do_not_matter);
    RUN(test_tool_calls_valid);
    RUN(test_tool_calls_invalid);
    RUN(test_final_flag);
    RUN(test_arguments);
    RUN(test_random_sequences);
    return test_summary();
}
