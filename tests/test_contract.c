/*
 * include/qwq.h honours ../shared/design/qwq_contract.h: contract_check.c
 * compiles against it (as C11 and, for the header alone, as C++), and every
 * declaration line of the contract appears in the header, in order.
 */
#include <ctype.h>

#include "harness.h"

static int run(const char *cmd) {
    int rc = system(cmd);
    return rc;
}

static void test_contract_check_compiles(void) {
    char path[512];
    if (!testdata_path(path, sizeof path, "../design/contract_check.c")) return;
    char cmd[1200];
    const char *cc = getenv("CC") ? getenv("CC") : "cc";
    snprintf(cmd, sizeof cmd, "%s -std=c11 -Wall -Werror -fsyntax-only -Iinclude %s", cc, path);
    CHECKF(run(cmd) == 0, "%s failed", cmd);
}

static void test_header_is_valid_cxx(void) {
    if (run("command -v c++ >/dev/null 2>&1") != 0) SKIP("no C++ compiler");
    CHECK(run("echo '#include \"qwq.h\"\nint main() { qwq_model *m = nullptr; qwq_model_free(m); }' | "
              "c++ -std=c++11 -Wall -Werror -fsyntax-only -Iinclude -x c++ -") == 0);
}

/* Code lines of the contract (comments and blank lines aside) in order. */
static void test_declarations_verbatim(void) {
    char path[512];
    if (!testdata_path(path, sizeof path, "../design/qwq_contract.h")) return;
    size_t clen = 0, hlen = 0;
    char *contract = (char *)test_read_file(path, &clen);
    char *header = (char *)test_read_file("include/qwq.h", &hlen);
    REQUIRE(contract && header);
    const char *start = strstr(contract, "typedef int32_t qwq_token;");
    const char *end = strstr(contract, "#ifdef __cplusplus\n}");
    REQUIRE(start && end);
    const char *cursor = header;
    int in_comment = 0, lines = 0;
    for (const char *p = start; p < end;) {
        const char *nl = strchr(p, '\n');
        size_t len = (size_t)(nl - p);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        p = nl + 1;
        const char *t = line;
        while (isspace((unsigned char)*t)) t++;
        if (in_comment) {
            if (strstr(t, "*/")) in_comment = 0;
            continue;
        }
        if (*t == 0) continue;
        if (strncmp(t, "/*", 2) == 0) {
            if (!strstr(t, "*/")) in_comment = 1;
            continue;
        }
        const char *hit = strstr(cursor, line);
        CHECKF(hit != NULL, "include/qwq.h lacks (in order) the contract line: %s", line);
        if (!hit) break;
        cursor = hit + strlen(line);
        lines++;
    }
    CHECK(lines > 80);
    free(contract);
    free(header);
}

int main(void) {
    RUN(test_contract_check_compiles);
    RUN(test_header_is_valid_cxx);
    RUN(test_declarations_verbatim);
    return test_summary();
}
