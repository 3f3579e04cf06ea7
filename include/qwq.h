/*
 * qwq.h - libqwq, an embeddable inference library for Qwen reasoning models
 * (QwQ-32B, Qwen3, Qwen2.5, DeepSeek-R1-Distill-Qwen) read from GGUF files.
 *
 * This header is the whole public API. It is plain C11 and usable from C++,
 * from Python through ctypes and from Rust through FFI. Link with
 * lib/libqwq.a (plus -lm -lpthread) or lib/libqwq.so (SONAME libqwq.so.0).
 *
 * A typical program:
 *
 *     qwq_model *model;
 *     if (qwq_load("QwQ-32B-Q4_K_M.gguf", NULL, &model) != QWQ_OK) {
 *         fprintf(stderr, "%s\n", qwq_last_error());
 *         return 1;
 *     }
 *     qwq_session *s;
 *     qwq_session_new(model, NULL, &s);
 *     qwq_token prompt[4096]; size_t n;
 *     qwq_tokenize(model, text, strlen(text), QWQ_TOKENIZE_SPECIAL, prompt, 4096, &n);
 *     qwq_generate(s, prompt, n, "{\"max_tokens\":256}", on_event, NULL);
 *     qwq_session_free(s);
 *     qwq_model_free(model);
 *
 * Conventions (they hold for every function below)
 *  - Every fallible call returns qwq_status; QWQ_OK is 0, errors are < 0.
 *    On error, qwq_last_error() returns a message for the calling thread
 *    that names the cause precisely (file offset, tensor, token, line...).
 *    A call that fails changes nothing: a rejected qwq_session_eval leaves
 *    the session's tokens, position and logits as they were.
 *  - Output buffers follow one protocol: the caller passes (out, cap) and
 *    size_t *n_out. On success *n_out is the number of elements written.
 *    When cap is too small the call writes nothing, sets *n_out to the
 *    number needed and returns QWQ_ERR_BUFFER_TOO_SMALL. out may be NULL
 *    when cap is 0 (a size query). Text outputs are NUL-terminated when
 *    there is room; *n_out never counts the NUL.
 *  - Optional parameters are pointers; NULL means the documented default.
 *    Parameter structs start with `size_t struct_size`; fill them with the
 *    matching qwq_*_params_init() and then change what you need. Fields are
 *    only ever appended, so a program built against an older header keeps
 *    working with a newer library.
 *  - Text is UTF-8 with an explicit length; it need not be NUL-terminated.
 *  - Token ids outside [0, qwq_model_n_vocab) are QWQ_ERR_INVALID_ARGUMENT
 *    everywhere.
 *  - Threads: a qwq_model is read-only after qwq_load and may be shared by
 *    any number of threads and sessions. A qwq_session is used by one thread
 *    at a time (different sessions may run concurrently). The library keeps
 *    no global mutable state; the only per-thread state is the error
 *    message. Results are identical whatever the thread count.
 *  - Stack: the thread that evaluates a session runs a share of the matrix
 *    work on its own stack, which needs about 200 KiB; give such threads
 *    256 KiB or more (glibc's default is 8 MiB; some engines' job threads
 *    get less). The session's other workers are the library's own threads.
 *  - The library never prints, never calls exit() or abort() on input, and
 *    reports allocation failure as QWQ_ERR_OUT_OF_MEMORY.
 */
#ifndef QWQ_H
#define QWQ_H

#include <stddef.h>
#include <stdint.h>

/* While the library itself is built, everything declared here is exported
 * from libqwq.so; everything else is hidden. */
#if defined(QWQ_BUILDING_LIBRARY) && defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ------------------------------------------------------------ */

#define QWQ_VERSION_MAJOR 0
#define QWQ_VERSION_MINOR 1
#define QWQ_VERSION_PATCH 0
#define QWQ_VERSION_NUMBER (QWQ_VERSION_MAJOR * 10000 + QWQ_VERSION_MINOR * 100 + QWQ_VERSION_PATCH)
#define QWQ_VERSION_STRING "0.1.0"

/* The version of the library actually linked, as "MAJOR.MINOR.PATCH" and as
 * QWQ_VERSION_NUMBER would spell it. Compare with the macros to detect a
 * header/library mismatch. Static strings; never fail. */
const char *qwq_version(void);
int32_t qwq_version_number(void);

