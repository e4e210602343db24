// Vectorised per-half-row loops of the local readout behind readout_simd.h: see there for why
// they are C and for the arithmetic contract.
#include "readout_simd.h"
#include <stdint.h>
#include <string.h>

typedef float stgnn_r_f8 __attribute__((vector_size(32)));
typedef float stgnn_r_f4 __attribute__((vector_size(16)));
typedef uint32_t stgnn_r_u4 __attribute__((vector_size(16)));
typedef int32_t stgnn_r_i4 __attribute__((vector_size(16)));
typedef int32_t stgnn_r_i8 __attribute__((vector_size(32)));
typedef uint32_t stgnn_r_u8 __attribute__((vector_size(32)));

#include "simd_math.h"

// Σ of the eight lanes 0…7 in order from −0 (SIMD8.sum()); eight floats from p. (Macros, not
// functions: a vector argument would cross the baseline ABI from the AVX functions.)
#define STGNN_R_SUM8(v) ({ float t_ = -0.0f; for (int j_ = 0; j_ < 8; j_++) t_ += (v)[j_]; t_; })
#define STGNN_R_LOAD8(p) ({ stgnn_r_f8 v_; memcpy(&v_, (p), sizeof v_); v_; })

// The bodies, at W floats per vector V (U: uint32 twin) for the lane-independent parts; the sums
// always run on eight lanes (f8) as the Swift loops do.
#define STGNN_R_SUMMARIES(V, U, W)                                                                 \
    _Pragma("clang fp contract(off)")                                                              \
    for (ptrdiff_t h = h0; h < h1; h++) {                                                          \
        const float *sh = s + h * d;                                                               \
        float *gh = g + h * d;                                                                     \
        stgnn_r_f8 sq = {0};                                                                       \
        for (ptrdiff_t a = 0; a < d; a += 8) { const stgnn_r_f8 v = STGNN_R_LOAD8(sh + a); sq = sq + v * v; } \
        const float root = __builtin_sqrtf(STGNN_R_SUM8(sq));                                      \
        const float nr = 1e-12f >= root ? 1e-12f : root;                                           \
        norms[h] = nr;                                                                             \
        ptrdiff_t a = 0;                                                                           \
        for (; a + (W) <= d; a += (W)) {                                                           \
            V x, e; memcpy(&x, sh + a, sizeof x);                                                  \
            x = -(x / nr);                                                                         \
            STGNN_R_EXP(V, U, x, e);                                                               \
            const V sg = 1.0f / (1.0f + e);                                                        \
            memcpy(gh + a, &sg, sizeof sg);                                                        \
        }                                                                                          \
        for (; a < d; a += 8) {                                                                    \
            stgnn_r_f8 x = STGNN_R_LOAD8(sh + a), e;                                               \
            x = -(x / nr);                                                                         \
            STGNN_R_EXP(stgnn_r_f8, stgnn_r_u8, x, e);                                             \
            const stgnn_r_f8 sg = 1.0f / (1.0f + e);                                               \
            memcpy(gh + a, &sg, sizeof sg);                                                        \
        }                                                                                          \
    }

#define STGNN_R_BACKWARD(V, W)                                                                     \
    _Pragma("clang fp contract(off)")                                                              \
    for (ptrdiff_t h = h0; h < h1; h++) {                                                          \
        const float *sh = s + h * d, *gh = g + h * d;                                              \
        float *dsh = ds + h * d;                                                                   \
        const float nr = norms[h];                                                                 \
        stgnn_r_f8 dotv = {0};                                                                     \
        for (ptrdiff_t a = 0; a < d; a += 8) {                                                     \
            const stgnn_r_f8 ga = STGNN_R_LOAD8(gh + a);                                           \
            const stgnn_r_f8 dq = STGNN_R_LOAD8(dsh + a) * ga * (1.0f - ga);                       \
            memcpy(dsh + a, &dq, sizeof dq);                                                       \
            dotv = dotv + dq * (STGNN_R_LOAD8(sh + a) / nr);                                       \
        }                                                                                          \
        const float k = nr > 1e-12f ? 1.0f : 0.0f, dk = STGNN_R_SUM8(dotv) * k;                    \
        ptrdiff_t a = 0;                                                                           \
        for (; a + (W) <= d; a += (W)) {                                                           \
            V q, dq; memcpy(&q, sh + a, sizeof q); memcpy(&dq, dsh + a, sizeof dq);                \
            q = q / nr;                                                                            \
            const V out = (dq - q * dk) / nr;                                                      \
            memcpy(dsh + a, &out, sizeof out);                                                     \
        }                                                                                          \
        for (; a < d; a += 8) {                                                                    \
            const stgnn_r_f8 q = STGNN_R_LOAD8(sh + a) / nr, dq = STGNN_R_LOAD8(dsh + a);          \
            const stgnn_r_f8 out = (dq - q * dk) / nr;                                             \
            memcpy(dsh + a, &out, sizeof out);                                                     \
        }                                                                                          \
    }

#define STGNN_R_SUMMARIES_ARGS ptrdiff_t h0, ptrdiff_t h1, ptrdiff_t d, const float *s, float *g, float *norms
#define STGNN_R_BACKWARD_ARGS                                                                      \
    ptrdiff_t h0, ptrdiff_t h1, ptrdiff_t d, const float *s, const float *g, const float *norms, float *ds

static void summaries_base(STGNN_R_SUMMARIES_ARGS) { STGNN_R_SUMMARIES(stgnn_r_f4, stgnn_r_u4, 4) }
static void backward_base(STGNN_R_BACKWARD_ARGS) { STGNN_R_BACKWARD(stgnn_r_f4, 4) }

#if defined(__x86_64__) && defined(__clang__)
typedef float stgnn_r_f16 __attribute__((vector_size(64)));
typedef uint32_t stgnn_r_u16 __attribute__((vector_size(64)));
__attribute__((target("avx2"))) static void summaries_avx2(STGNN_R_SUMMARIES_ARGS) {
    STGNN_R_SUMMARIES(stgnn_r_f8, stgnn_r_u8, 8)
}
__attribute__((target("avx2"))) static void backward_avx2(STGNN_R_BACKWARD_ARGS) { STGNN_R_BACKWARD(stgnn_r_f8, 8) }
__attribute__((target("avx512f"))) static void summaries_avx512(STGNN_R_SUMMARIES_ARGS) {
    STGNN_R_SUMMARIES(stgnn_r_f16, stgnn_r_u16, 16)
}
__attribute__((target("avx512f"))) static void backward_avx512(STGNN_R_BACKWARD_ARGS) {
    STGNN_R_BACKWARD(stgnn_r_f16, 16)
}
#endif

void stgnn_readout_summaries(int level, STGNN_R_SUMMARIES_ARGS) {
#if defined(__x86_64__) && defined(__clang__)
    if (level >= 2) { summaries_avx512(h0, h1, d, s, g, norms); return; }
    if (level == 1) { summaries_avx2(h0, h1, d, s, g, norms); return; }
#endif
    (void)level;
    summaries_base(h0, h1, d, s, g, norms);
}

void stgnn_readout_backward(int level, STGNN_R_BACKWARD_ARGS) {
#if defined(__x86_64__) && defined(__clang__)
    if (level >= 2) { backward_avx512(h0, h1, d, s, g, norms, ds); return; }
    if (level == 1) { backward_avx2(h0, h1, d, s, g, norms, ds); return; }
#endif
    (void)level;
    backward_base(h0, h1, d, s, g, norms, ds);
}
