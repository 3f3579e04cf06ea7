/*
 * test_gguf_write - the GGUF writer (lib/gguf/gguf_write) read back with the
 * reader (lib/gguf/gguf), and the model generator bench/qwq-gen run as a
 * program (BUILD/bin/qwq-gen, found next to this test's BUILD/tests/).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "harness.h"
#include "kernels/quant.h"
#include "qwq.h"
#include "util/util.h"

static char g_build[1024]; /* BUILD directory, from argv[0] */
static char g_tmp[1100];   /* scratch files: BUILD/tests/tmp-gguf-write-PID */

static uint64_t rd_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static uint32_t rd_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static void wr_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void wr_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static uint64_t rng_state = 0x1234567;
static uint8_t rnd8(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint8_t)(rng_state >> 56);
}

/* ---- key/values ---------------------------------------------------------- */

static void test_kv_roundtrip(void) {
    gguf_writer *w;
    REQUIRE(gguf_writer_new(3, 0, &w) == QWQ_OK);
    CHECK(gguf_writer_add_u8(w, "t.u8", 250) == QWQ_OK);
    CHECK(gguf_writer_add_i8(w, "t.i8", -100) == QWQ_OK);
    CHECK(gguf_writer_add_u16(w, "t.u16", 65000) == QWQ_OK);
    CHECK(gguf_writer_add_i16(w, "t.i16", -32000) == QWQ_OK);
    CHECK(gguf_writer_add_u32(w, "t.u32", 4000000000u) == QWQ_OK);
    CHECK(gguf_writer_add_i32(w, "t.i32", -2000000000) == QWQ_OK);
    CHECK(gguf_writer_add_u64(w, "t.u64", 0xfedcba9876543210ull) == QWQ_OK);
    CHECK(gguf_writer_add_i64(w, "t.i64", INT64_MIN + 5) == QWQ_OK);
    CHECK(gguf_writer_add_f32(w, "t.f32", 1e-5f) == QWQ_OK);
    CHECK(gguf_writer_add_f64(w, "t.f64", 3.141592653589793) == QWQ_OK);
    CHECK(gguf_writer_add_bool(w, "t.bool", true) == QWQ_OK);
    CHECK(gguf_writer_add_bool(w, "t.bool0", false) == QWQ_OK);
    CHECK(gguf_writer_add_str(w, "t.str", "qwen2") == QWQ_OK);
    CHECK(gguf_writer_add_str(w, "t.empty", "") == QWQ_OK);
    CHECK(gguf_writer_add_str_n(w, "t.nul", "a\0b\xc4\xa0", 5) == QWQ_OK);
    int32_t ai[5] = {1, -2, 3, INT32_MIN, INT32_MAX};
    float af[3] = {0.5f, -1e30f, 7.25f};
    uint8_t ab[4] = {0, 1, 1, 0};
    int64_t al[2] = {-1, INT64_MAX};
    double ad[2] = {1e300, -0.0};
    uint16_t au[3] = {1, 2, 65535};
    CHECK(gguf_writer_add_arr(w, "a.i32", GGUF_TYPE_INT32, ai, 5) == QWQ_OK);
    CHECK(gguf_writer_add_arr(w, "a.f32", GGUF_TYPE_FLOAT32, af, 3) == QWQ_OK);
    CHECK(gguf_writer_add_arr(w, "a.bool", GGUF_TYPE_BOOL, ab, 4) == QWQ_OK);
    CHECK(gguf_writer_add_arr(w, "a.i64", GGUF_TYPE_INT64, al, 2) == QWQ_OK);
    CHECK(gguf_writer_add_arr(w, "a.f64", GGUF_TYPE_FLOAT64, ad, 2) == QWQ_OK);
    CHECK(gguf_writer_add_arr(w, "a.u16", GGUF_TYPE_UINT16, au, 3) == QWQ_OK);
    CHECK(gguf_writer_add_arr(w, "a.empty", GGUF_TYPE_UINT8, NULL, 0) == QWQ_OK);
    const char *strs[4] = {"\xc4\xa0the", "", "<|im_end|>", "x"};
    CHECK(gguf_writer_add_arr_str(w, "a.str", strs, NULL, 4) == QWQ_OK);
    size_t lens[2] = {3, 1};
    const char *strs2[2] = {"abcdef", "z"};
    CHECK(gguf_writer_add_arr_str(w, "a.strn", strs2, lens, 2) == QWQ_OK);
    CHECK(gguf_writer_add_arr_str(w, "a.str0", NULL, NULL, 0) == QWQ_OK);
    CHECK(gguf_writer_n_kv(w) == 25);

    uint8_t *img;
    size_t size;
    REQUIRE(gguf_writer_write_mem(w, &img, &size) == QWQ_OK);
    uint64_t expect_size;
    CHECK(gguf_writer_file_size(w, &expect_size) == QWQ_OK && expect_size == size);
    CHECK(memcmp(img, "GGUF", 4) == 0 && rd_u32(img + 4) == 3);
    CHECK(rd_u64(img + 8) == 0 && rd_u64(img + 16) == 25);

    gguf_file *f = NULL;
    qwq_status st = gguf_parse(img, size, &f);
    CHECKF(st == QWQ_OK, "parse: %s", err_message());
    if (st == QWQ_OK) {
        CHECK(f->n_kv == 25 && f->n_tensors == 0 && f->version == 3);
        uint32_t u32;
        int32_t i32;
        float f32;
        bool b;
        gguf_str s;
        CHECK(gguf_get_u32(f, "t.u32", &u32) == QWQ_OK && u32 == 4000000000u);
        CHECK(gguf_get_i32(f, "t.i32", &i32) == QWQ_OK && i32 == -2000000000);
        CHECK(gguf_get_u32(f, "t.u8", &u32) == QWQ_OK && u32 == 250);
        CHECK(gguf_get_i32(f, "t.i8", &i32) == QWQ_OK && i32 == -100);
        CHECK(gguf_get_u32(f, "t.u16", &u32) == QWQ_OK && u32 == 65000);
        CHECK(gguf_get_i32(f, "t.i16", &i32) == QWQ_OK && i32 == -32000);
        CHECK(gguf_get_f32(f, "t.f32", &f32) == QWQ_OK && f32 == 1e-5f);
        CHECK(gguf_get_bool(f, "t.bool", &b) == QWQ_OK && b);
        CHECK(gguf_get_bool(f, "t.bool0", &b) == QWQ_OK && !b);
        CHECK(gguf_get_str(f, "t.str", &s) == QWQ_OK && s.len == 5 && memcmp(s.ptr, "qwen2", 5) == 0);
        CHECK(gguf_get_str(f, "t.empty", &s) == QWQ_OK && s.len == 0);
        CHECK(gguf_get_str(f, "t.nul", &s) == QWQ_OK && s.len == 5 && memcmp(s.ptr, "a\0b\xc4\xa0", 5) == 0);
        const gguf_kv *kv = gguf_find_kv(f, "t.u64");
        CHECK(kv && kv->type == GGUF_TYPE_UINT64 && rd_u64(kv->data) == 0xfedcba9876543210ull);
        kv = gguf_find_kv(f, "t.i64");
        CHECK(kv && kv->type == GGUF_TYPE_INT64 && (int64_t)rd_u64(kv->data) == INT64_MIN + 5);
        kv = gguf_find_kv(f, "t.f64");
        double dv = 0;
        if (kv) memcpy(&dv, kv->data, 8);
        CHECK(kv && kv->type == GGUF_TYPE_FLOAT64 && dv == 3.141592653589793);
        const gguf_kv *a;
        CHECK(gguf_get_arr(f, "a.i32", GGUF_TYPE_INT32, &a) == QWQ_OK && a->arr_len == 5 &&
              gguf_arr_i32(a, 3) == INT32_MIN && gguf_arr_i32(a, 4) == INT32_MAX && gguf_arr_i32(a, 1) == -2);
        CHECK(gguf_get_arr(f, "a.f32", GGUF_TYPE_FLOAT32, &a) == QWQ_OK && a->arr_len == 3 &&
              gguf_arr_f32(a, 1) == -1e30f);
        CHECK(gguf_get_arr(f, "a.bool", GGUF_TYPE_BOOL, &a) == QWQ_OK && a->arr_len == 4 &&
              memcmp(a->data, ab, 4) == 0);
        CHECK(gguf_get_arr(f, "a.i64", GGUF_TYPE_INT64, &a) == QWQ_OK && a->arr_len == 2 &&
              memcmp(a->data, al, 16) == 0);
        CHECK(gguf_get_arr(f, "a.f64", GGUF_TYPE_FLOAT64, &a) == QWQ_OK && memcmp(a->data, ad, 16) == 0);
        CHECK(gguf_get_arr(f, "a.u16", GGUF_TYPE_UINT16, &a) == QWQ_OK && memcmp(a->data, au, 6) == 0);
        CHECK(gguf_get_arr(f, "a.empty", GGUF_TYPE_UINT8, &a) == QWQ_OK && a->arr_len == 0);
        CHECK(gguf_get_arr(f, "a.str0", GGUF_TYPE_STRING, &a) == QWQ_OK && a->arr_len == 0);
        if (gguf_get_arr(f, "a.str", GGUF_TYPE_STRING, &a) == QWQ_OK && a->arr_len == 4) {
            for (int i = 0; i < 4; i++) {
                gguf_str e = gguf_arr_str(a, (uint64_t)i);
                CHECKF(e.len == strlen(strs[i]) && memcmp(e.ptr, strs[i], e.len) == 0, "a.str[%d]", i);
            }
        } else {
            CHECK(!"a.str missing");
        }
        if (gguf_get_arr(f, "a.strn", GGUF_TYPE_STRING, &a) == QWQ_OK && a->arr_len == 2) {
            gguf_str e0 = gguf_arr_str(a, 0), e1 = gguf_arr_str(a, 1);
            CHECK(e0.len == 3 && memcmp(e0.ptr, "abc", 3) == 0 && e1.len == 1 && e1.ptr[0] == 'z');
        } else {
            CHECK(!"a.strn missing");
        }
        /* KVs in the order written, at the offsets the layout reports */
        for (size_t i = 0; i < f->n_kv; i++) {
            gguf_kv_layout lay;
            REQUIRE(gguf_writer_kv_layout(w, i, &lay) == QWQ_OK);
            size_t kl = strlen(f->kv[i].key);
            CHECK(rd_u64(img + lay.key) == kl && memcmp(img + lay.key + 8, f->kv[i].key, kl) == 0);
            CHECK(rd_u32(img + lay.type) == (uint32_t)f->kv[i].type);
            if (f->kv[i].type == GGUF_TYPE_ARRAY)
                CHECK(rd_u32(img + lay.value) == (uint32_t)f->kv[i].arr_type && rd_u64(img + lay.value + 4) == f->kv[i].arr_len);
            else
                CHECK(img + lay.value == f->kv[i].data);
            if (i + 1 < f->n_kv) {
                gguf_kv_layout next;
                CHECK(gguf_writer_kv_layout(w, i + 1, &next) == QWQ_OK && next.key == lay.end);
            }
        }
        gguf_close(f);
    }

    /* copying every KV reproduces the metadata byte for byte */
    gguf_file *src = NULL;
    if (gguf_parse(img, size, &src) == QWQ_OK) {
        gguf_writer *w2;
        REQUIRE(gguf_writer_new(3, 0, &w2) == QWQ_OK);
        for (uint64_t i = 0; i < src->n_kv; i++)
            CHECKF(gguf_writer_add_kv_copy(w2, &src->kv[i]) == QWQ_OK, "copy %s: %s", src->kv[i].key, err_message());
        uint8_t *img2;
        size_t size2;
        CHECK(gguf_writer_write_mem(w2, &img2, &size2) == QWQ_OK && size2 == size && memcmp(img, img2, size) == 0);
        free(img2);
        gguf_writer_free(w2);
        gguf_close(src);
    }
    free(img);
    gguf_writer_free(w);
}

