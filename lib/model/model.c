/* Loading: metadata -> hyperparameters, tensors -> weights, with every
 * shape checked against the hyperparameters before anything runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/quant.h"
#include "model/model.h"
#include "util/util.h"

/* Generous bounds: far above any Qwen model, far below overflow. */
enum {
    MAX_LAYERS = 1024,
    MAX_EMBD = 1 << 17,
    MAX_HEADS = 4096,
    MAX_HEAD_DIM = 1024,
    MAX_FF = 1 << 20,
    MAX_VOCAB = 1 << 22,
    MAX_CTX = 1 << 24,
};

static qwq_status arch_key(const qwq_model *m, const char *suffix, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "%s.%s", m->arch_name, suffix);
    return (n > 0 && (size_t)n < cap) ? QWQ_OK : err_set(QWQ_ERR_INTERNAL, "metadata key too long");
}

static qwq_status get_dim(const qwq_model *m, const char *suffix, int32_t lo, int32_t hi, int32_t *out) {
    char key[128];
    qwq_status st = arch_key(m, suffix, key, sizeof key);
    if (st) return st;
    uint32_t v;
    if ((st = gguf_get_u32(m->file, key, &v))) return st;
    if (v < (uint32_t)lo || v > (uint32_t)hi)
        return err_set(QWQ_ERR_FORMAT, "metadata '%s' = %u is out of range [%d, %d]", key, v, lo, hi);
    *out = (int32_t)v;
    return QWQ_OK;
}

static bool has_arch_key(const qwq_model *m, const char *suffix) {
    char key[128];
    return arch_key(m, suffix, key, sizeof key) == QWQ_OK && gguf_find_kv(m->file, key) != NULL;
}

static qwq_status get_positive_float(const qwq_model *m, const char *suffix, float def, float *out) {
    char key[128];
    qwq_status st = arch_key(m, suffix, key, sizeof key);
    if (st) return st;
    if (!gguf_find_kv(m->file, key)) {
        *out = def;
        return QWQ_OK;
    }
    if ((st = gguf_get_f32(m->file, key, out))) return st;
    if (!(*out > 0.0f) || !isfinite(*out))
        return err_set(QWQ_ERR_FORMAT, "metadata '%s' = %g must be a positive finite number", key, (double)*out);
    return QWQ_OK;
}

static qwq_status read_hparams(qwq_model *m) {
    hparams *hp = &m->hp;
    qwq_status st;
    if ((st = get_dim(m, "block_count", 1, MAX_LAYERS, &hp->n_layer)) ||
        (st = get_dim(m, "embedding_length", 1, MAX_EMBD, &hp->n_embd)) ||
        (st = get_dim(m, "attention.head_count", 1, MAX_HEADS, &hp->n_head)) ||
        (st = get_dim(m, "feed_forward_length", 1, MAX_FF, &hp->n_ff)) ||
        (st = get_dim(m, "context_length", 1, MAX_CTX, &hp->n_ctx_train)))
        return st;
    hp->n_head_kv = hp->n_head;
    if (has_arch_key(m, "attention.head_count_kv") &&
        (st = get_dim(m, "attention.head_count_kv", 1, hp->n_head, &hp->n_head_kv)))
        return st;
    if (hp->n_head % hp->n_head_kv != 0)
        return err_set(QWQ_ERR_FORMAT, "%d query heads are not a multiple of %d key/value heads", hp->n_head,
                       hp->n_head_kv);
    if (has_arch_key(m, "attention.key_length")) {
        if ((st = get_dim(m, "attention.key_length", 2, MAX_HEAD_DIM, &hp->head_dim))) return st;
    } else {
        if (hp->n_embd % hp->n_head != 0)
            return err_set(QWQ_ERR_FORMAT, "embedding length %d is not a multiple of %d heads and no %s.attention.key_length is given",
                           hp->n_embd, hp->n_head, m->arch_name);
        hp->head_dim = hp->n_embd / hp->n_head;
    }
    if (has_arch_key(m, "attention.value_length")) {
        int32_t vlen;
        if ((st = get_dim(m, "attention.value_length", 1, MAX_HEAD_DIM, &vlen))) return st;
        if (vlen != hp->head_dim)
            return err_set(QWQ_ERR_UNSUPPORTED, "value length %d differs from key length %d", vlen, hp->head_dim);
    }
    if (hp->head_dim % 2 != 0 || hp->head_dim > MAX_HEAD_DIM)
        return err_set(QWQ_ERR_FORMAT, "head dimension %d must be even and at most %d", hp->head_dim, MAX_HEAD_DIM);
    if ((st = get_positive_float(m, "rope.freq_base", 10000.0f, &hp->rope_theta)) ||
        (st = get_positive_float(m, "attention.layer_norm_rms_epsilon", 1e-6f, &hp->rms_eps)))
        return st;
    if (hp->rms_eps >= 1.0f)
        return err_set(QWQ_ERR_FORMAT, "rms epsilon %g is not below 1", (double)hp->rms_eps);
    char key[128];
    if ((st = arch_key(m, "rope.scaling.type", key, sizeof key))) return st;
    gguf_str scaling;
    if (gguf_find_kv(m->file, key) && gguf_get_str(m->file, key, &scaling) == QWQ_OK &&
        !(scaling.len == 4 && memcmp(scaling.ptr, "none", 4) == 0))
        return err_set(QWQ_ERR_UNSUPPORTED, "rope scaling '%.*s' is not supported yet", (int)(scaling.len > 32 ? 32 : scaling.len),
                       scaling.ptr);
    return QWQ_OK;
}

