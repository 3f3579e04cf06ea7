#include "session/session.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static qwq_status resolve_params(const qwq_model *m, const qwq_session_params *in, qwq_session_params *out) {
    qwq_session_params_init(out);
    if (in) {
        if (in->struct_size < sizeof(size_t) || in->struct_size > (1u << 16))
            return err_set(QWQ_ERR_INVALID_ARGUMENT,
                           "qwq_session_params.struct_size is %zu: call qwq_session_params_init first", in->struct_size);
        /* Fields beyond what the caller's header knew keep their defaults. */
        size_t n = in->struct_size < sizeof *out ? in->struct_size : sizeof *out;
        memcpy((char *)out + sizeof(size_t), (const char *)in + sizeof(size_t), n - sizeof(size_t));
        out->struct_size = sizeof *out;
    }
    int32_t train = m->hp.n_ctx_train;
    if (out->n_ctx < 0) return err_set(QWQ_ERR_INVALID_ARGUMENT, "n_ctx %d is negative", out->n_ctx);
    if (out->n_ctx == 0) out->n_ctx = train < 4096 ? train : 4096;
    if (out->n_ctx > train)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "n_ctx %d exceeds the model's training context of %d tokens",
                       out->n_ctx, train);
    if (out->n_threads < 0 || out->n_threads > 1024)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "n_threads %d is out of range [0, 1024]", out->n_threads);
    if (out->n_threads == 0) out->n_threads = pool_default_threads();
    if (out->n_batch < 0) return err_set(QWQ_ERR_INVALID_ARGUMENT, "n_batch %d is negative", out->n_batch);
    if (out->n_batch == 0) out->n_batch = 512;
    if (out->n_batch > out->n_ctx) out->n_batch = out->n_ctx;
    return QWQ_OK;
}

static qwq_status create_with(qwq_model *model, const qwq_session_params *p, qwq_session **out) {
    qwq_session *s = mem_calloc(1, sizeof *s, "session");
    if (!s) return QWQ_ERR_OUT_OF_MEMORY;
    s->model = model;
    s->params = *p;
    const hparams *hp = &model->hp;
    qwq_status st;
    if ((st = pool_new(p->n_threads, &s->pool)) ||
        (st = forward_scratch_new(model, p->n_batch, p->n_ctx, p->n_threads, &s->scratch)) ||
        (st = kv_init(&s->kv, hp->n_layer, hp->n_head_kv, hp->head_dim, p->n_ctx))) {
        session_destroy(s);
        return st;
    }
    s->tokens = mem_calloc((size_t)p->n_ctx, sizeof *s->tokens, "session tokens");
    s->logits = mem_calloc((size_t)hp->n_vocab, sizeof(float), "logits");
    if (!s->tokens || !s->logits) {
        session_destroy(s);
        return QWQ_ERR_OUT_OF_MEMORY;
    }
    s->logits_rows_cap = 1;
    *out = s;
    return QWQ_OK;
}

qwq_status session_create(qwq_model *model, const qwq_session_params *params, qwq_session **out) {
    if (model->vocab_only)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "the model was loaded with QWQ_LOAD_VOCAB_ONLY: no sessions");
    qwq_session_params p;
    qwq_status st = resolve_params(model, params, &p);
    return st ? st : create_with(model, &p, out);
}

void session_destroy(qwq_session *s) {
    if (!s) return;
    pool_free(s->pool);
    forward_scratch_free(s->scratch);
    kv_free(&s->kv);
    free(s->tokens);
    free(s->logits);
    free(s);
}

