/*
 * qwq_generate: sample, evaluate, stream. One token per step:
 *
 *   logits -> sampler -> token -> (end of turn? stop) -> UTF-8 piece
 *          -> stream (channels, markup, stop strings, tool calls)
 *          -> TOKEN / TOOL_CALL events -> evaluate the token -> logits
 *
 * The text side lives in stream.c; this file drives the model. Generation
 * starts in reasoning when the context's last think marker is an open
 * <think> (QwQ's and DeepSeek-R1's templates end the prompt with one).
 * Every sampled token except the end-of-turn token is evaluated, so the
 * session holds the whole exchange and a later call continues it. Only the
 * generated tokens feed the sampler's penalties.
 */
#include <stdlib.h>
#include <string.h>

#include "generate/stream.h"
#include "sample/sample.h"
#include "session/session.h"
#include "tokenizer/tokenizer.h"
#include "util/util.h"

typedef struct markup {
    qwq_token think_open, think_close, tool_open, tool_close, end_of_text;
} markup;

typedef struct gen_state {
    qwq_session *s;
    const gen_options *opt;
    qwq_stream_callback cb;
    void *user;
    markup mk;
    stream_proc *text;
    tok_stream utf8;
    char *piece; /* one token's text */
    size_t piece_cap;
    qwq_usage usage;
    bool cancelled;
} gen_state;

static qwq_token find_token(const tokenizer *t, const char *text) { return tokenizer_find(t, text, strlen(text)); }

static void deliver(gen_state *g, const qwq_event *e) {
    if (g->cb && !g->cancelled && g->cb(e, g->user) != 0) g->cancelled = true;
}

/* The TOKEN event of one stream output, then its completed tool call. */
static void emit(gen_state *g, qwq_token token, const stream_out *o) {
    qwq_event e = {0};
    e.type = QWQ_EVENT_TOKEN;
    e.token = token;
    e.channel = o->channel;
    e.text = o->text;
    e.text_len = o->text_len;
    e.tool_name = e.tool_arguments_json = e.tool_call_raw = "";
    deliver(g, &e);
    if (o->tool_call) {
        qwq_event t = {0};
        t.type = QWQ_EVENT_TOOL_CALL;
        t.token = token;
        t.channel = QWQ_CHANNEL_TOOL_CALL;
        t.text = "";
        t.tool_call_valid = o->tool_call->valid;
        t.tool_name = o->tool_call->name;
        t.tool_arguments_json = o->tool_call->arguments;
        t.tool_call_raw = o->tool_call->raw;
        deliver(g, &t);
    }
}

static stream_mark mark_of(const markup *mk, qwq_token t) {
    if (t < 0) return STREAM_MARK_NONE;
    if (t == mk->think_open) return STREAM_MARK_THINK_OPEN;
    if (t == mk->think_close) return STREAM_MARK_THINK_CLOSE;
    if (t == mk->tool_open) return STREAM_MARK_TOOL_OPEN;
    if (t == mk->tool_close) return STREAM_MARK_TOOL_CLOSE;
    return STREAM_MARK_NONE;
}

/* One generated token through the UTF-8 decoder and the text stream. */
static qwq_status push_token(gen_state *g, qwq_token tok, stream_out *o) {
    stream_mark mark = mark_of(&g->mk, tok);
    size_t n = 0;
    if (mark == STREAM_MARK_NONE) {
        size_t len = 0;
        tokenizer_piece(g->s->model->tok, tok, &len);
        size_t need = TOK_STREAM_OUT_MAX(len);
        if (need > g->piece_cap) {
            char *p = realloc(g->piece, need);
            if (!p) return err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory for a token's text");
            g->piece = p;
            g->piece_cap = need;
        }
        n = tok_stream_push(&g->utf8, g->s->model->tok, tok, QWQ_DETOKENIZE_SKIP_SPECIAL, g->piece, g->piece_cap);
    }
    return stream_push(g->text, tok, mark, n ? g->piece : "", n, 0, o);
}

/* The end: bytes of an unfinished character (as U+FFFD), held-back text, an
 * open tool call. */
static qwq_status finish_text(gen_state *g) {
    if (stream_done(g->text)) return QWQ_OK;
    char tail[TOK_STREAM_FLUSH_MAX];
    size_t n = tok_stream_flush(&g->utf8, tail, sizeof tail);
    stream_out o;
    qwq_status st = n ? stream_push(g->text, -1, STREAM_MARK_NONE, tail, n, STREAM_FINAL, &o)
                      : stream_finish(g->text, &o);
    if (!st && (o.text_len || o.tool_call)) emit(g, -1, &o);
    return st;
}

static uint64_t clock_seed(const void *salt) {
    double t = time_now();
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);
    return bits ^ (uint64_t)(uintptr_t)salt * 0x9e3779b97f4a7c15ull;
}

/* Whether the context leaves generation inside an unclosed <think>. */
static bool context_in_reasoning(const qwq_session *s, const markup *mk) {
    qwq_token eos = tokenizer_eos(s->model->tok);
    for (int32_t i = s->n_past - 1; i >= 0; i--) {
        qwq_token t = s->tokens[i];
        if (t == mk->think_open && t >= 0) return true;
        if ((t == mk->think_close && t >= 0) || t == eos) return false; /* closed, or an earlier turn */
    }
    return false;
}