/* ---- types and status codes (fixed ABI) --------------------------------- */

typedef int32_t qwq_token;
typedef struct qwq_model qwq_model;
typedef struct qwq_session qwq_session;
typedef struct qwq_load_params qwq_load_params;       /* defined by qwq.h */
typedef struct qwq_session_params qwq_session_params; /* defined by qwq.h */

typedef enum qwq_status {
    QWQ_OK = 0,
    QWQ_ERR_INVALID_ARGUMENT = -1, /* NULL handle, bad length, bad flag... */
    QWQ_ERR_IO = -2,               /* open/read/mmap failed */
    QWQ_ERR_FORMAT = -3,           /* malformed GGUF, JSON, template, state */
    QWQ_ERR_UNSUPPORTED = -4,      /* valid input this build cannot handle */
    QWQ_ERR_OUT_OF_MEMORY = -5,
    QWQ_ERR_BUFFER_TOO_SMALL = -6, /* see the buffer protocol above */
    QWQ_ERR_CONTEXT_FULL = -7,     /* session context or KV budget used up */
    QWQ_ERR_CANCELLED = -8,        /* a callback asked to stop */
    QWQ_ERR_INTERNAL = -9
} qwq_status;

/* Message for the last failing call on this thread ("" if none). The
 * pointer stays valid until the next qwq_* call on the same thread. */
const char *qwq_last_error(void);
/* Static name of a status, e.g. "QWQ_ERR_FORMAT". */
const char *qwq_status_name(qwq_status status);

/* ---- parameters ----------------------------------------------------------- */

/* SIMD levels. QWQ_SIMD_AUTO picks the best level the CPU supports; any
 * other value is an upper bound (the library never uses a level the CPU
 * lacks). The environment variable QWQ_MAX_SIMD (scalar, avx2, avx512, neon,
 * dotprod) applies the same bound when the parameter is AUTO; tests use it. */
typedef enum qwq_simd_level {
    QWQ_SIMD_AUTO = -1,
    QWQ_SIMD_SCALAR = 0,
    QWQ_SIMD_AVX2 = 1,    /* AVX2 + FMA + F16C */
    QWQ_SIMD_AVX512 = 2,  /* AVX-512 F/BW/VL/DQ (+ VNNI, BF16 when present) */
    QWQ_SIMD_NEON = 3,    /* aarch64 Advanced SIMD */
    QWQ_SIMD_DOTPROD = 4  /* aarch64 with the dot-product extension */
} qwq_simd_level;

/* Load only the metadata and the vocabulary: tokenize, detokenize and the
 * metadata getters work, sessions cannot be created. Tensors are still
 * validated against the file. */
#define QWQ_LOAD_VOCAB_ONLY 1u

/* Put the weights in 2 MiB pages of the page cache before returning (Linux;
 * elsewhere the flag does nothing). Decode streams the weights from the
 * mapped file, and from 4 KiB pages it can be several times slower: the
 * 64-layer QwQ-32B Q4_K_M file with a quarter of it in 4 KiB pages decoded
 * at 0.64-0.82 tok/s on the development VM, and at 2.43-2.46 with all of it
 * in 2 MiB pages. A file read from disk through the library's mapping gets
 * 2 MiB pages, but one already in the page cache keeps the pages it was
 * cached in, and a file just written (a model just downloaded or copied)
 * sits largely in 4 KiB pages. With this flag, qwq_load looks at every
 * 2 MiB of the file (0.7-0.8 s for 20 GB already cached; a file not cached
 * is read in) and reads the parts in 4 KiB pages again from disk,
 * after writing back any dirty pages: 2.1-2.8 s for the files above right
 * after they were written. It first checks with one 2 MiB unit that the
 * filesystem gives large pages at all, and reads nothing more if not. Pages
 * of the file mapped by other processes stay as they are. A long
 * generation gains far more than the load costs; a program that needs
 * qwq_load to be quick and does not touch the file's pages leaves it off. */
#define QWQ_LOAD_LARGE_PAGES 2u

struct qwq_load_params {
    size_t struct_size;     /* sizeof(qwq_load_params), set by the init */
    int32_t max_simd;       /* qwq_simd_level; default QWQ_SIMD_AUTO */
    uint32_t flags;         /* QWQ_LOAD_*; default 0 */
};

