/*
 * The public API (include/qwq.h): argument checks, then the components.
 * Every function here validates what the caller passed before touching
 * anything, and reports through err_set (the thread-local message).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "model/model.h"
#include "session/session.h"
#include "tokenizer/tokenizer.h"
#include "util/util.h"

/* ---- version, errors ---------------------------------------------------------- */

const char *qwq_version(void) { return QWQ_VERSION_STRING; }
int32_t qwq_version_number(void) { return QWQ_VERSION_NUMBER; }

const char *qwq_last_error(void) { return err_message(); }

const char *qwq_status_name(qwq_status status) {
    switch (status) {
    case QWQ_OK: return "QWQ_OK";
    case QWQ_ERR_INVALID_ARGUMENT: return "QWQ_ERR_INVALID_ARGUMENT";
    case QWQ_ERR_IO: return "QWQ_ERR_IO";
    case QWQ_ERR_FORMAT: return "QWQ_ERR_FORMAT";
    case QWQ_ERR_UNSUPPORTED: return "QWQ_ERR_UNSUPPORTED";
    case QWQ_ERR_OUT_OF_MEMORY: return "QWQ_ERR_OUT_OF_MEMORY";
    case QWQ_ERR_BUFFER_TOO_SMALL: return "QWQ_ERR_BUFFER_TOO_SMALL";
    case QWQ_ERR_CONTEXT_FULL: return "QWQ_ERR_CONTEXT_FULL";
    case QWQ_ERR_CANCELLED: return "QWQ_ERR_CANCELLED";
    case QWQ_ERR_INTERNAL: return "QWQ_ERR_INTERNAL";
    }
    return "QWQ_ERR_UNKNOWN";
}

/* ---- parameters ------------------------------------------------------------- */

void qwq_load_params_init(qwq_load_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->max_simd = QWQ_SIMD_AUTO;
}

void qwq_session_params_init(qwq_session_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
}

/* ---- models ------------------------------------------------------------------ */

qwq_status qwq_load(const char *path, const qwq_load_params *params, qwq_model **out_model) {
    if (!out_model) return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_load: out_model is NULL");
    *out_model = NULL;
    if (!path) return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_load: path is NULL");
    qwq_load_params p;
    qwq_load_params_init(&p);
    if (params) {
        if (params->struct_size < sizeof(size_t) || params->struct_size > (1u << 16))
            return err_set(QWQ_ERR_INVALID_ARGUMENT,
                           "qwq_load_params.struct_size is %zu: call qwq_load_params_init first", params->struct_size);
        size_t n = params->struct_size < sizeof p ? params->struct_size : sizeof p;
        memcpy((char *)&p + sizeof(size_t), (const char *)params + sizeof(size_t), n - sizeof(size_t));
        p.struct_size = sizeof p;
        if (p.flags & ~(QWQ_LOAD_VOCAB_ONLY | QWQ_LOAD_LARGE_PAGES))
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_load: unknown flags 0x%x", p.flags);
        if (p.max_simd < QWQ_SIMD_AUTO || p.max_simd > QWQ_SIMD_DOTPROD)
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_load: max_simd %d is not a qwq_simd_level", p.max_simd);
    }
    return model_load(path, &p, out_model);
}

void qwq_model_free(qwq_model *model) { model_free(model); }

#define MODEL_GETTER(type, fn, expr, fallback)                                        \
    type fn(const qwq_model *model) {                                                  \
        if (!model) {                                                                  \
            err_set(QWQ_ERR_INVALID_ARGUMENT, #fn ": model is NULL");                  \
            return fallback;                                                           \
        }                                                                              \
        return expr;                                                                   \
    }

MODEL_GETTER(int32_t, qwq_model_n_vocab, model->hp.n_vocab, 0)
MODEL_GETTER(int32_t, qwq_model_n_ctx_train, model->hp.n_ctx_train, 0)
MODEL_GETTER(qwq_token, qwq_model_eos, tokenizer_eos(model->tok), -1)
MODEL_GETTER(qwq_token, qwq_model_bos, tokenizer_bos(model->tok), -1)
MODEL_GETTER(qwq_token, qwq_model_pad, tokenizer_pad(model->tok), -1)
MODEL_GETTER(const char *, qwq_model_architecture, model->arch_name, NULL)
MODEL_GETTER(const char *, qwq_model_name, model->name, NULL)
MODEL_GETTER(const char *, qwq_model_chat_template, model->chat_template, NULL)
MODEL_GETTER(int32_t, qwq_model_n_layer, model->hp.n_layer, 0)
MODEL_GETTER(int32_t, qwq_model_n_embd, model->hp.n_embd, 0)
MODEL_GETTER(int32_t, qwq_model_n_head, model->hp.n_head, 0)
MODEL_GETTER(int32_t, qwq_model_n_head_kv, model->hp.n_head_kv, 0)
MODEL_GETTER(int32_t, qwq_model_head_dim, model->hp.head_dim, 0)
MODEL_GETTER(int32_t, qwq_model_n_ff, model->hp.n_ff, 0)
MODEL_GETTER(uint64_t, qwq_model_n_params, model->n_params, 0)
MODEL_GETTER(uint64_t, qwq_model_weight_bytes, model->weight_bytes, 0)
MODEL_GETTER(int32_t, qwq_model_simd_level, model->simd_level, 0)

qwq_status qwq_model_token_id(const qwq_model *model, const char *text, size_t text_len, qwq_token *out_token) {
    if (!model || !out_token || (!text && text_len))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_model_token_id: NULL argument");
    qwq_token id = tokenizer_find(model->tok, text, text_len);
    if (id < 0)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "no token has the text '%.*s'", (int)(text_len > 64 ? 64 : text_len),
                       text);
    *out_token = id;
    return QWQ_OK;
}

