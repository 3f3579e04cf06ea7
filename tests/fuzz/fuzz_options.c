/* libFuzzer target: arbitrary bytes as JSON, through the parser and the
 * generation-options parser (the options_json of qwq_generate). */
#include <stddef.h>
#include <stdint.h>

#include "json/json.h"
#include "sample/sample.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_doc *doc = NULL;
    if (json_parse((const char *)data, size, &doc) == QWQ_OK) {
        json_buf b;
        json_buf_init(&b);
        json_write_value(&b, json_root(doc), 0);
        json_buf_free(&b);
        json_doc_free(doc);
    }
    gen_options o;
    if (gen_options_parse((const char *)data, size, &o) == QWQ_OK) {
        gen_options_check_vocab(&o, 152064);
        gen_options_free(&o);
    }
    return 0;
}
