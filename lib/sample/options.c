/* gen_options: the options_json of qwq_generate, validated field by field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sample/sample.h"
#include "util/util.h"

void gen_options_init(gen_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->max_tokens = -1;
    o->temperature = 0.6f;
    o->top_p = 0.95f;
    o->top_k = 40;
    o->min_p = 0.0f;
    o->repetition_penalty = 1.0f;
    o->repeat_last_n = 64;
    o->response_format = GEN_RESPONSE_TEXT;
    o->reasoning_max_tokens = -1;
}

void gen_options_free(gen_options *o) {
    if (!o) return;
    free(o->logit_bias);
    for (size_t i = 0; i < GEN_MAX_STOP; i++) free(o->stop[i]);
    free(o->json_schema);
    gen_options_init(o);
}

/* ---- messages ----------------------------------------------------------- */

/* A printable, bounded rendering of a member name for messages. */
static void show_name(const char *s, size_t n, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = c >= 0x20 && c != 0x7F && c != '"' ? (char)c : '?';
    }
    if (o + 4 >= cap && n > o) { buf[o++] = '.'; buf[o++] = '.'; buf[o++] = '.'; }
    buf[o] = 0;
}

/* What a value is, for "got ..." in messages: a number's text, a quoted
 * short string, or the kind. */
static const char *show_value(const json_value *v, char *buf, size_t cap) {
    size_t n;
    const char *t;
    switch (json_type(v)) {
    case JSON_NUMBER:
        t = json_num_text(v, &n);
        snprintf(buf, cap, "%.*s", (int)(n > 40 ? 40 : n), t);
        return buf;
    case JSON_STRING: {
        char s[48];
        t = json_str(v, &n);
        show_name(t, n, s, sizeof s);
        snprintf(buf, cap, "the string \"%s\"", s);
        return buf;
    }
    case JSON_BOOL: return json_bool(v) ? "true" : "false";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    default: return "null";
    }
}

static qwq_status bad_value(const char *field, const char *want, const json_value *v) {
    char got[96];
    return err_set(QWQ_ERR_INVALID_ARGUMENT, "options: %s must be %s, got %s", field, want,
                   show_value(v, got, sizeof got));
}

static qwq_status unknown_field(const char *prefix, const char *name, size_t n) {
    char shown[72];
    show_name(name, n, shown, sizeof shown);
    return err_set(QWQ_ERR_FORMAT, "options: unknown field \"%s%s\"", prefix, shown);
}

/* ---- typed getters ------------------------------------------------------ */

/* A number in [lo, hi] (lo excluded when lo_open); want describes it. */
static qwq_status get_float(const char *field, const json_value *v, double lo, double hi, bool lo_open,
                            const char *want, float *out) {
    if (json_type(v) != JSON_NUMBER) return bad_value(field, want, v);
    double d = json_num_f64(v);
    if (!(d >= lo && d <= hi) || (lo_open && d == lo)) return bad_value(field, want, v);
    *out = (float)d;
    return QWQ_OK;
}

static qwq_status get_int(const char *field, const json_value *v, int64_t lo, int64_t hi, const char *want,
                          int64_t *out) {
    int64_t x;
    if (json_type(v) != JSON_NUMBER || !json_num_i64(v, &x) || x < lo || x > hi) return bad_value(field, want, v);
    *out = x;
    return QWQ_OK;
}

static bool key_is(const char *k, size_t n, const char *name) {
    return strlen(name) == n && memcmp(k, name, n) == 0;
}

static qwq_status parse_effort(const char *field, const json_value *v, gen_effort *out) {
    static const char *const names[] = {"minimal", "low", "medium", "high"};
    static const gen_effort vals[] = {GEN_EFFORT_MINIMAL, GEN_EFFORT_LOW, GEN_EFFORT_MEDIUM, GEN_EFFORT_HIGH};
    size_t n;
    const char *s = json_str(v, &n);
    for (size_t i = 0; s && i < 4; i++)
        if (key_is(s, n, names[i])) { *out = vals[i]; return QWQ_OK; }
    return bad_value(field, "one of \"minimal\", \"low\", \"medium\", \"high\"", v);
}