/* ---- metadata as text ----------------------------------------------------------- */

/* A growable text buffer for qwq_model_meta. */
typedef struct textbuf {
    char *p;
    size_t len, cap;
    bool failed;
} textbuf;

static void tb_put(textbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void tb_printf(textbuf *b, const char *fmt, ...) QWQ_PRINTF(2, 3);
static void tb_printf(textbuf *b, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) tb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void tb_json_string(textbuf *b, const char *s, size_t n) {
    tb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            tb_put(b, e, 2);
        } else if (c < 0x20) {
            tb_printf(b, "\\u%04x", c);
        } else {
            tb_put(b, (const char *)&s[i], 1);
        }
    }
    tb_put(b, "\"", 1);
}

static void tb_scalar(textbuf *b, gguf_type type, const uint8_t *p) {
    switch (type) {
    case GGUF_TYPE_UINT8: tb_printf(b, "%u", p[0]); break;
    case GGUF_TYPE_INT8: tb_printf(b, "%d", (int8_t)p[0]); break;
    case GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, p, 2); tb_printf(b, "%u", v); break; }
    case GGUF_TYPE_INT16: { int16_t v; memcpy(&v, p, 2); tb_printf(b, "%d", v); break; }
    case GGUF_TYPE_UINT32: { uint32_t v; memcpy(&v, p, 4); tb_printf(b, "%" PRIu32, v); break; }
    case GGUF_TYPE_INT32: { int32_t v; memcpy(&v, p, 4); tb_printf(b, "%" PRId32, v); break; }
    case GGUF_TYPE_UINT64: { uint64_t v; memcpy(&v, p, 8); tb_printf(b, "%" PRIu64, v); break; }
    case GGUF_TYPE_INT64: { int64_t v; memcpy(&v, p, 8); tb_printf(b, "%" PRId64, v); break; }
    case GGUF_TYPE_FLOAT32: { float v; memcpy(&v, p, 4); tb_printf(b, "%.9g", (double)v); break; }
    case GGUF_TYPE_FLOAT64: { double v; memcpy(&v, p, 8); tb_printf(b, "%.17g", v); break; }
    case GGUF_TYPE_BOOL: tb_printf(b, "%s", p[0] ? "true" : "false"); break;
    default: break;
    }
}

qwq_status qwq_model_meta(const qwq_model *model, const char *key, char *out, size_t cap, size_t *n_out) {
    if (!model || !key || !n_out || (!out && cap))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_model_meta: NULL argument");
    const gguf_kv *kv = gguf_find_kv(model->file, key);
    if (!kv) return err_set(QWQ_ERR_INVALID_ARGUMENT, "the model has no metadata '%s'", key);
    textbuf b = {0};
    if (kv->type == GGUF_TYPE_STRING) {
        gguf_str s;
        gguf_get_str(model->file, key, &s);
        tb_put(&b, s.ptr, (size_t)s.len);
    } else if (kv->type == GGUF_TYPE_ARRAY) {
        tb_put(&b, "[", 1);
        for (uint64_t i = 0; i < kv->arr_len; i++) {
            if (i) tb_put(&b, ",", 1);
            if (kv->arr_type == GGUF_TYPE_STRING) {
                gguf_str s = gguf_arr_str(kv, i);
                tb_json_string(&b, s.ptr, (size_t)s.len);
            } else {
                tb_scalar(&b, kv->arr_type, kv->data + i * gguf_type_size(kv->arr_type));
            }
        }
        tb_put(&b, "]", 1);
    } else {
        tb_scalar(&b, kv->type, kv->data);
    }
    tb_put(&b, "", 0);
    if (b.failed) {
        free(b.p);
        return err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory rendering metadata '%s'", key);
    }
    *n_out = b.len;
    qwq_status st = QWQ_OK;
    if (cap < b.len) {
        st = err_set(QWQ_ERR_BUFFER_TOO_SMALL, "metadata '%s' needs %zu bytes, the buffer has %zu", key, b.len, cap);
    } else {
        if (b.len) memcpy(out, b.p, b.len);
        if (cap > b.len) out[b.len] = 0;
    }
    free(b.p);
    return st;
}