static const gguf_tensor *find_tensor(const qwq_model *m, const char *name, bool required, qwq_status *st) {
    const gguf_tensor *t = gguf_find_tensor(m->file, name);
    *st = (!t && required) ? err_set(QWQ_ERR_FORMAT, "required tensor '%s' is missing", name) : QWQ_OK;
    return t;
}

static qwq_status bind_weight(qwq_model *m, const char *name, int32_t n_in, int32_t n_out, weight *w) {
    qwq_status st;
    const gguf_tensor *t = find_tensor(m, name, true, &st);
    if (!t) return st;
    if (t->ne[0] != (uint64_t)n_in || t->ne[1] != (uint64_t)n_out || t->ne[2] != 1 || t->ne[3] != 1)
        return err_set(QWQ_ERR_FORMAT, "tensor '%s' has shape [%llu, %llu, %llu, %llu], expected [%d, %d]", name,
                       (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
                       (unsigned long long)t->ne[3], n_in, n_out);
    w->name = t->name;
    w->data = t->data;
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = (size_t)(t->n_bytes / (uint64_t)n_out);
    return QWQ_OK;
}

/* Converts a 1-D tensor of n elements to f32 at *cursor in m->small. */
static qwq_status bind_vector(qwq_model *m, const char *name, int32_t n, bool required, float **cursor,
                              const float **out) {
    qwq_status st;
    *out = NULL;
    const gguf_tensor *t = find_tensor(m, name, required, &st);
    if (!t) return st;
    if (t->n_elements != (uint64_t)n || t->ne[0] != (uint64_t)n)
        return err_set(QWQ_ERR_FORMAT, "tensor '%s' has %llu elements in shape [%llu, %llu], expected [%d]", name,
                       (unsigned long long)t->n_elements, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], n);
    if (!dequant_row(t->type, t->data, *cursor, n))
        return err_set(QWQ_ERR_UNSUPPORTED, "tensor '%s': cannot convert type %s", name, qtype_get(t->type)->name);
    *out = *cursor;
    *cursor += n;
    return QWQ_OK;
}

