/*
 * stream - the text side of streaming generation, independent of the
 * model: channel tracking, markup removal, newline trimming, stop strings
 * and tool-call parsing. The generator feeds it one token at a time and
 * turns each stream_out into qwq_event callbacks.
 *
 * Invariants
 *  - Input pieces are valid UTF-8 (the detokenizer holds back incomplete
 *    characters); every output text is valid UTF-8 and a concatenation of
 *    input bytes in order, minus markup, trimmed newlines and stop strings.
 *    Held-back text is never lost: it is released by a later push, by a
 *    channel switch, or by the final push / stream_finish.
 *  - Channels: generation starts in content, or in reasoning when
 *    start_in_reasoning is set (QwQ's and DeepSeek-R1's templates end the
 *    prompt with "<think>\n"). Markup tokens switch channels and never
 *    appear in the text:
 *        content   + <think>      -> reasoning
 *        reasoning + </think>     -> content
 *        content   + <tool_call>  -> tool_call
 *        tool_call + </tool_call> -> content (the call is parsed)
 *    Other combinations: a stray <think>/</think> in its own channel or
 *    </tool_call> in content is dropped; inside reasoning, <tool_call> and
 *    </tool_call> are ordinary text (tool calls count only in the answer,
 *    as vLLM's tool parsers see it); inside a tool call every marker is
 *    part of the call's raw text.
 *  - One output per push: text on one channel (possibly empty), at most
 *    one completed tool call, and whether a stop string ended generation.
 *    out->channel is the channel of out->text; for a markup token with no
 *    text it is the markup's channel (reasoning for think tags, tool_call
 *    for tool tags), so the generator can tag the token's event with it.
 *  - Newline trimming (trim_newlines, default on), matching how Qwen's own
 *    chat template splits a reply (reasoning.strip('\n'),
 *    content.lstrip('\n')), so the text re-renders to the same prompt:
 *    newlines at the start of a reasoning block, and at the start of the
 *    answer after </think> or </tool_call>, are dropped; newlines at the
 *    end of reasoning before </think>, and at the end of answer text
 *    before <tool_call>, are dropped. Newlines elsewhere are held only
 *    until the next other character.
 *  - Stop strings apply to the answer (content channel) only, never to
 *    reasoning or tool calls (vLLM's behaviour for reasoning models, and
 *    what hosted APIs do: a chain of thought may quote the stop string).
 *    They are matched on the visible answer text (after trimming), across
 *    token boundaries: answer text that could begin a stop string is held
 *    back until it cannot. The earliest match wins; it and everything
 *    after it are removed and out->stop_hit is set (finish STOP). After a
 *    stop or a final push the stream accepts no more tokens.
 *  - Tool calls: the raw text between the tags is kept as generated. At
 *    </tool_call> it is parsed as Qwen writes it, {"name": "...",
 *    "arguments": {...}}; arguments may also be a JSON string holding an
 *    object, or absent/null (then "{}"); other members are ignored. Valid:
 *    name plus the arguments re-serialised compactly. Invalid: valid = 0
 *    with the raw text and the reason. A call still open at the end is
 *    reported invalid ("unterminated").
 *  - Reasoning tokens: tokens pushed while in reasoning, including the
 *    <think> that opens and the </think> that closes the block.
 *  - A stream_proc is used by one thread; out's pointers stay valid until
 *    the next push/finish/free on it.
 */
#ifndef QWQ_STREAM_H
#define QWQ_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qwq.h"

typedef enum stream_mark {
    STREAM_MARK_NONE = 0,
    STREAM_MARK_THINK_OPEN,  /* <think> */
    STREAM_MARK_THINK_CLOSE, /* </think> */
    STREAM_MARK_TOOL_OPEN,   /* <tool_call> */
    STREAM_MARK_TOOL_CLOSE   /* </tool_call> */
} stream_mark;

typedef struct stream_params {
    bool start_in_reasoning; /* default false */
    bool trim_newlines;      /* default true */
    bool hide_reasoning;     /* reasoning text is left out (reasoning.exclude); default false */
    /* Stop strings (copied by stream_new): n_stop of them, each non-empty. */
    const char *const *stop;
    const size_t *stop_len;
    size_t n_stop;
} stream_params;

typedef struct stream_tool_call {
    bool valid;
    const char *name;      /* NUL-terminated; "" when invalid */
    size_t name_len;
    const char *arguments; /* compact JSON object, NUL-terminated; "" when invalid */
    size_t arguments_len;
    const char *raw;       /* the text between the tags, NUL-terminated */
    size_t raw_len;
    const char *error;     /* why it is invalid; "" when valid */
} stream_tool_call;

typedef struct stream_out {
    qwq_token token;             /* as pushed (-1 from stream_finish) */
    qwq_channel channel;         /* the channel of text */
    const char *text;            /* never NULL; NUL-terminated */
    size_t text_len;
    const stream_tool_call *tool_call; /* a call completed by this push, else NULL */
    bool stop_hit;               /* a stop string matched: generation ends (finish STOP) */
    bool reasoning_token;        /* this token counts as a reasoning token */
} stream_out;

typedef struct stream_proc stream_proc;

void stream_params_init(stream_params *p);
/* p NULL = defaults. INVALID_ARGUMENT for an empty stop string. */
qwq_status stream_new(const stream_params *p, stream_proc **out);
void stream_free(stream_proc *sp); /* NULL is a no-op */

/* Push with this flag on the last token of the generation: held-back text
 * is released and an open tool call reported, in the same output. */
#define STREAM_FINAL 1u

/* One generated token: its markup kind and its text piece (valid UTF-8,
 * possibly empty; ignored for markup that is removed). Errors: INVALID_ARGUMENT
 * (NULL arguments, unknown mark or flags, a push after the end),
 * OUT_OF_MEMORY. */
qwq_status stream_push(stream_proc *sp, qwq_token token, stream_mark mark, const char *piece, size_t len,
                       unsigned flags, stream_out *out);
/* The end without a token (end-of-turn, context full, cancel): releases
 * what is held, reports an open tool call. out->token is -1. Calling it
 * again, or after a final push or a stop, gives an empty output. */
qwq_status stream_finish(stream_proc *sp, stream_out *out);

qwq_channel stream_channel(const stream_proc *sp);
int32_t stream_reasoning_tokens(const stream_proc *sp);
int32_t stream_tool_calls(const stream_proc *sp); /* valid calls completed */
bool stream_done(const stream_proc *sp);           /* stopped, or finished */

#endif
