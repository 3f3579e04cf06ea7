/*
 * qwq-run - run a prompt through a Qwen GGUF model with streaming output.
 *
 *   qwq-run -m QwQ-32B-Q4_K_M.gguf -p "How many r's are in strawberry?"
 *
 * The prompt is wrapped in the ChatML turn markup that Qwen chat models
 * expect (use --raw to send it as it is). Reasoning (<think>...</think>) is
 * shown dimmed on a terminal; the answer normally. Prompt and generation
 * speeds go to stderr at the end. Only the public API (qwq.h) is used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qwq.h"

typedef struct options {
    const char *model, *prompt, *prompt_file, *system;
    int n_predict, n_threads, n_ctx;
    double temperature, top_p, min_p;
    int top_k;
    long long seed;
    int raw, think, hide_reasoning, verbose, large_pages;
} options;

static void usage(FILE *out) {
    fprintf(out,
            "usage: qwq-run -m MODEL.gguf [-p PROMPT | -f FILE] [options]\n"
            "  -m, --model FILE     GGUF model (QwQ-32B, Qwen3, Qwen2.5, DeepSeek-R1-Distill-Qwen...)\n"
            "  -p, --prompt TEXT    the user message\n"
            "  -f, --file FILE      read the user message from FILE ('-' for stdin)\n"
            "  -s, --system TEXT    a system message\n"
            "  -n, --n-predict N    most tokens to generate (default 512)\n"
            "  -t, --threads N      threads (default: one per physical core this process may use)\n"
            "  -c, --ctx N          context size (default 4096 or the model's)\n"
            "      --temp T         temperature (default 0.6; 0 = greedy)\n"
            "      --top-k K        (default 40)   --top-p P (default 0.95)   --min-p P (default 0)\n"
            "      --seed S         random seed (default: from the clock)\n"
            "      --raw            send the prompt as it is, without chat markup\n"
            "      --no-think       do not open a <think> block in the prompt\n"
            "      --hide-reasoning print only the answer\n"
            "      --no-large-pages load without QWQ_LOAD_LARGE_PAGES (by default a model cached in 4 KiB\n"
            "                       pages is read again into 2 MiB ones, from which decode runs up to 3x faster)\n"
            "  -v, --verbose        print model details\n");
}

static int parse_args(int argc, char **argv, options *o) {
    *o = (options){.n_predict = 512, .temperature = 0.6, .top_p = 0.95, .top_k = 40, .seed = -1, .think = 1,
                   .large_pages = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(s, l) (strcmp(a, s) == 0 || strcmp(a, l) == 0)
#define NEED_VALUE()                                                   \
    do {                                                               \
        if (!v) {                                                      \
            fprintf(stderr, "qwq-run: %s needs a value\n", a);         \
            return -1;                                                 \
        }                                                              \
        i++;                                                           \
    } while (0)
        if (ARG("-h", "--help")) { usage(stdout); exit(0); }
        else if (ARG("-m", "--model")) { NEED_VALUE(); o->model = v; }
        else if (ARG("-p", "--prompt")) { NEED_VALUE(); o->prompt = v; }
        else if (ARG("-f", "--file")) { NEED_VALUE(); o->prompt_file = v; }
        else if (ARG("-s", "--system")) { NEED_VALUE(); o->system = v; }
        else if (ARG("-n", "--n-predict")) { NEED_VALUE(); o->n_predict = atoi(v); }
        else if (ARG("-t", "--threads")) { NEED_VALUE(); o->n_threads = atoi(v); }
        else if (ARG("-c", "--ctx")) { NEED_VALUE(); o->n_ctx = atoi(v); }
        else if (ARG("--temp", "--temperature")) { NEED_VALUE(); o->temperature = atof(v); }
        else if (ARG("--top-k", "--top_k")) { NEED_VALUE(); o->top_k = atoi(v); }
        else if (ARG("--top-p", "--top_p")) { NEED_VALUE(); o->top_p = atof(v); }
        else if (ARG("--min-p", "--min_p")) { NEED_VALUE(); o->min_p = atof(v); }
        else if (ARG("--seed", "--seed")) { NEED_VALUE(); o->seed = atoll(v); }
        else if (ARG("--raw", "--raw")) o->raw = 1;
        else if (ARG("--no-think", "--no-think")) o->think = 0;
        else if (ARG("--hide-reasoning", "--hide-reasoning")) o->hide_reasoning = 1;
        else if (ARG("-v", "--verbose")) o->verbose = 1;
        else if (ARG("--no-large-pages", "--no-large-pages")) o->large_pages = 0;
        else {
            fprintf(stderr, "qwq-run: unknown argument '%s'\n", a);
            return -1;
        }
#undef ARG
#undef NEED_VALUE
    }
    if (!o->model || (!o->prompt && !o->prompt_file)) return -1;
    return 0;
}

static char *read_all(const char *path) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) { free(buf); buf = NULL; }
            else buf = b;
        }
    }
    if (f != stdin) fclose(f);
    if (buf) buf[len] = 0;
    return buf;
}

/* Growable token array filled through the buffer protocol. */
typedef struct tokens {
    qwq_token *ids;
    size_t n, cap;
} tokens;

