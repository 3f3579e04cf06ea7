/* stream_proc: channels, markup, newline trimming, stop strings, tool calls. */
#include "generate/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "util/util.h"

struct stream_proc {
    bool trim, hide_reasoning;
    char **stop;       /* owned copies */
    size_t *stop_len;
    size_t n_stop;
    qwq_channel ch;
    bool at_start;     /* leading newlines of the current block are still dropped */
    size_t nl_held;    /* trailing newlines held back (trim) */
    json_buf hold;     /* answer text held back for stop strings */
    json_buf tool_raw; /* raw text of the open tool call */
    json_buf text;     /* this push's output text */
    /* this push's tool call */
    stream_tool_call tc;
    json_buf tc_name, tc_args, tc_raw;
    char tc_error[256];
    bool tc_ready;
    int32_t n_reasoning, n_tool_calls;
    bool done;
};

void stream_params_init(stream_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->trim_newlines = true;
}

void stream_free(stream_proc *sp) {
    if (!sp) return;
    for (size_t i = 0; i < sp->n_stop; i++) free(sp->stop[i]);
    free(sp->stop);
    free(sp->stop_len);
    json_buf_free(&sp->hold);
    json_buf_free(&sp->tool_raw);
    json_buf_free(&sp->text);
    json_buf_free(&sp->tc_name);
    json_buf_free(&sp->tc_args);
    json_buf_free(&sp->tc_raw);
    free(sp);
}

qwq_status stream_new(const stream_params *p, stream_proc **out) {
    if (!out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "stream_new: out is NULL");
    *out = NULL;
    stream_params defaults;
    stream_params_init(&defaults);
    if (!p) p = &defaults;
    if (p->n_stop && (!p->stop || !p->stop_len))
        return err_set(QWQ_ERR_INVALID_ARGUMENT, "stream_new: %zu stop strings but no array", p->n_stop);
    for (size_t i = 0; i < p->n_stop; i++)
        if (!p->stop[i] || p->stop_len[i] == 0)
            return err_set(QWQ_ERR_INVALID_ARGUMENT, "stream_new: stop string %zu is empty", i);
    stream_proc *sp = mem_calloc(1, sizeof *sp, "stream");
    if (!sp) return QWQ_ERR_OUT_OF_MEMORY;
    sp->trim = p->trim_newlines;
    sp->hide_reasoning = p->hide_reasoning;
    sp->ch = p->start_in_reasoning ? QWQ_CHANNEL_REASONING : QWQ_CHANNEL_CONTENT;
    sp->at_start = p->start_in_reasoning;
    if (p->n_stop) {
        sp->stop = mem_calloc(p->n_stop, sizeof *sp->stop, "stop strings");
        sp->stop_len = mem_calloc(p->n_stop, sizeof *sp->stop_len, "stop strings");
        if (!sp->stop || !sp->stop_len) goto oom;
        for (size_t i = 0; i < p->n_stop; i++) {
            sp->stop[i] = str_dup_n(p->stop[i], p->stop_len[i], "stop string");
            if (!sp->stop[i]) goto oom;
            sp->stop_len[i] = p->stop_len[i];
            sp->n_stop = i + 1;
        }
    }
    json_buf_init(&sp->hold);
    json_buf_init(&sp->tool_raw);
    json_buf_init(&sp->text);
    json_buf_init(&sp->tc_name);
    json_buf_init(&sp->tc_args);
    json_buf_init(&sp->tc_raw);
    *out = sp;
    return QWQ_OK;
oom:
    stream_free(sp);
    return QWQ_ERR_OUT_OF_MEMORY;
}

qwq_channel stream_channel(const stream_proc *sp) { return sp ? sp->ch : QWQ_CHANNEL_CONTENT; }
int32_t stream_reasoning_tokens(const stream_proc *sp) { return sp ? sp->n_reasoning : 0; }
int32_t stream_tool_calls(const stream_proc *sp) { return sp ? sp->n_tool_calls : 0; }
bool stream_done(const stream_proc *sp) { return sp ? sp->done : true; }

/* ---- output stages ------------------------------------------------------ */

static qwq_status put_newlines(json_buf *b, size_t n) {
    static const char nl[16] = "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n";
    while (n) {
        size_t k = n < sizeof nl ? n : sizeof nl;
        qwq_status st = json_buf_append(b, nl, k);
        if (st) return st;
        n -= k;
    }
    return QWQ_OK;
}

/* The last stage of reasoning and answer text: with trimming, a run of
 * trailing newlines is held (nl_held) until other text follows. */