/* Fills *params with the defaults. Never fails (NULL is ignored). */
void qwq_load_params_init(qwq_load_params *params);

struct qwq_session_params {
    size_t struct_size; /* sizeof(qwq_session_params), set by the init */
    /* Most tokens the session may hold. 0 = min(4096, training context).
     * Larger than the training context is QWQ_ERR_INVALID_ARGUMENT. KV
     * memory is allocated in blocks as tokens arrive, not up front. */
    int32_t n_ctx;
    /* Worker threads of this session (the calling thread included).
     * 0 = one per physical core among the CPUs this process may run on
     * (its CPU affinity; a core's hardware threads count once), at most
     * its cgroup's CPU quota: in a container limited to 2 CPUs that is
     * 2, not the host's count. Results do not depend on it. */
    int32_t n_threads;
    /* Most tokens run through the model at once; longer batches are split
     * into chunks of this size (it bounds scratch memory). 0 = 512. */
    int32_t n_batch;
};

/* Fills *params with the defaults. Never fails (NULL is ignored). */
void qwq_session_params_init(qwq_session_params *params);

/* ---- models --------------------------------------------------------------- */

/* Maps a GGUF file read-only and validates it completely. params may be
 * NULL. On failure *out_model is set to NULL.
 *
 * Every field of the file is checked before use (counts, lengths, offsets,
 * tensor extents, types and shapes against the hyperparameters); a
 * malformed file is QWQ_ERR_FORMAT, a valid file with something this build
 * cannot run (an architecture or a weight type) is QWQ_ERR_UNSUPPORTED, a
 * file that cannot be opened or mapped is QWQ_ERR_IO. The weights are not
 * copied: they are used in place from the read-only mapping, which stays
 * open until qwq_model_free. Thread-safe (loads share nothing). */
qwq_status qwq_load(const char *path, const qwq_load_params *params,
                    qwq_model **out_model);
/* NULL is a no-op. Every session of the model must be freed first. */
void qwq_model_free(qwq_model *model);

/* Metadata getters. They never fail on a valid model; on NULL they return
 * 0, -1 (token ids) or NULL (strings) and set the error message. Returned
 * strings belong to the model and live until qwq_model_free. */
int32_t qwq_model_n_vocab(const qwq_model *model); /* rows of the output projection */
int32_t qwq_model_n_ctx_train(const qwq_model *model);
qwq_token qwq_model_eos(const qwq_model *model); /* end of turn (<|im_end|> for chat models) */

/* "qwen2" or "qwen3" (general.architecture). */
const char *qwq_model_architecture(const qwq_model *model);
/* general.name, or "" when the file has none. */
const char *qwq_model_name(const qwq_model *model);
int32_t qwq_model_n_layer(const qwq_model *model);
int32_t qwq_model_n_embd(const qwq_model *model);     /* hidden size */
int32_t qwq_model_n_head(const qwq_model *model);     /* query heads */
int32_t qwq_model_n_head_kv(const qwq_model *model);  /* key/value heads */
int32_t qwq_model_head_dim(const qwq_model *model);
int32_t qwq_model_n_ff(const qwq_model *model);       /* feed-forward size */
/* Number of weights and the bytes they occupy in the file. */
uint64_t qwq_model_n_params(const qwq_model *model);
uint64_t qwq_model_weight_bytes(const qwq_model *model);
/* Beginning-of-text and padding ids, or -1 when the model has none. */
qwq_token qwq_model_bos(const qwq_model *model);
qwq_token qwq_model_pad(const qwq_model *model);
/* The chat template (tokenizer.chat_template), or NULL when absent. */
const char *qwq_model_chat_template(const qwq_model *model);
/* The SIMD level the model's kernels run at (a qwq_simd_level). */
int32_t qwq_model_simd_level(const qwq_model *model);

/* Id of the token whose text is exactly (text, text_len), e.g. "<think>".
 * QWQ_ERR_INVALID_ARGUMENT when there is no such token. */
qwq_status qwq_model_token_id(const qwq_model *model, const char *text,
                              size_t text_len, qwq_token *out_token);

/* A metadata value of the GGUF file as text, by key: strings as they are,
 * numbers in decimal, booleans as true/false, arrays as a JSON array.
 * QWQ_ERR_INVALID_ARGUMENT when the key is absent. Buffer protocol. */