static void test_version2(void) {
    gguf_writer *w;
    REQUIRE(gguf_writer_new(2, 0, &w) == QWQ_OK);
    CHECK(gguf_writer_add_str(w, "general.architecture", "qwen2") == QWQ_OK);
    uint64_t ne[2] = {32, 2};
    uint8_t data[2 * 34];
    for (size_t i = 0; i < sizeof data; i++) data[i] = rnd8();
    CHECK(gguf_writer_add_tensor(w, "w", 2, ne, QTYPE_Q8_0, data) == QWQ_OK);
    uint8_t *img;
    size_t size;
    REQUIRE(gguf_writer_write_mem(w, &img, &size) == QWQ_OK);
    CHECK(rd_u32(img + 4) == 2);
    gguf_file *f = NULL;
    CHECKF(gguf_parse(img, size, &f) == QWQ_OK, "%s", err_message());
    if (f) {
        CHECK(f->version == 2 && f->n_tensors == 1);
        CHECK(f->tensors[0].n_bytes == sizeof data && memcmp(f->tensors[0].data, data, sizeof data) == 0);
        gguf_close(f);
    }
    free(img);
    gguf_writer_free(w);
    CHECK(gguf_writer_new(1, 0, &w) == QWQ_ERR_INVALID_ARGUMENT && w == NULL);
    CHECK(gguf_writer_new(4, 0, &w) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_new(3, 0x10, &w) == QWQ_ERR_INVALID_ARGUMENT);
}

/* ---- tensors ----------------------------------------------------------------- */

typedef struct fill_log {
    uint64_t expect_offset[8];
    size_t calls, bad;
    uint8_t *content[8]; /* expected bytes per tensor */
} fill_log;

static qwq_status fill_from(void *user, size_t tensor, uint64_t offset, void *buf, size_t n) {
    fill_log *L = user;
    L->calls++;
    uint32_t gran = tensor == 1 ? 210 : 34; /* q6_K, q8_0 below */
    if (offset != L->expect_offset[tensor] || n % gran != 0 || n == 0) L->bad++;
    memcpy(buf, L->content[tensor] + offset, n);
    L->expect_offset[tensor] = offset + n;
    return QWQ_OK;
}

static void check_tensors_roundtrip(uint32_t alignment, size_t buf_size) {
    gguf_writer *w;
    REQUIRE(gguf_writer_new(3, 0, &w) == QWQ_OK);
    CHECK(gguf_writer_add_str(w, "general.architecture", "test") == QWQ_OK);
    if (alignment) CHECK(gguf_writer_set_alignment(w, alignment) == QWQ_OK);
    CHECK(gguf_writer_set_buffer_size(w, buf_size) == QWQ_OK);
    /* an f32 vector of odd length, a q6_K matrix bigger than the staging
     * buffer through a callback, f16 and q8_0 from memory, bf16 zeros */
    uint64_t ne_a[1] = {7}, ne_b[2] = {512, 700}, ne_c[3] = {3, 5, 2}, ne_d[2] = {64, 300}, ne_e[1] = {5};
    size_t nb_a = 28, nb_b = 700 * 2 * 210, nb_c = 60, nb_d = 300 * 2 * 34;
    uint8_t *a = malloc(nb_a), *b = malloc(nb_b), *c = malloc(nb_c), *d = malloc(nb_d);
    REQUIRE(a && b && c && d);
    for (size_t i = 0; i < nb_a; i++) a[i] = rnd8();
    for (size_t i = 0; i < nb_b; i++) b[i] = rnd8();
    for (size_t i = 0; i < nb_c; i++) c[i] = rnd8();
    for (size_t i = 0; i < nb_d; i++) d[i] = rnd8();
    fill_log L;
    memset(&L, 0, sizeof L);
    L.content[1] = b;
    L.content[3] = d;
    CHECK(gguf_writer_add_tensor(w, "a", 1, ne_a, QTYPE_F32, a) == QWQ_OK);
    CHECK(gguf_writer_add_tensor_cb(w, "blk.0.b", 2, ne_b, QTYPE_Q6_K, fill_from, &L) == QWQ_OK);
    CHECK(gguf_writer_add_tensor(w, "c", 3, ne_c, QTYPE_F16, c) == QWQ_OK);
    CHECK(gguf_writer_add_tensor_cb(w, "d", 2, ne_d, QTYPE_Q8_0, fill_from, &L) == QWQ_OK);
    CHECK(gguf_writer_add_tensor(w, "e", 1, ne_e, QTYPE_BF16, NULL) == QWQ_OK);
    CHECK(gguf_writer_n_tensors(w) == 5);
    uint32_t al = alignment ? alignment : 32;
    CHECK(gguf_writer_alignment(w) == al);

    uint8_t *img;
    size_t size;
    REQUIRE(gguf_writer_write_mem(w, &img, &size) == QWQ_OK);
    CHECK(L.bad == 0 && L.expect_offset[1] == nb_b && L.expect_offset[3] == nb_d);
    CHECKF(buf_size > nb_b || L.calls > 2, "big tensor should come in several chunks (%zu calls)", L.calls);
    gguf_file *f = NULL;
    qwq_status st = gguf_parse(img, size, &f);
    CHECKF(st == QWQ_OK, "parse: %s", err_message());
    if (st == QWQ_OK) {
        uint64_t doff;
        CHECK(gguf_writer_data_offset(w, &doff) == QWQ_OK && doff == f->data_offset && doff % al == 0);
        CHECK(f->alignment == al && f->n_tensors == 5);
        const void *want[5] = {a, b, c, d, NULL};
        size_t nbytes[5] = {nb_a, nb_b, nb_c, nb_d, 10};
        const char *names[5] = {"a", "blk.0.b", "c", "d", "e"};
        for (size_t i = 0; i < 5 && i < f->n_tensors; i++) {
            const gguf_tensor *t = &f->tensors[i];
            CHECKF(strcmp(t->name, names[i]) == 0, "tensor %zu is '%s'", i, t->name);
            CHECKF(t->offset % al == 0, "tensor %s offset %llu not aligned to %u", t->name, (unsigned long long)t->offset, al);
            CHECK(t->n_bytes == nbytes[i]);
            if (want[i]) {
                CHECKF(memcmp(t->data, want[i], nbytes[i]) == 0, "tensor %s data differs", t->name);
            } else {
                static const uint8_t zeros[10];
                CHECK(memcmp(t->data, zeros, 10) == 0);
            }
            gguf_tensor_layout lay;
            REQUIRE(gguf_writer_tensor_layout(w, i, &lay) == QWQ_OK);
            CHECK(lay.data_rel == t->offset && lay.data == f->data_offset + t->offset && lay.n_bytes == t->n_bytes);
            CHECK(rd_u64(img + lay.name) == strlen(names[i]));
            CHECK(rd_u32(img + lay.n_dims) == t->n_dims && rd_u64(img + lay.ne) == t->ne[0]);
            CHECK(rd_u32(img + lay.type) == t->type && rd_u64(img + lay.offset) == t->offset);
        }
        if (f->n_tensors == 5) {
            CHECK(f->tensors[2].n_dims == 3 && f->tensors[2].ne[1] == 5 && f->tensors[2].ne[2] == 2);
            /* the file ends with the last tensor */
            CHECK(f->data_offset + f->tensors[4].offset + 10 == size);
        }
        gguf_close(f);
    }
    free(img);
    free(a);
    free(b);
    free(c);
    free(d);
    gguf_writer_free(w);
}

