// Minimal C++ embedding of libqwq: RAII handles around the C API.
//   c++ -std=c++17 -Iinclude examples/bindings/embed.cpp lib/libqwq.a -lpthread -o embed
//   ./embed MODEL.gguf "Why is the sky blue?"
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "qwq.h"

namespace {
struct ModelDeleter { void operator()(qwq_model *m) const { qwq_model_free(m); } };
struct SessionDeleter { void operator()(qwq_session *s) const { qwq_session_free(s); } };
using Model = std::unique_ptr<qwq_model, ModelDeleter>;
using Session = std::unique_ptr<qwq_session, SessionDeleter>;

void check(qwq_status st) {
    if (st != QWQ_OK) throw std::runtime_error(std::string(qwq_status_name(st)) + ": " + qwq_last_error());
}

std::vector<qwq_token> tokenize(const qwq_model *m, const std::string &text) {
    size_t n = 0;
    qwq_tokenize(m, text.data(), text.size(), QWQ_TOKENIZE_SPECIAL, nullptr, 0, &n);  // size query
    std::vector<qwq_token> ids(n);
    check(qwq_tokenize(m, text.data(), text.size(), QWQ_TOKENIZE_SPECIAL, ids.data(), ids.size(), &n));
    return ids;
}
}  // namespace

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s MODEL.gguf QUESTION\n", argv[0]);
        return 2;
    }
    try {
        qwq_model *raw_model = nullptr;
        check(qwq_load(argv[1], nullptr, &raw_model));
        Model model(raw_model);
        qwq_session *raw_session = nullptr;
        check(qwq_session_new(model.get(), nullptr, &raw_session));
        Session session(raw_session);
        auto ids = tokenize(model.get(), std::string("<|im_start|>user\n") + argv[2] +
                                             "<|im_end|>\n<|im_start|>assistant\n<think>\n");
        auto on_event = [](const qwq_event *e, void *) -> int {
            if (e->type == QWQ_EVENT_TOKEN) std::fwrite(e->text, 1, e->text_len, stdout);
            if (e->type == QWQ_EVENT_DONE) std::printf("\n");
            return 0;
        };
        check(qwq_generate(session.get(), ids.data(), ids.size(), "{\"max_tokens\":256}", on_event, nullptr));
    } catch (const std::exception &e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