static qwq_status emit(stream_proc *sp, const char *s, size_t n) {
    bool visible = !(sp->ch == QWQ_CHANNEL_REASONING && sp->hide_reasoning);
    if (!sp->trim) return visible ? json_buf_append(&sp->text, s, n) : QWQ_OK;
    size_t body = n;
    while (body && s[body - 1] == '\n') body--;
    if (body == 0) {
        sp->nl_held += n;
        return QWQ_OK;
    }
    qwq_status st = QWQ_OK;
    if (visible) {
        st = put_newlines(&sp->text, sp->nl_held);
        if (!st) st = json_buf_append(&sp->text, s, body);
    }
    sp->nl_held = n - body;
    return st;
}

/* Releases held newlines (keep) or drops them. */
static qwq_status end_newlines(stream_proc *sp, bool keep) {
    size_t n = sp->nl_held;
    sp->nl_held = 0;
    if (!keep || !n || (sp->ch == QWQ_CHANNEL_REASONING && sp->hide_reasoning)) return QWQ_OK;
    return put_newlines(&sp->text, n);
}

/* Longest suffix of s[0..n) that is a proper prefix of a stop string. */
static size_t stop_prefix(const stream_proc *sp, const char *s, size_t n) {
    size_t best = 0;
    for (size_t i = 0; i < sp->n_stop; i++) {
        size_t k = sp->stop_len[i] - 1 < n ? sp->stop_len[i] - 1 : n;
        for (; k > best; k--)
            if (memcmp(s + n - k, sp->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

/* Offset of the earliest stop string in s[0..n), or n when none. */
static size_t stop_find(const stream_proc *sp, const char *s, size_t n) {
    size_t first = n;
    for (size_t i = 0; i < sp->n_stop; i++) {
        size_t sl = sp->stop_len[i];
        for (size_t at = 0; at + sl <= n && at < first; at++)
            if (s[at] == sp->stop[i][0] && memcmp(s + at, sp->stop[i], sl) == 0) {
                first = at;
                break;
            }
    }
    return first;
}

/* Answer text: leading newlines (trim), then the stop-string filter. */
static qwq_status content_text(stream_proc *sp, const char *s, size_t n) {
    if (sp->at_start && sp->trim) {
        while (n && *s == '\n') { s++; n--; }
        if (n == 0) return QWQ_OK;
    }
    sp->at_start = false;
    if (sp->n_stop == 0) return emit(sp, s, n);
    qwq_status st = json_buf_append(&sp->hold, s, n);
    if (st) return st;
    size_t at = stop_find(sp, sp->hold.data, sp->hold.len);
    if (at < sp->hold.len) {
        st = emit(sp, sp->hold.data, at);
        if (!st) st = end_newlines(sp, true); /* the answer ends here */
        json_buf_reset(&sp->hold);
        sp->done = true;
        return st;
    }
    size_t keep = stop_prefix(sp, sp->hold.data, sp->hold.len);
    size_t out = sp->hold.len - keep;
    st = emit(sp, sp->hold.data, out);
    memmove(sp->hold.data, sp->hold.data + out, keep);
    sp->hold.len = keep;
    sp->hold.data[keep] = 0;
    return st;
}

static qwq_status reasoning_text(stream_proc *sp, const char *s, size_t n) {
    if (sp->at_start && sp->trim) {
        while (n && *s == '\n') { s++; n--; }
        if (n == 0) return QWQ_OK;
    }
    sp->at_start = false;
    return emit(sp, s, n);
}

static qwq_status tool_text(stream_proc *sp, const char *s, size_t n) {
    qwq_status st = json_buf_append(&sp->tool_raw, s, n);
    if (!st) st = json_buf_append(&sp->text, s, n);
    return st;
}

/* Text of the current channel. */
static qwq_status channel_text(stream_proc *sp, const char *s, size_t n) {
    if (n == 0) return QWQ_OK;
    switch (sp->ch) {
    case QWQ_CHANNEL_CONTENT: return content_text(sp, s, n);
    case QWQ_CHANNEL_REASONING: return reasoning_text(sp, s, n);
    default: return tool_text(sp, s, n);
    }
}

/* Answer text held for stop strings goes out (the answer is left or ends). */
static qwq_status release_hold(stream_proc *sp) {
    if (!sp->hold.len) return QWQ_OK;
    qwq_status st = emit(sp, sp->hold.data, sp->hold.len);
    json_buf_reset(&sp->hold);
    return st;
}

/* ---- tool calls --------------------------------------------------------- */

static qwq_status set_text(json_buf *b, const char *s, size_t n) {
    json_buf_reset(b);
    return json_buf_append(b, s, n);
}

static qwq_status tool_invalid(stream_proc *sp, const char *why) {
    snprintf(sp->tc_error, sizeof sp->tc_error, "%s", why);
    sp->tc.valid = false;
    return QWQ_OK;
}

/* Parses tool_raw into sp->tc. Only allocation failure is an error. */
static qwq_status tool_parse(stream_proc *sp, bool closed) {
    qwq_status st = set_text(&sp->tc_raw, sp->tool_raw.data ? sp->tool_raw.data : "", sp->tool_raw.len);
    if (!st) st = set_text(&sp->tc_name, "", 0);
    if (!st) st = set_text(&sp->tc_args, "", 0);
    if (st) return st;
    json_buf_reset(&sp->tool_raw);
    sp->tc_error[0] = 0;
    sp->tc_ready = true;
    if (!closed) return tool_invalid(sp, "unterminated tool call (no </tool_call> before the end)");
    json_doc *doc = NULL, *inner = NULL;
    if (json_parse(sp->tc_raw.data, sp->tc_raw.len, &doc) != QWQ_OK) {
        char why[256];
        snprintf(why, sizeof why, "not valid JSON: %s", err_message());
        return tool_invalid(sp, why);
    }
    const json_value *root = json_root(doc);
    const json_value *name = json_obj_get(root, "name");
    const json_value *args = json_obj_get(root, "arguments");
    size_t name_len = 0;
    const char *nm = json_str(name, &name_len);
    if (json_type(root) != JSON_OBJECT) {
        st = tool_invalid(sp, "not a JSON object");
    } else if (!nm || name_len == 0) {
        st = tool_invalid(sp, "no \"name\" (a non-empty string)");
    } else {
        if (json_type(args) == JSON_STRING) { /* arguments as a string holding JSON */
            size_t al;
            const char *a = json_str(args, &al);
            args = json_parse(a, al, &inner) == QWQ_OK ? json_root(inner) : NULL;
            if (!args) {
                json_doc_free(doc);
                return tool_invalid(sp, "\"arguments\" is a string that is not valid JSON");
            }
        }
        if (args == NULL || json_is_null(args)) {
            st = set_text(&sp->tc_args, "{}", 2);
        } else if (json_type(args) != JSON_OBJECT) {
            st = tool_invalid(sp, "\"arguments\" is not a JSON object");
            goto out;
        } else {
            st = json_write_value(&sp->tc_args, args, 0);
        }
        if (!st) st = set_text(&sp->tc_name, nm, name_len);
        if (!st) {
            sp->tc.valid = true;
            sp->n_tool_calls++;
        } else if (st != QWQ_ERR_OUT_OF_MEMORY) {
            st = tool_invalid(sp, "arguments cannot be written back as JSON");
        }
    }
out:
    json_doc_free(inner);
    json_doc_free(doc);
    if (st == QWQ_OK && !sp->tc.valid) {
        json_buf_reset(&sp->tc_name);
        json_buf_reset(&sp->tc_args);
    }
    return st;
}

/* ---- pushing ------------------------------------------------------------ */

static qwq_status end_of_stream(stream_proc *sp) {
    qwq_status st = QWQ_OK;
    if (sp->ch == QWQ_CHANNEL_CONTENT) st = release_hold(sp);
    if (!st && sp->ch != QWQ_CHANNEL_TOOL_CALL) st = end_newlines(sp, true);
    if (!st && sp->ch == QWQ_CHANNEL_TOOL_CALL) st = tool_parse(sp, false);
    sp->done = true;
    return st;
}

static qwq_status markup(stream_proc *sp, stream_mark mark, const char *piece, size_t len, qwq_channel *out_ch) {
    qwq_status st = QWQ_OK;
    qwq_channel ch = sp->ch;
    if (ch == QWQ_CHANNEL_TOOL_CALL && mark != STREAM_MARK_TOOL_CLOSE) {
        *out_ch = ch;
        return tool_text(sp, piece, len); /* markers inside a call are its text */
    }
    switch (mark) {
    case STREAM_MARK_THINK_OPEN:
        *out_ch = QWQ_CHANNEL_REASONING;
        if (ch == QWQ_CHANNEL_CONTENT) {
            st = release_hold(sp);
            if (!st) st = end_newlines(sp, true);
            if (sp->text.len) *out_ch = QWQ_CHANNEL_CONTENT;
            sp->ch = QWQ_CHANNEL_REASONING;
            sp->at_start = true;
        }
        return st;
    case STREAM_MARK_THINK_CLOSE:
        *out_ch = QWQ_CHANNEL_REASONING;
        if (ch == QWQ_CHANNEL_REASONING) {
            st = end_newlines(sp, false);
        } else { /* stray in the answer: dropped, and the answer restarts */
            st = release_hold(sp);
            *out_ch = QWQ_CHANNEL_CONTENT;
        }
        sp->ch = QWQ_CHANNEL_CONTENT;
        sp->at_start = true;
        return st;
    case STREAM_MARK_TOOL_OPEN:
        if (ch == QWQ_CHANNEL_REASONING) {
            *out_ch = ch;
            return reasoning_text(sp, piece, len);
        }
        *out_ch = QWQ_CHANNEL_TOOL_CALL;
        st = release_hold(sp);
        if (!st) st = end_newlines(sp, false);
        if (sp->text.len) *out_ch = QWQ_CHANNEL_CONTENT;
        json_buf_reset(&sp->tool_raw);
        sp->ch = QWQ_CHANNEL_TOOL_CALL;
        return st;
    case STREAM_MARK_TOOL_CLOSE:
        if (ch == QWQ_CHANNEL_REASONING) {
            *out_ch = ch;
            return reasoning_text(sp, piece, len);
        }
        if (ch == QWQ_CHANNEL_CONTENT) { /* stray: dropped */
            *out_ch = ch;
            return QWQ_OK;
        }
        *out_ch = QWQ_CHANNEL_TOOL_CALL;
        st = tool_parse(sp, true);
        sp->ch = QWQ_CHANNEL_CONTENT;
        sp->at_start = true;
        return st;
    default:
        return err_set(QWQ_ERR_INTERNAL, "stream: unknown mark");
    }
}

static void fill_out(stream_proc *sp, qwq_token token, qwq_channel ch, bool reasoning, stream_out *out) {
    memset(out, 0, sizeof *out);
    out->token = token;
    out->channel = ch;
    out->text = sp->text.data ? sp->text.data : "";
    out->text_len = sp->text.len;
    out->reasoning_token = reasoning;
    if (sp->tc_ready) {
        stream_tool_call *t = &sp->tc;
        t->name = sp->tc_name.data ? sp->tc_name.data : "";
        t->name_len = sp->tc_name.len;
        t->arguments = sp->tc_args.data ? sp->tc_args.data : "";
        t->arguments_len = sp->tc_args.len;
        t->raw = sp->tc_raw.data ? sp->tc_raw.data : "";
        t->raw_len = sp->tc_raw.len;
        t->error = sp->tc_error;
        out->tool_call = t;
    }
}

static void begin(stream_proc *sp) {
    json_buf_reset(&sp->text);
    sp->tc_ready = false;
    sp->tc.valid = false;
}

qwq_status stream_push(stream_proc *sp, qwq_token token, stream_mark mark, const char *piece, size_t len,
                       unsigned flags, stream_out *out) {
    if (!sp || !out || (!piece && len)) return err_set(QWQ_ERR_INVALID_ARGUMENT, "stream_push: NULL argument");
    if ((unsigned)mark > STREAM_MARK_TOOL_CLOSE) return err_set(QWQ_ERR_INVALID_ARGUMENT, "stream_push: unknown mark %d", (int)mark);
    if (flags & ~STREAM_FINAL) return err_set(QWQ_ERR_INVALID_ARGUMENT, "stream_push: unknown flags 0x%x", flags);
    if (sp->done) return err_set(QWQ_ERR_INVALID_ARGUMENT, "stream_push: the stream has ended (stop string or final token)");
    if (!piece) piece = "";
    begin(sp);
    qwq_channel before = sp->ch, out_ch = sp->ch;
    qwq_status st = mark == STREAM_MARK_NONE ? channel_text(sp, piece, len) : markup(sp, mark, piece, len, &out_ch);
    bool stopped = !st && sp->done; /* only a stop string ends the stream here */
    if (!st && !stopped && (flags & STREAM_FINAL)) st = end_of_stream(sp);
    if (st) { /* allocation failure: the stream is unusable */
        sp->done = true;
        begin(sp);
        fill_out(sp, token, before, false, out);
        return st;
    }
    bool reasoning = before == QWQ_CHANNEL_REASONING || sp->ch == QWQ_CHANNEL_REASONING;
    if (reasoning) sp->n_reasoning++;
    fill_out(sp, token, out_ch, reasoning, out);
    out->stop_hit = stopped;
    return QWQ_OK;
}

qwq_status stream_finish(stream_proc *sp, stream_out *out) {
    if (!sp || !out) return err_set(QWQ_ERR_INVALID_ARGUMENT, "stream_finish: NULL argument");
    begin(sp);
    qwq_channel ch = sp->ch;
    qwq_status st = sp->done ? QWQ_OK : end_of_stream(sp);
    if (st) begin(sp);
    fill_out(sp, -1, ch, false, out);
    return st;
}