static void test_tensors_default_alignment(void) { check_tensors_roundtrip(0, 8u << 20); }
static void test_tensors_alignment_64_small_buffer(void) { check_tensors_roundtrip(64, 64 * 1024); }
static void test_tensors_alignment_1(void) { check_tensors_roundtrip(1, 100 * 1000); }
static void test_tensors_alignment_4096(void) { check_tensors_roundtrip(4096, 70 * 1000); }

/* Alignment added after the tensors relays the data section out. */
static void test_alignment_after_tensors(void) {
    gguf_writer *w;
    REQUIRE(gguf_writer_new(3, 0, &w) == QWQ_OK);
    uint64_t ne[1] = {3};
    float v[3] = {1, 2, 3};
    CHECK(gguf_writer_add_tensor(w, "x", 1, ne, QTYPE_F32, v) == QWQ_OK);
    CHECK(gguf_writer_add_tensor(w, "y", 1, ne, QTYPE_F32, v) == QWQ_OK);
    gguf_tensor_layout lay;
    CHECK(gguf_writer_tensor_layout(w, 1, &lay) == QWQ_OK && lay.data_rel == 32);
    CHECK(gguf_writer_set_alignment(w, 256) == QWQ_OK);
    CHECK(gguf_writer_tensor_layout(w, 1, &lay) == QWQ_OK && lay.data_rel == 256);
    CHECK(gguf_writer_set_alignment(w, 128) == QWQ_ERR_INVALID_ARGUMENT); /* duplicate key */
    uint8_t *img;
    size_t size;
    REQUIRE(gguf_writer_write_mem(w, &img, &size) == QWQ_OK);
    gguf_file *f = NULL;
    CHECKF(gguf_parse(img, size, &f) == QWQ_OK, "%s", err_message());
    if (f) {
        CHECK(f->alignment == 256 && f->tensors[1].offset == 256 && memcmp(f->tensors[1].data, v, 12) == 0);
        gguf_close(f);
    }
    free(img);
    gguf_writer_free(w);
}

/* ---- checked mode ------------------------------------------------------------ */

