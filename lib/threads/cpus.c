/*
 * cpus - how many threads a session gets when it asks for 0 (pool.h).
 *
 * The count of online CPUs is the wrong default in the places a library is
 * embedded: in a container limited to 2 CPUs of a 64-CPU host (a cpuset, or
 * a CPU quota) it starts 64 workers that wait for each other at every
 * barrier, and on a CPU with two hardware threads per core the second
 * thread of each core shares the core's vector units, which decode and
 * prefill already keep busy. So the default is one thread per physical
 * core among the CPUs the process may run on, at most its cgroup's CPU
 * quota. Hybrid CPUs keep their small cores: the matrix products and
 * attention hand out work dynamically, so a slower core takes less of it.
 *
 * Everything read here is optional and treated as untrusted text: a file
 * that is missing or malformed leaves its part out (each CPU its own core;
 * no quota), never fails the session.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "threads/pool.h"

enum { MAX_CPU_ID = 1 << 16 }; /* larger ids in a list are taken as malformed */

/* The first line of a small text file into buf; 0 when it cannot be read. */
static int read_line(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    const int ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    if (ok) buf[strcspn(buf, "\n")] = 0;
    return ok;
}

/* The smallest CPU id in a sysfs CPU list ("0-3,8,10-11"), -1 if malformed. */
static int list_min(const char *s) {
    int min = -1;
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (end == s || a < 0 || a >= MAX_CPU_ID) return -1;
        s = end;
        if (*s == '-') {
            b = strtol(s + 1, &end, 10);
            if (end == s + 1 || b < a || b >= MAX_CPU_ID) return -1;
            s = end;
        }
        if (min < 0 || a < min) min = (int)a;
        if (*s == ',') {
            if (!*++s) return -1; /* a list does not end in a comma */
        } else if (*s) {
            return -1;
        }
    }
    return min;
}

/* The core of CPU cpu: the smallest id among its hardware threads, from
 * sysfs (core_cpus_list, or thread_siblings_list before Linux 5.7); the CPU
 * itself when neither says. */
static int core_of(const char *sys_cpu, int cpu) {
    static const char *const names[] = {"core_cpus_list", "thread_siblings_list"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[4096], line[1024];
        if (snprintf(path, sizeof path, "%s/cpu%d/topology/%s", sys_cpu, cpu, names[i]) >= (int)sizeof path) break;
        if (!read_line(path, line, sizeof line)) continue;
        const int m = list_min(line);
        if (m >= 0 && m <= cpu) return m; /* a list without the CPU itself is not its siblings */
    }
    return cpu;
}

/* read_line of the file dir/name */
static int read_line_at(const char *dir, const char *name, char *buf, size_t size) {
    char path[4096];
    return snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path && read_line(path, buf, size);
}

/* A whole number from the first line of dir/name; 0 when unreadable. */
static int read_number(const char *dir, const char *name, long long *v) {
    char line[256], *end;
    if (!read_line_at(dir, name, line, sizeof line)) return 0;
    *v = strtoll(line, &end, 10);
    return end != line && *end == 0;
}

/* CPUs' worth of a cgroup directory's CPU quota, rounded up; 0 for none or
 * a malformed file. cgroup v2: cpu.max ("max 100000" or "150000 100000");
 * v1: cpu.cfs_quota_us (-1 for none) over cpu.cfs_period_us. */
static int quota_cpus(const char *dir) {
    char line[256];
    long long quota = 0, period = 0;
    if (read_line_at(dir, "cpu.max", line, sizeof line)) {
        char extra;
        if (sscanf(line, "%lld %lld %c", &quota, &period, &extra) != 2) return 0; /* "max 100000" too */
    } else if (!read_number(dir, "cpu.cfs_quota_us", &quota) || !read_number(dir, "cpu.cfs_period_us", &period)) {
        return 0;
    }
    if (quota <= 0 || period <= 0) return 0;
    const long long n = quota / period + (quota % period != 0);
    return n > 1024 ? 1024 : (int)n;
}

