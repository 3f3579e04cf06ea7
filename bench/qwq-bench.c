/*
 * qwq-bench - end-to-end prefill and decode speed of a GGUF model, next to a
 * memory-read bandwidth probe run in the same process.
 *
 *   qwq-bench -m MODEL.gguf [-t THREADS] [-p 512] [-n 128] [-r 5]
 *             [--simd scalar|avx2|avx512|neon|dotprod] [--json] [--no-probe]
 *
 * What it does, in this order (bench/README.md explains every number):
 *  1. Warms the page cache with the file (unless --no-warm) and times
 *     qwq_load over --loads loads (median), keeping the last model.
 *  2. ppN: evaluates N random token ids as one qwq_session_eval batch in an
 *     empty session; one warm-up run, then -r timed runs. tokens/s and
 *     GFLOP/s = 2 x (layer weights x N + output weights x 1) / s; attention
 *     FLOPs are not in that figure (reported on their own).
 *  3. tgN: from an empty session (or one holding --depth D random tokens,
 *     evaluated once beforehand, untimed), N single-token evals one after
 *     the other (as llama-bench's tg128 and its -d); one warm-up run, then
 *     -r timed runs.
 *  4. The bandwidth probe (a buffer the size of the model's weights, capped
 *     at 8 GiB and at free memory, read by the same number of threads, best
 *     and median of several passes) runs right before and right after the
 *     timed decode runs; the mean of the two bests is the reference.
 *     decode efficiency = bytes read per token x tok/s / probe, where the
 *     bytes are the weights' and the keys and values the token attends to
 *     (their mean over the run; a few MB without --depth).
 *  5. Interleaved (--interleave K, default 8): the probe buffer also stays
 *     mapped during the timed decode runs and one probe pass runs before
 *     every K decoded tokens (untimed for the decode). Each run's
 *     efficiency is its GB/s over the median of the passes run amid its
 *     tokens; the median of the runs is reported. On a machine whose
 *     bandwidth drifts from second to second (a shared VM), this compares
 *     the two at the same moments.
 *  6. Each CPU's speed before and after the runs (bench_common.h): a vCPU
 *     that the host gives less of a core slows every multi-thread figure
 *     without showing as steal time.
 *
 * Uses the public API for everything it times, and the internal headers only
 * to count the weights the forward pass reads (model.h) and to run the probe
 * on a thread pool like the session's (pool.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "kernels/qtypes.h"
#include "model/model.h"
#include "qwq.h"
#include "threads/pool.h"

/* ---- small helpers ---------------------------------------------------------------- */


static void die(const char *what) {
    fprintf(stderr, "qwq-bench: %s: %s\n", what, qwq_last_error());
    exit(1);
}

/* A field of /proc/self/status or /proc/meminfo in kB, or -1. */
static long proc_kb(const char *file, const char *key) {
    FILE *f = fopen(file, "r");
    if (!f) return -1;
    char line[256];
    size_t kl = strlen(key);
    long v = -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* file_pmd_kb: mapped file pages in 2 MiB mappings (FilePmdMapped, Linux
 * >= 4.14; -1 when unknown): decode streams them 15-30% faster than 4 KiB
 * ones, so a decode figure is read against it (README "Page size") */
typedef struct rss_sample {
    long rss_kb, anon_kb, file_kb, hwm_kb, file_pmd_kb;
} rss_sample;

static rss_sample rss_now(void) {
    rss_sample r = {proc_kb("/proc/self/status", "VmRSS"), proc_kb("/proc/self/status", "RssAnon"),
                    proc_kb("/proc/self/status", "RssFile"), proc_kb("/proc/self/status", "VmHWM"),
                    proc_kb("/proc/self/smaps_rollup", "FilePmdMapped")};
    return r;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0); false when not possible. */
static int hwm_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    if (fclose(f) != 0) ok = 0;
    return ok;
}

/* ---- CPU description ---------------------------------------------------------------- */

typedef struct cpu_desc {
    char model[160];
    char flags[512]; /* the flags of interest that the CPU has, space-separated */
} cpu_desc;

static const char *const interesting_flags[] = {
    "sse4_2",     "avx",        "avx2",         "fma",         "f16c",        "avx512f",  "avx512bw",
    "avx512vl",   "avx512dq",   "avx512_vnni",  "avx512_bf16", "avx512vbmi",  "avx512_vbmi2", "avx512_fp16",
    "avx_vnni",   "amx_tile",   "amx_int8",     "amx_bf16",    "asimd",       "asimddp",  "asimdhp",
    "fphp",       "i8mm",       "bf16",         "sve",         "sve2",        NULL,
};

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
}

