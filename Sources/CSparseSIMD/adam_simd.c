// Vectorised Adam step behind adam_simd.h: see there for why it is C and for the arithmetic contract.
#include "adam_simd.h"
#include <string.h>

// Lanes of N floats (vector type V) while they last, then one at a time; the same expression
// as STModel's `adamUpdate_ref`, operation for operation.
#define STGNN_ADAM_BODY(V, N)                                                                   \
    _Pragma("clang fp contract(off)")                                                           \
    const float c1 = 1 - b1, c2 = 1 - b2;                                                       \
    ptrdiff_t i = 0;                                                                            \
    for (; i + (N) <= n; i += (N)) {                                                            \
        V pi, gi, mi, vi;                                                                       \
        memcpy(&pi, p + i, sizeof(V)); memcpy(&gi, g + i, sizeof(V));                           \
        memcpy(&mi, m + i, sizeof(V)); memcpy(&vi, v + i, sizeof(V));                           \
        mi = mi + (gi - mi) * c1;                                                               \
        vi = vi * b2 + c2 * gi * gi;                                                            \
        const V denom = __builtin_elementwise_sqrt(vi) / bc2sqrt + eps;                         \
        pi = pi - step * (mi / denom);                                                          \
        memcpy(p + i, &pi, sizeof(V)); memcpy(m + i, &mi, sizeof(V)); memcpy(v + i, &vi, sizeof(V)); \
    }                                                                                           \
    for (; i < n; i++) {                                                                        \
        const float gi = g[i];                                                                  \
        m[i] = m[i] + (gi - m[i]) * c1;                                                         \
        v[i] = v[i] * b2 + c2 * gi * gi;                                                        \
        const float denom = __builtin_elementwise_sqrt(v[i]) / bc2sqrt + eps;                   \
        p[i] = p[i] - step * (m[i] / denom);                                                    \
    }

#define STGNN_ADAM_ARGS                                                                         \
    ptrdiff_t n, float *p, const float *g, float *m, float *v, float b1, float b2, float eps,  \
    float step, float bc2sqrt

typedef float stgnn_adam_v4 __attribute__((vector_size(16)));
static void adam_base(STGNN_ADAM_ARGS) { STGNN_ADAM_BODY(stgnn_adam_v4, 4) }

#if defined(__x86_64__) && defined(__clang__)
typedef float stgnn_adam_v8 __attribute__((vector_size(32)));
typedef float stgnn_adam_v16 __attribute__((vector_size(64)));
__attribute__((target("avx2"))) static void adam_avx2(STGNN_ADAM_ARGS) { STGNN_ADAM_BODY(stgnn_adam_v8, 8) }
__attribute__((target("avx512f"))) static void adam_avx512(STGNN_ADAM_ARGS) { STGNN_ADAM_BODY(stgnn_adam_v16, 16) }
#endif

void stgnn_adam_update(int level, STGNN_ADAM_ARGS) {
#if defined(__x86_64__) && defined(__clang__)
    if (level >= 2) { adam_avx512(n, p, g, m, v, b1, b2, eps, step, bc2sqrt); return; }
    if (level == 1) { adam_avx2(n, p, g, m, v, b1, b2, eps, step, bc2sqrt); return; }
#endif
    (void)level;
    adam_base(n, p, g, m, v, b1, b2, eps, step, bc2sqrt);
}