static qwq_status append_text(const qwq_model *m, tokens *t, const char *text, uint32_t flags) {
    size_t need = 0;
    qwq_status st = qwq_tokenize(m, text, strlen(text), flags, NULL, 0, &need);
    if (st != QWQ_OK && st != QWQ_ERR_BUFFER_TOO_SMALL) return st;
    if (t->n + need > t->cap) {
        size_t cap = (t->n + need) * 2 + 16;
        qwq_token *ids = realloc(t->ids, cap * sizeof *ids);
        if (!ids) return QWQ_ERR_OUT_OF_MEMORY;
        t->ids = ids;
        t->cap = cap;
    }
    size_t got = 0;
    st = qwq_tokenize(m, text, strlen(text), flags, t->ids + t->n, t->cap - t->n, &got);
    if (st == QWQ_OK) t->n += got;
    return st;
}

/* Markup is tokenized with special tokens recognised; the user's text is
 * not, so text that merely looks like <|im_end|> stays text. */
static qwq_status build_prompt(const qwq_model *m, const options *o, const char *user, tokens *t) {
    qwq_status st = QWQ_OK;
    if (o->raw) return append_text(m, t, user, QWQ_TOKENIZE_SPECIAL);
    if (o->system) {
        if ((st = append_text(m, t, "<|im_start|>system\n", QWQ_TOKENIZE_SPECIAL)) ||
            (st = append_text(m, t, o->system, 0)) || (st = append_text(m, t, "<|im_end|>\n", QWQ_TOKENIZE_SPECIAL)))
            return st;
    }
    if ((st = append_text(m, t, "<|im_start|>user\n", QWQ_TOKENIZE_SPECIAL)) || (st = append_text(m, t, user, 0)) ||
        (st = append_text(m, t, "<|im_end|>\n<|im_start|>assistant\n", QWQ_TOKENIZE_SPECIAL)))
        return st;
    if (o->think) st = append_text(m, t, "<think>\n", QWQ_TOKENIZE_SPECIAL);
    return st;
}