static cpu_desc cpu_describe(void) {
    cpu_desc d;
    memset(&d, 0, sizeof d);
    snprintf(d.model, sizeof d.model, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return d;
    size_t line_cap = 1 << 14; /* flags lines are long */
    char *line = malloc(line_cap);
    if (!line) { fclose(f); return d; }
    int have_model = 0, have_flags = 0;
    while (fgets(line, (int)line_cap, f) && !(have_model && have_flags)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *val = colon + 1;
        while (*val == ' ') val++;
        trim(val);
        if (!have_model && (!strncmp(line, "model name", 10) || !strncmp(line, "CPU part", 8))) {
            snprintf(d.model, sizeof d.model, "%s", val);
            have_model = !strncmp(line, "model name", 10);
        } else if (!have_flags && (!strncmp(line, "flags", 5) || !strncmp(line, "Features", 8))) {
            size_t o = 0;
            for (int i = 0; interesting_flags[i]; i++) {
                const char *fl = interesting_flags[i];
                size_t fn = strlen(fl);
                for (const char *p = val; (p = strstr(p, fl)) != NULL; p += fn) {
                    if ((p == val || p[-1] == ' ') && (p[fn] == ' ' || p[fn] == 0)) {
                        int w = snprintf(d.flags + o, sizeof d.flags - o, "%s%s", o ? " " : "", fl);
                        if (w > 0 && (size_t)w < sizeof d.flags - o) o += (size_t)w;
                        break;
                    }
                }
            }
            have_flags = 1;
        }
    }
    free(line);
    fclose(f);
    return d;
}

/* ---- what the forward pass reads ----------------------------------------------------- */

typedef struct weight_count {
    uint64_t layer_params, layer_bytes; /* 2-D weights of blk.* */
    uint64_t out_params, out_bytes;     /* the output projection */
    uint64_t type_bytes[QTYPE_COUNT];   /* layer + output bytes per type */
    int tied;                           /* output is token_embd */
} weight_count;

static void count_weight(const weight *w, uint64_t *params, uint64_t *bytes, weight_count *c) {
    uint64_t b = (uint64_t)w->n_out * w->row_bytes;
    *params += (uint64_t)w->n_in * (uint64_t)w->n_out;
    *bytes += b;
    if (w->type < QTYPE_COUNT) c->type_bytes[w->type] += b;
}

static weight_count count_weights(const qwq_model *m) {
    weight_count c;
    memset(&c, 0, sizeof c);
    for (int32_t l = 0; l < m->hp.n_layer; l++) {
        const layer *L = &m->layers[l];
        const weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) count_weight(ws[i], &c.layer_params, &c.layer_bytes, &c);
    }
    count_weight(&m->output, &c.out_params, &c.out_bytes, &c);
    c.tied = m->output.data == m->tok_embd.data;
    return c;
}

static const char *type_name(uint32_t t) {
    const qtype_info *q = qtype_get(t);
    return q && q->name ? q->name : "?";
}

/* ---- what else ran on the machine ---------------------------------------------------- */

/* CPU time of the whole machine (/proc/stat) and of this process, to tell
 * how much of the CPUs other processes took during a measurement: on a
 * shared 2-core machine one busy neighbour halves a 2-thread result. */
typedef struct cpu_sample {
    double wall, busy, steal, self; /* seconds */
    int ok;
} cpu_sample;

static cpu_sample cpu_sample_now(void) {
    cpu_sample c = {now_s(), 0, 0, 0, 0};
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        unsigned long long v[8] = {0};
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]) == 8) {
            double hz = (double)sysconf(_SC_CLK_TCK);
            /* user nice system idle iowait irq softirq steal */
            c.busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
            c.steal = (double)v[7] / hz;
            c.ok = 1;
        }
        fclose(f);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        c.self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
                 (double)ru.ru_stime.tv_usec * 1e-6;
    return c;
}

typedef struct cpu_share {
    double others; /* share of all CPUs busy with other processes, [0, 1]; -1 unknown */
    double steal;  /* share of all CPUs taken by the hypervisor */
} cpu_share;

static cpu_share cpu_share_between(cpu_sample a, cpu_sample b) {
    cpu_share r = {-1, -1};
    double cap = (b.wall - a.wall) * pool_online_cpus();
    if (!a.ok || !b.ok || cap <= 0) return r;
    r.others = (b.busy - a.busy - (b.self - a.self)) / cap;
    r.others = r.others < 0 ? 0 : r.others > 1 ? 1 : r.others;
    r.steal = (b.steal - a.steal) / cap;
    r.steal = r.steal < 0 ? 0 : r.steal > 1 ? 1 : r.steal;
    return r;
}

/* "3% (prefill) / 1% (decode)" into buf from the shares that were measured
 * (-1: its test did not run); whether any was; *over set when one is above 10%. */
typedef struct share_part {
    const char *what;
    double v;
} share_part;

static int format_shares(const share_part *parts, int n, char *buf, size_t size, int *over) {
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (parts[i].v < 0) continue;
        int w = snprintf(buf + o, size - o, "%s%.0f%% (%s)", o ? " / " : "", parts[i].v * 100, parts[i].what);
        if (w > 0 && (size_t)w < size - o) o += (size_t)w;
        *over |= parts[i].v > 0.1;
    }
    return o > 0;
}

/* ---- page cache ------------------------------------------------------------------------ */

/* Fraction of the file's pages in the page cache, or -1 when unknown. */
static double file_resident(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    struct stat st;
    double r = -1;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            long page = sysconf(_SC_PAGESIZE);
            size_t n = ((size_t)st.st_size + (size_t)page - 1) / (size_t)page;
            unsigned char *v = malloc(n);
            if (v && mincore(p, (size_t)st.st_size, v) == 0) {
                size_t in = 0;
                for (size_t i = 0; i < n; i++) in += v[i] & 1;
                r = (double)in / (double)n;
            }
            free(v);
            munmap(p, (size_t)st.st_size);
        }
    }
    close(fd);
    return r;
}

/* Reads the whole file once so that it is in the page cache; seconds. */
static double file_warm(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    size_t cap = (size_t)8 << 20;
    char *buf = malloc(cap);
    double t0 = now_s();
    if (buf) {
        while (read(fd, buf, cap) > 0) {
        }
    }
    double t = now_s() - t0;
    free(buf);
    close(fd);
    return t;
}

/* ---- memory-read bandwidth probe ------------------------------------------------------ */

typedef struct probe_job {
    uint8_t *buf;
    size_t bytes;
    int fill;
    uint64_t *sink; /* 8 words per worker (a cache line each) */
} probe_job;

enum { PROBE_CHUNK = 1 << 16 };

