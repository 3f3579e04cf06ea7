/*
 * qwq_generate: sample, evaluate, stream. One token per step:
 *
 *   logits -> sampler -> token -> (end of turn? stop) -> text piece
 *          -> channel (reasoning / answer / tool call) -> stop strings
 *          -> TOKEN event -> evaluate the token -> next logits
 *
 * Channels follow the markup tokens: <think> ... </think> is reasoning,
 * <tool_call> ... </tool_call> a tool call (parsed into a TOOL_CALL event
 * when it closes); the markup itself is never part of the text. Generation
 * starts in reasoning when the context's last think marker is an open
 * <think> (QwQ's and DeepSeek-R1's templates end the prompt with one).
 * Stop strings apply to the answer only (reasoning may mention them); text
 * that could be the start of a stop string is held back until it cannot.
 * Every sampled token except the end-of-turn token is evaluated, so the
 * session holds the whole exchange and a later call continues it.
 */
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
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
    qwq_channel channel;
    tok_stream utf8;
    json_buf held;     /* answer text held back for stop strings */
    json_buf tool;     /* raw text of the open tool call */
    char *piece;       /* scratch for one token's text */
    size_t piece_cap;
    qwq_usage usage;
    int n_tool_calls;
    bool cancelled, stopped;
} gen_state;

static qwq_token find_token(const tokenizer *t, const char *text) { return tokenizer_find(t, text, strlen(text)); }

static int deliver(gen_state *g, const qwq_event *e) {
    if (!g->cb || g->cancelled) return 0;
    if (g->cb(e, g->user) != 0) g->cancelled = true;
    return 0;
}

static void emit_text(gen_state *g, qwq_token token, qwq_channel channel, const char *text, size_t len) {
    if (channel == QWQ_CHANNEL_REASONING && g->opt->reasoning_exclude) return;
    qwq_event e = {0};
    e.type = QWQ_EVENT_TOKEN;
    e.token = token;
    e.channel = channel;
    e.text = text ? text : "";
    e.text_len = len;
    e.tool_name = e.tool_arguments_json = e.tool_call_raw = "";
    deliver(g, &e);
}

