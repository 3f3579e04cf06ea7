#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The only per-thread state of the library: the last error message. */
static _Thread_local char err_buf[1024];

qwq_status err_set(qwq_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return status;
}

qwq_status err_prefix(qwq_status status, const char *fmt, ...) {
    char old[sizeof err_buf];
    memcpy(old, err_buf, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    /* append ": old", cut to fit */
    size_t at = n < 0 ? 0 : (size_t)n;
    if (at + 2 < sizeof err_buf) {
        memcpy(err_buf + at, ": ", 2);
        at += 2;
        size_t room = sizeof err_buf - 1 - at, len = strlen(old);
        if (len > room) len = room;
        memcpy(err_buf + at, old, len);
        err_buf[at + len] = 0;
    }
    return status;
}

void err_clear(void) { err_buf[0] = 0; }
const char *err_message(void) { return err_buf; }

void *mem_alloc(size_t n, const char *what) {
    void *p = malloc(n ? n : 1);
    if (!p) err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *mem_calloc(size_t count, size_t size, const char *what) {
    size_t total;
    if (!size_mul(count, size, &total)) {
        err_set(QWQ_ERR_OUT_OF_MEMORY, "size of %s overflows (%zu x %zu bytes)", what, count, size);
        return NULL;
    }
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes for %s", total, what);
    return p;
}

void *mem_alloc_aligned(size_t n, const char *what) {
    void *p = NULL;
    size_t rounded;
    if (!size_add(n, 63, &rounded)) rounded = SIZE_MAX;
    rounded &= ~(size_t)63;
    if (rounded == 0) rounded = 64;
    if (posix_memalign(&p, 64, rounded) != 0) p = NULL;
    if (!p) err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void mem_free_aligned(void *p) { free(p); }

char *str_dup_n(const char *s, size_t n, const char *what) {
    size_t total;
    if (!size_add(n, 1, &total)) {
        err_set(QWQ_ERR_OUT_OF_MEMORY, "string for %s too long", what);
        return NULL;
    }
    char *d = mem_alloc(total, what);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

double time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
