#include "threads/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/util.h"

#ifdef QWQ_OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

enum { SPIN_ITERATIONS = 20000 };

struct thread_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* workers wait here for a new generation */
    pthread_cond_t idle;    /* the caller waits here for pending == 0 */
    atomic_uint generation; /* bumped once per job */
    atomic_int pending;     /* workers still running the current job */
    atomic_int stop;
    pool_job fn;
    void *ctx;
};

typedef struct worker_arg {
    thread_pool *pool;
    int index;
} worker_arg;

int pool_online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

#ifndef QWQ_OPENMP
static void *worker_main(void *p) {
    worker_arg arg = *(worker_arg *)p;
    free(p);
    thread_pool *pool = arg.pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
               !atomic_load(&pool->stop) && spins < SPIN_ITERATIONS) {
            cpu_relax();
            spins++;
        }
        if (g == seen && !atomic_load(&pool->stop)) {
            pthread_mutex_lock(&pool->mu);
            while ((g = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->mu);
            pthread_mutex_unlock(&pool->mu);
        }
        if (atomic_load(&pool->stop)) return NULL;
        seen = g;
        pool->fn(pool->ctx, arg.index, pool->n);
        if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->idle);
            pthread_mutex_unlock(&pool->mu);
        }
    }
}

#endif

qwq_status pool_new(int n_threads, thread_pool **out) {
    *out = NULL;
    if (n_threads <= 0) n_threads = pool_default_threads();
    if (n_threads > 1024) return err_set(QWQ_ERR_INVALID_ARGUMENT, "n_threads %d is more than 1024", n_threads);
    thread_pool *p = mem_calloc(1, sizeof *p, "thread pool");
    if (!p) return QWQ_ERR_OUT_OF_MEMORY;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->idle, NULL);
#ifndef QWQ_OPENMP
    if (n_threads > 1) {
        p->threads = mem_calloc((size_t)n_threads - 1, sizeof *p->threads, "thread handles");
        if (!p->threads) {
            pool_free(p);
            return QWQ_ERR_OUT_OF_MEMORY;
        }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *arg = malloc(sizeof *arg);
            if (arg) *arg = (worker_arg){p, i};
            int rc = arg ? pthread_create(&p->threads[i - 1], NULL, worker_main, arg) : -1;
            if (rc != 0) {
                free(arg);
                p->n = i; /* join only those started */
                pool_free(p);
                return err_set(QWQ_ERR_OUT_OF_MEMORY, "cannot start worker thread %d of %d", i, n_threads);
            }
        }
    }
#endif
    *out = p;
    return QWQ_OK;
}

void pool_free(thread_pool *p) {
    if (!p) return;
    if (p->threads) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->stop, 1);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        for (int i = 1; i < p->n; i++) pthread_join(p->threads[i - 1], NULL);
        free(p->threads);
    }
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int pool_size(const thread_pool *p) { return p->n; }

void pool_run(thread_pool *p, pool_job fn, void *ctx) {
    if (p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
#ifdef QWQ_OPENMP
#pragma omp parallel num_threads(p->n)
    fn(ctx, omp_get_thread_num(), omp_get_num_threads()); /* OpenMP may grant fewer */
#else
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0 && spins < SPIN_ITERATIONS) {
        cpu_relax();
        spins++;
    }
    if (atomic_load(&p->pending) != 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) != 0) pthread_cond_wait(&p->idle, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
#endif
}