static void probe_work(void *ctx, int w, int nw) {
    probe_job *j = ctx;
    long b, e;
    pool_split((long)(j->bytes / PROBE_CHUNK), w, nw, &b, &e);
    uint8_t *p = j->buf + (size_t)b * PROBE_CHUNK, *end = j->buf + (size_t)e * PROBE_CHUNK;
    if (j->fill) { /* first touch by the worker that will read it */
        for (uint8_t *q = p; q < end; q += 4096) memset(q, (int)(((size_t)q >> 12) * 131u + 7u) & 0xff, 4096);
        return;
    }
    j->sink[w * 8] += bench_read_stream(p, end);
}

typedef struct probe_result {
    double best, med, min;
    int passes;
    double others; /* share of the CPUs other processes used meanwhile */
} probe_result;

typedef struct probe {
    thread_pool *pool;
    probe_job job;
    size_t map_bytes;
} probe;

static int probe_open(probe *pr, int n_threads, uint64_t want) {
    memset(pr, 0, sizeof *pr);
    uint64_t cap = (uint64_t)8 << 30;
    long free_kb = proc_kb("/proc/meminfo", "MemFree");
    /* stay inside free memory so that the probe does not evict the model's pages */
    if (free_kb > 0) {
        uint64_t room = (uint64_t)free_kb * 1024;
        room = room > ((uint64_t)1 << 30) ? room - ((uint64_t)1 << 30) : room / 2;
        if (room < cap) cap = room;
    }
    if (want > cap) want = cap;
    if (want < ((uint64_t)64 << 20)) want = (uint64_t)64 << 20;
    want -= want % PROBE_CHUNK;
    if (pool_new(n_threads, &pr->pool) != QWQ_OK) return 0;
    void *p = mmap(NULL, (size_t)want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pr->job.sink = calloc((size_t)n_threads * 8, sizeof *pr->job.sink);
    if (p == MAP_FAILED || !pr->job.sink) {
        if (p != MAP_FAILED) munmap(p, (size_t)want);
        free(pr->job.sink);
        pool_free(pr->pool);
        return 0;
    }
#ifdef MADV_HUGEPAGE
    /* 2 MiB pages where the kernel gives them: the probe then reads at least
     * as fast as from any page size (bench/README.md) */
    (void)madvise(p, (size_t)want, MADV_HUGEPAGE);
#endif
    pr->job.buf = p;
    pr->job.bytes = pr->map_bytes = (size_t)want;
    pr->job.fill = 1;
    pool_run(pr->pool, probe_work, &pr->job);
    pr->job.fill = 0;
    return 1;
}

static probe_result probe_run(probe *pr, int passes) {
    double gbs[64];
    if (passes > 64) passes = 64;
    cpu_sample c0 = cpu_sample_now();
    for (int i = 0; i < passes; i++) {
        double t0 = now_s();
        pool_run(pr->pool, probe_work, &pr->job);
        gbs[i] = (double)pr->job.bytes / (now_s() - t0) / 1e9;
    }
    stats s = summarize(gbs, passes);
    probe_result r = {s.max, s.med, s.min, passes, cpu_share_between(c0, cpu_sample_now()).others};
    return r;
}

static void probe_close(probe *pr) {
    if (!pr->pool) return;
    munmap(pr->job.buf, pr->map_bytes);
    free(pr->job.sink);
    pool_free(pr->pool);
    memset(pr, 0, sizeof *pr);
}

/* ---- JSON output --------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_stats(FILE *f, const char *ind, const char *key, stats s, const char *fmt, int last) {
    char buf[64];
    fprintf(f, "%s\"%s\": {", ind, key);
    snprintf(buf, sizeof buf, fmt, s.med);
    fprintf(f, "\"median\": %s, ", buf);
    snprintf(buf, sizeof buf, fmt, s.min);
    fprintf(f, "\"min\": %s, ", buf);
    snprintf(buf, sizeof buf, fmt, s.max);
    fprintf(f, "\"max\": %s}%s\n", buf, last ? "" : ",");
}


/* ---- main ---------------------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr,
            "usage: qwq-bench -m MODEL.gguf [options]\n"
            "  -t, --threads N      threads (default: the library's, one per physical core)\n"
            "  -p, --n-prompt N     prefill batch size, ppN (default 512; 0 skips prefill)\n"
            "  -n, --n-gen N        decoded tokens, tgN (default 128; 0 skips decode)\n"
            "  -d, --depth N        decode after N tokens of context (default 0)\n"
            "  -r, --repetitions N  timed runs of each test after one warm-up (default 5)\n"
            "  --simd LEVEL         highest SIMD level: scalar avx2 avx512 neon dotprod (default: best)\n"
            "  --json               one JSON object on stdout instead of the table\n"
            "  --no-probe           skip the memory bandwidth probe\n"
            "  --probe-passes N     passes per probe (default 5)\n"
            "  --interleave K       one probe pass before every K decoded tokens (default 8; 0: off)\n"
            "  --loads N            timed qwq_load calls (default 3)\n"
            "  --no-warm            do not read the file into the page cache before loading\n"
            "  --large-pages        load with QWQ_LOAD_LARGE_PAGES (the first load re-reads a file cached in\n"
            "                       4 KiB pages so that it comes back in 2 MiB pages)\n"
            "  --no-warmup          no untimed warm-up run before the timed runs\n"
            "  --seed N             seed of the random token ids (default 1)\n"
            "  -q, --quiet          no progress on stderr\n");
}

static int parse_int(const char *s, const char *opt, long lo, long hi) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || *end || v < lo || v > hi) {
        fprintf(stderr, "qwq-bench: %s needs an integer in [%ld, %ld]\n", opt, lo, hi);
        exit(2);
    }
    return (int)v;
}

static const char *simd_names[] = {"scalar", "avx2", "avx512", "neon", "dotprod"};

static const char *simd_name(int level) {
    return level >= 0 && level < 5 ? simd_names[level] : "auto";
}

#define GB(x) ((double)(x) / 1e9)

int main(int argc, char **argv) {
    const char *path = NULL;
    int threads = 0, n_prompt = 512, n_gen = 128, depth = 0, reps = 5, json = 0, do_probe = 1, passes = 5, n_loads = 3, interleave = 8;
    int warm = 1, warmup = 1, quiet = 0, simd = QWQ_SIMD_AUTO, large_pages = 0;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!v) { usage(); return 2; }
            path = v;
            i++;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) threads = parse_int(v, a, 1, 1024), i++;
        else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) n_prompt = parse_int(v, a, 0, 1 << 20), i++;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) n_gen = parse_int(v, a, 0, 1 << 20), i++;
        else if (!strcmp(a, "-d") || !strcmp(a, "--depth")) depth = parse_int(v, a, 0, 1 << 20), i++;
        else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) reps = parse_int(v, a, 1, 1000), i++;
        else if (!strcmp(a, "--probe-passes")) passes = parse_int(v, a, 1, 64), i++;
        else if (!strcmp(a, "--interleave")) interleave = parse_int(v, a, 0, 1 << 20), i++;
        else if (!strcmp(a, "--loads")) n_loads = parse_int(v, a, 1, 100), i++;
        else if (!strcmp(a, "--seed")) seed = (uint64_t)parse_int(v, a, 0, 2147483647), i++;
        else if (!strcmp(a, "--simd")) {
            simd = -2;
            for (int k = 0; k < 5 && v; k++)
                if (!strcmp(v, simd_names[k])) simd = k;
            if (v && !strcmp(v, "auto")) simd = QWQ_SIMD_AUTO;
            if (simd == -2) { usage(); return 2; }
            i++;
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-probe")) do_probe = 0;
        else if (!strcmp(a, "--no-warm")) warm = 0;
        else if (!strcmp(a, "--large-pages")) large_pages = 1;
        else if (!strcmp(a, "--no-warmup")) warmup = 0;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        else {
            fprintf(stderr, "qwq-bench: unknown option %s\n", a);
            usage();
            return 2;
        }
    }
    if (!path) { usage(); return 2; }
    if (threads == 0) threads = pool_default_threads(); /* what a session with n_threads 0 gets */

    cpu_desc cpu = cpu_describe();
    struct stat fst;
    if (stat(path, &fst) != 0) {
        fprintf(stderr, "qwq-bench: %s: %s\n", path, strerror(errno));
        return 1;
    }

    /* ---- load ---- */
    double resident = file_resident(path), warm_s = -1;
    if (warm && resident < 0.999) {
        if (!quiet) fprintf(stderr, "qwq-bench: reading %s into the page cache (%.1f%% resident)\n", path, resident * 100);
        warm_s = file_warm(path);
    }
    qwq_load_params lp;
    qwq_load_params_init(&lp);
    lp.max_simd = simd;
    if (large_pages) lp.flags |= QWQ_LOAD_LARGE_PAGES;
    qwq_model *model = NULL;
    double load_ms[100];
    for (int i = 0; i < n_loads; i++) {
        if (model) qwq_model_free(model);
        model = NULL;
        double t0 = now_s();
        if (qwq_load(path, &lp, &model) != QWQ_OK) die("qwq_load");
        load_ms[i] = (now_s() - t0) * 1e3;
        if (large_pages && i == 0 && !quiet)
            fprintf(stderr, "qwq-bench: first load with QWQ_LOAD_LARGE_PAGES: %.1f ms\n", load_ms[0]);
    }
    stats load = summarize(load_ms, n_loads);
    rss_sample rss_load = rss_now();

    weight_count wc = count_weights(model);
    uint64_t read_per_token = wc.layer_bytes + wc.out_bytes;
    const hparams *hp = &model->hp;
    /* f32 keys and values of every layer, for the mean position of a decode run */
    const double kv_read_per_token = 2.0 * sizeof(float) * hp->n_layer * (double)hp->n_head_kv * hp->head_dim *
                                     (depth + (n_gen + 1) / 2.0);
    const double decode_read = (double)read_per_token + kv_read_per_token;
    int32_t n_vocab = qwq_model_n_vocab(model);
    int simd_used = qwq_model_simd_level(model);

    /* ---- session ---- */
    qwq_session_params sp;
    qwq_session_params_init(&sp);
    int32_t ctx = n_prompt > depth + n_gen ? n_prompt : depth + n_gen;
    sp.n_ctx = ctx > 0 ? ctx : 1;
    sp.n_threads = threads;
    sp.n_batch = n_prompt > 0 ? n_prompt : depth > 0 ? (depth < 512 ? depth : 512) : 1;
    qwq_session *sess = NULL;
    if (qwq_session_new(model, &sp, &sess) != QWQ_OK) die("qwq_session_new");

    uint64_t rng = seed;
    int max_tok = n_prompt > n_gen ? n_prompt : n_gen;
    if (depth > max_tok) max_tok = depth;
    qwq_token *toks = malloc(sizeof *toks * (size_t)(max_tok > 0 ? max_tok : 1));
    if (!toks) { fprintf(stderr, "qwq-bench: out of memory\n"); return 1; }

    double *pp_tps = calloc((size_t)reps, sizeof(double)), *tg_tps = calloc((size_t)reps, sizeof(double));
    double *pp_raw = calloc((size_t)reps, sizeof(double)), *tg_raw = calloc((size_t)reps, sizeof(double));
    double *il_eff = calloc((size_t)reps, sizeof(double)), *il_probe = calloc((size_t)reps, sizeof(double));
    int interleaved = 0;
    if (!il_eff || !il_probe) { fprintf(stderr, "qwq-bench: out of memory\n"); return 1; }
    if (!pp_tps || !tg_tps || !pp_raw || !tg_raw) { fprintf(stderr, "qwq-bench: out of memory\n"); return 1; }

    /* ---- prefill ---- */
    stats pp = {0, 0, 0, 0};
    double pp_flops = 2.0 * (double)wc.layer_params * n_prompt + 2.0 * (double)wc.out_params;
    double pp_attn_flops = 2.0 * hp->n_head * hp->head_dim * (double)n_prompt * (n_prompt + 1.0) * hp->n_layer;
    double speed0[BENCH_MAX_CPUS], speed1[BENCH_MAX_CPUS];
    const int n_cpus = bench_cpu_speeds(speed0); /* before the runs; again after them */
    cpu_sample pp_c0 = {0, 0, 0, 0, 0}, tg_c0;
    cpu_share pp_share = {-1, -1}, tg_share = {-1, -1};
    if (n_prompt > 0) {
        for (int run = warmup ? -1 : 0; run < reps; run++) {
            if (run == 0) pp_c0 = cpu_sample_now();
            for (int i = 0; i < n_prompt; i++) toks[i] = (qwq_token)(rng_next(&rng) % (uint64_t)n_vocab);
            if (qwq_session_truncate(sess, 0) != QWQ_OK) die("qwq_session_truncate");
            double t0 = now_s();
            if (qwq_session_eval(sess, toks, (size_t)n_prompt, 0) != QWQ_OK) die("qwq_session_eval (prefill)");
            double dt = now_s() - t0;
            if (!quiet)
                fprintf(stderr, "qwq-bench: pp%d %s %d: %.2f s, %.2f tok/s\n", n_prompt, run < 0 ? "warm-up" : "run",
                        run + 1, dt, n_prompt / dt);
            if (run >= 0) pp_tps[run] = pp_raw[run] = n_prompt / dt;
        }
        pp = summarize(pp_tps, reps);
        pp_share = cpu_share_between(pp_c0, cpu_sample_now());
    }
    rss_sample rss_pp = rss_now();

    /* ---- decode, between two probes ---- */
    probe pr;
    int have_probe = 0, hwm_was_reset = 0;
    probe_result pb = {0, 0, 0, 0, -1}, pa = {0, 0, 0, 0, -1};
    uint64_t probe_bytes = 0;
    stats tg = {0, 0, 0, 0};
    rss_sample rss_tg = rss_pp;
    if (n_gen > 0 || do_probe) {
        if (n_gen > 0 && depth > 0) { /* the context every decode run starts from */
            if (qwq_session_truncate(sess, 0) != QWQ_OK) die("qwq_session_truncate");
            for (int i = 0; i < depth; i++) toks[i] = (qwq_token)(rng_next(&rng) % (uint64_t)n_vocab);
            double t0 = now_s();
            if (qwq_session_eval(sess, toks, (size_t)depth, 0) != QWQ_OK) die("qwq_session_eval (depth)");
            if (!quiet) fprintf(stderr, "qwq-bench: %d tokens of context in %.2f s\n", depth, now_s() - t0);
        }
        if (n_gen > 0 && warmup) {
            if (qwq_session_truncate(sess, depth) != QWQ_OK) die("qwq_session_truncate");
            double t0 = now_s();
            for (int i = 0; i < n_gen; i++) {
                qwq_token t = (qwq_token)(rng_next(&rng) % (uint64_t)n_vocab);
                if (qwq_session_eval(sess, &t, 1, 0) != QWQ_OK) die("qwq_session_eval (decode)");
            }
            if (!quiet) fprintf(stderr, "qwq-bench: tg%d warm-up: %.2f tok/s\n", n_gen, n_gen / (now_s() - t0));
        }
        if (do_probe) {
            have_probe = probe_open(&pr, threads, qwq_model_weight_bytes(model));
            if (!have_probe) fprintf(stderr, "qwq-bench: cannot set up the bandwidth probe\n");
        }
        if (have_probe) {
            probe_bytes = pr.job.bytes;
            pb = probe_run(&pr, passes);
            if (!quiet) fprintf(stderr, "qwq-bench: probe before: best %.1f GB/s, median %.1f\n", pb.best, pb.med);
            interleaved = interleave > 0 && n_gen > 0;
            /* else keep the probe buffer out of the decode's peak RSS: unmap and refill after */
            if (!interleaved) probe_close(&pr);
        }
        hwm_was_reset = interleaved ? 0 : hwm_reset();
        tg_c0 = cpu_sample_now();
        const int max_passes = interleaved ? (n_gen + interleave - 1) / interleave : 0;
        double *pass_gbs = interleaved ? calloc((size_t)max_passes, sizeof(double)) : NULL;
        if (interleaved && !pass_gbs) die("out of memory");
        for (int run = 0; run < reps && n_gen > 0; run++) {
            if (qwq_session_truncate(sess, depth) != QWQ_OK) die("qwq_session_truncate");
            double dt = 0;
            int np = 0;
            for (int i = 0; i < n_gen; i++) {
                if (interleaved && i % interleave == 0) {
                    double tp = now_s();
                    pool_run(pr.pool, probe_work, &pr.job);
                    pass_gbs[np++] = (double)pr.job.bytes / (now_s() - tp) / 1e9;
                }
                qwq_token t = (qwq_token)(rng_next(&rng) % (uint64_t)n_vocab);
                double t0 = now_s();
                if (qwq_session_eval(sess, &t, 1, 0) != QWQ_OK) die("qwq_session_eval (decode)");
                dt += now_s() - t0;
            }
            tg_tps[run] = tg_raw[run] = n_gen / dt;
            if (interleaved) {
                stats ps = summarize(pass_gbs, np);
                il_probe[run] = ps.med;
                il_eff[run] = GB(decode_read) * tg_tps[run] / ps.med;
            }
            if (!quiet) fprintf(stderr, "qwq-bench: tg%d run %d: %.2f tok/s\n", n_gen, run + 1, tg_tps[run]);
            if (!quiet && interleaved)
                fprintf(stderr, "qwq-bench:   %d probe passes amid its tokens: median %.1f GB/s -> %.1f%%\n", np,
                        il_probe[run], il_eff[run] * 100);
        }
        free(pass_gbs);
        if (n_gen > 0) {
            tg = summarize(tg_tps, reps);
            tg_share = cpu_share_between(tg_c0, cpu_sample_now());
        }
        if (!interleaved) rss_tg = rss_now();
        if (have_probe) {
            have_probe = interleaved ? 1 : probe_open(&pr, threads, probe_bytes);
            if (have_probe) {
                pa = probe_run(&pr, passes);
                if (!quiet) fprintf(stderr, "qwq-bench: probe after: best %.1f GB/s, median %.1f\n", pa.best, pa.med);
                probe_close(&pr);
                if (interleaved) rss_tg = rss_now(); /* without the probe buffer */
            } else {
                fprintf(stderr, "qwq-bench: cannot set up the second bandwidth probe\n");
            }
        }
    }
    rss_sample rss_end = rss_now();
    bench_cpu_speeds(speed1);
    const double spread0 = bench_speed_spread(speed0, n_cpus), spread1 = bench_speed_spread(speed1, n_cpus);
    long peak_kb = rss_pp.hwm_kb; /* prefill peak (the probe comes later) */
    if (rss_tg.hwm_kb > peak_kb) peak_kb = rss_tg.hwm_kb;
    if (!hwm_was_reset) peak_kb = rss_end.hwm_kb; /* includes the probe buffer */

    double probe_ref = pa.passes ? 0.5 * (pb.best + pa.best) : pb.best;
    double probe_ref_med = pa.passes ? 0.5 * (pb.med + pa.med) : pb.med;
    double dec_gbs = GB(decode_read) * tg.med;
    double eff = probe_ref > 0 && n_gen > 0 ? dec_gbs / probe_ref : 0;
    stats il_e = {0, 0, 0, 0}, il_p = {0, 0, 0, 0};
    if (interleaved) {
        il_p = summarize(il_probe, reps);
        il_e = summarize(il_eff, reps); /* sorts: after il_probe, which it does not touch */
    }

    char types[256] = "";
    {
        size_t o = 0;
        for (uint32_t t = 0; t < QTYPE_COUNT; t++) {
            if (!wc.type_bytes[t]) continue;
            int w = snprintf(types + o, sizeof types - o, "%s%s %.1f%%", o ? ", " : "", type_name(t),
                             100.0 * (double)wc.type_bytes[t] / (double)read_per_token);
            if (w > 0 && (size_t)w < sizeof types - o) o += (size_t)w;
        }
    }
    char ts[32];
    time_t tnow = time(NULL);
    struct tm tmv;
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tnow, &tmv));

    if (json) {
        FILE *f = stdout;
        fprintf(f, "{\n  \"bench\": \"qwq-bench\",\n  \"version\": ");
        json_str(f, qwq_version());
        fprintf(f, ",\n  \"time\": \"%s\",\n  \"model\": {\n    \"path\": ", ts);
        json_str(f, path);
        fprintf(f, ",\n    \"name\": ");
        json_str(f, qwq_model_name(model));
        fprintf(f, ",\n    \"arch\": ");
        json_str(f, qwq_model_architecture(model));
        fprintf(f,
                ",\n    \"n_layer\": %d,\n    \"n_embd\": %d,\n    \"n_ff\": %d,\n    \"n_head\": %d,\n"
                "    \"n_head_kv\": %d,\n    \"head_dim\": %d,\n    \"n_vocab\": %d,\n",
                hp->n_layer, hp->n_embd, hp->n_ff, hp->n_head, hp->n_head_kv, hp->head_dim, n_vocab);
        fprintf(f,
                "    \"file_bytes\": %lld,\n    \"weight_bytes\": %llu,\n    \"n_params\": %llu,\n"
                "    \"layer_params\": %llu,\n    \"layer_bytes\": %llu,\n    \"output_params\": %llu,\n"
                "    \"output_bytes\": %llu,\n    \"output_type\": \"%s\",\n    \"output_tied\": %s,\n"
                "    \"read_per_token_bytes\": %llu,\n    \"read_types\": {",
                (long long)fst.st_size, (unsigned long long)qwq_model_weight_bytes(model),
                (unsigned long long)qwq_model_n_params(model), (unsigned long long)wc.layer_params,
                (unsigned long long)wc.layer_bytes, (unsigned long long)wc.out_params,
                (unsigned long long)wc.out_bytes, type_name(model->output.type), wc.tied ? "true" : "false",
                (unsigned long long)read_per_token);
        for (uint32_t t = 0, first = 1; t < QTYPE_COUNT; t++) {
            if (!wc.type_bytes[t]) continue;
            fprintf(f, "%s\"%s\": %llu", first ? "" : ", ", type_name(t), (unsigned long long)wc.type_bytes[t]);
            first = 0;
        }
        fprintf(f, "}\n  },\n  \"cpu\": {\n    \"model\": ");
        json_str(f, cpu.model);
        fprintf(f, ",\n    \"flags\": ");
        json_str(f, cpu.flags);
        fprintf(f, ",\n    \"online\": %d\n  },\n", pool_online_cpus());
        fprintf(f, "  \"threads\": %d,\n  \"simd_requested\": \"%s\",\n  \"simd\": \"%s\",\n", threads,
                simd_name(simd), simd_name(simd_used));
        fprintf(f, "  \"load\": {\n    \"loads\": %d,\n", n_loads);
        json_stats(f, "    ", "ms", load, "%.2f", 0);
        fprintf(f, "    \"resident_before\": %.4f,\n    \"warm_read_s\": %.3f\n  },\n", resident, warm_s);
        fprintf(f,
                "  \"rss\": {\n    \"after_load_bytes\": %lld,\n    \"after_load_anon_bytes\": %lld,\n"
                "    \"after_load_file_bytes\": %lld,\n    \"after_runs_bytes\": %lld,\n"
                "    \"after_runs_anon_bytes\": %lld,\n    \"after_runs_file_bytes\": %lld,\n"
                "    \"after_runs_file_2mib_mapped_bytes\": %lld,\n"
                "    \"peak_bytes\": %lld,\n    \"peak_includes_probe\": %s\n  },\n",
                rss_load.rss_kb * 1024LL, rss_load.anon_kb * 1024LL, rss_load.file_kb * 1024LL,
                rss_tg.rss_kb * 1024LL, rss_tg.anon_kb * 1024LL, rss_tg.file_kb * 1024LL,
                rss_tg.file_pmd_kb < 0 ? -1LL : rss_tg.file_pmd_kb * 1024LL, peak_kb * 1024LL,
                hwm_was_reset ? "false" : "true");
        fprintf(f, "  \"prefill\": {\n    \"test\": \"pp%d\",\n    \"n_tokens\": %d,\n    \"runs\": %d,\n", n_prompt,
                n_prompt, n_prompt > 0 ? reps : 0);
        bench_json_samples(f, "    ", "tok_s_runs", pp_raw, n_prompt > 0 ? reps : 0, "%.3f");
        json_stats(f, "    ", "tok_s", pp, "%.3f", 0);
        stats g = {pp.med * pp_flops / n_prompt / 1e9, pp.min * pp_flops / n_prompt / 1e9,
                   pp.max * pp_flops / n_prompt / 1e9, pp.n};
        stats ga = {pp.med * pp_attn_flops / n_prompt / 1e9, pp.min * pp_attn_flops / n_prompt / 1e9,
                    pp.max * pp_attn_flops / n_prompt / 1e9, pp.n};
        if (n_prompt == 0) g = ga = (stats){0, 0, 0, 0};
        json_stats(f, "    ", "gflop_s", g, "%.2f", 0);
        json_stats(f, "    ", "attn_gflop_s", ga, "%.2f", 0);
        fprintf(f,
                "    \"flop_per_run\": %.6g,\n    \"attn_flop_per_run\": %.6g,\n    \"cpu_others\": %.3f,\n"
                "    \"cpu_steal\": %.3f\n  },\n",
                n_prompt ? pp_flops : 0.0, n_prompt ? pp_attn_flops : 0.0, pp_share.others, pp_share.steal);
        fprintf(f, "  \"decode\": {\n    \"test\": \"tg%d\",\n    \"n_tokens\": %d,\n    \"runs\": %d,\n", n_gen,
                n_gen, n_gen > 0 ? reps : 0);
        bench_json_samples(f, "    ", "tok_s_runs", tg_raw, n_gen > 0 ? reps : 0, "%.3f");
        json_stats(f, "    ", "tok_s", tg, "%.3f", 0);
        fprintf(f,
                "    \"depth\": %d,\n    \"read_per_token_bytes\": %llu,\n    \"kv_read_per_token_bytes\": %.0f,\n"
                "    \"gb_s\": %.3f,\n    \"efficiency\": %.4f,\n"
                "    \"efficiency_vs_probe_median\": %.4f,\n    \"interleave\": %d,\n",
                depth, (unsigned long long)read_per_token, kv_read_per_token, n_gen ? dec_gbs : 0.0, eff,
                probe_ref_med > 0 && n_gen > 0 ? dec_gbs / probe_ref_med : 0.0, interleaved ? interleave : 0);
        if (interleaved) {
            json_stats(f, "    ", "efficiency_interleaved", il_e, "%.4f", 0);
            json_stats(f, "    ", "interleaved_probe_gb_s", il_p, "%.3f", 0);
        }
        fprintf(f, "    \"cpu_others\": %.3f,\n    \"cpu_steal\": %.3f\n  },\n", tg_share.others, tg_share.steal);
        fprintf(f, "  \"probe\": {\n    \"ran\": %s,\n    \"buffer_bytes\": %llu,\n    \"passes\": %d,\n",
                pb.passes ? "true" : "false", (unsigned long long)probe_bytes, passes);
        fprintf(f,
                "    \"before_best_gb_s\": %.3f,\n    \"before_median_gb_s\": %.3f,\n"
                "    \"after_best_gb_s\": %.3f,\n    \"after_median_gb_s\": %.3f,\n"
                "    \"gb_s\": %.3f,\n    \"median_gb_s\": %.3f,\n    \"before_cpu_others\": %.3f,\n"
                "    \"after_cpu_others\": %.3f\n  },\n",
                pb.best, pb.med, pa.best, pa.med, probe_ref, probe_ref_med, pb.others, pa.others);
        fprintf(f, "  \"cpu_speed\": {\n");
        bench_json_samples(f, "    ", "before_gadds", speed0, n_cpus, "%.3f");
        bench_json_samples(f, "    ", "after_gadds", speed1, n_cpus, "%.3f");
        fprintf(f, "    \"before_spread\": %.3f,\n    \"after_spread\": %.3f\n  }\n}\n", spread0, spread1);
    } else {
        printf("qwq-bench %s   %s\n", qwq_version(), ts);
        printf("model    %s\n", path);
        printf("         %s \"%s\": %d layers, hidden %d, ffn %d, heads %d/%d x %d, vocab %d\n",
               qwq_model_architecture(model), qwq_model_name(model), hp->n_layer, hp->n_embd, hp->n_ff, hp->n_head,
               hp->n_head_kv, hp->head_dim, n_vocab);
        printf("size     file %.3f GB, weights %.3f GB (%.3f G params)\n", GB(fst.st_size),
               GB(qwq_model_weight_bytes(model)), GB(qwq_model_n_params(model)));
        printf("read/tok %.3f GB = layers %.3f GB + output %.3f GB (%s%s); %s\n", GB(read_per_token),
               GB(wc.layer_bytes), GB(wc.out_bytes), type_name(model->output.type), wc.tied ? ", tied" : "", types);
        printf("cpu      %s, %d online; %s\n", cpu.model, pool_online_cpus(), cpu.flags);
        printf("run      %d threads, simd %s (requested %s)\n", threads, simd_name(simd_used), simd_name(simd));
        printf("load     %.1f ms median (%.1f - %.1f, %d loads), page cache %.1f%% before%s\n", load.med, load.min,
               load.max, n_loads, resident * 100, warm_s >= 0 ? ", then warmed" : "");
        printf("rss      after load %.3f GB (anon %.3f, file %.3f); after runs %.3f GB (anon %.3f, file %.3f); "
               "peak %.3f GB%s\n",
               GB(rss_load.rss_kb * 1024.0), GB(rss_load.anon_kb * 1024.0), GB(rss_load.file_kb * 1024.0),
               GB(rss_tg.rss_kb * 1024.0), GB(rss_tg.anon_kb * 1024.0), GB(rss_tg.file_kb * 1024.0),
               GB(peak_kb * 1024.0), hwm_was_reset ? "" : " (includes the probe buffer)");
        if (rss_tg.file_pmd_kb >= 0) {
            /* even a quarter in 4 KiB pages made the 64-layer model decode 3x slower */
            const double small = rss_tg.file_kb > 0 ? 1.0 - (double)rss_tg.file_pmd_kb / (double)rss_tg.file_kb : 0;
            printf("pages    %.3f GB of the %.3f GB of mapped file in 2 MiB mappings after the runs", GB(rss_tg.file_pmd_kb * 1024.0),
                   GB(rss_tg.file_kb * 1024.0));
            if (small > 0.03)
                printf(" (%.0f%% in 4 KiB pages: decode runs slower from them; --large-pages reads them again, see "
                       "bench/README.md)",
                       small * 100);
            printf("\n");
        }
        printf("\n%-8s %12s %22s   %s\n", "test", "tok/s", "min - max", "");
        if (n_prompt > 0) {
            char name[32];
            snprintf(name, sizeof name, "pp%d", n_prompt);
            printf("%-8s %12.2f %10.2f - %-9.2f   %.1f GFLOP/s (attention %.2f GFLOP/s more, not counted), %d runs\n",
                   name, pp.med, pp.min, pp.max, pp.med * pp_flops / n_prompt / 1e9,
                   pp.med * pp_attn_flops / n_prompt / 1e9, reps);
        }
        if (n_gen > 0) {
            char name[32];
            if (depth > 0) snprintf(name, sizeof name, "tg%d@d%d", n_gen, depth);
            else snprintf(name, sizeof name, "tg%d", n_gen);
            printf("%-8s %12.2f %10.2f - %-9.2f   %.2f GB/s of weights and KV (KV %.3f GB/tok), %d runs\n", name,
                   tg.med, tg.min, tg.max, dec_gbs, GB(kv_read_per_token), reps);
        }
        if (pb.passes) {
            printf("probe    before: best %.2f, median %.2f GB/s; after: best %.2f, median %.2f GB/s "
                   "(%.2f GB buffer, %d passes, %d threads)\n",
                   pb.best, pb.med, pa.best, pa.med, GB(probe_bytes), passes, threads);
            if (n_gen > 0)
                printf("decode   %.1f%% of the probe (%.2f GB/s of %.2f GB/s, mean of the two bests)\n", eff * 100,
                       dec_gbs, probe_ref);
            if (interleaved)
                printf("decode   %.1f%% (%.1f - %.1f%%) of the probe passes run amid its tokens (one every %d; "
                       "their median %.2f GB/s), median of %d runs\n",
                       il_e.med * 100, il_e.min * 100, il_e.max * 100, interleave, il_p.med, reps);
        }
        {
            const share_part others[] = {{"prefill", pp_share.others}, {"decode", tg_share.others},
                                         {"probe before", pb.others}, {"probe after", pa.others}},
                             steals[] = {{"prefill", pp_share.steal}, {"decode", tg_share.steal}};
            char mach[256], st[96];
            int unreliable = 0;
            const int any = format_shares(others, 4, mach, sizeof mach, &unreliable);
            const int any_steal = format_shares(steals, 2, st, sizeof st, &unreliable);
            if (any)
                printf("machine  other processes used %s of the CPUs%s%s%s\n", mach, any_steal ? ", steal " : "", st,
                       unreliable ? ": the figures are not reliable" : "");
        }
        char speeds0[16 * BENCH_MAX_CPUS], speeds1[16 * BENCH_MAX_CPUS];
        bench_format_speeds(speed0, n_cpus, speeds0, sizeof speeds0);
        bench_format_speeds(speed1, n_cpus, speeds1, sizeof speeds1);
        printf("cpus     %s G adds/s before the runs, %s after (a dependent add a cycle: each CPU's clock)%s\n",
               speeds0, speeds1,
               spread0 < 0.9 || spread1 < 0.9 ? ": the CPUs ran unevenly, and a multi-thread figure waits for the slowest"
                                              : "");
        if (simd_used == QWQ_SIMD_SCALAR) printf("note     scalar kernels (no SIMD level in use)\n");
    }

    qwq_session_free(sess);
    qwq_model_free(model);
    free(toks);
    free(pp_tps);
    free(tg_tps);
    free(pp_raw);
    free(tg_raw);
    free(il_eff);
    free(il_probe);
    return 0;
}