static qwq_status bind_layer(qwq_model *m, int32_t il, float **cursor) {
    const hparams *hp = &m->hp;
    layer *L = &m->layers[il];
    int32_t q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    bool qwen2 = hp->arch == ARCH_QWEN2;
    char name[96];
    qwq_status st;
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d.%s", il, suffix), name)
    if ((st = bind_vector(m, NAME("attn_norm.weight"), hp->n_embd, true, cursor, &L->attn_norm)) ||
        (st = bind_weight(m, NAME("attn_q.weight"), hp->n_embd, q_dim, &L->wq)) ||
        (st = bind_weight(m, NAME("attn_k.weight"), hp->n_embd, kv_dim, &L->wk)) ||
        (st = bind_weight(m, NAME("attn_v.weight"), hp->n_embd, kv_dim, &L->wv)) ||
        (st = bind_weight(m, NAME("attn_output.weight"), q_dim, hp->n_embd, &L->wo)) ||
        (st = bind_vector(m, NAME("attn_q.bias"), q_dim, qwen2, cursor, &L->bq)) ||
        (st = bind_vector(m, NAME("attn_k.bias"), kv_dim, qwen2, cursor, &L->bk)) ||
        (st = bind_vector(m, NAME("attn_v.bias"), kv_dim, qwen2, cursor, &L->bv)) ||
        (st = bind_vector(m, NAME("attn_q_norm.weight"), hp->head_dim, !qwen2, cursor, &L->q_norm)) ||
        (st = bind_vector(m, NAME("attn_k_norm.weight"), hp->head_dim, !qwen2, cursor, &L->k_norm)) ||
        (st = bind_vector(m, NAME("ffn_norm.weight"), hp->n_embd, true, cursor, &L->ffn_norm)) ||
        (st = bind_weight(m, NAME("ffn_gate.weight"), hp->n_embd, hp->n_ff, &L->w_gate)) ||
        (st = bind_weight(m, NAME("ffn_up.weight"), hp->n_embd, hp->n_ff, &L->w_up)) ||
        (st = bind_weight(m, NAME("ffn_down.weight"), hp->n_ff, hp->n_embd, &L->w_down)))
        return st;
#undef NAME
    if ((L->q_norm == NULL) != (L->k_norm == NULL))
        return err_set(QWQ_ERR_FORMAT, "layer %d has only one of attn_q_norm and attn_k_norm", il);
    return QWQ_OK;
}

static qwq_status bind_tensors(qwq_model *m) {
    const hparams *hp = &m->hp;
    qwq_status st;
    const gguf_tensor *emb = find_tensor(m, "token_embd.weight", true, &st);
    if (!emb) return st;
    if (emb->ne[1] < 1 || emb->ne[1] > MAX_VOCAB)
        return err_set(QWQ_ERR_FORMAT, "tensor 'token_embd.weight' has %llu rows (1 to %d allowed)",
                       (unsigned long long)emb->ne[1], MAX_VOCAB);
    m->hp.n_vocab = (int32_t)emb->ne[1];
    if ((st = bind_weight(m, "token_embd.weight", hp->n_embd, hp->n_vocab, &m->tok_embd))) return st;
    if (gguf_find_tensor(m->file, "output.weight")) {
        if ((st = bind_weight(m, "output.weight", hp->n_embd, hp->n_vocab, &m->output))) return st;
    } else {
        m->output = m->tok_embd; /* tied embeddings */
    }
    /* Room for every 1-D tensor any layer may have, as f32. */
    size_t per_layer = 2 * (size_t)hp->n_embd + (size_t)hp->n_head * (size_t)hp->head_dim +
                       2 * (size_t)hp->n_head_kv * (size_t)hp->head_dim + 2 * (size_t)hp->head_dim;
    size_t total;
    if (!size_mul(per_layer, (size_t)hp->n_layer, &total) || !size_add(total, (size_t)hp->n_embd, &total) ||
        !size_mul(total, sizeof(float), &total))
        return err_set(QWQ_ERR_FORMAT, "model dimensions overflow");
    m->small = mem_alloc(total, "norm and bias vectors");
    m->layers = mem_calloc((size_t)hp->n_layer, sizeof *m->layers, "layer table");
    if (!m->small || !m->layers) return QWQ_ERR_OUT_OF_MEMORY;
    float *cursor = m->small;
    if ((st = bind_vector(m, "output_norm.weight", hp->n_embd, true, &cursor, &m->output_norm))) return st;
    for (int32_t il = 0; il < hp->n_layer; il++)
        if ((st = bind_layer(m, il, &cursor))) return st;
    char extra[64];
    snprintf(extra, sizeof extra, "blk.%d.attn_norm.weight", hp->n_layer);
    if (gguf_find_tensor(m->file, extra))
        return err_set(QWQ_ERR_FORMAT, "tensor '%s' exists but %s.block_count is %d", extra, m->arch_name, hp->n_layer);
    return QWQ_OK;
}

/* Names the first tensor whose type the kernels cannot run, before anything
 * else is looked at: a file in an unsupported quantization should say so. */
static qwq_status check_tensor_types(const gguf_file *f) {
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const qtype_info *qi = qtype_get(f->tensors[i].type);
        if (!qi->supported)
            return err_set(QWQ_ERR_UNSUPPORTED, "tensor '%s': unsupported tensor type %s", f->tensors[i].name, qi->name);
    }
    return QWQ_OK;
}

