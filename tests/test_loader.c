/*
 * The loader against malformed files: every targeted corruption of a real
 * model gives the right status and a message naming the cause; truncations
 * and thousands of random corruptions give an error (or a valid model)
 * without a crash, hang or unbounded allocation. Run under valgrind by
 * `make test-valgrind` too.
 */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "harness.h"
#include "model/model.h"
#include "util/util.h"

static unsigned char *image;
static size_t image_len;

static int load_image(void) {
    if (image) return 1;
    char path[512];
    if (!testdata_path(path, sizeof path, "models/qwen2-tiny-q4_0.gguf")) return 0;
    image = test_read_file(path, &image_len);
    return image != NULL;
}

/* Loads a model from a memory image; returns the status. */
static qwq_status load_mem(const unsigned char *buf, size_t len) {
    gguf_file *f = NULL;
    qwq_status st = gguf_parse(buf, len, &f);
    if (st) return st;
    qwq_model *m = NULL;
    st = model_load_gguf(f, "image", NULL, &m);
    model_free(m);
    return st;
}

static size_t find(const unsigned char *buf, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, needle, n) == 0) return i;
    return (size_t)-1;
}

static void put_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }


static unsigned char *copy_image(void) {
    unsigned char *b = malloc(image_len);
    memcpy(b, image, image_len);
    return b;
}

/* Offset of the tensor info of `name` (the byte after its name). */
static size_t tensor_info(const unsigned char *buf, const char *name) {
    size_t at = find(buf, image_len, name);
    return at == (size_t)-1 ? at : at + strlen(name);
}

/* Offset of the value type of metadata `key` (the byte after the key). */
static size_t meta_value(const unsigned char *buf, const char *key) {
    size_t at = find(buf, image_len, key);
    return at == (size_t)-1 ? at : at + strlen(key);
}

static void expect(unsigned char *buf, size_t len, qwq_status want, const char *must_contain, const char *what) {
    qwq_status st = load_mem(buf, len);
    CHECKF(st == want, "%s: status %s, expected %s (%s)", what, qwq_status_name(st), qwq_status_name(want),
           err_message());
    CHECKF(strstr(err_message(), must_contain) != NULL, "%s: message '%s' does not mention '%s'", what, err_message(),
           must_contain);
    free(buf);
}

static void test_valid_image_loads(void) {
    if (!load_image()) return;
    qwq_status st = load_mem(image, image_len);
    CHECKF(st == QWQ_OK, "%s", err_message());
}

