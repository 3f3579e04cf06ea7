/* NFC (UAX #15) on the generated UCD 15 tables; see unicode.h. */
#include "tokenizer/unicode.h"

#include <stdlib.h>

#include "util/util.h"

/* ---- NFC --------------------------------------------------------------------- */

enum {
    S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7,
    L_COUNT = 19, V_COUNT = 21, T_COUNT = 28,
    N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT
};

bool uc_nfc_quick(const uint8_t *s, size_t n) {
    uint32_t last_ccc = 0;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { last_ccc = 0; i++; continue; }
        size_t len;
        uint32_t cp = utf8_decode(s + i, &len);
        uint32_t p = uc_props(cp);
        uint32_t ccc = p & UC_CCC_MASK;
        if (p & UC_NFC_QC) return false;
        if (ccc != 0 && last_ccc > ccc) return false;
        last_ccc = ccc;
        i += len;
    }
    return true;
}

static bool grow_u32(uint32_t **buf, size_t *cap, size_t need) {
    if (*cap >= need) return true;
    size_t bytes;
    if (!size_mul(need, sizeof(uint32_t), &bytes)) return false;
    uint32_t *p = realloc(*buf, bytes);
    if (!p) return false;
    *buf = p;
    *cap = need;
    return true;
}

void uc_scratch_free(uc_scratch *sc) {
    if (!sc) return;
    free(sc->cp);
    free(sc->tmp);
    free(sc->out);
    memset(sc, 0, sizeof *sc);
}

static const uint32_t *decomp_find(uint32_t cp, size_t *len) {
    size_t lo = 0, hi = uc_n_decomp;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (uc_decomp_cp[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo < uc_n_decomp && uc_decomp_cp[lo] == cp) {
        *len = uc_decomp_pos[lo] & 15u;
        return uc_decomp_data + (uc_decomp_pos[lo] >> 4);
    }
    return NULL;
}

/* The primary composite of (a, b), or 0 when there is none. */
static uint32_t compose_pair(uint32_t a, uint32_t b) {
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE &&
        b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    uint64_t key = ((uint64_t)a << 21) | b;
    size_t lo = 0, hi = uc_n_comp;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (uc_comp_key[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < uc_n_comp && uc_comp_key[lo] == key ? uc_comp_val[lo] : 0;
}

static inline uint32_t ccc_of(uint32_t cp) { return uc_props(cp) & UC_CCC_MASK; }

/* Stable sort of a run of non-starters by combining class. Short runs use
 * insertion sort; long ones (adversarial input) a counting sort, so the cost
 * stays linear. */
static void sort_run(uint32_t *c, size_t n, uint32_t *tmp) {
    if (n <= 32) {
        for (size_t i = 1; i < n; i++) {
            uint32_t x = c[i], k = ccc_of(x);
            size_t j = i;
            while (j > 0 && ccc_of(c[j - 1]) > k) { c[j] = c[j - 1]; j--; }
            c[j] = x;
        }
        return;
    }
    size_t count[257];
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++) count[ccc_of(c[i]) + 1]++;
    for (size_t k = 1; k < 257; k++) count[k] += count[k - 1];
    for (size_t i = 0; i < n; i++) tmp[count[ccc_of(c[i])]++] = c[i];
    memcpy(c, tmp, n * sizeof *c);
}

qwq_status uc_nfc(const uint8_t *s, size_t n, uc_scratch *sc, const uint8_t **out,
                  size_t *n_out) {
    if (uc_nfc_quick(s, n)) {
        *out = s;
        *n_out = n;
        return QWQ_OK;
    }
    /* 1. full canonical decomposition; each byte yields at most one code
     *    point, each code point at most UC_MAX_DECOMP */
    size_t cap;
    if (!size_mul(n, UC_MAX_DECOMP, &cap) || !grow_u32(&sc->cp, &sc->cp_cap, cap) ||
        !grow_u32(&sc->tmp, &sc->tmp_cap, cap))
        return err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory normalising %zu bytes of text", n);
    uint32_t *c = sc->cp;
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        size_t len;
        uint32_t cp = utf8_decode(s + i, &len);
        i += len;
        if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
            uint32_t si = cp - S_BASE;
            c[m++] = L_BASE + si / N_COUNT;
            c[m++] = V_BASE + (si % N_COUNT) / T_COUNT;
            if (si % T_COUNT) c[m++] = T_BASE + si % T_COUNT;
            continue;
        }
        size_t dlen;
        const uint32_t *d = (uc_props(cp) & UC_DECOMP) ? decomp_find(cp, &dlen) : NULL;
        if (d) {
            for (size_t k = 0; k < dlen; k++) c[m++] = d[k];
        } else {
            c[m++] = cp;
        }
    }
    /* 2. canonical ordering of every run of non-starters */
    for (size_t i = 0; i < m;) {
        if (ccc_of(c[i]) == 0) { i++; continue; }
        size_t j = i + 1;
        while (j < m && ccc_of(c[j]) != 0) j++;
        if (j - i > 1) sort_run(c + i, j - i, sc->tmp);
        i = j;
    }
    /* 3. canonical composition */
    size_t w = 0;
    if (m > 0) {
        size_t starter = 0;
        uint32_t last_ccc = ccc_of(c[0]) ? 256 : 0; /* no starter yet: block */
        w = 1;
        for (size_t r = 1; r < m; r++) {
            uint32_t ch = c[r], k = ccc_of(ch);
            uint32_t comp = (last_ccc < k || last_ccc == 0) ? compose_pair(c[starter], ch) : 0;
            if (comp && !(last_ccc == 0 && w != starter + 1)) {
                c[starter] = comp;
                continue;
            }
            if (k == 0) starter = w;
            last_ccc = k;
            c[w++] = ch;
        }
    }
    /* 4. back to UTF-8 */
    size_t need;
    if (!size_mul(w, 4, &need))
        return err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory normalising %zu bytes of text", n);
    if (sc->out_cap < need) {
        uint8_t *p = realloc(sc->out, need ? need : 1);
        if (!p) return err_set(QWQ_ERR_OUT_OF_MEMORY, "out of memory normalising %zu bytes of text", n);
        sc->out = p;
        sc->out_cap = need;
    }
    size_t o = 0;
    for (size_t i = 0; i < w; i++) o += utf8_encode(c[i], sc->out + o);
    *out = sc->out;
    *n_out = o;
    return QWQ_OK;
}