/* Longest suffix of text that is a proper prefix of some stop string. */
static size_t stop_prefix_len(const gen_options *o, const char *text, size_t len) {
    size_t best = 0;
    for (size_t i = 0; i < o->n_stop; i++) {
        size_t sl = o->stop_len[i];
        for (size_t k = sl - 1 < len ? sl - 1 : len; k > best; k--)
            if (memcmp(text + len - k, o->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

static const char *find_stop(const gen_options *o, const char *text, size_t len) {
    const char *first = NULL;
    for (size_t i = 0; i < o->n_stop; i++) {
        size_t sl = o->stop_len[i];
        for (size_t at = 0; at + sl <= len; at++)
            if (memcmp(text + at, o->stop[i], sl) == 0) {
                if (!first || text + at < first) first = text + at;
                break;
            }
    }
    return first;
}

/* Answer text goes through the stop-string filter; the rest straight out. */
static qwq_status route_text(gen_state *g, qwq_token token, const char *text, size_t len) {
    if (g->channel == QWQ_CHANNEL_TOOL_CALL) {
        if (json_buf_append(&g->tool, text, len)) return QWQ_ERR_OUT_OF_MEMORY;
        emit_text(g, token, g->channel, text, len);
        return QWQ_OK;
    }
    if (g->channel == QWQ_CHANNEL_REASONING || g->opt->n_stop == 0) {
        emit_text(g, token, g->channel, text, len);
        return QWQ_OK;
    }
    if (json_buf_append(&g->held, text, len)) return QWQ_ERR_OUT_OF_MEMORY;
    const char *hit = find_stop(g->opt, g->held.data, g->held.len);
    if (hit) {
        emit_text(g, token, g->channel, g->held.data, (size_t)(hit - g->held.data));
        json_buf_reset(&g->held);
        g->stopped = true;
        return QWQ_OK;
    }
    size_t keep = stop_prefix_len(g->opt, g->held.data, g->held.len);
    size_t out = g->held.len - keep;
    emit_text(g, token, g->channel, g->held.data, out);
    memmove(g->held.data, g->held.data + out, keep);
    g->held.len = keep;
    return QWQ_OK;
}

/* Held-back answer text and incomplete UTF-8, at a channel switch or the end. */
static qwq_status flush_text(gen_state *g, qwq_token token) {
    char tail[TOK_STREAM_FLUSH_MAX];
    size_t n = tok_stream_flush(&g->utf8, tail, sizeof tail);
    qwq_status st = n ? route_text(g, token, tail, n) : QWQ_OK;
    if (st || g->stopped) return st;
    if (g->held.len) {
        emit_text(g, token, g->channel, g->held.data, g->held.len);
        json_buf_reset(&g->held);
    }
    return QWQ_OK;
}

/* Qwen's tool call: {"name": "...", "arguments": {...}}; arguments may also
 * be a string holding JSON. */
static void finish_tool_call(gen_state *g) {
    qwq_event e = {0};
    e.type = QWQ_EVENT_TOOL_CALL;
    e.tool_name = e.tool_arguments_json = "";
    if (json_buf_append(&g->tool, "", 1)) return; /* NUL-terminate for tool_call_raw */
    g->tool.len--;
    e.tool_call_raw = g->tool.data ? g->tool.data : "";
    json_doc *doc = NULL;
    json_buf args;
    json_buf_init(&args);
    char *name = NULL;
    if (json_parse(g->tool.data ? g->tool.data : "", g->tool.len, &doc) == QWQ_OK) {
        const json_value *root = json_root(doc);
        const json_value *nv = json_obj_get(root, "name");
        const json_value *av = json_obj_get(root, "arguments");
        size_t name_len = 0;
        const char *nm = json_type(nv) == JSON_STRING ? json_str(nv, &name_len) : NULL;
        json_doc *inner = NULL;
        if (json_type(av) == JSON_STRING) { /* arguments given as a JSON string */
            size_t alen = 0;
            const char *a = json_str(av, &alen);
            av = json_parse(a, alen, &inner) == QWQ_OK ? json_root(inner) : NULL;
        }
        if (nm && json_type(av) == JSON_OBJECT && json_write_value(&args, av, 0) == QWQ_OK &&
            json_buf_append(&args, "", 1) == QWQ_OK && (name = str_dup_n(nm, name_len, "tool name"))) {
            e.tool_call_valid = 1;
            e.tool_name = name;
            e.tool_arguments_json = args.data;
            g->n_tool_calls++;
        }
        json_doc_free(inner);
    }
    deliver(g, &e);
    free(name);
    json_buf_free(&args);
    json_doc_free(doc);
    json_buf_reset(&g->tool);
}

/* A markup token switches the channel; it has no text of its own. */
static qwq_status handle_markup(gen_state *g, qwq_token tok) {
    qwq_status st = flush_text(g, tok);
    if (st || g->stopped) return st;
    const markup *mk = &g->mk;
    qwq_channel event_channel = g->channel;
    if (tok == mk->think_open || tok == mk->think_close) {
        event_channel = QWQ_CHANNEL_REASONING;
        g->channel = tok == mk->think_open ? QWQ_CHANNEL_REASONING : QWQ_CHANNEL_CONTENT;
    } else if (tok == mk->tool_open) {
        event_channel = g->channel = QWQ_CHANNEL_TOOL_CALL;
        json_buf_reset(&g->tool);
    } else { /* tool_close */
        event_channel = QWQ_CHANNEL_TOOL_CALL;
        if (g->channel == QWQ_CHANNEL_TOOL_CALL) finish_tool_call(g);
        g->channel = QWQ_CHANNEL_CONTENT;
    }
    if (event_channel == QWQ_CHANNEL_REASONING) g->usage.reasoning_tokens++;
    emit_text(g, tok, event_channel, "", 0);
    return QWQ_OK;
}

static bool is_markup(const markup *mk, qwq_token t) {
    return t >= 0 && (t == mk->think_open || t == mk->think_close || t == mk->tool_open || t == mk->tool_close);
}

static qwq_status step_text(gen_state *g, qwq_token tok) {
    const tokenizer *tk = g->s->model->tok;
    size_t len = 0;
    tokenizer_piece(tk, tok, &len);
    size_t need = TOK_STREAM_OUT_MAX(len);
    if (need > g->piece_cap) {
        char *p = realloc(g->piece, need);
        if (!p) return err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory for a token's text");
        g->piece = p;
        g->piece_cap = need;
    }
    size_t n = tok_stream_push(&g->utf8, tk, tok, QWQ_DETOKENIZE_SKIP_SPECIAL, g->piece, g->piece_cap);
    if (g->channel == QWQ_CHANNEL_REASONING) g->usage.reasoning_tokens++;
    return route_text(g, tok, g->piece, n);
}

static uint64_t clock_seed(const void *salt) {
    double t = time_now();
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);
    return bits ^ (uint64_t)(uintptr_t)salt * 0x9e3779b97f4a7c15ull;
}

/* The channel the context leaves generation in: reasoning after an
 * unclosed <think>. */
static qwq_channel initial_channel(const qwq_session *s, const markup *mk) {
    for (int32_t i = s->n_past - 1; i >= 0; i--) {
        qwq_token t = s->tokens[i];
        if (t == mk->think_open && t >= 0) return QWQ_CHANNEL_REASONING;
        if (t == mk->think_close && t >= 0) return QWQ_CHANNEL_CONTENT;
        if (t == tokenizer_eos(s->model->tok)) return QWQ_CHANNEL_CONTENT; /* an earlier turn */
    }
    return QWQ_CHANNEL_CONTENT;
}

static qwq_status run(gen_state *g, qwq_finish_reason *finish) {
    qwq_session *s = g->s;
    const tokenizer *tk = s->model->tok;
    qwq_token eos = tokenizer_eos(tk);
    sampler *smp = NULL;
    uint64_t seed = g->opt->has_seed ? g->opt->seed : clock_seed(g);
    qwq_status st = sampler_new(g->opt, s->model->hp.n_vocab, seed, &smp);
    if (st) return st;
    int64_t reasoning_budget = g->opt->reasoning_max_tokens;
    *finish = QWQ_FINISH_LENGTH;
    for (;;) {
        if (g->opt->max_tokens >= 0 && g->usage.completion_tokens >= g->opt->max_tokens) break;
        if (s->n_past >= s->params.n_ctx) break;
        qwq_token tok;
        if (g->channel == QWQ_CHANNEL_REASONING && reasoning_budget >= 0 &&
            g->usage.reasoning_tokens >= reasoning_budget && g->mk.think_close >= 0) {
            tok = g->mk.think_close; /* the reasoning budget is spent: close the block */
        } else {
            tok = sampler_sample(smp, session_logits(s, -1));
            if (tok < 0) {
                st = err_prefix(QWQ_ERR_INVALID_ARGUMENT, "no token can be sampled");
                break;
            }
        }
        if ((st = sampler_accept(smp, tok))) break;
        if (tok == eos || tok == g->mk.end_of_text) {
            *finish = g->n_tool_calls ? QWQ_FINISH_TOOL_CALLS : QWQ_FINISH_STOP;
            break;
        }
        g->usage.completion_tokens++;
        st = is_markup(&g->mk, tok) ? handle_markup(g, tok) : step_text(g, tok);
        if (st) break;
        if ((st = session_eval(s, &tok, 1, 0))) break;
        if (g->stopped) {
            *finish = QWQ_FINISH_STOP;
            break;
        }
        if (g->cancelled) break;
    }
    sampler_free(smp);
    if (!st && !g->stopped && !g->cancelled) st = flush_text(g, -1);
    if (g->stopped) *finish = QWQ_FINISH_STOP;
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
    if (opt.response_format != GEN_RESPONSE_TEXT) {
        gen_options_free(&opt);
        return err_set(QWQ_ERR_UNSUPPORTED, "options_json: response_format json_object/json_schema is not supported yet");
    }
    if ((st = gen_options_check_vocab(&opt, session->model->hp.n_vocab))) {
        gen_options_free(&opt);
        return err_prefix(st, "options_json");
    }
    if (n_prompt == 0 && !session->logits_valid) {
        gen_options_free(&opt);
        return err_set(QWQ_ERR_INVALID_ARGUMENT,
                       "qwq_generate: no prompt and no logits to continue from (evaluate a prompt first)");
    }
    if (n_prompt && (st = session_eval(session, prompt, n_prompt, 0))) {
        gen_options_free(&opt);
        return st;
    }
    const tokenizer *tk = session->model->tok;
    gen_state g = {0};
    g.s = session;
    g.opt = &opt;
    g.cb = callback;
    g.user = user_data;
    g.mk = (markup){find_token(tk, "<think>"), find_token(tk, "</think>"), find_token(tk, "<tool_call>"),
                    find_token(tk, "</tool_call>"), find_token(tk, "<|endoftext|>")};
    g.channel = initial_channel(session, &g.mk);
    g.usage.prompt_tokens = (int32_t)n_prompt;
    tok_stream_init(&g.utf8);
    json_buf_init(&g.held);
    json_buf_init(&g.tool);
    qwq_finish_reason finish;
    st = run(&g, &finish);
    if (!st) {
        qwq_event done = {0};
        done.type = QWQ_EVENT_DONE;
        done.token = -1;
        done.channel = g.channel;
        done.text = done.tool_name = done.tool_arguments_json = done.tool_call_raw = "";
        done.finish_reason = finish;
        done.usage = g.usage;
        bool cancelled = g.cancelled;
        g.cancelled = false; /* DONE is delivered even after a cancel */
        deliver(&g, &done);
        if (cancelled) st = err_set(QWQ_ERR_CANCELLED, "generation cancelled by the callback");
    }
    free(g.piece);
    json_buf_free(&g.held);
    json_buf_free(&g.tool);
    gen_options_free(&opt);
    return st;
}
