"""Minimal Python binding of libqwq through ctypes (no build step).

    python3 examples/bindings/qwq_ctypes.py MODEL.gguf "Why is the sky blue?"

Loads lib/libqwq.so (or the path in $QWQ_LIB), tokenizes a ChatML prompt and
streams the answer, printing reasoning and answer separately.
"""
import ctypes as C
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
lib = C.CDLL(os.environ.get("QWQ_LIB", os.path.join(here, "..", "..", "lib", "libqwq.so")))


class Usage(C.Structure):
    _fields_ = [("prompt_tokens", C.c_int32), ("cached_prompt_tokens", C.c_int32),
                ("completion_tokens", C.c_int32), ("reasoning_tokens", C.c_int32)]


class Event(C.Structure):
    _fields_ = [("type", C.c_int), ("token", C.c_int32), ("channel", C.c_int),
                ("text", C.c_void_p), ("text_len", C.c_size_t),
                ("tool_call_valid", C.c_int32), ("tool_name", C.c_char_p),
                ("tool_arguments_json", C.c_char_p), ("tool_call_raw", C.c_char_p),
                ("finish_reason", C.c_int), ("usage", Usage)]


CALLBACK = C.CFUNCTYPE(C.c_int, C.POINTER(Event), C.c_void_p)
lib.qwq_last_error.restype = C.c_char_p
lib.qwq_load.argtypes = [C.c_char_p, C.c_void_p, C.POINTER(C.c_void_p)]
lib.qwq_session_new.argtypes = [C.c_void_p, C.c_void_p, C.POINTER(C.c_void_p)]
lib.qwq_tokenize.argtypes = [C.c_void_p, C.c_char_p, C.c_size_t, C.c_uint32,
                             C.POINTER(C.c_int32), C.c_size_t, C.POINTER(C.c_size_t)]
lib.qwq_generate.argtypes = [C.c_void_p, C.POINTER(C.c_int32), C.c_size_t, C.c_char_p,
                             CALLBACK, C.c_void_p]
lib.qwq_session_free.argtypes = [C.c_void_p]
lib.qwq_model_free.argtypes = [C.c_void_p]
QWQ_TOKENIZE_SPECIAL = 1


def check(status):
    if status != 0:
        raise RuntimeError(lib.qwq_last_error().decode())


def main(path, question):
    model, session = C.c_void_p(), C.c_void_p()
    check(lib.qwq_load(path.encode(), None, C.byref(model)))
    check(lib.qwq_session_new(model, None, C.byref(session)))
    prompt = ("<|im_start|>user\n" + question + "<|im_end|>\n<|im_start|>assistant\n<think>\n").encode()
    n = C.c_size_t()
    lib.qwq_tokenize(model, prompt, len(prompt), QWQ_TOKENIZE_SPECIAL, None, 0, C.byref(n))
    ids = (C.c_int32 * n.value)()
    check(lib.qwq_tokenize(model, prompt, len(prompt), QWQ_TOKENIZE_SPECIAL, ids, n.value, C.byref(n)))

    def on_event(ev, _user):
        e = ev.contents
        if e.type == 0 and e.text_len:
            sys.stdout.write(C.string_at(e.text, e.text_len).decode("utf-8"))
            sys.stdout.flush()
        elif e.type == 2:
            print("\n[%d completion tokens, %d reasoning]" % (e.usage.completion_tokens, e.usage.reasoning_tokens))
        return 0

    check(lib.qwq_generate(session, ids, n.value, b'{"max_tokens":256}', CALLBACK(on_event), None))
    lib.qwq_session_free(session)
    lib.qwq_model_free(model)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: qwq_ctypes.py MODEL.gguf QUESTION")
    main(sys.argv[1], sys.argv[2])
