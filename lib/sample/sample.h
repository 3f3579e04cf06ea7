/*
 * sample - generation options (the options_json of qwq_generate) and the
 * token sampler.
 *
 * Invariants
 *  - gen_options is self-contained: every string and array it points to is
 *    owned by it (gen_options_free releases them). gen_options_parse either
 *    fills *out completely and returns QWQ_OK, or returns an error and
 *    leaves *out untouched. Malformed JSON and unknown fields are
 *    QWQ_ERR_FORMAT; wrong types and out-of-range values are
 *    QWQ_ERR_INVALID_ARGUMENT; either message names the field (and the
 *    allowed range). JSON null for any field means "the default".
 *  - The sampler never modifies the caller's logits; it owns its scratch.
 *    It keeps no global state; two samplers never interact.
 *  - Order of operations (llama.cpp and vLLM agree on it):
 *      1. logit_bias is added (a bias of -100 bans the token outright: its
 *         logit becomes -inf, as OpenAI documents -100 to behave);
 *      2. penalties, over the tokens passed to sampler_accept within the
 *         window of the last repeat_last_n of them (-1 = all, 0 = none):
 *         repetition (llama.cpp: a logit <= 0 is multiplied by the penalty,
 *         a positive one divided), then
 *         logit -= count * frequency_penalty + (count > 0) * presence_penalty;
 *      3. temperature 0 or top_k 1: greedy, the largest logit, ties to the
 *         lowest id (no random number is drawn);
 *      4. otherwise, on the softmax of logits / temperature: top_k (ties to
 *         the lower id), then top_p on the renormalised top-k set (the
 *         smallest most-probable prefix whose mass reaches top_p), then
 *         min_p (keep p >= min_p * p_max), then renormalise and draw.
 *    NaN logits are never sampled (as -inf); +inf counts as FLT_MAX.
 *  - Determinism: the same options, seed, history and logits give the same
 *    token on every machine with IEEE binary32/binary64 arithmetic and no
 *    FMA contraction (the build uses -ffp-contract=off). The sampler uses
 *    no libm: exp is its own polynomial in basic float operations (round-
 *    to-nearest mode assumed), sums are accumulated in double in an order
 *    fixed by the source, and the random numbers come
 *    from xoshiro256** seeded through splitmix64. One uniform double (53
 *    bits) is drawn per non-greedy sample.
 *  - Cost: with top_k set (the default 40) a sample is one read-only pass
 *    over the logits (64-logit blocks tested against the k-th best so far,
 *    a bounded heap for the few that pass) plus work on k candidates; on
 *    152064 logits 25-30 us (greedy 12-20 us) on the reference machine.
 *    With top_k off it is a few vectorised passes over the vocabulary
 *    (copy, max, exp, sums: ~0.3 ms); top_p then collects only the tokens
 *    that can be in the nucleus (those with p >= (1 - top_p) / n_vocab of
 *    the mass) and finds the nucleus by a mass-weighted quickselect,
 *    expected linear, never a full sort. Loops are written with fixed
 *    8-lane accumulators: they vectorise, and their summation order is
 *    fixed by the source, not by the compiler.
 *  - The draw walks the candidates in a fixed order (rank order after
 *    top-k; selection order for the nucleus; id order, by 64-token block
 *    sums, for the whole vocabulary), so equal inputs give equal tokens.
 */
#ifndef QWQ_SAMPLE_H
#define QWQ_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json/json.h"
#include "qwq.h"

#define GEN_MAX_STOP 4

typedef enum gen_response_type {
    GEN_RESPONSE_TEXT = 0,
    GEN_RESPONSE_JSON_OBJECT = 1, /* parsed and recorded; not enforced yet */
    GEN_RESPONSE_JSON_SCHEMA = 2  /* parsed and recorded; not enforced yet */
} gen_response_type;

typedef enum gen_effort {
    GEN_EFFORT_UNSET = 0,
    GEN_EFFORT_MINIMAL,
    GEN_EFFORT_LOW,
    GEN_EFFORT_MEDIUM,
    GEN_EFFORT_HIGH
} gen_effort;

typedef struct gen_logit_bias {
    qwq_token token; /* >= 0; checked against n_vocab by gen_options_check_vocab */
    float bias;      /* [-100, 100]; -100 bans the token */
} gen_logit_bias;