static void test_checked_rejections(void) {
    gguf_writer *w;
    REQUIRE(gguf_writer_new(3, 0, &w) == QWQ_OK);
    CHECK(gguf_writer_add_u32(w, "k", 1) == QWQ_OK);
    CHECK(gguf_writer_add_u32(w, "k", 2) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err_message(), "duplicate key 'k'") != NULL);
    CHECK(gguf_writer_add_str(w, "k", "x") == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_u32(w, "", 1) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_kv_raw(w, "a\0b", 3, GGUF_TYPE_UINT8, "x", 1) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_scalar(w, "s", GGUF_TYPE_STRING, "x") == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_arr(w, "arr", GGUF_TYPE_ARRAY, "x", 1) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_kv_raw(w, "raw", 3, 99, "x", 1) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_kv_raw(w, "raw", 3, GGUF_TYPE_UINT32, "xy", 2) == QWQ_ERR_INVALID_ARGUMENT);
    uint8_t badstr[12] = {9, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c', 'd'};
    CHECK(gguf_writer_add_kv_raw(w, "raw", 3, GGUF_TYPE_STRING, badstr, sizeof badstr) == QWQ_ERR_INVALID_ARGUMENT);
    uint8_t b2 = 2;
    CHECK(gguf_writer_add_scalar(w, "b", GGUF_TYPE_BOOL, &b2) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_set_alignment(w, 48) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_set_alignment(w, 0) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_n_kv(w) == 1);

    uint64_t ne[2] = {64, 4}, ne_bad[2] = {48, 4}, ne_zero[2] = {32, 0}, ne5[5] = {32, 1, 1, 1, 1};
    CHECK(gguf_writer_add_tensor(w, "t", 2, ne, QTYPE_Q4_0, NULL) == QWQ_OK);
    CHECK(gguf_writer_add_tensor(w, "t", 2, ne, QTYPE_Q4_0, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err_message(), "duplicate tensor name 't'") != NULL);
    CHECK(gguf_writer_add_tensor(w, "u", 2, ne_bad, QTYPE_Q4_0, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err_message(), "'u'") != NULL);
    CHECK(gguf_writer_add_tensor(w, "u", 2, ne_zero, QTYPE_F32, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_tensor(w, "u", 5, ne5, QTYPE_F32, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_tensor(w, "u", 0, ne, QTYPE_F32, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_tensor(w, "u", 2, ne, 4 /* a removed ggml type */, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_tensor(w, "u", 2, ne, 1000, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_tensor(w, "", 2, ne, QTYPE_F32, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    char longname[80];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK(gguf_writer_add_tensor(w, longname, 2, ne, QTYPE_F32, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    longname[64] = 0; /* 64 bytes is the limit */
    CHECK(gguf_writer_add_tensor(w, longname, 2, ne, QTYPE_F32, NULL) == QWQ_OK);
    CHECK(gguf_writer_add_tensor_raw(w, "r", 1, 2, ne, QTYPE_F32, 7, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_tensor_raw(w, "r", 1, 2, ne, QTYPE_F32, 64 * 4 * 4, NULL) == QWQ_OK);
    CHECK(gguf_writer_add_tensor_cb(w, "cb", 2, ne, QTYPE_F32, NULL, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    uint64_t huge[4] = {1ull << 40, 1ull << 40, 1, 1};
    CHECK(gguf_writer_add_tensor(w, "huge", 2, huge, QTYPE_F32, NULL) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_n_tensors(w) == 3);
    CHECK(gguf_writer_add_u32(w, NULL, 1) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_str(w, "nullstr", NULL) == QWQ_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_add_u32(NULL, "x", 1) == QWQ_ERR_INVALID_ARGUMENT);

    /* what was accepted still makes a valid file */
    uint8_t *img;
    size_t size;
    REQUIRE(gguf_writer_write_mem(w, &img, &size) == QWQ_OK);
    gguf_file *f = NULL;
    CHECKF(gguf_parse(img, size, &f) == QWQ_OK, "%s", err_message());
    if (f) CHECK(f->n_kv == 1 && f->n_tensors == 3);
    gguf_close(f);
    free(img);
    gguf_writer_free(w);

    uint64_t n;
    CHECK(gguf_tensor_nbytes(2, ne, QTYPE_Q4_0, &n) == QWQ_OK && n == 4 * 2 * 18);
    uint64_t ne_k[2] = {5120, 27648};
    CHECK(gguf_tensor_nbytes(2, ne_k, QTYPE_Q4_K, &n) == QWQ_OK && n == 27648ull * 20 * 144);
    CHECK(gguf_tensor_nbytes(2, ne_bad, QTYPE_Q4_K, &n) == QWQ_ERR_INVALID_ARGUMENT);
}

/* ---- raw mode: malformed files the reader must reject ------------------------------ */

/* A small valid file: 2 KVs, 2 tensors. */
static gguf_writer *small_writer(uint32_t flags) {
    gguf_writer *w = NULL;
    if (gguf_writer_new(3, flags, &w) != QWQ_OK) return NULL;
    static float v[64];
    for (int i = 0; i < 64; i++) v[i] = (float)i;
    uint64_t ne[2] = {32, 2};
    if (gguf_writer_add_str(w, "general.architecture", "qwen2") || gguf_writer_add_u32(w, "qwen2.block_count", 1) ||
        gguf_writer_add_tensor(w, "blk.0.attn_q.weight", 2, ne, QTYPE_F32, v) ||
        gguf_writer_add_tensor(w, "blk.0.attn_k.weight", 2, ne, QTYPE_F32, v)) {
        gguf_writer_free(w);
        return NULL;
    }
    return w;
}

static qwq_status parse_img(const uint8_t *img, size_t size) {
    gguf_file *f = NULL;
    qwq_status st = gguf_parse(img, size, &f);
    gguf_close(f);
    return st;
}

static void test_raw_duplicates(void) {
    gguf_writer *w = small_writer(GGUF_WRITER_UNCHECKED);
    REQUIRE(w);
    uint64_t ne[2] = {32, 2};
    CHECK(gguf_writer_add_u32(w, "qwen2.block_count", 2) == QWQ_OK); /* allowed when unchecked */
    uint8_t *img;
    size_t size;
    REQUIRE(gguf_writer_write_mem(w, &img, &size) == QWQ_OK);
    CHECK(parse_img(img, size) == QWQ_ERR_FORMAT && strstr(err_message(), "duplicate") != NULL);
    free(img);
    gguf_writer_free(w);

    w = small_writer(GGUF_WRITER_UNCHECKED);
    REQUIRE(w);
    CHECK(gguf_writer_add_tensor(w, "blk.0.attn_q.weight", 2, ne, QTYPE_F32, NULL) == QWQ_OK);
    REQUIRE(gguf_writer_write_mem(w, &img, &size) == QWQ_OK);
    CHECK(parse_img(img, size) == QWQ_ERR_FORMAT && strstr(err_message(), "duplicate tensor name") != NULL);
    free(img);
    gguf_writer_free(w);

    /* raw tensors: unknown type id, explicit sizes, embedded NUL in a name */
    w = small_writer(GGUF_WRITER_UNCHECKED);
    REQUIRE(w);
    CHECK(gguf_writer_add_tensor_raw(w, "weird", 5, 2, ne, 77, 100, NULL) == QWQ_OK);
    REQUIRE(gguf_writer_write_mem(w, &img, &size) == QWQ_OK);
    CHECK(parse_img(img, size) != QWQ_OK && strstr(err_message(), "77") != NULL);
    free(img);
    gguf_writer_free(w);

    w = small_writer(GGUF_WRITER_UNCHECKED);
    REQUIRE(w);
    CHECK(gguf_writer_add_tensor_raw(w, "a\0b", 3, 2, ne, QTYPE_F32, 256, NULL) == QWQ_OK);
    REQUIRE(gguf_writer_write_mem(w, &img, &size) == QWQ_OK);
    CHECK(parse_img(img, size) == QWQ_ERR_FORMAT);
    free(img);
    gguf_writer_free(w);

    /* a KV of unknown type with an arbitrary payload */
    w = small_writer(GGUF_WRITER_UNCHECKED);
    REQUIRE(w);
    CHECK(gguf_writer_add_kv_raw(w, "bad.type", 8, 42, "\1\2\3\4", 4) == QWQ_OK);
    REQUIRE(gguf_writer_write_mem(w, &img, &size) == QWQ_OK);
    CHECK(parse_img(img, size) == QWQ_ERR_FORMAT);
    free(img);
    gguf_writer_free(w);
}

/* Patches fields at the offsets the layout reports; each variant must be
 * rejected, the unpatched image accepted. */
static void test_raw_patches(void) {
    gguf_writer *w = small_writer(0);
    REQUIRE(w);
    uint8_t *img;
    size_t size;
    REQUIRE(gguf_writer_write_mem(w, &img, &size) == QWQ_OK);
    CHECK(parse_img(img, size) == QWQ_OK);
    uint8_t *m = malloc(size);
    REQUIRE(m);
    gguf_kv_layout k0, k1;
    gguf_tensor_layout t0, t1;
    REQUIRE(gguf_writer_kv_layout(w, 0, &k0) == QWQ_OK && gguf_writer_kv_layout(w, 1, &k1) == QWQ_OK);
    REQUIRE(gguf_writer_tensor_layout(w, 0, &t0) == QWQ_OK && gguf_writer_tensor_layout(w, 1, &t1) == QWQ_OK);
    CHECK(k0.key == GGUF_OFF_FIRST_KV && k1.key == k0.end && t0.name == k1.end && t1.name == t0.end);
    CHECK(t0.data_rel == 0 && t1.data_rel == 256 && t1.data + 256 == size);

#define VARIANT(desc, expect, stmt)                                                            \
    do {                                                                                       \
        memcpy(m, img, size);                                                                  \
        stmt;                                                                                  \
        qwq_status st_ = parse_img(m, size);                                                   \
        CHECKF(st_ == (expect), "%s: got %s (%s)", desc, qwq_status_name(st_), err_message()); \
    } while (0)
    VARIANT("bad magic", QWQ_ERR_FORMAT, m[GGUF_OFF_MAGIC] = 'X');
    VARIANT("version 1", QWQ_ERR_UNSUPPORTED, wr_u32(m + GGUF_OFF_VERSION, 1));
    VARIANT("version 4", QWQ_ERR_UNSUPPORTED, wr_u32(m + GGUF_OFF_VERSION, 4));
    VARIANT("huge tensor count", QWQ_ERR_FORMAT, wr_u64(m + GGUF_OFF_N_TENSORS, 1ull << 60));
    VARIANT("huge kv count", QWQ_ERR_FORMAT, wr_u64(m + GGUF_OFF_N_KV, UINT64_MAX));
    VARIANT("huge key length", QWQ_ERR_FORMAT, wr_u64(m + k0.key, 1ull << 62));
    VARIANT("huge string length", QWQ_ERR_FORMAT, wr_u64(m + k0.value, UINT64_MAX - 3));
    VARIANT("unknown kv type", QWQ_ERR_FORMAT, wr_u32(m + k1.type, 13));
    VARIANT("huge tensor name length", QWQ_ERR_FORMAT, wr_u64(m + t0.name, size));
    VARIANT("zero dims", QWQ_ERR_FORMAT, wr_u32(m + t0.n_dims, 0));
    VARIANT("five dims", QWQ_ERR_FORMAT, wr_u32(m + t0.n_dims, 5));
    VARIANT("zero dimension", QWQ_ERR_FORMAT, wr_u64(m + t1.ne, 0));
    VARIANT("huge dimension", QWQ_ERR_FORMAT, wr_u64(m + t1.ne + 8, 1ull << 40));
    VARIANT("misaligned offset", QWQ_ERR_FORMAT, wr_u64(m + t1.offset, 257));
    VARIANT("offset past the end", QWQ_ERR_FORMAT, wr_u64(m + t1.offset, 1ull << 20));
    VARIANT("offset wraps", QWQ_ERR_FORMAT, wr_u64(m + t1.offset, UINT64_MAX - 31));
    VARIANT("overlapping tensors", QWQ_ERR_FORMAT, wr_u64(m + t1.offset, 0));
    VARIANT("unknown tensor type", QWQ_ERR_UNSUPPORTED, wr_u32(m + t0.type, 1000));
    VARIANT("duplicate name", QWQ_ERR_FORMAT, memcpy(m + t1.name + 8, m + t0.name + 8, 19));
    VARIANT("bigger type past the end", QWQ_ERR_FORMAT, wr_u32(m + t1.type, QTYPE_F32); wr_u64(m + t1.ne + 8, 3));
#undef VARIANT
    /* every truncation is an error, never a crash */
    int truncated_ok = 0;
    for (size_t cut = 0; cut < size; cut++)
        if (parse_img(img, cut) == QWQ_OK) truncated_ok++;
    CHECKF(truncated_ok == 0, "%d truncated images parsed", truncated_ok);
    free(m);
    free(img);
    gguf_writer_free(w);
}

/* ---- outputs: FILE*, fd, path, O_DIRECT, meta only -------------------------------------- */

static qwq_status fill_pattern(void *user, size_t tensor, uint64_t offset, void *buf, size_t n) {
    (void)user;
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)((offset + i) * 131 + tensor * 7 + ((offset + i) >> 9));
    return QWQ_OK;
}

static qwq_status fill_fail(void *user, size_t tensor, uint64_t offset, void *buf, size_t n) {
    (void)user, (void)tensor, (void)buf, (void)n;
    if (offset > 0) return err_set(QWQ_ERR_CANCELLED, "stop here");
    memset(buf, 0, n);
    return QWQ_OK;
}

static gguf_writer *pattern_writer(void) {
    gguf_writer *w = NULL;
    if (gguf_writer_new(3, 0, &w) != QWQ_OK) return NULL;
    uint64_t ne1[2] = {4096, 300}, ne2[2] = {256, 33};
    if (gguf_writer_add_str(w, "general.name", "pattern") ||
        gguf_writer_add_tensor_cb(w, "p.q4_K", 2, ne1, QTYPE_Q4_K, fill_pattern, NULL) ||
        gguf_writer_add_tensor_cb(w, "p.q5_1", 2, ne2, QTYPE_Q5_1, fill_pattern, NULL) ||
        gguf_writer_set_buffer_size(w, 100 * 1000)) {
        gguf_writer_free(w);
        return NULL;
    }
    return w;
}

static void test_outputs_agree(void) {
    gguf_writer *w = pattern_writer();
    REQUIRE(w);
    uint8_t *img, *meta;
    size_t size, meta_size;
    REQUIRE(gguf_writer_write_mem(w, &img, &size) == QWQ_OK);
    REQUIRE(gguf_writer_write_meta_mem(w, &meta, &meta_size) == QWQ_OK);
    uint64_t doff;
    CHECK(gguf_writer_data_offset(w, &doff) == QWQ_OK && doff == meta_size && memcmp(img, meta, meta_size) == 0);
    free(meta);
    gguf_file *f = NULL;
    CHECKF(gguf_parse(img, size, &f) == QWQ_OK, "%s", err_message());
    gguf_close(f);

    char path[1200];
    size_t len;
    unsigned char *back;
    /* path */
    snprintf(path, sizeof path, "%s-path.gguf", g_tmp);
    CHECKF(gguf_writer_write_path(w, path) == QWQ_OK, "%s", err_message());
    back = test_read_file(path, &len);
    CHECK(back && len == size && memcmp(back, img, size) == 0);
    free(back);
    /* FILE* */
    FILE *fp = fopen(path, "wb");
    REQUIRE(fp);
    CHECK(gguf_writer_write_file(w, fp) == QWQ_OK);
    fclose(fp);
    back = test_read_file(path, &len);
    CHECK(back && len == size && memcmp(back, img, size) == 0);
    free(back);
    /* fd, then fd with O_DIRECT when the file system allows it */
    for (int direct = 0; direct < 2; direct++) {
        int fd = open(path, O_WRONLY | O_TRUNC | (direct ? O_DIRECT : 0));
        if (fd < 0 && direct) break; /* e.g. tmpfs: no O_DIRECT */
        REQUIRE(fd >= 0);
        CHECKF(gguf_writer_write_fd(w, fd) == QWQ_OK, "direct=%d: %s", direct, err_message());
        close(fd);
        back = test_read_file(path, &len);
        CHECKF(back && len == size && memcmp(back, img, size) == 0, "direct=%d: file differs", direct);
        free(back);
    }
    unlink(path);
    /* errors: a failing callback, an unwritable path, a closed fd */
    uint64_t ne[2] = {32, 4096};
    gguf_writer *w2;
    REQUIRE(gguf_writer_new(3, 0, &w2) == QWQ_OK);
    CHECK(gguf_writer_add_tensor_cb(w2, "f", 2, ne, QTYPE_F32, fill_fail, NULL) == QWQ_OK);
    CHECK(gguf_writer_set_buffer_size(w2, 1) == QWQ_OK); /* raised to the minimum */
    uint8_t *img2;
    size_t size2;
    CHECK(gguf_writer_write_mem(w2, &img2, &size2) == QWQ_ERR_CANCELLED);
    CHECK(strstr(err_message(), "stop here") != NULL && strstr(err_message(), "'f'") != NULL);
    CHECK(gguf_writer_write_path(w2, path) == QWQ_ERR_CANCELLED);
    struct stat stt;
    CHECK(stat(path, &stt) != 0); /* the partial file is removed */
    gguf_writer_free(w2);
    CHECK(gguf_writer_write_path(w, "/nonexistent-dir/x.gguf") == QWQ_ERR_IO);
    CHECK(strstr(err_message(), "/nonexistent-dir/x.gguf") != NULL);
    CHECK(gguf_writer_write_fd(w, 12345) == QWQ_ERR_IO);
    free(img);
    gguf_writer_free(w);
}

/* ---- qwq-gen ---------------------------------------------------------------------- */

static int gen_available(void) {
    char tool[1200];
    snprintf(tool, sizeof tool, "%s/bin/qwq-gen", g_build);
    if (access(tool, X_OK) != 0) {
        test_skip("%s is not built (make %s)", tool, tool);
        return 0;
    }
    return 1;
}

/* Runs qwq-gen with args writing to out; returns its exit status. */
static int run_gen(const char *args, const char *out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/bin/qwq-gen' -q %s -o '%s' 1>&2", g_build, args, out);
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc)) return -1;
    return WEXITSTATUS(rc);
}

static uint32_t meta_u32(const gguf_file *f, const char *key) {
    uint32_t v = 0xffffffffu;
    if (gguf_get_u32(f, key, &v) != QWQ_OK) test_fail_at(__FILE__, __LINE__, "key %s: %s", key, err_message());
    return v;
}

static void check_shape(const gguf_file *f, const char *name, uint64_t ne0, uint64_t ne1, uint32_t type) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) {
        test_fail_at(__FILE__, __LINE__, "tensor %s missing", name);
        return;
    }
    uint32_t nd = ne1 ? 2 : 1;
    if (t->n_dims != nd || t->ne[0] != ne0 || (ne1 && t->ne[1] != ne1) || t->type != type)
        test_fail_at(__FILE__, __LINE__, "tensor %s: %u dims [%llu, %llu] type %u, expected [%llu, %llu] type %u", name,
                     t->n_dims, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], t->type,
                     (unsigned long long)ne0, (unsigned long long)ne1, type);
}

/* Dequantised weights have mean ~0 and sd ~sigma; norms ~1. */
static void check_stats(const gguf_file *f, double sigma) {
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        float *y = malloc(t->n_elements * sizeof *y);
        if (!y) return;
        if (!dequant_row(t->type, t->data, y, (int64_t)t->n_elements)) {
            test_fail_at(__FILE__, __LINE__, "%s: no dequantizer for type %u", t->name, t->type);
            free(y);
            continue;
        }
        double s = 0, s2 = 0;
        uint64_t bad = 0;
        for (uint64_t k = 0; k < t->n_elements; k++) {
            if (!isfinite(y[k])) bad++;
            s += y[k];
            s2 += (double)y[k] * y[k];
        }
        double n = (double)t->n_elements, mean = s / n, sd = sqrt(s2 / n - mean * mean);
        bool is_norm = strstr(t->name, "norm") != NULL;
        double want_mean = is_norm ? 1.0 : 0.0, want_sd = is_norm ? 0.05 : sigma;
        /* Elements of a block share a scale (and for some types a sign), so
         * the mean's standard error is up to ~4 sd / sqrt(n): allow 4 of
         * those plus 2% of sd of systematic bias; the spread is checked
         * tightly on tensors of 4096+ elements only. */
        double tol_mean = 16 * want_sd / sqrt(n) + 0.02 * want_sd;
        CHECKF(bad == 0, "%s: %llu non-finite values", t->name, (unsigned long long)bad);
        CHECKF(fabs(mean - want_mean) <= tol_mean, "%s (%s): mean %g, expected %g", t->name,
               qtype_get(t->type)->name, mean, want_mean);
        if (t->n_elements >= 4096)
            CHECKF(sd > 0.9 * want_sd && sd < 1.1 * want_sd, "%s (%s): sd %g, expected %g", t->name,
                   qtype_get(t->type)->name, sd, want_sd);
        else
            CHECKF(sd > 0.5 * want_sd && sd < 1.5 * want_sd, "%s (%s): sd %g, expected %g", t->name,
                   qtype_get(t->type)->name, sd, want_sd);
        free(y);
    }
}

static void test_gen_tiny(void) {
    if (!gen_available()) return;
    char out[1200];
    snprintf(out, sizeof out, "%s-tiny.gguf", g_tmp);
    REQUIRE(run_gen("--preset tiny --type q8_0", out) == 0);
    gguf_file *f = NULL;
    qwq_status st = gguf_open(out, &f);
    CHECKF(st == QWQ_OK, "gguf_open: %s", err_message());
    if (st != QWQ_OK) return;
    gguf_str s;
    CHECK(gguf_get_str(f, "general.architecture", &s) == QWQ_OK && s.len == 5 && memcmp(s.ptr, "qwen2", 5) == 0);
    CHECK(meta_u32(f, "general.file_type") == 7);
    CHECK(meta_u32(f, "general.quantization_version") == 2);
    CHECK(meta_u32(f, "qwen2.block_count") == 4);
    CHECK(meta_u32(f, "qwen2.embedding_length") == 256);
    CHECK(meta_u32(f, "qwen2.feed_forward_length") == 768);
    CHECK(meta_u32(f, "qwen2.attention.head_count") == 8);
    CHECK(meta_u32(f, "qwen2.attention.head_count_kv") == 2);
    CHECK(meta_u32(f, "qwen2.context_length") == 4096);
    float fv;
    CHECK(gguf_get_f32(f, "qwen2.rope.freq_base", &fv) == QWQ_OK && fv == 1e6f);
    CHECK(gguf_get_f32(f, "qwen2.attention.layer_norm_rms_epsilon", &fv) == QWQ_OK && fv == 1e-5f);
    CHECK(gguf_find_kv(f, "qwen2.attention.key_length") == NULL); /* 8 x 32 = 256: implied */
    CHECK(gguf_get_str(f, "tokenizer.ggml.model", &s) == QWQ_OK && s.len == 4 && memcmp(s.ptr, "gpt2", 4) == 0);
    CHECK(gguf_get_str(f, "tokenizer.ggml.pre", &s) == QWQ_OK && s.len == 5 && memcmp(s.ptr, "qwen2", 5) == 0);
    CHECK(gguf_get_str(f, "tokenizer.chat_template", &s) == QWQ_OK && s.len > 50);
    bool add_bos = true;
    CHECK(gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &add_bos) == QWQ_OK && !add_bos);
    const gguf_kv *tok = NULL, *tt = NULL, *mg = NULL;
    CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tok) == QWQ_OK);
    CHECK(gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &tt) == QWQ_OK);
    CHECK(gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &mg) == QWQ_OK);
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (tok && tt && mg && emb) {
        uint64_t nv = tok->arr_len;
        CHECK(nv == emb->ne[1] && tt->arr_len == nv);
        CHECK(mg->arr_len >= 300);
        uint32_t eos = meta_u32(f, "tokenizer.ggml.eos_token_id"), bos = meta_u32(f, "tokenizer.ggml.bos_token_id");
        CHECK(meta_u32(f, "tokenizer.ggml.padding_token_id") == bos);
        if (eos < nv && bos < nv) {
            gguf_str e = gguf_arr_str(tok, eos), b = gguf_arr_str(tok, bos);
            CHECK(e.len == 10 && memcmp(e.ptr, "<|im_end|>", 10) == 0 && gguf_arr_i32(tt, eos) == 3);
            CHECK(b.len == 13 && memcmp(b.ptr, "<|endoftext|>", 13) == 0 && gguf_arr_i32(tt, bos) == 3);
        }
        /* byte tokens first: id 0 is '!', id 220 is 'Ġ' (the space byte) */
        gguf_str t0 = gguf_arr_str(tok, 0), t220 = gguf_arr_str(tok, 220);
        CHECK(t0.len == 1 && t0.ptr[0] == '!');
        CHECK(t220.len == 2 && memcmp(t220.ptr, "\xc4\xa0", 2) == 0);
        int n_think = 0, n_pad = 0, n_user = 0, n_control = 0, n_other = 0;
        for (uint64_t i = 0; i < nv; i++) {
            gguf_str x = gguf_arr_str(tok, i);
            int32_t ty = gguf_arr_i32(tt, i);
            if (x.len == 7 && memcmp(x.ptr, "<think>", 7) == 0) n_think += ty == 4;
            if (x.len > 4 && memcmp(x.ptr, "[PAD", 4) == 0) n_pad += ty == 5;
            n_user += ty == 4;
            n_control += ty == 3;
            n_other += ty != 1 && ty != 3 && ty != 4 && ty != 5;
        }
        CHECK(n_think == 1 && n_user == 6 && n_control == 20 && n_other == 0);
        CHECK(n_pad > 0 && (uint64_t)n_pad < nv - 256 - 26);
        /* every merge "A B" names two tokens whose concatenation is a token */
        int bad = 0;
        for (uint64_t i = 0; i < mg->arr_len && i < 2000; i++) {
            gguf_str m = gguf_arr_str(mg, i);
            const char *sp = memchr(m.ptr, ' ', (size_t)m.len);
            if (!sp) { bad++; continue; }
            size_t la = (size_t)(sp - m.ptr), lb = (size_t)m.len - la - 1;
            char joined[128];
            if (la + lb >= sizeof joined) { bad++; continue; }
            memcpy(joined, m.ptr, la);
            memcpy(joined + la, sp + 1, lb);
            int found = 0;
            for (uint64_t k = 256; k < nv && !found; k++) {
                gguf_str x = gguf_arr_str(tok, k);
                found = x.len == la + lb && memcmp(x.ptr, joined, la + lb) == 0;
            }
            bad += !found;
        }
        CHECKF(bad == 0, "%d merges do not produce a token", bad);
    }
    /* tensors: 3 + 4 layers x 12 (qwen2: biases, no q/k norms) */
    CHECK(f->n_tensors == 3 + 4 * 12);
    uint64_t V = emb ? emb->ne[1] : 0;
    check_shape(f, "token_embd.weight", 256, V, QTYPE_Q8_0);
    check_shape(f, "output.weight", 256, V, QTYPE_Q8_0);
    check_shape(f, "output_norm.weight", 256, 0, QTYPE_F32);
    for (int i = 0; i < 4; i++) {
        char nm[64];
#define SH(suffix, a, b, t) (snprintf(nm, sizeof nm, "blk.%d.%s", i, suffix), check_shape(f, nm, a, b, t))
        SH("attn_norm.weight", 256, 0, QTYPE_F32);
        SH("attn_q.weight", 256, 256, QTYPE_Q8_0);
        SH("attn_q.bias", 256, 0, QTYPE_F32);
        SH("attn_k.weight", 256, 64, QTYPE_Q8_0);
        SH("attn_k.bias", 64, 0, QTYPE_F32);
        SH("attn_v.weight", 256, 64, QTYPE_Q8_0);
        SH("attn_v.bias", 64, 0, QTYPE_F32);
        SH("attn_output.weight", 256, 256, QTYPE_Q8_0);
        SH("ffn_norm.weight", 256, 0, QTYPE_F32);
        SH("ffn_gate.weight", 256, 768, QTYPE_Q8_0);
        SH("ffn_up.weight", 256, 768, QTYPE_Q8_0);
        SH("ffn_down.weight", 768, 256, QTYPE_Q8_0);
#undef SH
    }
    CHECK(f->alignment == 32 && f->data_offset % 32 == 0);
    for (uint64_t i = 0; i < f->n_tensors; i++) CHECK(f->tensors[i].offset % 32 == 0);
    check_stats(f, 0.02);
    gguf_close(f);
    unlink(out);
}