static qwq_status load(qwq_model *m, const char *path, const qwq_load_params *params) {
    qwq_status st;
    m->vocab_only = params && (params->flags & QWQ_LOAD_VOCAB_ONLY);
    if ((st = check_tensor_types(m->file))) return err_prefix(st, "%s", path);
    gguf_str arch;
    if ((st = gguf_get_str(m->file, "general.architecture", &arch))) return err_prefix(st, "%s", path);
    if (arch.len == 5 && memcmp(arch.ptr, "qwen2", 5) == 0) m->hp.arch = ARCH_QWEN2;
    else if (arch.len == 5 && memcmp(arch.ptr, "qwen3", 5) == 0) m->hp.arch = ARCH_QWEN3;
    else
        return err_set(QWQ_ERR_UNSUPPORTED, "%s: architecture '%.*s' is not supported (qwen2 and qwen3 are)", path,
                       (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
    memcpy(m->arch_name, arch.ptr, (size_t)arch.len);
    m->arch_name[arch.len] = 0;

    gguf_str s;
    if (gguf_find_kv(m->file, "general.name") && gguf_get_str(m->file, "general.name", &s) == QWQ_OK)
        m->name = str_dup_n(s.ptr, (size_t)s.len, "model name");
    else
        m->name = str_dup_n("", 0, "model name");
    if (!m->name) return QWQ_ERR_OUT_OF_MEMORY;
    if (gguf_find_kv(m->file, "tokenizer.chat_template")) {
        if ((st = gguf_get_str(m->file, "tokenizer.chat_template", &s))) return err_prefix(st, "%s", path);
        if (!(m->chat_template = str_dup_n(s.ptr, (size_t)s.len, "chat template"))) return QWQ_ERR_OUT_OF_MEMORY;
    }

    if ((st = read_hparams(m))) return err_prefix(st, "%s", path);
    if ((st = tokenizer_load(m->file, &m->tok))) return err_prefix(st, "%s: tokenizer", path);
    for (uint64_t i = 0; i < m->file->n_tensors; i++) {
        m->n_params += m->file->tensors[i].n_elements;
        m->weight_bytes += m->file->tensors[i].n_bytes;
    }
    if (m->vocab_only) {
        m->hp.n_vocab = tokenizer_n_tokens(m->tok);
        return QWQ_OK;
    }
    if ((st = bind_tensors(m))) return err_prefix(st, "%s", path);
    if (tokenizer_n_tokens(m->tok) > m->hp.n_vocab)
        return err_set(QWQ_ERR_FORMAT, "%s: the vocabulary has %d tokens but the embedding only %d rows", path,
                       tokenizer_n_tokens(m->tok), m->hp.n_vocab);

    int32_t half = m->hp.head_dim / 2;
    m->rope_freq = mem_alloc((size_t)half * sizeof(float), "rope frequencies");
    if (!m->rope_freq) return QWQ_ERR_OUT_OF_MEMORY;
    for (int32_t i = 0; i < half; i++)
        m->rope_freq[i] = (float)pow((double)m->hp.rope_theta, -2.0 * i / (double)m->hp.head_dim);
    m->kern = kernels_select(params ? (qwq_simd_level)params->max_simd : QWQ_SIMD_AUTO);
    m->simd_level = m->kern->level;
    return QWQ_OK;
}

qwq_status model_load(const char *path, const qwq_load_params *params, qwq_model **out) {
    *out = NULL;
    gguf_file *f = NULL;
    const int large = params && (params->flags & QWQ_LOAD_LARGE_PAGES) && !(params->flags & QWQ_LOAD_VOCAB_ONLY);
    qwq_status st = gguf_open_flags(path, large ? GGUF_OPEN_LARGE_PAGES : 0, &f);
    return st ? st : model_load_gguf(f, path, params, out);
}

qwq_status model_load_gguf(gguf_file *f, const char *label, const qwq_load_params *params, qwq_model **out) {
    *out = NULL;
    qwq_model *m = mem_calloc(1, sizeof *m, "model");
    if (!m) {
        gguf_close(f);
        return QWQ_ERR_OUT_OF_MEMORY;
    }
    m->file = f;
    qwq_status st = load(m, label, params);
    if (st) {
        model_free(m);
        return st;
    }
    *out = m;
    return QWQ_OK;
}

void model_free(qwq_model *m) {
    if (!m) return;
    tokenizer_free(m->tok);
    free(m->layers);
    free(m->small);
    free(m->rope_freq);
    free(m->name);
    free(m->chat_template);
    gguf_close(m->file);
    free(m);
}