typedef struct gen_options {
    int64_t max_tokens;       /* -1 = not set: until the context is full */
    float temperature;        /* [0, 2], default 0.6; 0 = greedy */
    float top_p;              /* [0, 1], default 0.95 */
    int32_t top_k;            /* >= 0, default 40; 0 = off (-1 is accepted as off) */
    float min_p;              /* [0, 1], default 0 */
    float presence_penalty;   /* [-2, 2], default 0 */
    float frequency_penalty;  /* [-2, 2], default 0 */
    float repetition_penalty; /* > 0, default 1 = off */
    int32_t repeat_last_n;    /* penalty window: -1 = every accepted token, 0 = off, default 64 */
    bool has_seed;            /* false: the caller supplies a clock-based seed */
    uint64_t seed;            /* the JSON integer (int64 range) as two's complement */
    gen_logit_bias *logit_bias; /* sorted by token, unique; owned */
    size_t n_logit_bias;
    char *stop[GEN_MAX_STOP]; /* non-empty, NUL-terminated (may contain NUL); owned */
    size_t stop_len[GEN_MAX_STOP];
    size_t n_stop;
    gen_response_type response_format;
    char *json_schema;        /* compact JSON of response_format.json_schema, or NULL; owned */
    size_t json_schema_len;
    int64_t reasoning_max_tokens; /* -1 = not set */
    bool reasoning_exclude;       /* leave reasoning out of the visible output */
    gen_effort reasoning_effort;  /* recorded, not acted on */
} gen_options;

/* The defaults above (no allocation; gen_options_free is still fine). */
void gen_options_init(gen_options *o);
void gen_options_free(gen_options *o); /* NULL is a no-op; leaves defaults */

/* Parses options_json. json NULL or len 0 gives the defaults. Accepted
 * fields: max_tokens, max_completion_tokens, temperature, top_p, top_k,
 * min_p, presence_penalty, frequency_penalty, repetition_penalty,
 * repeat_last_n, logit_bias, stop, seed, response_format, reasoning
 * ({max_tokens, exclude, effort}), reasoning_effort, n (must be 1), stream
 * (boolean, ignored), user (string, ignored). *out is overwritten on
 * success (free a previous value first). */
qwq_status gen_options_parse(const char *json, size_t len, gen_options *out);
/* The same from a parsed object; members named in skip[0..n_skip) are
 * ignored (qwq_chat passes the request object, skipping "messages"...). */
qwq_status gen_options_parse_value(const json_value *obj, const char *const *skip, size_t n_skip,
                                   gen_options *out);
/* Every logit_bias token must be < n_vocab (QWQ_ERR_INVALID_ARGUMENT). */
qwq_status gen_options_check_vocab(const gen_options *o, int32_t n_vocab);

/* ---- sampler ------------------------------------------------------------ */

typedef struct sampler sampler;

/* opts NULL = defaults. Copies what it needs from opts (opts may be freed
 * afterwards). Checks the logit_bias tokens against n_vocab. */
qwq_status sampler_new(const gen_options *opts, int32_t n_vocab, uint64_t seed, sampler **out);
void sampler_free(sampler *s); /* NULL is a no-op */

/* Adds a token to the penalty history (out of range: INVALID_ARGUMENT). */
qwq_status sampler_accept(sampler *s, qwq_token token);
/* Forgets the history and restarts the random sequence from seed. */
void sampler_reset(sampler *s, uint64_t seed);

/* Picks a token from n_vocab logits (read only). Returns -1 with the error
 * message set (QWQ_ERR_INVALID_ARGUMENT) when no token can be sampled:
 * every logit is -inf or NaN, or banned. */
qwq_token sampler_sample(sampler *s, const float *logits);

/* The candidate set sampler_sample would draw from for these logits, with
 * the probability of each (summing to 1), most probable first (ties: lower
 * id first). Draws no random number. Buffer protocol on (ids, probs, cap). */
qwq_status sampler_candidates(sampler *s, const float *logits, qwq_token *ids, float *probs, size_t cap,
                              size_t *n_out);

/* exp(x) for x <= 0 in basic float operations only (the sampler's exp;
 * relative error below 2e-7, monotone enough for sampling). */
float sampler_exp(float x);

#endif