qwq_status session_eval(qwq_session *s, const qwq_token *tokens, size_t n, uint32_t flags) {
    const qwq_model *m = s->model;
    int32_t n_vocab = m->hp.n_vocab;
    if (!tokens || n == 0) return err_set(QWQ_ERR_INVALID_ARGUMENT, "no tokens to evaluate");
    if (flags & ~QWQ_EVAL_ALL_LOGITS) return err_set(QWQ_ERR_INVALID_ARGUMENT, "unknown eval flags 0x%x", flags);
    if (n > (size_t)(s->params.n_ctx - s->n_past))
        return err_set(QWQ_ERR_CONTEXT_FULL, "context full: %d tokens held + %zu new exceed n_ctx %d", s->n_past, n,
                       s->params.n_ctx);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "token %zu of the batch is %d, outside [0, %d)", i, tokens[i],
                           n_vocab);
    bool all = (flags & QWQ_EVAL_ALL_LOGITS) != 0;
    size_t rows = all ? n : 1;
    float *logits = s->logits;
    if (rows > s->logits_rows_cap) {
        logits = mem_calloc(rows, (size_t)n_vocab * sizeof(float), "logits of every token");
        if (!logits) return QWQ_ERR_OUT_OF_MEMORY;
    }
    int32_t begin = s->n_past, end = s->n_past + (int32_t)n;
    qwq_status st = kv_prepare(&s->kv, begin, end);
    if (st) {
        if (logits != s->logits) free(logits);
        return st;
    }
    /* Nothing can fail from here on. */
    int32_t chunk = s->params.n_batch;
    for (int32_t at = 0; at < (int32_t)n; at += chunk) {
        int32_t len = (int32_t)n - at < chunk ? (int32_t)n - at : chunk;
        bool last = at + len == (int32_t)n;
        float *out = all ? logits + (size_t)at * (size_t)n_vocab : (last ? logits : NULL);
        model_forward(m, s->scratch, s->pool, &s->kv, tokens + at, len, begin + at, all, out);
    }
    if (logits != s->logits) {
        free(s->logits);
        s->logits = logits;
        s->logits_rows_cap = rows;
    }
    memcpy(s->tokens + begin, tokens, n * sizeof *tokens);
    s->n_past = end;
    s->batch_len = (int32_t)n;
    s->logits_all = all;
    s->logits_valid = true;
    return QWQ_OK;
}

const float *session_logits(const qwq_session *s, int32_t i) {
    if (!s->logits_valid) {
        err_set(QWQ_ERR_INVALID_ARGUMENT, "no logits: nothing was evaluated since the session was created or truncated");
        return NULL;
    }
    if (i == -1) i = s->batch_len - 1;
    if (i < 0 || i >= s->batch_len) {
        err_set(QWQ_ERR_INVALID_ARGUMENT, "logits index %d is outside the last batch of %d tokens", i, s->batch_len);
        return NULL;
    }
    if (s->logits_all) return s->logits + (size_t)i * (size_t)s->model->hp.n_vocab;
    if (i == s->batch_len - 1) return s->logits;
    err_set(QWQ_ERR_INVALID_ARGUMENT,
            "logits of token %d were not kept (only the last token's; pass QWQ_EVAL_ALL_LOGITS)", i);
    return NULL;
}

qwq_status session_truncate(qwq_session *s, int32_t n_keep) {
    if (n_keep < 0 || n_keep > s->n_past)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "n_keep %d is outside [0, %d]", n_keep, s->n_past);
    kv_truncate(&s->kv, n_keep);
    s->n_past = n_keep;
    s->logits_valid = false;
    s->batch_len = 0;
    return QWQ_OK;
}

qwq_status session_fork(const qwq_session *s, qwq_session **out) {
    qwq_session *f = NULL;
    qwq_status st = create_with(s->model, &s->params, &f);
    if (st) return st;
    kv_free(&f->kv);
    if ((st = kv_fork(&s->kv, s->n_past, &f->kv))) {
        session_destroy(f);
        return st;
    }
    if (s->logits_valid) {
        size_t rows = s->logits_all ? (size_t)s->batch_len : 1;
        if (rows > f->logits_rows_cap) {
            float *l = mem_calloc(rows, (size_t)s->model->hp.n_vocab * sizeof(float), "logits");
            if (!l) {
                session_destroy(f);
                return QWQ_ERR_OUT_OF_MEMORY;
            }
            free(f->logits);
            f->logits = l;
            f->logits_rows_cap = rows;
        }
        memcpy(f->logits, s->logits, rows * (size_t)s->model->hp.n_vocab * sizeof(float));
    }
    memcpy(f->tokens, s->tokens, (size_t)s->n_past * sizeof *s->tokens);
    f->n_past = s->n_past;
    f->batch_len = s->batch_len;
    f->logits_all = s->logits_all;
    f->logits_valid = s->logits_valid;
    *out = f;
    return QWQ_OK;
}
