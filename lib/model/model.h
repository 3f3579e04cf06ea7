/*
 * model - a loaded Qwen2/Qwen3 model: hyperparameters from the GGUF
 * metadata, weights bound in place in the mapping, and the forward pass.
 *
 * Invariants
 *  - Every hyperparameter comes from the file's metadata (never from a
 *    table of known models) and is range-checked; every tensor the forward
 *    pass reads exists with exactly the shape the hyperparameters imply, and
 *    its bytes lie inside the file (gguf guarantees the extents).
 *  - 2-D weights are used where they lie in the read-only mapping (no copy);
 *    1-D tensors (norms, biases) are small and converted to f32 at load.
 *  - After model_load the model is immutable: any number of sessions and
 *    threads may read it concurrently.
 *  - The forward pass computes in f32 with f32 accumulation; a row of
 *    output is always computed by the same code in the same order, whatever
 *    the thread count, so results do not depend on it.
 */
#ifndef QWQ_MODEL_H
#define QWQ_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "kvcache/kvcache.h"
#include "qwq.h"
#include "threads/pool.h"
#include "tokenizer/tokenizer.h"

typedef enum model_arch { ARCH_QWEN2 = 0, ARCH_QWEN3 = 1 } model_arch;

typedef struct hparams {
    model_arch arch;
    int32_t n_layer;
    int32_t n_embd;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int32_t n_ff;
    int32_t n_vocab; /* rows of the output projection */
    int32_t n_ctx_train;
    float rope_theta;
    float rms_eps;
} hparams;

/* A 2-D weight: n_out rows of n_in elements of `type`, in the mapping. */
typedef struct weight {
    const char *name;
    const uint8_t *data;
    uint32_t type;
    int32_t n_in;
    int32_t n_out;
    size_t row_bytes;
} weight;

typedef struct layer {
    const float *attn_norm; /* n_embd */
    weight wq, wk, wv, wo;
    const float *bq, *bk, *bv;     /* qwen2 only, else NULL */
    const float *q_norm, *k_norm;  /* qwen3 only: head_dim, else NULL */
    const float *ffn_norm;         /* n_embd */
    weight w_gate, w_up, w_down;
} layer;

struct qwq_model {
    gguf_file *file;
    hparams hp;
    char arch_name[16];
    char *name;          /* general.name or "" */
    char *chat_template; /* NUL-terminated copy or NULL */
    bool vocab_only;
    int32_t simd_level;
    const kernel_table *kern; /* the kernels of simd_level */
    tokenizer *tok;
    weight tok_embd;
    weight output; /* token_embd when the file has no output.weight */
    const float *output_norm;
    layer *layers;
    float *rope_freq; /* head_dim / 2 inverse frequencies */
    float *small;     /* storage of every 1-D tensor as f32 */
    uint64_t n_params;
    uint64_t weight_bytes;
};

qwq_status model_load(const char *path, const qwq_load_params *params, qwq_model **out);
/* The same from a parsed file, which the model then owns (closed on
 * failure too); label names the file in messages. */
qwq_status model_load_gguf(gguf_file *f, const char *label, const qwq_load_params *params, qwq_model **out);
void model_free(qwq_model *m);

/* Scratch a session needs to run batches of up to n_batch tokens with a
 * context of n_ctx; owned by the session. */
typedef struct forward_scratch forward_scratch;
qwq_status forward_scratch_new(const qwq_model *m, int32_t n_batch, int32_t n_ctx, int n_threads,
                               forward_scratch **out);
void forward_scratch_free(forward_scratch *s);

/* Runs tokens[0..n) at positions pos0.. through the model, writing their
 * keys and values into kv (positions must be prepared) and the logits of
 * the tokens whose index i satisfies want_logits(i) — that is, every token
 * when all_logits, else only the last — into logits (rows of n_vocab, in
 * token order); logits may be NULL when none are wanted (a chunk of a
 * longer batch). n <= the scratch's n_batch. Cannot fail. */
void model_forward(const qwq_model *m, forward_scratch *s, thread_pool *pool, kv_cache *kv,
                   const qwq_token *tokens, int32_t n, int32_t pos0, bool all_logits, float *logits);

/* y[t][o] = sum_i W[o][i] x[t][i] (+ bias[o]) for n_tokens <= n_batch rows
 * of x (n_in each) into rows of y (n_out each), on the pool's threads. */
void forward_matmul(forward_scratch *s, thread_pool *pool, const kernel_table *kern, const weight *w, const float *x,
                    int32_t n_tokens, const float *bias, float *y);

/* n (1..3) products of the same x, one job: y_i = x W_i (+ bias_i). The
 * weights share n_in; the first may be any width up to the scratch's
 * widest input, the others' inputs are hidden states (n_embd). */
typedef struct matmul_product {
    const weight *w;
    const float *bias; /* NULL: none */
    float *y;
} matmul_product;
void forward_matmuls(forward_scratch *s, thread_pool *pool, const kernel_table *kern, const matmul_product *p, int n,
                     const float *x, int32_t n_tokens);

#endif