/* Every weight type: loads, dequantises to finite values of the intended
 * magnitude; the quantized types put output.weight in Q6_K. */
static void test_gen_all_types(void) {
    if (!gen_available()) return;
    static const struct { const char *name; uint32_t type, out; } types[] = {
        {"f32", QTYPE_F32, QTYPE_F32},   {"f16", QTYPE_F16, QTYPE_F16},   {"bf16", QTYPE_BF16, QTYPE_BF16},
        {"q8_0", QTYPE_Q8_0, QTYPE_Q8_0}, {"q4_0", QTYPE_Q4_0, QTYPE_Q6_K}, {"q4_1", QTYPE_Q4_1, QTYPE_Q6_K},
        {"q5_0", QTYPE_Q5_0, QTYPE_Q6_K}, {"q5_1", QTYPE_Q5_1, QTYPE_Q6_K}, {"q2_K", QTYPE_Q2_K, QTYPE_Q6_K},
        {"q3_K", QTYPE_Q3_K, QTYPE_Q6_K}, {"q4_K", QTYPE_Q4_K, QTYPE_Q6_K}, {"q5_K", QTYPE_Q5_K, QTYPE_Q6_K},
        {"q6_K", QTYPE_Q6_K, QTYPE_Q6_K},
    };
    char out[1200], args[256];
    snprintf(out, sizeof out, "%s-type.gguf", g_tmp);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        snprintf(args, sizeof args, "--preset tiny --layers 2 --vocab 512 --sigma 0.03 --type %s", types[k].name);
        int rc = run_gen(args, out);
        CHECKF(rc == 0, "qwq-gen %s: exit %d", args, rc);
        if (rc != 0) continue;
        gguf_file *f = NULL;
        if (gguf_open(out, &f) != QWQ_OK) {
            test_fail_at(__FILE__, __LINE__, "%s: %s", types[k].name, err_message());
            continue;
        }
        check_shape(f, "token_embd.weight", 256, 512, types[k].type);
        check_shape(f, "output.weight", 256, 512, types[k].out);
        check_shape(f, "blk.1.ffn_down.weight", 768, 256, types[k].type);
        check_shape(f, "blk.1.attn_v.bias", 64, 0, QTYPE_F32);
        check_stats(f, 0.03);
        gguf_close(f);
    }
    snprintf(args, sizeof args, "--preset tiny --layers 2 --vocab 512 --pure --type q4_0");
    if (run_gen(args, out) == 0) {
        gguf_file *f = NULL;
        if (gguf_open(out, &f) == QWQ_OK) {
            check_shape(f, "output.weight", 256, 512, QTYPE_Q4_0);
            gguf_close(f);
        }
    } else {
        CHECK(!"qwq-gen --pure failed");
    }
    unlink(out);
}

