/*
 * session - a sequence of tokens being run through a model: its tokens, its
 * paged KV cache, the logits of its last batch, its threads and scratch.
 *
 * Invariants
 *  - n_past tokens are held; kv holds their keys and values; tokens[0..n_past)
 *    are the ids. n_past <= n_ctx.
 *  - logits: when logits_all, one row per token of the last batch
 *    (batch_len rows); otherwise one row, the batch's last token; no row at
 *    all when logits_valid is false (fresh session, after truncate).
 *  - session_eval either succeeds or leaves tokens, n_past and logits as they
 *    were (everything that can fail happens before the first write).
 *  - A session is driven by one thread at a time; it owns its pool.
 */
#ifndef QWQ_SESSION_H
#define QWQ_SESSION_H

#include <stdbool.h>

#include "kvcache/kvcache.h"
#include "model/model.h"
#include "threads/pool.h"

struct qwq_session {
    qwq_model *model;
    qwq_session_params params; /* as resolved (defaults applied) */
    thread_pool *pool;
    forward_scratch *scratch;
    kv_cache kv;
    qwq_token *tokens; /* n_ctx entries */
    int32_t n_past;
    float *logits;
    size_t logits_rows_cap;
    int32_t batch_len;
    bool logits_all;
    bool logits_valid;
};

qwq_status session_create(qwq_model *model, const qwq_session_params *params, qwq_session **out);
void session_destroy(qwq_session *s);
qwq_status session_eval(qwq_session *s, const qwq_token *tokens, size_t n, uint32_t flags);
const float *session_logits(const qwq_session *s, int32_t i);
qwq_status session_truncate(qwq_session *s, int32_t n_keep);
qwq_status session_fork(const qwq_session *s, qwq_session **out);

#endif
