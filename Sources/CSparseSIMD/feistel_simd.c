// Vectorised Feistel permutation behind feistel_simd.h: see there for why it is C and why every
// level gives the bits of the Swift scalar code.
#include "feistel_simd.h"
#include <string.h>

// The round function of `FeistelPermutation.f`: a keyed 64-bit mix of x, reduced to [0, m) by the
// high half of the 128-bit product z·m, here from 32-bit halves (m < 2³²: no term overflows).
#define STGNN_F_ROUND(U, key, x, m)                                                                \
    ({                                                                                             \
        U z_ = (x) ^ (key);                                                                        \
        z_ = (z_ ^ (z_ >> 30)) * 0xBF58476D1CE4E5B9ull;                                            \
        z_ = (z_ ^ (z_ >> 27)) * 0x94D049BB133111EBull;                                            \
        z_ = z_ ^ (z_ >> 31);                                                                      \
        const U hi_ = (z_ >> 32) * (m), lo_ = (z_ & 0xFFFFFFFFull) * (m);                          \
        (hi_ + (lo_ >> 32)) >> 32;                                                                 \
    })

// mask ? a : b, lane by lane (mask: all ones or zero per lane).
#define STGNN_F_SEL(U, mask, a, b) ((U)(((U)(mask) & (a)) | (~(U)(mask) & (b))))

// One pass of the network on W lanes (encrypt or decrypt), then the cycle-walk: lanes whose value
// is ≥ count pass again until every lane is inside.
#define STGNN_F_BODY(U, D, W)                                                                      \
    ptrdiff_t i = 0;                                                                               \
    for (; i < n; i += (W)) {                                                                      \
        const ptrdiff_t w = n - i < (W) ? n - i : (W);                                             \
        U x = (U){0};                                                                              \
        for (ptrdiff_t j = 0; j < w; j++) x[j] = (uint64_t)in[i + j];                              \
        U todo = (U){0} - 1;        /* every lane runs the first pass */                           \
        for (;;) {                                                                                 \
            const D xd = __builtin_convertvector(x, D);                                            \
            const U u0 = __builtin_convertvector(xd / (double)b, U); /* exact: see header */       \
            U u = u0, v = x - u0 * b, m1 = (U){0} + a, m2 = (U){0} + b;                           \
            if (!inverse) {                                                                        \
                for (int r = 0; r < 8; r++) {                                                      \
                    const U t = u + STGNN_F_ROUND(U, keys[r], v, m1);                              \
                    u = v;                                                                         \
                    v = STGNN_F_SEL(U, t >= m1, t - m1, t);                                        \
                    const U s = m1; m1 = m2; m2 = s;                                               \
                }                                                                                  \
            } else {                                                                               \
                for (int r = 7; r >= 0; r--) {                                                     \
                    const U s = m1; m1 = m2; m2 = s;                                               \
                    const U fv = STGNN_F_ROUND(U, keys[r], u, m1);                                 \
                    const U nu = STGNN_F_SEL(U, v >= fv, v - fv, v + m1 - fv);                     \
                    v = u;                                                                         \
                    u = nu;                                                                        \
                }                                                                                  \
            }                                                                                      \
            const U y = u * b + v;                                                                 \
            x = STGNN_F_SEL(U, todo, y, x);                                                        \
            todo = (U)(x >= count);                                                                \
            int any = 0;                                                                           \
            for (ptrdiff_t j = 0; j < w; j++) any |= todo[j] != 0;                                 \
            if (!any) break;                                                                       \
        }                                                                                          \
        for (ptrdiff_t j = 0; j < w; j++) out[i + j] = (int64_t)x[j];                              \
    }

#define STGNN_F_ARGS int inverse, ptrdiff_t n, const int64_t *in, int64_t *out, uint64_t count,    \
    uint64_t a, uint64_t b, const uint64_t keys[8]

typedef uint64_t stgnn_f_u2 __attribute__((vector_size(16)));
typedef double stgnn_f_d2 __attribute__((vector_size(16)));
static void feistel_base(STGNN_F_ARGS) { STGNN_F_BODY(stgnn_f_u2, stgnn_f_d2, 2) }

#if defined(__x86_64__) && defined(__clang__)
typedef uint64_t stgnn_f_u4 __attribute__((vector_size(32)));
typedef double stgnn_f_d4 __attribute__((vector_size(32)));
typedef uint64_t stgnn_f_u8 __attribute__((vector_size(64)));
typedef double stgnn_f_d8 __attribute__((vector_size(64)));
__attribute__((target("avx2"))) static void feistel_avx2(STGNN_F_ARGS) { STGNN_F_BODY(stgnn_f_u4, stgnn_f_d4, 4) }
__attribute__((target("avx512f,avx512dq"))) static void feistel_avx512(STGNN_F_ARGS) {
    STGNN_F_BODY(stgnn_f_u8, stgnn_f_d8, 8)
}
#endif

void stgnn_feistel(int level, STGNN_F_ARGS) {
#if defined(__x86_64__) && defined(__clang__)
    if (level >= 2 && __builtin_cpu_supports("avx512dq")) { feistel_avx512(inverse, n, in, out, count, a, b, keys); return; }
    if (level >= 1) { feistel_avx2(inverse, n, in, out, count, a, b, keys); return; }
#endif
    (void)level;
    feistel_base(inverse, n, in, out, count, a, b, keys);
}
