/* libFuzzer target: arbitrary bytes through qwq_tokenize (with and without
 * special tokens), and the ids back through qwq_detokenize and the
 * streaming decoder. Needs the tiny Qwen3 model (full vocabulary): from
 * QWQ_FUZZ_MODEL or ../shared/testdata/models/qwen3-tiny-f16.gguf. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qwq.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static qwq_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *path = getenv("QWQ_FUZZ_MODEL");
    if (!path) path = "../shared/testdata/models/qwen3-tiny-f16.gguf";
    qwq_load_params p;
    qwq_load_params_init(&p);
    p.flags = QWQ_LOAD_VOCAB_ONLY;
    if (qwq_load(path, &p, &model) != QWQ_OK) {
        fprintf(stderr, "fuzz_tokenize: %s\n", qwq_last_error());
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static qwq_token ids[1 << 16];
    static char text[1 << 20];
    if (size > 1 << 15) return 0;
    for (uint32_t flags = 0; flags <= QWQ_TOKENIZE_SPECIAL; flags++) {
        size_t n = 0;
        if (qwq_tokenize(model, (const char *)data, size, flags, ids, sizeof ids / sizeof *ids, &n) != QWQ_OK)
            continue;
        size_t len = 0;
        if (qwq_detokenize(model, ids, n, 0, text, sizeof text, &len) != QWQ_OK) abort();
        /* valid input encodes and decodes to its NFC form, never longer than 3x */
        if (len > 3 * size + 16) abort();
        tok_stream st;
        tok_stream_init(&st);
        char piece[4096];
        for (size_t i = 0; i < n; i++) tok_stream_push(&st, model->tok, ids[i], 0, piece, sizeof piece);
        tok_stream_flush(&st, piece, sizeof piece);
    }
    return 0;
}