static void test_targeted_corruptions(void) {
    if (!load_image()) return;
    unsigned char *b;
    size_t at;

    b = copy_image(); memcpy(b, "GGUX", 4);
    expect(b, image_len, QWQ_ERR_FORMAT, "not a GGUF file", "bad magic");
    b = copy_image(); put_u32(b + 4, 1);
    expect(b, image_len, QWQ_ERR_UNSUPPORTED, "version 1", "version 1");
    b = copy_image(); put_u32(b + 4, 4);
    expect(b, image_len, QWQ_ERR_UNSUPPORTED, "version 4", "version 4");
    b = copy_image(); put_u64(b + 8, 1ull << 60);
    expect(b, image_len, QWQ_ERR_FORMAT, "tensor count", "huge tensor count");
    b = copy_image(); put_u64(b + 16, UINT64_MAX);
    expect(b, image_len, QWQ_ERR_FORMAT, "metadata count", "huge metadata count");

    /* tensor info fields of blk.1.attn_q.weight: n_dims, ne0, ne1, type, offset */
    const char *tq = "blk.1.attn_q.weight";
    b = copy_image(); at = tensor_info(b, tq); REQUIRE(at != (size_t)-1);
    put_u32(b + at + 4 + 16, 20);
    expect(b, image_len, QWQ_ERR_UNSUPPORTED, "unsupported tensor type iq4_nl", "iq4_nl tensor");
    b = copy_image(); at = tensor_info(b, tq);
    put_u32(b + at + 4 + 16, 99);
    expect(b, image_len, QWQ_ERR_UNSUPPORTED, "unknown tensor type id 99", "type 99");
    b = copy_image(); at = tensor_info(b, tq);
    put_u64(b + at + 4 + 16 + 4, 1ull << 40);
    expect(b, image_len, QWQ_ERR_FORMAT, "extends past end of file", "offset past the end");
    b = copy_image(); at = tensor_info(b, tq);
    { uint64_t off; memcpy(&off, b + at + 24, 8); put_u64(b + at + 24, off + 1); }
    expect(b, image_len, QWQ_ERR_FORMAT, "alignment", "misaligned offset");
    b = copy_image(); at = tensor_info(b, tq);
    put_u32(b + at, 5);
    expect(b, image_len, QWQ_ERR_FORMAT, "dimensions", "5 dimensions");
    b = copy_image(); at = tensor_info(b, tq);
    put_u64(b + at + 4, 0);
    expect(b, image_len, QWQ_ERR_FORMAT, "dimension 0 is 0", "zero dimension");
    b = copy_image(); at = tensor_info(b, tq);
    put_u64(b + at + 4 + 8, 1ull << 62);
    expect(b, image_len, QWQ_ERR_FORMAT, tq, "huge dimension");
    b = copy_image(); at = tensor_info(b, tq);
    put_u64(b + at + 4, 96);
    expect(b, image_len, QWQ_ERR_FORMAT, "tensor 'blk.1.attn_q.weight' has shape [96, 128", "wrong shape");
    b = copy_image(); at = tensor_info(b, tq);
    put_u64(b + at + 4, 100);
    expect(b, image_len, QWQ_ERR_FORMAT, "not a multiple of the q4_0 block size", "row not a block multiple");
    /* duplicate: rename blk.1.attn_q.weight to blk.0.attn_q.weight */
    b = copy_image(); at = find(b, image_len, tq); b[at + 4] = '0';
    expect(b, image_len, QWQ_ERR_FORMAT, "duplicate tensor name 'blk.0.attn_q.weight'", "duplicate tensor");
    /* a required tensor goes missing */
    b = copy_image(); at = find(b, image_len, "blk.1.ffn_up.weight"); b[at + 10] = 'X';
    expect(b, image_len, QWQ_ERR_FORMAT, "required tensor 'blk.1.ffn_up.weight' is missing", "missing tensor");
    /* a name with a NUL byte */
    b = copy_image(); at = find(b, image_len, tq); b[at + 3] = 0;
    expect(b, image_len, QWQ_ERR_FORMAT, "NUL", "NUL in a name");

    /* metadata values (all uint32 in this file: type 4 then the value) */
    b = copy_image(); at = meta_value(b, "qwen2.embedding_length"); REQUIRE(at != (size_t)-1);
    put_u32(b + at + 4, 64);
    expect(b, image_len, QWQ_ERR_FORMAT, "token_embd.weight' has shape [128, 3072", "embedding length mismatch");
    b = copy_image(); at = meta_value(b, "qwen2.attention.head_count");
    put_u32(b + at + 4, 3);
    expect(b, image_len, QWQ_ERR_FORMAT, "not a multiple", "heads not a multiple of kv heads");
    b = copy_image(); at = meta_value(b, "qwen2.block_count");
    put_u32(b + at + 4, 3);
    expect(b, image_len, QWQ_ERR_FORMAT, "blk.2.", "block count too large");
    b = copy_image(); at = meta_value(b, "qwen2.block_count");
    put_u32(b + at + 4, 1);
    expect(b, image_len, QWQ_ERR_FORMAT, "exists but qwen2.block_count is 1", "block count too small");
    b = copy_image(); at = meta_value(b, "qwen2.block_count");
    put_u32(b + at + 4, 0);
    expect(b, image_len, QWQ_ERR_FORMAT, "qwen2.block_count", "zero layers");
    b = copy_image(); at = meta_value(b, "qwen2.block_count");
    put_u32(b + at, 99);
    expect(b, image_len, QWQ_ERR_FORMAT, "unknown value type 99", "unknown value type");
    b = copy_image(); at = meta_value(b, "qwen2.context_length");
    put_u32(b + at, 8); /* now a string whose length is the next 8 bytes */
    expect(b, image_len, QWQ_ERR_FORMAT, "qwen2.context_length", "value read as a string");
    b = copy_image(); at = meta_value(b, "general.architecture");
    put_u64(b + at + 4, UINT64_MAX / 2);
    expect(b, image_len, QWQ_ERR_FORMAT, "string length", "huge string length");
    b = copy_image(); at = find(b, image_len, "qwen2\x13"); /* the architecture value is followed by the next key's length */
    if (at == (size_t)-1) at = meta_value(b, "general.architecture") + 4 + 8;
    b[at + 4] = '9';
    expect(b, image_len, QWQ_ERR_UNSUPPORTED, "architecture 'qwen9'", "unknown architecture");
    b = copy_image(); at = meta_value(b, "tokenizer.ggml.tokens");
    put_u64(b + at + 8, 1ull << 61);
    expect(b, image_len, QWQ_ERR_FORMAT, "tokenizer.ggml.tokens", "huge array length");
}