typedef struct stream_state {
    const options *o;
    int color;
    qwq_channel shown;
    double first_token_time;
    qwq_usage usage;
    qwq_finish_reason finish;
} stream_state;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int on_event(const qwq_event *e, void *user) {
    stream_state *s = user;
    if (e->type == QWQ_EVENT_DONE) {
        s->usage = e->usage;
        s->finish = e->finish_reason;
        if (s->color) fputs("\033[0m", stdout);
        fputc('\n', stdout);
        fflush(stdout);
        return 0;
    }
    if (e->type == QWQ_EVENT_TOOL_CALL) {
        if (e->tool_call_valid)
            printf("\n[tool call] %s(%s)\n", e->tool_name, e->tool_arguments_json);
        else
            printf("\n[tool call, not parsed] %s\n", e->tool_call_raw);
        return 0;
    }
    if (!s->first_token_time) s->first_token_time = now();
    if (e->channel == QWQ_CHANNEL_REASONING && s->o->hide_reasoning) return 0;
    if (e->channel != s->shown) {
        if (s->color) fputs(e->channel == QWQ_CHANNEL_REASONING ? "\033[2m" : "\033[0m", stdout);
        else fputs(e->channel == QWQ_CHANNEL_REASONING ? "[reasoning]\n" : "\n[answer]\n", stdout);
        s->shown = e->channel;
    }
    fwrite(e->text, 1, e->text_len, stdout);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    options o;
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    char *user = o.prompt ? strdup(o.prompt) : read_all(o.prompt_file);
    if (!user) {
        fprintf(stderr, "qwq-run: cannot read the prompt from '%s'\n", o.prompt_file);
        return 1;
    }
    double t0 = now();
    qwq_model *model = NULL;
    qwq_load_params lp;
    qwq_load_params_init(&lp);
    if (o.large_pages) lp.flags |= QWQ_LOAD_LARGE_PAGES; /* a generation is long enough to repay the read */
    qwq_status st = qwq_load(o.model, &lp, &model);
    if (st != QWQ_OK) {
        fprintf(stderr, "qwq-run: %s: %s\n", qwq_status_name(st), qwq_last_error());
        free(user);
        return 1;
    }
    double t_load = now() - t0;
    if (o.verbose)
        fprintf(stderr, "model: %s (%s), %d layers, hidden %d, %d/%d heads of %d, FFN %d, vocab %d, %.2f B params, %.2f GB\n",
                qwq_model_name(model), qwq_model_architecture(model), qwq_model_n_layer(model),
                qwq_model_n_embd(model), qwq_model_n_head(model), qwq_model_n_head_kv(model),
                qwq_model_head_dim(model), qwq_model_n_ff(model), qwq_model_n_vocab(model),
                (double)qwq_model_n_params(model) / 1e9, (double)qwq_model_weight_bytes(model) / 1e9);

    qwq_session_params sp;
    qwq_session_params_init(&sp);
    sp.n_threads = o.n_threads;
    sp.n_ctx = o.n_ctx;
    qwq_session *session = NULL;
    tokens prompt = {0};
    int rc = 1;
    if ((st = qwq_session_new(model, &sp, &session)) != QWQ_OK) goto fail;
    if ((st = build_prompt(model, &o, user, &prompt)) != QWQ_OK) goto fail;
    if (prompt.n == 0) {
        fprintf(stderr, "qwq-run: the prompt is empty\n");
        goto done;
    }

    double t1 = now();
    if ((st = qwq_session_eval(session, prompt.ids, prompt.n, 0)) != QWQ_OK) goto fail;
    double t_prompt = now() - t1;

    char options_json[512];
    char seed[48] = "";
    if (o.seed >= 0) snprintf(seed, sizeof seed, ",\"seed\":%lld", o.seed);
    snprintf(options_json, sizeof options_json,
             "{\"max_tokens\":%d,\"temperature\":%.17g,\"top_k\":%d,\"top_p\":%.17g,\"min_p\":%.17g%s}", o.n_predict,
             o.temperature, o.top_k, o.top_p, o.min_p, seed);
    stream_state ss = {&o, isatty(1), o.think && !o.raw ? QWQ_CHANNEL_REASONING : QWQ_CHANNEL_CONTENT, 0, {0}, 0};
    if (ss.color && ss.shown == QWQ_CHANNEL_REASONING) fputs("\033[2m", stdout);
    double t2 = now();
    st = qwq_generate(session, NULL, 0, options_json, on_event, &ss);
    double t_gen = now() - t2;
    if (st != QWQ_OK) goto fail;

    static const char *const reasons[] = {"stop", "length", "tool_calls", "cancelled"};
    fprintf(stderr, "\nload %.2f s | prompt %zu tokens, %.2f tok/s | generated %d tokens (%d reasoning), %.2f tok/s | finish: %s\n",
            t_load, prompt.n, (double)prompt.n / t_prompt, ss.usage.completion_tokens, ss.usage.reasoning_tokens,
            ss.usage.completion_tokens > 0 ? (double)ss.usage.completion_tokens / t_gen : 0.0,
            reasons[ss.finish < 4 ? ss.finish : 0]);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "qwq-run: %s: %s\n", qwq_status_name(st), qwq_last_error());
done:
    free(prompt.ids);
    free(user);
    qwq_session_free(session);
    qwq_model_free(model);
    return rc;
}