/* ---- tokens ---------------------------------------------------------------------- */

qwq_status qwq_tokenize(const qwq_model *model, const char *text, size_t text_len, uint32_t flags, qwq_token *out,
                        size_t cap, size_t *n_out) {
    if (!model || !n_out || (!text && text_len) || (!out && cap))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_tokenize: NULL argument");
    if (flags & ~QWQ_TOKENIZE_SPECIAL) return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_tokenize: unknown flags 0x%x", flags);
    return tokenizer_encode(model->tok, text ? text : "", text_len, flags, out, cap, n_out);
}

qwq_status qwq_detokenize(const qwq_model *model, const qwq_token *tokens, size_t n_tokens, uint32_t flags, char *out,
                          size_t cap, size_t *n_out) {
    if (!model || !n_out || (!tokens && n_tokens) || (!out && cap))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_detokenize: NULL argument");
    if (flags & ~QWQ_DETOKENIZE_SKIP_SPECIAL)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_detokenize: unknown flags 0x%x", flags);
    for (size_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= model->hp.n_vocab)
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "token %zu is %d, outside [0, %d)", i, tokens[i], model->hp.n_vocab);
    return tokenizer_decode(model->tok, tokens, n_tokens, flags, out, cap, n_out);
}

/* ---- sessions ------------------------------------------------------------------- */

qwq_status qwq_session_new(qwq_model *model, const qwq_session_params *params, qwq_session **out_session) {
    if (!out_session) return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_session_new: out_session is NULL");
    *out_session = NULL;
    if (!model) return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_session_new: model is NULL");
    return session_create(model, params, out_session);
}

void qwq_session_free(qwq_session *session) { session_destroy(session); }

qwq_status qwq_session_eval(qwq_session *session, const qwq_token *tokens, size_t n_tokens, uint32_t flags) {
    if (!session) return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_session_eval: session is NULL");
    return session_eval(session, tokens, n_tokens, flags);
}

const float *qwq_session_logits(const qwq_session *session, int32_t i) {
    if (!session) {
        err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_session_logits: session is NULL");
        return NULL;
    }
    return session_logits(session, i);
}

int32_t qwq_session_n_past(const qwq_session *session) {
    if (!session) {
        err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_session_n_past: session is NULL");
        return 0;
    }
    return session->n_past;
}

int32_t qwq_session_n_ctx(const qwq_session *session) {
    if (!session) {
        err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_session_n_ctx: session is NULL");
        return 0;
    }
    return session->params.n_ctx;
}

qwq_status qwq_session_truncate(qwq_session *session, int32_t n_keep) {
    if (!session) return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_session_truncate: session is NULL");
    return session_truncate(session, n_keep);
}

qwq_status qwq_session_fork(const qwq_session *session, qwq_session **out_session) {
    if (!out_session) return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_session_fork: out_session is NULL");
    *out_session = NULL;
    if (!session) return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_session_fork: session is NULL");
    return session_fork(session, out_session);
}

qwq_status qwq_session_tokens(const qwq_session *session, qwq_token *out, size_t cap, size_t *n_out) {
    if (!session || !n_out || (!out && cap))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_session_tokens: NULL argument");
    size_t n = (size_t)session->n_past;
    *n_out = n;
    if (cap < n) return err_set(QWQ_ERR_BUFFER_TOO_SMALL, "the session holds %zu tokens, the buffer has room for %zu", n, cap);
    if (n) memcpy(out, session->tokens, n * sizeof *out);
    return QWQ_OK;
}

/* ---- chat ----------------------------------------------------------------------- */

qwq_status qwq_chat_render(const qwq_model *model, const char *request_json, char *out, size_t cap, size_t *n_out) {
    if (!model || !request_json || !n_out || (!out && cap))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_chat_render: NULL argument");
    return err_set(QWQ_ERR_UNSUPPORTED, "qwq_chat_render: the chat template engine is not part of this version yet");
}

qwq_status qwq_chat(qwq_session *session, const char *request_json, qwq_stream_callback callback, void *user_data) {
    (void)callback;
    (void)user_data;
    if (!session || !request_json) return err_set(QWQ_ERR_INVALID_ARGUMENT, "qwq_chat: NULL argument");
    return err_set(QWQ_ERR_UNSUPPORTED, "qwq_chat: the chat template engine is not part of this version yet");
}