/* llama.cpp's q4_K_M choices: Q6_K for output.weight and for attn_v /
 * ffn_down of layers i < n/8, i >= 7n/8 and (i - n/8) % 3 == 2; rows that
 * are not whole 256-blocks fall back to 32-block types. */
static void test_gen_q4_K_M_mix(void) {
    if (!gen_available()) return;
    char out[1200];
    snprintf(out, sizeof out, "%s-mix.gguf", g_tmp);
    REQUIRE(run_gen("--preset qwq-32b --layers 16 --hidden 384 --heads 3 --kv-heads 1 --head-dim 128 --ffn 512 "
                    "--vocab 600 --type q4_K_M",
                    out) == 0);
    gguf_file *f = NULL;
    REQUIRE(gguf_open(out, &f) == QWQ_OK);
    CHECK(meta_u32(f, "general.file_type") == 15);
    CHECK(meta_u32(f, "qwen2.block_count") == 16);
    CHECK(gguf_find_kv(f, "qwen2.attention.key_length") == NULL); /* 3 x 128 = 384: implied */
    /* hidden 384 is not a multiple of 256: q4_K -> q5_0, q6_K -> q8_0 on rows of 384 */
    check_shape(f, "output.weight", 384, 600, QTYPE_Q8_0);
    check_shape(f, "token_embd.weight", 384, 600, QTYPE_Q5_0);
    static const int more[16] = {1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1}; /* n = 16 */
    for (int i = 0; i < 16; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "blk.%d.attn_v.weight", i);
        check_shape(f, nm, 384, 128, more[i] ? QTYPE_Q8_0 : QTYPE_Q5_0);
        snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", i);
        check_shape(f, nm, 512, 384, more[i] ? QTYPE_Q6_K : QTYPE_Q4_K);
        snprintf(nm, sizeof nm, "blk.%d.attn_output.weight", i);
        check_shape(f, nm, 384, 384, QTYPE_Q5_0);
    }
    gguf_close(f);

    /* the QwQ-32B shape with 8 layers: layers 0, 3, 6, 7 get Q6_K */
    REQUIRE(run_gen("--preset qwq-32b --layers 8 --hidden 512 --heads 4 --kv-heads 1 --ffn 1024 --vocab 600 "
                    "--type q5_K_M",
                    out) == 0);
    REQUIRE(gguf_open(out, &f) == QWQ_OK);
    CHECK(meta_u32(f, "general.file_type") == 17);
    check_shape(f, "output.weight", 512, 600, QTYPE_Q6_K);
    check_shape(f, "token_embd.weight", 512, 600, QTYPE_Q5_K);
    for (int i = 0; i < 8; i++) {
        bool m = i == 0 || i == 3 || i == 6 || i == 7;
        char nm[64];
        snprintf(nm, sizeof nm, "blk.%d.attn_v.weight", i);
        check_shape(f, nm, 512, 128, m ? QTYPE_Q6_K : QTYPE_Q5_K);
        snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", i);
        check_shape(f, nm, 1024, 512, m ? QTYPE_Q6_K : QTYPE_Q5_K);
        snprintf(nm, sizeof nm, "blk.%d.ffn_up.weight", i);
        check_shape(f, nm, 512, 1024, QTYPE_Q5_K);
    }
    gguf_close(f);
    unlink(out);
}