qwq_status qwq_model_meta(const qwq_model *model, const char *key, char *out,
                          size_t cap, size_t *n_out);

/* ---- tokens ------------------------------------------------------------ */

/* Recognise added tokens (<|im_start|>, <think>, <tool_call>...) in the
 * text. Without it every byte is ordinary text: the safe mode for input
 * from untrusted users. */
#define QWQ_TOKENIZE_SPECIAL 1u

/* Token ids of the text, exactly as the Hugging Face tokenizer of the model
 * gives them (no BOS is added). Buffer protocol on (out, cap, n_out).
 * Invalid UTF-8 is QWQ_ERR_INVALID_ARGUMENT naming the byte offset.
 * Thread-safe: the model is only read. */
qwq_status qwq_tokenize(const qwq_model *model, const char *text,
                        size_t text_len, uint32_t flags, qwq_token *out,
                        size_t cap, size_t *n_out);

/* Leave control tokens (<|im_end|>...) out of the text. */
#define QWQ_DETOKENIZE_SKIP_SPECIAL 1u

/* Bytes of the concatenated token pieces. A sequence that ends inside a
 * multi-byte character is returned as it is (whole sequences only). */
qwq_status qwq_detokenize(const qwq_model *model, const qwq_token *tokens,
                          size_t n_tokens, uint32_t flags, char *out,
                          size_t cap, size_t *n_out);

/* ---- sessions ---------------------------------------------------------- */

/* A session holds a sequence of tokens, their key/value cache, the logits
 * of the last batch and its own worker threads. params may be NULL (the
 * defaults of qwq_session_params_init). The model must outlive the session.
 * Errors: INVALID_ARGUMENT (NULL, a model loaded vocab-only, bad params),
 * OUT_OF_MEMORY. */
qwq_status qwq_session_new(qwq_model *model, const qwq_session_params *params,
                           qwq_session **out_session);
void qwq_session_free(qwq_session *session); /* NULL is a no-op */

/* Keep logits for every token of the batch, not only the last. */
#define QWQ_EVAL_ALL_LOGITS 1u

/* Appends n_tokens at the session's current position and runs the model
 * over them as one batch. */
/* Errors: INVALID_ARGUMENT (NULL, n_tokens 0, an id out of range, unknown
 * flags), CONTEXT_FULL (n_past + n_tokens > n_ctx), OUT_OF_MEMORY. On any
 * error the session is unchanged. */
qwq_status qwq_session_eval(qwq_session *session, const qwq_token *tokens,
                            size_t n_tokens, uint32_t flags);
/* n_vocab logits of token i of the last qwq_session_eval batch; i = -1 is
 * the last token. NULL (with qwq_last_error set) when those logits were
 * not kept. Valid until the session's next call. */
const float *qwq_session_logits(const qwq_session *session, int32_t i);
/* Number of tokens the session holds. */
int32_t qwq_session_n_past(const qwq_session *session);
/* Keeps the first n_keep tokens and forgets the rest. */
/* n_keep must be in [0, n_past]. The logits of the last batch are dropped
 * (qwq_session_logits returns NULL until the next eval). */
qwq_status qwq_session_truncate(qwq_session *session, int32_t n_keep);
/* A new session holding the same tokens; it shares the cached state and
 * diverges copy-on-write. */
/* The fork has the parameters of its parent and its own threads; the two
 * may then be used from different threads. Both must be freed. */
qwq_status qwq_session_fork(const qwq_session *session,
                            qwq_session **out_session);

/* The tokens the session holds, oldest first. Buffer protocol. */
qwq_status qwq_session_tokens(const qwq_session *session, qwq_token *out,
                              size_t cap, size_t *n_out);
/* The context size the session was created with. */
int32_t qwq_session_n_ctx(const qwq_session *session);

/* ---- generation -------------------------------------------------------- */

typedef enum qwq_channel {
    QWQ_CHANNEL_CONTENT = 0,   /* the answer */
    QWQ_CHANNEL_REASONING = 1, /* inside <think>...</think> */
    QWQ_CHANNEL_TOOL_CALL = 2  /* inside <tool_call>...</tool_call> */
} qwq_channel;

typedef enum qwq_event_type {
    QWQ_EVENT_TOKEN = 0,     /* one sampled token and its text piece */
    QWQ_EVENT_TOOL_CALL = 1, /* a completed <tool_call>, parsed */
    QWQ_EVENT_DONE = 2       /* last event: finish reason and usage */
} qwq_event_type;