static int bias_cmp(const void *a, const void *b) {
    const gen_logit_bias *x = a, *y = b;
    return (x->token > y->token) - (x->token < y->token);
}

static qwq_status parse_logit_bias(const json_value *v, gen_options *o) {
    if (json_type(v) != JSON_OBJECT)
        return bad_value("logit_bias", "an object mapping token ids (strings) to numbers in [-100, 100]", v);
    size_t n = json_obj_size(v);
    if (n == 0) return QWQ_OK;
    gen_logit_bias *b = mem_calloc(n, sizeof *b, "logit_bias");
    if (!b) return QWQ_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < n; i++) {
        size_t kl;
        const char *k = json_obj_key_at(v, i, &kl);
        int64_t id = 0;
        bool ok = kl > 0 && kl <= 10 && !(kl > 1 && k[0] == '0');
        for (size_t j = 0; ok && j < kl; j++) {
            if (k[j] < '0' || k[j] > '9') ok = false;
            else id = id * 10 + (k[j] - '0');
        }
        if (!ok || id > INT32_MAX) {
            char shown[48];
            show_name(k, kl, shown, sizeof shown);
            free(b);
            return err_set(QWQ_ERR_INVALID_ARGUMENT,
                           "options: logit_bias key \"%s\" is not a token id (a decimal integer in [0, 2147483647] "
                           "without leading zeros)", shown);
        }
        char field[48];
        snprintf(field, sizeof field, "logit_bias[\"%lld\"]", (long long)id);
        qwq_status st = get_float(field, json_obj_value_at(v, i), -100, 100, false, "a number in [-100, 100]",
                                  &b[i].bias);
        if (st) { free(b); return st; }
        b[i].token = (qwq_token)id;
    }
    qsort(b, n, sizeof *b, bias_cmp); /* ids are unique: names are unique and canonical */
    o->logit_bias = b;
    o->n_logit_bias = n;
    return QWQ_OK;
}

static qwq_status add_stop(gen_options *o, const char *field, const json_value *v) {
    size_t n;
    const char *s = json_str(v, &n);
    if (!s || n == 0) return bad_value(field, "a non-empty string", v);
    char *copy = mem_alloc(n + 1, "stop string"); /* n < input size: no overflow */
    if (!copy) return QWQ_ERR_OUT_OF_MEMORY;
    memcpy(copy, s, n + 1);
    o->stop[o->n_stop] = copy;
    o->stop_len[o->n_stop] = n;
    o->n_stop++;
    return QWQ_OK;
}

static qwq_status parse_stop(const json_value *v, gen_options *o) {
    if (json_type(v) == JSON_STRING) return add_stop(o, "stop", v);
    if (json_type(v) != JSON_ARRAY) return bad_value("stop", "a string or an array of at most 4 non-empty strings", v);
    size_t n = json_arr_size(v);
    if (n > GEN_MAX_STOP)
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "options: stop takes at most %d strings, got %zu", GEN_MAX_STOP, n);
    for (size_t i = 0; i < n; i++) {
        char field[16];
        snprintf(field, sizeof field, "stop[%zu]", i);
        qwq_status st = add_stop(o, field, json_arr_at(v, i));
        if (st) return st;
    }
    return QWQ_OK;
}

static qwq_status parse_response_format(const json_value *v, gen_options *o) {
    if (json_type(v) != JSON_OBJECT)
        return bad_value("response_format", "an object like {\"type\": \"text\"}", v);
    const json_value *type = NULL, *schema = NULL;
    for (size_t i = 0; i < json_obj_size(v); i++) {
        size_t kl;
        const char *k = json_obj_key_at(v, i, &kl);
        if (key_is(k, kl, "type")) type = json_obj_value_at(v, i);
        else if (key_is(k, kl, "json_schema")) schema = json_obj_value_at(v, i);
        else return unknown_field("response_format.", k, kl);
    }
    static const char want[] = "one of \"text\", \"json_object\", \"json_schema\"";
    size_t n;
    const char *t = json_str(type, &n);
    if (!t) return bad_value("response_format.type", want, type);
    if (key_is(t, n, "text")) o->response_format = GEN_RESPONSE_TEXT;
    else if (key_is(t, n, "json_object")) o->response_format = GEN_RESPONSE_JSON_OBJECT;
    else if (key_is(t, n, "json_schema")) o->response_format = GEN_RESPONSE_JSON_SCHEMA;
    else return bad_value("response_format.type", want, type);
    if (o->response_format == GEN_RESPONSE_JSON_SCHEMA) {
        if (json_type(schema) != JSON_OBJECT)
            return bad_value("response_format.json_schema", "an object (required with type \"json_schema\")", schema);
        json_buf b;
        json_buf_init(&b);
        qwq_status st = json_write_value(&b, schema, 0);
        if (st) { json_buf_free(&b); return st; }
        o->json_schema = json_buf_take(&b, &o->json_schema_len);
        if (!o->json_schema) return QWQ_ERR_OUT_OF_MEMORY;
    }
    return QWQ_OK;
}

