/*
 * harness.h - the project's minimal test harness.
 *
 * A test program is a list of cases run from main():
 *
 *     static void test_something(void) { CHECK(1 + 1 == 2); }
 *     int main(void) { RUN(test_something); return test_summary(); }
 *
 * A case passes when none of its CHECKs failed, is skipped by SKIP(...)
 * (a reference file that is absent; under CI=true that is a failure), and
 * fails otherwise. test_summary() prints "N passed, M failed, K skipped",
 * which tests/run.sh adds up, and returns non-zero on any failure.
 */
#ifndef QWQ_TEST_HARNESS_H
#define QWQ_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_state {
    const char *current;
    int case_failed, case_skipped;
    int passed, failed, skipped;
    int messages;
} test_state;

extern test_state test_g;

void test_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void test_run(const char *name, void (*fn)(void));
int test_summary(void);
/* Marks the current case skipped (or failed under CI=true) with a reason. */
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Directory of the shared references (QWQ_TESTDATA or ../shared/testdata). */
const char *testdata_dir(void);
/* Full path of a file under testdata_dir() in a static buffer-free way:
 * writes into buf. Returns 1 when the file exists; otherwise calls
 * test_skip and returns 0. */
int testdata_path(char *buf, size_t cap, const char *rel);
/* Reads a whole file; NULL when it cannot. *len gets its size. */
unsigned char *test_read_file(const char *path, size_t *len);

/* Weight types with minimums (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K): each element's
 * offset (m, or -dmin * m of its sub-block), i.e. the row of n_in elements
 * at wrow dequantized with its quants zeroed, into off; returns 1. Other
 * types: 0, off untouched. Kernels that round the two products d * sc * q
 * * a and offset * a apart (the scalar level too) can cancel them, so
 * tolerances for these types count sum |offset * a| into the magnitude
 * (tests/minimums.c). */
int test_min_offsets(uint32_t type, const uint8_t *wrow, float *off, int64_t n_in);
/* Q4_1 and Q5_1 with q8_1 activations (arow): sum over blocks of |m * s|,
 * the minimums' products as the kernels compute them (s is the q8_1
 * block's own f16 sum, which can be nonzero where its d rounds to 0);
 * 0 for other types. */
double test_q8_1_min_mag(uint32_t type, const uint8_t *wrow, const uint8_t *arow, int64_t n_in);

/* splitmix64: the seeded generator of the tests' random inputs (the same
 * sequence on every platform, so a failure reproduces). */
static inline uint64_t test_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) test_fail_at(__FILE__, __LINE__, "%s", #cond);            \
    } while (0)
#define CHECKF(cond, ...)                                                      \
    do {                                                                       \
        if (!(cond)) test_fail_at(__FILE__, __LINE__, __VA_ARGS__);            \
    } while (0)
#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond)) { test_fail_at(__FILE__, __LINE__, "%s", #cond); return; } \
    } while (0)
#define SKIP(...)                                                              \
    do { test_skip(__VA_ARGS__); return; } while (0)
#define RUN(fn) test_run(#fn, fn)

#endif