static void test_gen_qwen3_tied(void) {
    if (!gen_available()) return;
    char out[1200];
    snprintf(out, sizeof out, "%s-q3.gguf", g_tmp);
    REQUIRE(run_gen("--preset qwen3-32b --layers 2 --hidden 256 --heads 4 --kv-heads 2 --head-dim 128 --ffn 512 "
                    "--vocab 700 --tied --type q4_K --ctx 8192",
                    out) == 0);
    gguf_file *f = NULL;
    REQUIRE(gguf_open(out, &f) == QWQ_OK);
    gguf_str s;
    CHECK(gguf_get_str(f, "general.architecture", &s) == QWQ_OK && s.len == 5 && memcmp(s.ptr, "qwen3", 5) == 0);
    CHECK(meta_u32(f, "qwen3.attention.key_length") == 128);
    CHECK(meta_u32(f, "qwen3.attention.value_length") == 128);
    CHECK(meta_u32(f, "qwen3.attention.head_count") == 4);
    CHECK(meta_u32(f, "qwen3.context_length") == 8192);
    float eps = 0;
    CHECK(gguf_get_f32(f, "qwen3.attention.layer_norm_rms_epsilon", &eps) == QWQ_OK && eps == 1e-6f);
    CHECK(gguf_find_tensor(f, "output.weight") == NULL);
    CHECK(gguf_find_tensor(f, "blk.0.attn_q.bias") == NULL);
    check_shape(f, "token_embd.weight", 256, 700, QTYPE_Q6_K); /* tied: the output rule */
    check_shape(f, "blk.1.attn_q.weight", 256, 512, QTYPE_Q4_K);
    check_shape(f, "blk.1.attn_k.weight", 256, 256, QTYPE_Q4_K);
    check_shape(f, "blk.1.attn_output.weight", 512, 256, QTYPE_Q4_K);
    check_shape(f, "blk.1.attn_q_norm.weight", 128, 0, QTYPE_F32);
    check_shape(f, "blk.1.attn_k_norm.weight", 128, 0, QTYPE_F32);
    CHECK(f->n_tensors == 2 + 2 * 11);
    check_stats(f, 0.02);
    gguf_close(f);
    unlink(out);
}

static void test_gen_deterministic_and_v2(void) {
    if (!gen_available()) return;
    char a[1200], b[1200];
    snprintf(a, sizeof a, "%s-da.gguf", g_tmp);
    snprintf(b, sizeof b, "%s-db.gguf", g_tmp);
    REQUIRE(run_gen("--preset tiny --type q4_K_M --seed 7", a) == 0);
    REQUIRE(run_gen("--preset tiny --type q4_K_M --seed 7", b) == 0);
    size_t la, lb;
    unsigned char *x = test_read_file(a, &la), *y = test_read_file(b, &lb);
    CHECK(x && y && la == lb && memcmp(x, y, la) == 0);
    free(y);
    REQUIRE(run_gen("--preset tiny --type q4_K_M --seed 8 --gguf-version 2", b) == 0);
    y = test_read_file(b, &lb);
    CHECK(x && y && la == lb && memcmp(x, y, la) != 0);
    CHECK(y && lb > 8 && y[4] == 2);
    gguf_file *f = NULL;
    CHECK(gguf_open(b, &f) == QWQ_OK && f->version == 2);
    gguf_close(f);
    free(x);
    free(y);
    unlink(a);
    unlink(b);
}

