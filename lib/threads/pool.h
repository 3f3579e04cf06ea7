/*
 * pool - a session's worker threads.
 *
 * Invariants
 *  - A pool of n threads runs a job on all n at once: the calling thread is
 *    worker 0, n - 1 pthreads are the others. pool_run returns when every
 *    worker has finished the job, so jobs never overlap.
 *  - Idle workers spin briefly (a job usually follows within microseconds
 *    during a forward pass), then sleep on a condition variable: an idle
 *    session costs no CPU.
 *  - A pool belongs to one session and is driven by one thread at a time.
 *    There is no global pool. Built with OPENMP=1, jobs run in an OpenMP
 *    parallel region of n threads instead, with the same worker indexes.
 *  - Results never depend on scheduling: a job splits work by (index,
 *    n_workers), or hands it out dynamically (an atomic counter) only when
 *    every item is computed the same way whoever takes it (the matrix
 *    products: kernels.h), so a thread that finishes early can help.
 */
#ifndef QWQ_POOL_H
#define QWQ_POOL_H

#include "qwq.h"

typedef struct thread_pool thread_pool;

/* fn is called once on each worker with its index in [0, n_workers). */
typedef void (*pool_job)(void *ctx, int worker, int n_workers);

/* n_threads <= 0 means pool_default_threads(). */
qwq_status pool_new(int n_threads, thread_pool **out);
void pool_free(thread_pool *pool); /* NULL is a no-op; joins the workers */
int pool_size(const thread_pool *pool);
void pool_run(thread_pool *pool, pool_job fn, void *ctx);

/* The half-open range [*begin, *end) of n items that worker w of nw owns. */
static inline void pool_split(long n, int w, int nw, long *begin, long *end) {
    *begin = n * w / nw;
    *end = n * (w + 1) / nw;
}

int pool_online_cpus(void);

/* The default thread count (cpus.c): one per physical core among the CPUs
 * this process may run on (sched_getaffinity; hardware threads of a core,
 * from sysfs topology, count once), at most its cgroup's CPU quota (v2
 * cpu.max or v1 cpu.cfs_quota_us / cpu.cfs_period_us, of its cgroup and
 * every parent, rounded up), at least 1. Falls
 * back to the online CPUs when the affinity cannot be read. Reads sysfs and
 * procfs on every call. */
int pool_default_threads(void);

/* What pool_default_threads computes, from the given places (tests use a
 * made-up tree): CPU i may be used when allowed[i] != 0 (n_cpus entries);
 * sys_cpu is the sysfs CPU directory (cpu<i>/topology/core_cpus_list or
 * thread_siblings_list); the quota is read from cpu.max (or the v1 pair)
 * in cgroup_root/cgroup_path and its parents up to cgroup_root (both NULL:
 * no quota). Missing or malformed files leave their part out. */
int pool_threads_for(const unsigned char *allowed, int n_cpus, const char *sys_cpu, const char *cgroup_root,
                     const char *cgroup_path);

#endif