/* The tightest quota from the cgroup directory root/path up to root. */
static int cgroup_limit(const char *root, const char *path) {
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s%s%s", root, path[0] == '/' ? "" : "/", path) >= (int)sizeof dir) return 0;
    const size_t root_len = strlen(root);
    int limit = 0;
    for (;;) {
        const int n = quota_cpus(dir);
        if (n > 0 && (limit == 0 || n < limit)) limit = n;
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < root_len) break; /* root itself was the last */
        *slash = 0;
    }
    return limit;
}

int pool_threads_for(const unsigned char *allowed, int n_cpus, const char *sys_cpu, const char *cgroup_root,
                     const char *cgroup_path) {
    /* seen[core]: core_of(c) <= c, so n_cpus entries; without them every CPU counts */
    unsigned char *seen = calloc((size_t)n_cpus > 0 ? (size_t)n_cpus : 1, 1);
    int cores = 0;
    for (int c = 0; c < n_cpus; c++) {
        if (!allowed[c]) continue;
        if (seen) {
            const int core = core_of(sys_cpu, c);
            if (seen[core]) continue;
            seen[core] = 1;
        }
        cores++;
    }
    free(seen);
    if (cores == 0) cores = 1; /* no CPU allowed at all */
    const int limit = cgroup_root && cgroup_path ? cgroup_limit(cgroup_root, cgroup_path) : 0;
    if (limit > 0 && limit < cores) cores = limit;
    return cores > 1024 ? 1024 : cores;
}

/* Whether a comma-separated list of cgroup v1 controllers has "cpu". */
static int has_cpu_controller(const char *list, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && list[j] != ',') j++;
        if (j - i == 3 && memcmp(list + i, "cpu", 3) == 0) return 1;
        i = j + 1;
    }
    return 0;
}

/* This process's cgroup with the CPU controller, from /proc/self/cgroup
 * ("hierarchy:controllers:path" lines): a cgroup v1 hierarchy with "cpu"
 * among its controllers (mounted at /sys/fs/cgroup/cpu), else the v2
 * hierarchy ("0::path", at /sys/fs/cgroup). */
static int own_cgroup(const char **root, char *path, size_t size) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return 0;
    char line[4096];
    int v1 = 0, v2 = 0;
    while (!v1 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        if (c2 == c1 + 1 && strncmp(line, "0:", 2) == 0) { /* v2; a v1 cpu line still wins */
            v2 = snprintf(path, size, "%s", c2 + 1) < (int)size;
        } else if (has_cpu_controller(c1 + 1, (size_t)(c2 - c1 - 1))) {
            v1 = snprintf(path, size, "%s", c2 + 1) < (int)size;
        }
    }
    fclose(f);
    *root = v1 ? "/sys/fs/cgroup/cpu" : "/sys/fs/cgroup";
    return v1 || v2;
}

int pool_default_threads(void) {
    long conf = sysconf(_SC_NPROCESSORS_CONF);
    const int n_cpus = conf < 1 ? 1 : conf > 4096 ? 4096 : (int)conf;
    unsigned char *allowed = calloc((size_t)n_cpus, 1);
    cpu_set_t *set = CPU_ALLOC((size_t)n_cpus);
    const size_t set_size = CPU_ALLOC_SIZE((size_t)n_cpus);
    int n = 0;
    if (allowed && set && sched_getaffinity(0, set_size, set) == 0) {
        for (int c = 0; c < n_cpus; c++) allowed[c] = CPU_ISSET_S((size_t)c, set_size, set) != 0;
        char cg[2048];
        const char *cg_root = NULL;
        const int have_cg = own_cgroup(&cg_root, cg, sizeof cg);
        n = pool_threads_for(allowed, n_cpus, "/sys/devices/system/cpu", have_cg ? cg_root : NULL,
                             have_cg ? cg : NULL);
    }
    if (set) CPU_FREE(set);
    free(allowed);
    return n > 0 ? n : pool_online_cpus();
}
