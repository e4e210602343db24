// The reconstruction epilogue's per-gene loop behind epilogue_simd.h: see there for why it is C
// and for the arithmetic contract. One body, compiled at three widths: its vectors are 8 doubles
// everywhere (one AVX-512 register, two AVX2, four SSE2), so the lanes, and the bits, are the same.
#include "epilogue_simd.h"
#include <string.h>

typedef double stgnn_e_d8 __attribute__((vector_size(64)));
typedef float stgnn_e_f8 __attribute__((vector_size(32)));

/* The sum over the sources of 8 values at element offset o of row j. */
#define STGNN_E_SUM(o, out)                                                                        \
    do {                                                                                           \
        for (ptrdiff_t q = 0; q < nsources; q++) {                                                 \
            stgnn_e_d8 v;                                                                          \
            if (isFloat32[q]) {                                                                    \
                stgnn_e_f8 f; memcpy(&f, (const float *)sources[q] + j * ldct + (o), sizeof f);   \
                v = __builtin_convertvector(f, stgnn_e_d8);                                        \
            } else {                                                                               \
                memcpy(&v, (const double *)sources[q] + j * ldct + (o), sizeof v);                \
            }                                                                                      \
            if (q == 0) out = v; else out = out + v;                                               \
        }                                                                                          \
    } while (0)

#define STGNN_E_ROWS_BODY                                                                          \
    _Pragma("clang fp contract(off)")                                                              \
    stgnn_e_d8 k8, w8;                                                                             \
    memcpy(&k8, kl, sizeof k8); memcpy(&w8, wl, sizeof w8);                                        \
    const stgnn_e_d8 sc = (stgnn_e_d8){0} + scale;                                                 \
    for (ptrdiff_t j = 0; j < genes; j++) {                                                        \
        float *o = out + j * ldo;                                                                  \
        for (ptrdiff_t a = 0; a < d; a += 8) {                                                     \
            stgnn_e_d8 wv, kv, cv = {0}, gv = {0};                                                 \
            memcpy(&wv, w + j * d + a, sizeof wv);                                                 \
            memcpy(&kv, kw + j * d + a, sizeof kv);                                                \
            STGNN_E_SUM(a, cv);                                                                    \
            STGNN_E_SUM(d + a, gv);                                                                \
            const stgnn_e_d8 pk = wv * kv, pc = wv * cv;                                           \
            k8 = k8 + pk;                                                                          \
            w8 = w8 + pc;                                                                          \
            const stgnn_e_d8 diff = kv - cv;                                                       \
            const stgnn_e_d8 g2 = sc * diff;                                                       \
            stgnn_e_f8 f1 = __builtin_convertvector(gv, stgnn_e_f8);                               \
            stgnn_e_f8 f2 = __builtin_convertvector(g2, stgnn_e_f8);                               \
            memcpy(o + a, &f1, sizeof f1);                                                         \
            memcpy(o + d + a, &f2, sizeof f2);                                                     \
        }                                                                                          \
    }                                                                                              \
    memcpy(kl, &k8, sizeof k8); memcpy(wl, &w8, sizeof w8);

#define STGNN_E_ROWS_ARGS ptrdiff_t genes, ptrdiff_t d, const double *w, const double *kw,                 \
    const void *const *sources, const unsigned char *isFloat32, ptrdiff_t nsources, ptrdiff_t ldct,     \
    double scale, float *out, ptrdiff_t ldo, double *kl, double *wl

static void rows_base(STGNN_E_ROWS_ARGS) { STGNN_E_ROWS_BODY }

#if defined(__x86_64__) && defined(__clang__)
__attribute__((target("avx2"))) static void rows_avx2(STGNN_E_ROWS_ARGS) { STGNN_E_ROWS_BODY }
__attribute__((target("avx512f"))) static void rows_avx512(STGNN_E_ROWS_ARGS) { STGNN_E_ROWS_BODY }
#endif

void stgnn_epilogue_rows(int level, STGNN_E_ROWS_ARGS) {
#if defined(__x86_64__) && defined(__clang__)
    if (level >= 2) { rows_avx512(genes, d, w, kw, sources, isFloat32, nsources, ldct, scale, out, ldo, kl, wl); return; }
    if (level == 1) { rows_avx2(genes, d, w, kw, sources, isFloat32, nsources, ldct, scale, out, ldo, kl, wl); return; }
#endif
    (void)level;
    rows_base(genes, d, w, kw, sources, isFloat32, nsources, ldct, scale, out, ldo, kl, wl);
}
