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
 * That costs a read of the whole file from disk, so it is asked for, never
 * implied: sample the mapping (up to 32 faults of 2 MiB units, spread over
 * the file); if most of them map as 4 KiB pages, check with the first unit
 * that dropping and re-reading gives a 2 MiB folio on this filesystem,
 * then write back, drop and re-read the whole file through a fresh
 * mapping. Every step is
 * advice: anything the kernel refuses leaves the mapping as it was (still
 * a correct mapping of the same bytes). The sampling reads the process's
 * FilePmdMapped count before and after the faults, so another thread
 * faulting file pages at that moment can mislead it: the cost is a re-read
 * that was not needed or one left out, never a wrong mapping.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gguf/gguf.h"

#if defined(__linux__) && defined(MADV_HUGEPAGE) && defined(POSIX_FADV_DONTNEED)

enum { UNIT = 2u << 20, MAX_SAMPLES = 32 };

/* This process's file pages mapped by 2 MiB entries, in KiB (FilePmdMapped
 * of /proc/self/smaps_rollup, Linux 4.14+); -1 when unknown. */
static long file_pmd_kib(void) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "FilePmdMapped: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

/* Faults in the units at offs[0..n) of map; how many came mapped as one
 * 2 MiB page each (-1 when unknown). */
static long touch_large(const uint8_t *map, const size_t *offs, int n) {
    const long before = file_pmd_kib();
    for (int k = 0; k < n; k++) (void)*(const volatile uint8_t *)(map + offs[k]);
    const long after = file_pmd_kib();
    return before < 0 || after < 0 ? -1 : (after - before) / (long)(UNIT / 1024);
}

static void *map_file(int fd, size_t size) {
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map != MAP_FAILED) (void)madvise(map, size, MADV_HUGEPAGE);
    return map;
}

void *gguf_pages_make_large(int fd, void *map, size_t size) {
    if (size < 2 * (size_t)UNIT || ((uintptr_t)map & (UNIT - 1)) != 0 || file_pmd_kib() < 0) return map;
    const size_t units = size / UNIT; /* whole units only: a partial one can never be a 2 MiB page */
    const int n = units < MAX_SAMPLES ? (int)units : MAX_SAMPLES;
    size_t offs[MAX_SAMPLES];
    for (int k = 0; k < n; k++) offs[k] = (n > 1 ? (units - 1) * (size_t)k / (size_t)(n - 1) : 0) * UNIT;
    const long large = touch_large(map, offs, n);
    if (large < 0 || 2 * large >= n) return map; /* unknown, or mostly large already */
    /* does a dropped unit come back large here? (one unit, not the whole file, at stake) */
    if (munmap(map, size) != 0) return map;
    (void)fdatasync(fd); /* dirty pages (a file just written) cannot be dropped */
    (void)posix_fadvise(fd, 0, UNIT, POSIX_FADV_DONTNEED);
    map = map_file(fd, size);
    if (map == MAP_FAILED) return MAP_FAILED;
    if (((uintptr_t)map & (UNIT - 1)) != 0 || touch_large(map, offs, 1) != 1) return map;
    /* it does: the whole file, then fault every unit back in 2 MiB at a time */
    if (munmap(map, size) != 0) return map;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    map = map_file(fd, size);
    if (map == MAP_FAILED) return MAP_FAILED;
    for (size_t off = 0; off < size; off += UNIT) (void)*(const volatile uint8_t *)((const uint8_t *)map + off);
    return map;
}

#else

void *gguf_pages_make_large(int fd, void *map, size_t size) {
    (void)fd, (void)size;
    return map;
}

#endif
