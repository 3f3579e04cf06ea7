/*
 * pages - the weights' page size in the page cache (gguf.h, GGUF_OPEN_LARGE_PAGES).
 *
 * Decode streams the weights from a file mapping, and reads them 15-30%
 * faster from 2 MiB page-cache folios than from 4 KiB pages (fewer TLB
 * misses, and the hardware prefetchers do not stop every 4 KiB; measured in
 * bench/README.md). A file faulted in from disk through a MADV_HUGEPAGE
 * mapping arrives in 2 MiB folios where the filesystem supports large
 * folios, but a file that is already cached keeps the folios it came in
 * with, and a file just written (a model just downloaded) sits in 4 KiB
 * pages. The kernel cannot merge them for a file mapping (MADV_COLLAPSE
 * needs CONFIG_READ_ONLY_THP_FOR_FS), so the only way to large pages is to
 * drop the file from the page cache and read it again.
 *
 * That costs a read from disk, so it is asked for, never implied. Each
 * 2 MiB unit of the file is mapped in turn into a window of its own and
 * faulted in; the units that come as 4 KiB pages are noted (one
 * FilePmdMapped reading each: 0.7-0.8 s for a 20 GB file already in the
 * page cache, all of it in 2 MiB pages). If there
 * are any, the first is written back, dropped from the page cache and read
 * again through the window; when it comes back as a 2 MiB folio (the
 * filesystem supports them), so are the others, one by one. The model's
 * own mapping is left alone: it maps the new folios when decode touches
 * them. Even a part in 4 KiB pages costs much: the 64-layer QwQ-32B Q4_K_M
 * file with 27% of it in 4 KiB pages decoded at 0.64-0.71 tok/s, and at
 * 2.43 once all of it was in 2 MiB pages (presumably the page walks of the
 * TLB misses, which under KVM go through two levels of tables). Every
 * step is advice: anything the kernel refuses leaves the pages as they
 * were (the mapping is correct either way). The check counts the whole
 * process's FilePmdMapped, so another thread faulting file pages at that
 * moment can mislead it: the cost is a re-read that was not needed or one
 * left out, never a wrong mapping.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gguf/gguf.h"

#if defined(__linux__) && defined(MADV_HUGEPAGE) && defined(POSIX_FADV_DONTNEED)

enum { UNIT = 2u << 20 };

long gguf_file_pmd_kib(void) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "FilePmdMapped: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

/* A 2 MiB window for one unit at a time, aligned so that a 2 MiB folio
 * can be mapped whole. FilePmdMapped is read with only this window
 * populated: its cost grows with the pages mapped (about 30 us here, but
 * 18 ms with 5 GB of a file mapped in 4 KiB pages). */
typedef struct window {
    void *base; /* the reservation, 2 units */
    uint8_t *at; /* its aligned unit */
} window;

static int window_open(window *w) {
    w->base = mmap(NULL, 2 * (size_t)UNIT, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (w->base == MAP_FAILED) return 0;
    w->at = (uint8_t *)(((uintptr_t)w->base + UNIT - 1) & ~(uintptr_t)(UNIT - 1));
    return 1;
}

/* Maps unit u of fd into the window and faults it in: 1 when it came as
 * one 2 MiB page, 0 when not, -1 when that cannot be told. base is the
 * count with the window empty, read again every 64 units (it moves only
 * when other mappings of the process change). */
static int window_unit_is_large(window *w, int fd, size_t u, long *base) {
    if (u % 64 == 0 || *base < 0) *base = gguf_file_pmd_kib();
    if (mmap(w->at, UNIT, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, (off_t)(u * UNIT)) == MAP_FAILED) return -1;
    (void)madvise(w->at, UNIT, MADV_HUGEPAGE);
    (void)*(const volatile uint8_t *)w->at;
    const long after = gguf_file_pmd_kib();
    /* back to an empty reservation: the count is base again */
    (void)mmap(w->at, UNIT, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (*base < 0 || after < 0) return -1;
    return after - *base >= (long)(UNIT / 1024);
}

void gguf_pages_make_large(int fd, size_t size) {
    const size_t units = size / UNIT; /* whole units only: a partial one can never be a 2 MiB page */
    if (units < 2) return;
    unsigned char *small = calloc(units, 1);
    window w;
    if (!small || !window_open(&w)) {
        free(small);
        return;
    }
    size_t n_small = 0, first = 0;
    long base = -1;
    for (size_t u = 0; u < units; u++) {
        const int large = window_unit_is_large(&w, fd, u, &base);
        if (large < 0) goto done;
        if (!large && !n_small++) first = u;
        small[u] = !large;
    }
    if (n_small == 0) goto done;
    /* does a dropped unit come back large here? (one unit, not the file, at stake) */
    (void)fdatasync(fd); /* dirty pages (a file just written) cannot be dropped */
    (void)posix_fadvise(fd, (off_t)(first * UNIT), UNIT, POSIX_FADV_DONTNEED);
    base = -1;
    if (window_unit_is_large(&w, fd, first, &base) != 1) goto done;
    /* it does: drop the other small units and read each back through the window */
    for (size_t u = first + 1; u < units; u++) {
        if (!small[u]) continue;
        (void)posix_fadvise(fd, (off_t)(u * UNIT), UNIT, POSIX_FADV_DONTNEED);
        if (window_unit_is_large(&w, fd, u, &base) < 0) break;
    }
done:
    munmap(w.base, 2 * (size_t)UNIT);
    free(small);
}

#else

long gguf_file_pmd_kib(void) { return -1; }

void gguf_pages_make_large(int fd, size_t size) { (void)fd, (void)size; }

#endif