static void test_truncations(void) {
    if (!load_image()) return;
    gguf_file *f = NULL;
    REQUIRE(gguf_parse(image, image_len, &f) == QWQ_OK);
    size_t header = (size_t)f->data_offset;
    gguf_close(f);
    int failures = 0, n = 0;
    /* every length in the first 4 KiB and around the end of the header, a
     * stride elsewhere; every one must fail cleanly with a message */
    for (size_t len = 0; len < image_len; len++) {
        bool dense = len < 4096 || (len + 4096 > header && len < header + 4096) || len + 64 > image_len;
        if (!dense && len % 251 != 0) continue;
        unsigned char *b = malloc(len ? len : 1);
        memcpy(b, image, len);
        qwq_status st = load_mem(b, len);
        n++;
        if (st == QWQ_OK || err_message()[0] == 0) {
            failures++;
            CHECKF(0, "truncated to %zu bytes: status %s, message '%s'", len, qwq_status_name(st), err_message());
        }
        free(b);
        if (failures > 5) break;
    }
    fprintf(stderr, "loader: %d truncations rejected with a message\n", n - failures);
}

static uint64_t rng = 12345;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_random_corruptions(void) {
    if (!load_image()) return;
    gguf_file *f = NULL;
    REQUIRE(gguf_parse(image, image_len, &f) == QWQ_OK);
    size_t header = (size_t)f->data_offset;
    size_t infos = header > 2048 ? header - 2048 : 0; /* the tensor infos sit at the end of the header */
    gguf_close(f);
    int iterations = getenv("QWQ_FUZZ_ITERATIONS") ? atoi(getenv("QWQ_FUZZ_ITERATIONS")) : 3000;
    int ok = 0, rejected = 0;
    unsigned char *b = malloc(image_len);
    static const unsigned char specials[] = {0x00, 0xff, 0x80, 0x7f, 0x01, 0x20};
    for (int it = 0; it < iterations; it++) {
        memcpy(b, image, image_len);
        int flips = 1 + (int)(next_rand() % 4);
        for (int k = 0; k < flips; k++) {
            uint64_t r = next_rand();
            size_t pos = (r & 1) ? infos + (size_t)((r >> 1) % (header - infos)) : (size_t)((r >> 1) % header);
            b[pos] = (r >> 40) & 1 ? specials[(r >> 41) % sizeof specials] : (unsigned char)(r >> 48);
        }
        qwq_status st = load_mem(b, image_len);
        if (st == QWQ_OK) ok++;
        else {
            rejected++;
            CHECKF(err_message()[0] != 0, "iteration %d: error %s without a message", it, qwq_status_name(st));
            CHECKF(st == QWQ_ERR_FORMAT || st == QWQ_ERR_UNSUPPORTED || st == QWQ_ERR_OUT_OF_MEMORY,
                   "iteration %d: unexpected status %s (%s)", it, qwq_status_name(st), err_message());
        }
    }
    free(b);
    fprintf(stderr, "loader: %d random corruptions: %d rejected, %d still valid\n", iterations, rejected, ok);
    CHECK(rejected > iterations / 4); /* the corruptions do reach the checks */
}

static void test_files(void) {
    qwq_model *m = (qwq_model *)1;
    CHECK(model_load("no/such/file.gguf", NULL, &m) == QWQ_ERR_IO && m == NULL);
    CHECK(strstr(err_message(), "no/such/file.gguf") != NULL);
    CHECK(model_load(".", NULL, &m) == QWQ_ERR_IO);
    CHECK(strstr(err_message(), "not a regular file") != NULL);
    mkdir("build", 0755);
    mkdir("build/tmp", 0755);
    FILE *f = fopen("build/tmp/empty.gguf", "wb");
    REQUIRE(f != NULL);
    fclose(f);
    CHECK(model_load("build/tmp/empty.gguf", NULL, &m) == QWQ_ERR_FORMAT);
    CHECK(strstr(err_message(), "empty") != NULL);
    unlink("build/tmp/empty.gguf");
    char path[512];
    if (!testdata_path(path, sizeof path, "quant/unsupported-iq4_nl.gguf")) return;
    CHECK(model_load(path, NULL, &m) == QWQ_ERR_UNSUPPORTED);
    CHECKF(strstr(err_message(), "unsupported tensor type iq4_nl") && strstr(err_message(), "'w'"), "%s",
           err_message());
}