typedef enum qwq_finish_reason {
    QWQ_FINISH_STOP = 0,       /* end-of-turn token or a stop string */
    QWQ_FINISH_LENGTH = 1,     /* max_tokens or the context */
    QWQ_FINISH_TOOL_CALLS = 2, /* the turn ended after tool calls */
    QWQ_FINISH_CANCELLED = 3   /* the callback returned non-zero */
} qwq_finish_reason;

typedef struct qwq_usage {
    int32_t prompt_tokens;
    int32_t cached_prompt_tokens; /* prompt tokens reused, not evaluated */
    int32_t completion_tokens;
    int32_t reasoning_tokens; /* completion tokens on the reasoning channel */
} qwq_usage;

typedef struct qwq_event {
    qwq_event_type type;
    /* QWQ_EVENT_TOKEN: the token, its channel, and its text: valid UTF-8,
     * possibly empty while bytes of a character are held back, with
     * stop strings and channel markup removed. */
    qwq_token token;
    qwq_channel channel;
    const char *text;
    size_t text_len;
    /* QWQ_EVENT_TOOL_CALL: name and arguments (a JSON object) when the
     * call parsed; otherwise tool_call_valid is 0 and tool_call_raw holds
     * the text between the tags. */
    int32_t tool_call_valid;
    const char *tool_name;
    const char *tool_arguments_json;
    const char *tool_call_raw;
    /* QWQ_EVENT_DONE */
    qwq_finish_reason finish_reason;
    qwq_usage usage;
} qwq_event;

/* Called on the generating thread; pointers in the event are valid only
 * during the call. A non-zero return cancels generation. */
/* The string pointers of an event are never NULL (empty strings instead).
 * The callback must not call qwq_* functions on the same session. */
typedef int (*qwq_stream_callback)(const qwq_event *event, void *user_data);

/* Appends the prompt tokens (may be 0) to the session and generates.
 * options_json: NULL or a JSON object with OpenAI-style fields
 * (max_tokens, temperature, top_p, top_k, min_p, presence_penalty,
 * frequency_penalty, repetition_penalty, logit_bias, stop, seed,
 * response_format, reasoning: {"max_tokens", "exclude"}); unknown fields
 * are an error. Returns QWQ_ERR_CANCELLED after a cancelled stream. */
/*
 * Defaults: max_tokens = until the context is full, temperature 0.6,
 * top_p 0.95, top_k 40, min_p 0 (the Qwen recommendations for thinking
 * models), penalties off, seed from the clock. temperature 0 is greedy.
 * With n_prompt 0 generation continues from the session's last logits (an
 * empty session is INVALID_ARGUMENT). The generated tokens stay in the
 * session (a follow-up call continues after them). Options are validated
 * before anything is evaluated: a bad option changes nothing. callback may
 * be NULL (the tokens still land in the session).
 */
qwq_status qwq_generate(qwq_session *session, const qwq_token *prompt,
                        size_t n_prompt, const char *options_json,
                        qwq_stream_callback callback, void *user_data);

/* ---- chat -------------------------------------------------------------- */

/* Renders an OpenAI-style chat request with the model's chat template:
 * request_json holds "messages" and optionally "tools",
 * "add_generation_prompt" (default true), "chat_template" (overrides the
 * model's) and "chat_template_kwargs" (e.g. {"enable_thinking": false}).
 * The output is the exact prompt text, with special-token markup. */
/* In this version: QWQ_ERR_UNSUPPORTED (the template engine is not built
 * yet); the buffer protocol applies once it is. */
qwq_status qwq_chat_render(const qwq_model *model, const char *request_json,
                           char *out, size_t cap, size_t *n_out);

/* render -> tokenize (with QWQ_TOKENIZE_SPECIAL) -> generate, with the
 * request's sampling fields as options. Reuses the part of the prompt the
 * session already holds. */
/* In this version: QWQ_ERR_UNSUPPORTED, as qwq_chat_render. */
qwq_status qwq_chat(qwq_session *session, const char *request_json,
                    qwq_stream_callback callback, void *user_data);

#ifdef __cplusplus
}
#endif

#if defined(QWQ_BUILDING_LIBRARY) && defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif /* QWQ_H */