static qwq_status parse_reasoning(const json_value *v, gen_options *o) {
    if (json_type(v) != JSON_OBJECT)
        return bad_value("reasoning", "an object like {\"max_tokens\": N, \"exclude\": false}", v);
    for (size_t i = 0; i < json_obj_size(v); i++) {
        size_t kl;
        const char *k = json_obj_key_at(v, i, &kl);
        const json_value *x = json_obj_value_at(v, i);
        qwq_status st = QWQ_OK;
        if (json_is_null(x) && (key_is(k, kl, "max_tokens") || key_is(k, kl, "exclude") || key_is(k, kl, "effort")))
            continue;
        if (key_is(k, kl, "max_tokens")) {
            st = get_int("reasoning.max_tokens", x, 0, INT32_MAX, "an integer in [0, 2147483647]",
                         &o->reasoning_max_tokens);
        } else if (key_is(k, kl, "exclude")) {
            if (json_type(x) != JSON_BOOL) return bad_value("reasoning.exclude", "a boolean", x);
            o->reasoning_exclude = json_bool(x);
        } else if (key_is(k, kl, "effort")) {
            st = parse_effort("reasoning.effort", x, &o->reasoning_effort);
        } else {
            return unknown_field("reasoning.", k, kl);
        }
        if (st) return st;
    }
    return QWQ_OK;
}

/* One top-level member. */
static qwq_status parse_member(const char *k, size_t kl, const json_value *v, gen_options *o, int64_t *max_a,
                               int64_t *max_b) {
    int64_t x;
    qwq_status st;
    if (key_is(k, kl, "max_tokens") || key_is(k, kl, "max_completion_tokens")) {
        bool a = key_is(k, kl, "max_tokens");
        if (json_is_null(v)) return QWQ_OK;
        st = get_int(a ? "max_tokens" : "max_completion_tokens", v, 1, INT32_MAX, "an integer in [1, 2147483647]",
                     &x);
        if (!st) *(a ? max_a : max_b) = x;
        return st;
    }
    if (json_is_null(v)) {
        /* null means the default, for every known field */
        static const char *const known[] = {
            "temperature", "top_p", "top_k", "min_p", "presence_penalty", "frequency_penalty",
            "repetition_penalty", "repeat_last_n", "logit_bias", "stop", "seed", "response_format",
            "reasoning", "reasoning_effort", "n", "stream", "user"};
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (key_is(k, kl, known[i])) return QWQ_OK;
        return unknown_field("", k, kl);
    }
    if (key_is(k, kl, "temperature"))
        return get_float("temperature", v, 0, 2, false, "a number in [0, 2]", &o->temperature);
    if (key_is(k, kl, "top_p")) return get_float("top_p", v, 0, 1, false, "a number in [0, 1]", &o->top_p);
    if (key_is(k, kl, "min_p")) return get_float("min_p", v, 0, 1, false, "a number in [0, 1]", &o->min_p);
    if (key_is(k, kl, "top_k")) {
        st = get_int("top_k", v, -1, INT32_MAX, "an integer in [-1, 2147483647] (0 or -1 = off)", &x);
        if (!st) o->top_k = x < 0 ? 0 : (int32_t)x;
        return st;
    }
    if (key_is(k, kl, "presence_penalty"))
        return get_float("presence_penalty", v, -2, 2, false, "a number in [-2, 2]", &o->presence_penalty);
    if (key_is(k, kl, "frequency_penalty"))
        return get_float("frequency_penalty", v, -2, 2, false, "a number in [-2, 2]", &o->frequency_penalty);
    if (key_is(k, kl, "repetition_penalty"))
        return get_float("repetition_penalty", v, 0, 1e30, true, "a number in (0, 1e30] (1 = off)",
                         &o->repetition_penalty);
    if (key_is(k, kl, "repeat_last_n")) {
        st = get_int("repeat_last_n", v, -1, INT32_MAX, "an integer in [-1, 2147483647] (-1 = all, 0 = off)", &x);
        if (!st) o->repeat_last_n = (int32_t)x;
        return st;
    }
    if (key_is(k, kl, "logit_bias")) return parse_logit_bias(v, o);
    if (key_is(k, kl, "stop")) return parse_stop(v, o);
    if (key_is(k, kl, "seed")) {
        st = get_int("seed", v, INT64_MIN, INT64_MAX, "an integer in [-9223372036854775808, 9223372036854775807]",
                     &x);
        if (!st) { o->has_seed = true; o->seed = (uint64_t)x; }
        return st;
    }
    if (key_is(k, kl, "response_format")) return parse_response_format(v, o);
    if (key_is(k, kl, "reasoning")) return parse_reasoning(v, o);
    if (key_is(k, kl, "reasoning_effort")) return parse_effort("reasoning_effort", v, &o->reasoning_effort);
    if (key_is(k, kl, "n")) {
        if (json_type(v) != JSON_NUMBER || !json_num_i64(v, &x) || x != 1)
            return bad_value("n", "1 (one choice per call)", v);
        return QWQ_OK;
    }
    if (key_is(k, kl, "stream")) return json_type(v) == JSON_BOOL ? QWQ_OK : bad_value("stream", "a boolean", v);
    if (key_is(k, kl, "user")) return json_type(v) == JSON_STRING ? QWQ_OK : bad_value("user", "a string", v);
    return unknown_field("", k, kl);
}

