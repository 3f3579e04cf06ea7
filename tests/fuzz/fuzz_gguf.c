/* libFuzzer target: arbitrary bytes as a GGUF file, through the parser and
 * the model loader (hyperparameters, tokenizer, tensor binding). */
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f = NULL;
    if (gguf_parse(data, size, &f) != QWQ_OK) return 0;
    qwq_model *m = NULL;
    qwq_load_params p;
    qwq_load_params_init(&p);
    if (model_load_gguf(f, "fuzz", &p, &m) == QWQ_OK) model_free(m);
    return 0;
}