static void test_gen_bad_arguments(void) {
    if (!gen_available()) return;
    char out[1200];
    snprintf(out, sizeof out, "%s-bad.gguf", g_tmp);
    CHECK(run_gen("--preset nonesuch", out) == 2);
    CHECK(run_gen("--type q7_K", out) == 2);
    CHECK(run_gen("--layers 0", out) == 2);
    CHECK(run_gen("--heads 5 --kv-heads 2", out) == 2);
    CHECK(run_gen("--vocab 100", out) == 2); /* smaller than the synthetic vocabulary */
    CHECK(run_gen("--hidden 100 --heads 4 --head-dim 32", out) != 0); /* rows not whole q8_0 blocks */
    struct stat st;
    CHECK(stat(out, &st) != 0);
}

/* --vocab-from copies the tokenizer of a reference model, padding rows. */
static void test_gen_vocab_from(void) {
    if (!gen_available()) return;
    char ref[1024];
    if (!testdata_path(ref, sizeof ref, "models/qwen2-tiny-f16.gguf")) return;
    char out[1200], args[1400];
    snprintf(out, sizeof out, "%s-vf.gguf", g_tmp);
    snprintf(args, sizeof args, "--preset tiny --layers 1 --vocab 3100 --vocab-from '%s'", ref);
    REQUIRE(run_gen(args, out) == 0);
    gguf_file *src = NULL, *f = NULL;
    REQUIRE(gguf_open(ref, &src) == QWQ_OK);
    qwq_status st = gguf_open(out, &f);
    CHECKF(st == QWQ_OK, "%s", err_message());
    if (st == QWQ_OK) {
        const gguf_kv *tok = gguf_find_kv(f, "tokenizer.ggml.tokens"), *tt = gguf_find_kv(f, "tokenizer.ggml.token_type");
        const gguf_kv *stok = gguf_find_kv(src, "tokenizer.ggml.tokens");
        CHECK(tok && tt && stok && tok->arr_len == 3100 && tt->arr_len == 3100 && stok->arr_len == 3072);
        if (tok && tt && stok && tok->arr_len == 3100) {
            gguf_str last = gguf_arr_str(tok, 3099), s3000 = gguf_arr_str(tok, 3000), r3000 = gguf_arr_str(stok, 3000);
            CHECK(last.len == 9 && memcmp(last.ptr, "[PAD3099]", 9) == 0 && gguf_arr_i32(tt, 3099) == 5);
            CHECK(s3000.len == r3000.len && memcmp(s3000.ptr, r3000.ptr, s3000.len) == 0);
        }
        check_shape(f, "token_embd.weight", 256, 3100, QTYPE_Q8_0);
        /* every other tokenizer key is copied unchanged */
        int n_copied = 0;
        for (uint64_t i = 0; i < src->n_kv; i++) {
            const gguf_kv *a = &src->kv[i];
            if (strncmp(a->key, "tokenizer.", 10) != 0) continue;
            const gguf_kv *b = gguf_find_kv(f, a->key);
            CHECKF(b != NULL, "%s not copied", a->key);
            if (!b || !strcmp(a->key, "tokenizer.ggml.tokens") || !strcmp(a->key, "tokenizer.ggml.token_type")) continue;
            CHECK(b->type == a->type && b->arr_len == a->arr_len);
            if (a->type == GGUF_TYPE_STRING)
                CHECK(rd_u64(a->data) == rd_u64(b->data) && memcmp(a->data, b->data, 8 + rd_u64(a->data)) == 0);
            n_copied++;
        }
        CHECK(n_copied >= 8);
        gguf_close(f);
    }
    /* a vocabulary larger than the preset's rows raises the rows */
    snprintf(args, sizeof args, "--preset tiny --layers 1 --vocab-from '%s'", ref);
    REQUIRE(run_gen(args, out) == 0);
    if (gguf_open(out, &f) == QWQ_OK) {
        check_shape(f, "token_embd.weight", 256, 3072, QTYPE_Q8_0);
        gguf_close(f);
    }
    gguf_close(src);
    unlink(out);
}

/* The generated model runs through the public API: load, tokenize text
 * into multi-byte tokens, special tokens, one evaluation. */
static void test_gen_loads_with_libqwq(void) {
    if (!gen_available()) return;
    char out[1200];
    snprintf(out, sizeof out, "%s-api.gguf", g_tmp);
    REQUIRE(run_gen("--preset tiny --type q8_0", out) == 0);
    qwq_model *m = NULL;
    qwq_status st = qwq_load(out, NULL, &m);
    CHECKF(st == QWQ_OK, "qwq_load: %s", qwq_last_error());
    if (st == QWQ_OK) {
        CHECK(qwq_model_n_vocab(m) == 1152 && qwq_model_n_layer(m) == 4);
        qwq_token eos = -1, think = -1;
        CHECK(qwq_model_token_id(m, "<|im_end|>", 10, &eos) == QWQ_OK && eos == qwq_model_eos(m));
        CHECK(qwq_model_token_id(m, "<think>", 7, &think) == QWQ_OK);
        const char *text = "Why is the sky blue?";
        qwq_token toks[64];
        size_t n = 0;
        CHECK(qwq_tokenize(m, text, strlen(text), 0, toks, 64, &n) == QWQ_OK);
        CHECKF(n > 0 && n <= 7, "'%s' -> %zu tokens", text, n);
        char back[128];
        size_t nb = 0;
        CHECK(qwq_detokenize(m, toks, n, 0, back, sizeof back, &nb) == QWQ_OK && nb == strlen(text) &&
              memcmp(back, text, nb) == 0);
        const char *chat = "<|im_start|>user\nhello<|im_end|>";
        CHECK(qwq_tokenize(m, chat, strlen(chat), QWQ_TOKENIZE_SPECIAL, toks, 64, &n) == QWQ_OK && n >= 4 &&
              toks[n - 1] == eos);
        qwq_session *s = NULL;
        if (qwq_session_new(m, NULL, &s) == QWQ_OK) {
            CHECKF(qwq_session_eval(s, toks, n, 0) == QWQ_OK, "%s", qwq_last_error());
            const float *lg = qwq_session_logits(s, -1);
            if (lg) {
                int bad = 0;
                double mx = 0;
                for (int i = 0; i < qwq_model_n_vocab(m); i++) {
                    bad += !isfinite(lg[i]);
                    if (fabs(lg[i]) > mx) mx = fabs(lg[i]);
                }
                CHECK(bad == 0 && mx > 0.01 && mx < 100);
            } else {
                CHECK(!"no logits");
            }
            qwq_session_free(s);
        } else {
            CHECKF(0, "qwq_session_new: %s", qwq_last_error());
        }
        qwq_model_free(m);
    }
    unlink(out);
}

int main(int argc, char **argv) {
    /* BUILD/tests/test_gguf_write -> BUILD */
    snprintf(g_build, sizeof g_build, "%s", argc > 0 ? argv[0] : "build/tests/x");
    char *slash = strrchr(g_build, '/');
    if (slash) *slash = 0;
    else snprintf(g_build, sizeof g_build, ".");
    size_t bl = strlen(g_build);
    if (bl < sizeof g_build - 4) snprintf(g_build + bl, sizeof g_build - bl, "/..");
    snprintf(g_tmp, sizeof g_tmp, "%s/tests/tmp-gguf-write-%ld", g_build, (long)getpid());

    RUN(test_kv_roundtrip);
    RUN(test_version2);
    RUN(test_tensors_default_alignment);
    RUN(test_tensors_alignment_64_small_buffer);
    RUN(test_tensors_alignment_1);
    RUN(test_tensors_alignment_4096);
    RUN(test_alignment_after_tensors);
    RUN(test_checked_rejections);
    RUN(test_raw_duplicates);
    RUN(test_raw_patches);
    RUN(test_outputs_agree);
    RUN(test_gen_tiny);
    RUN(test_gen_all_types);
    RUN(test_gen_q4_K_M_mix);
    RUN(test_gen_qwen3_tied);
    RUN(test_gen_deterministic_and_v2);
    RUN(test_gen_bad_arguments);
    RUN(test_gen_vocab_from);
    RUN(test_gen_loads_with_libqwq);
    return test_summary();
}
