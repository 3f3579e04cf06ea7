/*
 * The default thread count (threads/pool.h, pool_threads_for) on made-up
 * sysfs and cgroup trees: hardware threads of a core counted once, only
 * the CPUs the process may use, the tightest CPU quota along the cgroup
 * path, and missing or malformed files ignored. Also the real machine's
 * default: at least 1, at most the online CPUs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "threads/pool.h"

static char root[256];

/* mkdir -p of root/rel */
static void make_dirs(const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        REQUIRE(mkdir(path, 0700) == 0 || errno == EEXIST);
        *p = '/';
    }
    REQUIRE(mkdir(path, 0700) == 0 || errno == EEXIST);
}

/* root/rel holds text (its directory made first) */
static void put(const char *rel, const char *text) {
    char dir[1024], path[1024];
    snprintf(dir, sizeof dir, "%s", rel);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        make_dirs(dir);
    }
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    unlink(path);
}

static int count(const unsigned char *allowed, int n, const char *cg_path) {
    char sys[512], cg[512];
    snprintf(sys, sizeof sys, "%s/sys", root);
    snprintf(cg, sizeof cg, "%s/cgroup", root);
    return pool_threads_for(allowed, n, sys, cg_path ? cg : NULL, cg_path);
}

/* 8 CPUs, 4 cores with two hardware threads each: CPU i and i + 4 */
static void smt_tree(void) {
    for (int c = 0; c < 8; c++) {
        char rel[128], list[32];
        snprintf(rel, sizeof rel, "sys/cpu%d/topology/core_cpus_list", c);
        snprintf(list, sizeof list, "%d,%d\n", c % 4, c % 4 + 4);
        put(rel, list);
    }
}

static void test_hardware_threads_count_once(void) {
    smt_tree();
    unsigned char all[8] = {1, 1, 1, 1, 1, 1, 1, 1}, firsts[8] = {1, 1, 1, 1, 0, 0, 0, 0};
    unsigned char pair[8] = {1, 0, 0, 0, 1, 0, 0, 0}, spread[8] = {0, 1, 0, 1, 0, 1, 1, 0};
    CHECK(count(all, 8, NULL) == 4);
    CHECK(count(firsts, 8, NULL) == 4);
    CHECK(count(pair, 8, NULL) == 1); /* both threads of core 0 */
    CHECK(count(spread, 8, NULL) == 3); /* cores 1, 3 and 2 */
    /* the older name, and ranges */
    for (int c = 0; c < 8; c++) {
        char rel[128], list[32];
        snprintf(rel, sizeof rel, "sys/cpu%d/topology/core_cpus_list", c);
        remove_file(rel);
        snprintf(rel, sizeof rel, "sys/cpu%d/topology/thread_siblings_list", c);
        snprintf(list, sizeof list, "%d-%d\n", c / 2 * 2, c / 2 * 2 + 1);
        put(rel, list);
    }
    CHECK(count(all, 8, NULL) == 4);
    CHECK(count(firsts, 8, NULL) == 2);
}

static void test_missing_or_malformed_topology(void) {
    unsigned char all[6] = {1, 1, 1, 1, 1, 1};
    /* no sysfs at all: every CPU its own core */
    CHECK(count(all, 6, NULL) == 6);
    static const char *const bad[] = {"", "x", "3-1", "-1", "0,", "99999999", "0-2,a", "5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        put("sys/cpu1/topology/core_cpus_list", bad[i]);
        /* CPU 1's file is unusable ("5" does not name CPU 1 or a lower
         * sibling): it counts as its own core */
        CHECKF(count(all, 6, NULL) == 6, "core_cpus_list \"%s\"", bad[i]);
    }
    put("sys/cpu1/topology/core_cpus_list", "0-1");
    CHECK(count(all, 6, NULL) == 5);
    unsigned char none[6] = {0};
    CHECK(count(none, 6, NULL) == 1); /* never 0 */
}

static void test_cgroup_quota(void) {
    smt_tree();
    unsigned char all[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    make_dirs("cgroup/a/b");
    CHECK(count(all, 8, "/a/b") == 4); /* no cpu.max anywhere */
    put("cgroup/a/b/cpu.max", "max 100000\n");
    CHECK(count(all, 8, "/a/b") == 4);
    put("cgroup/a/b/cpu.max", "150000 100000\n"); /* 1.5 CPUs: 2 threads */
    CHECK(count(all, 8, "/a/b") == 2);
    put("cgroup/a/cpu.max", "100000 100000\n"); /* the parent is tighter */
    CHECK(count(all, 8, "/a/b") == 1);
    CHECK(count(all, 8, "/a") == 1);
    put("cgroup/a/cpu.max", "max 100000\n");
    put("cgroup/a/b/cpu.max", "900000 100000\n"); /* more than the cores */
    CHECK(count(all, 8, "/a/b") == 4);
    put("cgroup/cpu.max", "300000 100000\n"); /* the root counts too */
    CHECK(count(all, 8, "/a/b") == 3);
    remove_file("cgroup/cpu.max");
    static const char *const bad[] = {"", "garbage", "0 100000", "-5 100000", "100000 0", "100000", "1 2 3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        put("cgroup/a/b/cpu.max", bad[i]);
        CHECKF(count(all, 8, "/a/b") == 4, "cpu.max \"%s\"", bad[i]);
    }
    CHECK(count(all, 8, "/not/there") == 4);
    /* cgroup v1: quota over period, -1 for none */
    remove_file("cgroup/a/b/cpu.max");
    put("cgroup/a/b/cpu.cfs_quota_us", "-1\n");
    put("cgroup/a/b/cpu.cfs_period_us", "100000\n");
    CHECK(count(all, 8, "/a/b") == 4);
    put("cgroup/a/b/cpu.cfs_quota_us", "250000\n");
    CHECK(count(all, 8, "/a/b") == 3);
    put("cgroup/a/b/cpu.cfs_period_us", "x\n");
    CHECK(count(all, 8, "/a/b") == 4);
}

static void test_this_machine(void) {
    const int n = pool_default_threads();
    CHECKF(n >= 1 && n <= pool_online_cpus(), "default %d threads, %d online CPUs", n, pool_online_cpus());
    thread_pool *pool = NULL;
    REQUIRE(pool_new(0, &pool) == QWQ_OK);
    CHECK(pool_size(pool) == n);
    pool_free(pool);
}

int main(void) {
    snprintf(root, sizeof root, "%s/qwq-test-threads-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_hardware_threads_count_once);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/sys'", root); /* a fresh tree */
    if (system(cmd) != 0) return 1;
    RUN(test_missing_or_malformed_topology);
    RUN(test_cgroup_quota);
    RUN(test_this_machine);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    (void)system(cmd);
    return test_summary();
}