/* ---- QWQ_LOAD_LARGE_PAGES (gguf/pages.c) ---- */

#include <fcntl.h>
#include <sys/mman.h>

enum { MIB2 = 2 << 20 };

/* n MiB of a pattern into path, written (so cached as the writes left it) */
static int write_pattern(const char *path, size_t mib) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    uint32_t *block = malloc(1 << 20);
    for (size_t m = 0; block && m < mib; m++) {
        for (size_t i = 0; i < (1 << 20) / 4; i++) block[i] = (uint32_t)(m * 262144 + i) * 2654435761u;
        fwrite(block, 1, 1 << 20, f);
    }
    free(block);
    return fclose(f) == 0;
}

/* Can this kernel and filesystem give a file mapping 2 MiB pages? A file
 * dropped from the cache and faulted in through a MADV_HUGEPAGE mapping. */
static int large_folios_possible(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    (void)fdatasync(fd);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    void *map = mmap(NULL, 8u << 20, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return 0;
    (void)madvise(map, 8u << 20, MADV_HUGEPAGE);
    const long before = gguf_file_pmd_kib();
    for (size_t off = 0; off < (8u << 20); off += MIB2) (void)*(volatile unsigned char *)((char *)map + off);
    const long after = gguf_file_pmd_kib();
    munmap(map, 8u << 20);
    return before >= 0 && after - before >= 4096; /* 2 of the 4 units */
}

static void test_large_pages(void) {
    mkdir("build", 0755);
    mkdir("build/tmp", 0755);
    const char *path = "build/tmp/large-pages.bin", *probe = "build/tmp/large-pages-probe.bin";
    const size_t mib = 24;
    REQUIRE(write_pattern(path, mib) && write_pattern(probe, 8));
    const int possible = large_folios_possible(probe);
    unlink(probe);
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0);
    const size_t size = mib << 20;
    gguf_pages_make_large(fd, size);
    /* the file as decode would see it: a MADV_HUGEPAGE mapping, faulted in */
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    REQUIRE(map != MAP_FAILED);
    (void)madvise(map, size, MADV_HUGEPAGE);
    for (size_t off = 0; off < size; off += MIB2) (void)*(volatile unsigned char *)((char *)map + off);
    /* the same bytes, however the pages came */
    const uint32_t *w = map;
    size_t bad = 0;
    for (size_t i = 0; i < size / 4; i++) bad += w[i] != (uint32_t)i * 2654435761u;
    CHECKF(bad == 0, "%zu words differ after the pages were read again", bad);
    const long pmd = gguf_file_pmd_kib();
    munmap(map, size);
    const long freed = pmd - gguf_file_pmd_kib(); /* what the mapping had in 2 MiB pages */
    if (possible)
        CHECKF(freed >= (long)(mib - 2) * 1024, "only %ld of %zu KiB in 2 MiB pages after gguf_pages_make_large",
               freed, mib * 1024);
    else
        fprintf(stderr, "note: this kernel or filesystem gives file mappings no 2 MiB pages; only the bytes checked\n");
    unlink(path);
    /* through qwq_load: the flag is accepted, and VOCAB_ONLY | LARGE_PAGES too; unknown bits are not */
    char model_path[512];
    if (!testdata_path(model_path, sizeof model_path, "models/qwen2-tiny-q4_0.gguf")) return;
    qwq_load_params lp;
    qwq_load_params_init(&lp);
    qwq_model *m = NULL;
    lp.flags = QWQ_LOAD_LARGE_PAGES;
    CHECKF(qwq_load(model_path, &lp, &m) == QWQ_OK, "%s", qwq_last_error());
    qwq_model_free(m);
    lp.flags = QWQ_LOAD_LARGE_PAGES | QWQ_LOAD_VOCAB_ONLY;
    CHECKF(qwq_load(model_path, &lp, &m) == QWQ_OK, "%s", qwq_last_error());
    qwq_model_free(m);
    lp.flags = 4u;
    CHECK(qwq_load(model_path, &lp, &m) == QWQ_ERR_INVALID_ARGUMENT && m == NULL);
}

int main(void) {
    RUN(test_large_pages);
    RUN(test_valid_image_loads);
    RUN(test_targeted_corruptions);
    RUN(test_truncations);
    RUN(test_random_corruptions);
    RUN(test_files);
    free(image);
    return test_summary();
}
