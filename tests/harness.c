#include "harness.h"

#include <stdarg.h>
#include <sys/stat.h>

test_state test_g;

void test_fail_at(const char *file, int line, const char *fmt, ...) {
    test_g.case_failed = 1;
    if (++test_g.messages > 40) return; /* enough to diagnose, not a flood */
    fprintf(stderr, "FAIL %s (%s:%d): ", test_g.current ? test_g.current : "?", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void test_skip(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *ci = getenv("CI");
    if (ci && strcmp(ci, "true") == 0) {
        test_fail_at(__FILE__, __LINE__, "missing reference under CI: %s", msg);
        return;
    }
    test_g.case_skipped = 1;
    fprintf(stderr, "SKIP %s: %s\n", test_g.current, msg);
}

void test_run(const char *name, void (*fn)(void)) {
    test_g.current = name;
    test_g.case_failed = test_g.case_skipped = 0;
    fn();
    if (test_g.case_failed) {
        test_g.failed++;
        fprintf(stderr, "not ok %s\n", name);
    } else if (test_g.case_skipped) {
        test_g.skipped++;
    } else {
        test_g.passed++;
        if (getenv("TEST_VERBOSE")) fprintf(stderr, "ok %s\n", name);
    }
    test_g.current = NULL;
}

int test_summary(void) {
    printf("%d passed, %d failed, %d skipped\n", test_g.passed, test_g.failed, test_g.skipped);
    return test_g.failed ? 1 : 0;
}

const char *testdata_dir(void) {
    const char *d = getenv("QWQ_TESTDATA");
    return d && *d ? d : "../shared/testdata";
}

int testdata_path(char *buf, size_t cap, const char *rel) {
    snprintf(buf, cap, "%s/%s", testdata_dir(), rel);
    struct stat st;
    if (stat(buf, &st) != 0) {
        test_skip("reference %s is absent", buf);
        return 0;
    }
    return 1;
}

unsigned char *test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long n = ftell(f);
    if (n < 0) { fclose(f); return NULL; }
    rewind(f);
    unsigned char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; *len = (size_t)n; }
    return buf;
}
