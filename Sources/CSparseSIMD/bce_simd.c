// Vectorised binary cross-entropy with logits behind bce_simd.h: see there for why it is C and
// for the arithmetic contract.
#include "bce_simd.h"
#include <stdint.h>
#include <string.h>
#include "simd_math.h"

typedef float stgnn_b_f4 __attribute__((vector_size(16)));
typedef uint32_t stgnn_b_u4 __attribute__((vector_size(16)));
typedef float stgnn_b_f8 __attribute__((vector_size(32)));
typedef uint32_t stgnn_b_u8 __attribute__((vector_size(32)));

// W values at q (q a multiple of 4: lanes alternate labels 1, 0, …). `even`: lanes with label 1.
#define STGNN_B_STEP(V, U, W)                                                                      \
    do {                                                                                           \
        V s; memcpy(&s, logits + q, sizeof s);                                                     \
        const V zero = (V){0};                                                                     \
        const V a = STGNN_R_SEL(V, U, s < zero, -s, s);                                            \
        V ex; /* e^−a, `VectorMath.exp` (the macro's own locals include a t) */                     \
        STGNN_R_EXP(V, U, -a, ex);                                                                 \
        const V t = ex;                                                                            \
        /* l = log1p(t), t ∈ (0, 1]: Cephes' logf polynomial on x = t (e = 0) below √2 − 1, */  \
        /* else on x = (1 + t)·0.5 − 1 with e = 1 (exact halving: 1 + t ∈ [√2, 2]). */           \
        const V small = (V)(t < zero + 0.41421356f);                                               \
        const V big = (V)(~(U)small);                                                              \
        const V x = STGNN_R_SEL(V, U, small, t, (1.0f + t) * 0.5f - 1.0f);                         \
        const V e = (V)((U)big & (U)(zero + 1.0f));                                                \
        const V z = x * x;                                                                         \
        V y = zero + 7.0376836292e-2f;                                                             \
        y = y * x - 1.1514610310e-1f;                                                              \
        y = y * x + 1.1676998740e-1f;                                                              \
        y = y * x - 1.2420140846e-1f;                                                              \
        y = y * x + 1.4249322787e-1f;                                                              \
        y = y * x - 1.6668057665e-1f;                                                              \
        y = y * x + 2.0000714765e-1f;                                                              \
        y = y * x - 2.4999993993e-1f;                                                              \
        y = y * x + 3.3333331174e-1f;                                                              \
        y = y * x * z;                                                                             \
        y = y + e * -2.12194440e-4f;                                                               \
        y = y + z * -0.5f;                                                                         \
        const V l = x + y + e * 0.693359375f;                                                      \
        /* Softplus of the term: label 1 → sp(−s), label 0 → sp(s); max(v, 0) + l. */             \
        const V v = STGNN_R_SEL(V, U, even, -s, s);                                                \
        const V term = STGNN_R_SEL(V, U, v > zero, v, zero) + l;                                   \
        memcpy(terms + q, &term, sizeof term);                                                     \
        const V one = zero + 1.0f;                                                                 \
        const V den = one + t;                                                                     \
        const V sg = STGNN_R_SEL(V, U, s >= zero, one / den, t / den);                             \
        const V yl = (V)((U)even & (U)one);                                                        \
        const V dl = (sg - yl) * w;                                                                \
        memcpy(dlogits + q, &dl, sizeof dl);                                                       \
    } while (0)

#define STGNN_B_BODY(V, U, W)                                                                      \
    _Pragma("clang fp contract(off)")                                                              \
    U even;                                                                                        \
    for (int j = 0; j < (W); j++) even[j] = (j % 2 == 0) ? 0xFFFFFFFFu : 0u;                       \
    ptrdiff_t q = q0;                                                                              \
    for (; q + (W) <= q1; q += (W)) STGNN_B_STEP(V, U, W);                                         \
    for (; q < q1; q += 4) {                                                                       \
        stgnn_b_u4 even4 = {0xFFFFFFFFu, 0u, 0xFFFFFFFFu, 0u};                                     \
        { const stgnn_b_u4 even = even4; STGNN_B_STEP(stgnn_b_f4, stgnn_b_u4, 4); }                \
    }

#define STGNN_B_ARGS ptrdiff_t q0, ptrdiff_t q1, const float *logits, float w, float *terms, float *dlogits

static void bce_base(STGNN_B_ARGS) { STGNN_B_BODY(stgnn_b_f4, stgnn_b_u4, 4) }

#if defined(__x86_64__) && defined(__clang__)
typedef float stgnn_b_f16 __attribute__((vector_size(64)));
typedef uint32_t stgnn_b_u16 __attribute__((vector_size(64)));
__attribute__((target("avx2"))) static void bce_avx2(STGNN_B_ARGS) { STGNN_B_BODY(stgnn_b_f8, stgnn_b_u8, 8) }
__attribute__((target("avx512f"))) static void bce_avx512(STGNN_B_ARGS) { STGNN_B_BODY(stgnn_b_f16, stgnn_b_u16, 16) }
#endif

void stgnn_bce_terms(int level, STGNN_B_ARGS) {
#if defined(__x86_64__) && defined(__clang__)
    if (level >= 2) { bce_avx512(q0, q1, logits, w, terms, dlogits); return; }
    if (level == 1) { bce_avx2(q0, q1, logits, w, terms, dlogits); return; }
#endif
    (void)level;
    bce_base(q0, q1, logits, w, terms, dlogits);
}