static qwq_status run(gen_state *g, qwq_finish_reason *finish) {
    qwq_session *s = g->s;
    qwq_token eos = tokenizer_eos(s->model->tok);
    sampler *smp = NULL;
    uint64_t seed = g->opt->has_seed ? g->opt->seed : clock_seed(g);
    qwq_status st = sampler_new(g->opt, s->model->hp.n_vocab, seed, &smp);
    if (st) return st;
    int64_t budget = g->opt->reasoning_max_tokens;
    *finish = QWQ_FINISH_LENGTH;
    for (;;) {
        if (g->opt->max_tokens >= 0 && g->usage.completion_tokens >= g->opt->max_tokens) break;
        if (s->n_past >= s->params.n_ctx) break;
        qwq_token tok;
        if (budget >= 0 && g->usage.reasoning_tokens >= budget && g->mk.think_close >= 0 &&
            stream_channel(g->text) == QWQ_CHANNEL_REASONING) {
            tok = g->mk.think_close; /* the reasoning budget is spent: close the block */
        } else if ((tok = sampler_sample(smp, session_logits(s, -1))) < 0) {
            st = err_prefix(QWQ_ERR_INVALID_ARGUMENT, "no token can be sampled");
            break;
        }
        if ((st = sampler_accept(smp, tok))) break;
        if (tok == eos || (tok == g->mk.end_of_text && tok >= 0)) {
            *finish = QWQ_FINISH_STOP;
            break;
        }
        g->usage.completion_tokens++;
        stream_out o;
        if ((st = push_token(g, tok, &o))) break;
        if (o.reasoning_token) g->usage.reasoning_tokens++;
        emit(g, tok, &o);
        if ((st = session_eval(s, &tok, 1, 0))) break;
        if (o.stop_hit) {
            *finish = QWQ_FINISH_STOP;
            break;
        }
        if (g->cancelled) break;
    }
    sampler_free(smp);
    if (!st && !g->cancelled) st = finish_text(g);
    if (*finish == QWQ_FINISH_STOP && stream_tool_calls(g->text) > 0) *finish = QWQ_FINISH_TOOL_CALLS;
    if (g->cancelled) *finish = QWQ_FINISH_CANCELLED;
    return st;
}

qwq_status qwq_generate(qwq_session *session, const qwq_token *prompt, size_t n_prompt, const char *options_json,
                        qwq_stream_callback callback, void *user_data) {
    if (!session) return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_generate: session is NULL");
    if (!prompt && n_prompt) return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_generate: prompt is NULL");
    gen_options opt;
    qwq_status st = gen_options_parse(options_json, options_json ? strlen(options_json) : 0, &opt);
    if (st) return err_prefix(st, "options_json");
    gen_state g = {0};
    if (opt.response_format != GEN_RESPONSE_TEXT) {
        st = err_set(QWQ_ERR_UNSUPPORTED, "options_json: response_format json_object/json_schema is not supported yet");
        goto out;
    }
    if ((st = gen_options_check_vocab(&opt, session->model->hp.n_vocab))) {
        st = err_prefix(st, "options_json");
        goto out;
    }
    if (n_prompt == 0 && !session->logits_valid) {
        st = err_set(QWQ_ERR_INVALID_ARGUMENT,
                     "qwq_generate: no prompt and no logits to continue from (evaluate a prompt first)");
        goto out;
    }
    if (n_prompt && (st = session_eval(session, prompt, n_prompt, 0))) goto out;
    const tokenizer *tk = session->model->tok;
    g.s = session;
    g.opt = &opt;
    g.cb = callback;
    g.user = user_data;
    g.mk = (markup){find_token(tk, "<think>"), find_token(tk, "</think>"), find_token(tk, "<tool_call>"),
                    find_token(tk, "</tool_call>"), find_token(tk, "<|endoftext|>")};
    g.usage.prompt_tokens = (int32_t)n_prompt;
    tok_stream_init(&g.utf8);
    stream_params sp;
    stream_params_init(&sp);
    sp.start_in_reasoning = context_in_reasoning(session, &g.mk);
    sp.hide_reasoning = opt.reasoning_exclude;
    sp.stop = (const char *const *)opt.stop;
    sp.stop_len = opt.stop_len;
    sp.n_stop = opt.n_stop;
    if ((st = stream_new(&sp, &g.text))) goto out;
    qwq_finish_reason finish;
    if ((st = run(&g, &finish))) goto out;
    qwq_event done = {0};
    done.type = QWQ_EVENT_DONE;
    done.token = -1;
    done.channel = stream_channel(g.text);
    done.text = done.tool_name = done.tool_arguments_json = done.tool_call_raw = "";
    done.finish_reason = finish;
    done.usage = g.usage;
    bool cancelled = g.cancelled;
    g.cancelled = false; /* DONE is delivered even after a cancel */
    deliver(&g, &done);
    if (cancelled) st = err_set(QWQ_ERR_CANCELLED, "generation cancelled by the callback");
out:
    stream_free(g.text);
    free(g.piece);
    gen_options_free(&opt);
    return st;
}