qwq_status gen_options_parse_value(const json_value *obj, const char *const *skip, size_t n_skip,
                                   gen_options *out) {
    if (!out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gen_options_parse: out is NULL");
    if (json_type(obj) != JSON_OBJECT) return bad_value("the options", "a JSON object", obj);
    gen_options o;
    gen_options_init(&o);
    int64_t max_a = -1, max_b = -1;
    qwq_status st = QWQ_OK;
    for (size_t i = 0; i < json_obj_size(obj) && !st; i++) {
        size_t kl;
        const char *k = json_obj_key_at(obj, i, &kl);
        bool skipped = false;
        for (size_t j = 0; j < n_skip && !skipped; j++) skipped = skip[j] && key_is(k, kl, skip[j]);
        if (!skipped) st = parse_member(k, kl, json_obj_value_at(obj, i), &o, &max_a, &max_b);
    }
    if (!st && max_a >= 0 && max_b >= 0 && max_a != max_b)
        st = err_set(QWQ_ERR_INVALID_ARGUMENT,
                     "options: max_tokens (%lld) and max_completion_tokens (%lld) disagree; give one of them",
                     (long long)max_a, (long long)max_b);
    if (st) {
        gen_options_free(&o);
        return st;
    }
    o.max_tokens = max_b >= 0 ? max_b : max_a;
    *out = o;
    return QWQ_OK;
}

qwq_status gen_options_parse(const char *json, size_t len, gen_options *out) {
    if (!out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "gen_options_parse: out is NULL");
    if (!json || len == 0) {
        gen_options_init(out);
        return QWQ_OK;
    }
    json_doc *doc;
    qwq_status st = json_parse(json, len, &doc);
    if (st) return err_prefix(st, "options");
    st = gen_options_parse_value(json_root(doc), NULL, 0, out);
    json_doc_free(doc);
    return st;
}

qwq_status gen_options_check_vocab(const gen_options *o, int32_t n_vocab) {
    if (!o) return QWQ_OK;
    for (size_t i = 0; i < o->n_logit_bias; i++)
        if (o->logit_bias[i].token < 0 || o->logit_bias[i].token >= n_vocab)
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "options: logit_bias token %d is out of range [0, %d)",
                           (int)o->logit_bias[i].token, (int)n_vocab);
    return QWQ_OK;
}
