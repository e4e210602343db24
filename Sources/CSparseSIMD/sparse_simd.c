// AVX2 / AVX-512 kernels behind sparse_simd.h: see there for why they are C and for the
// arithmetic contract. Non-x86-64 builds get only stgnn_simd_level() = 0 (and the entry points
// abort if called, which `Sparse` never does then).
#include "sparse_simd.h"
#include <stdlib.h>

#if defined(__x86_64__) && defined(__clang__)

typedef float stgnn_v16 __attribute__((vector_size(64)));

#define STGNN_LD16(p) ({ stgnn_v16 _v; __builtin_memcpy(&_v, (p), 64); _v; })
#define STGNN_ST16(p, v) do { stgnn_v16 _v = (v); __builtin_memcpy((p), &_v, 64); } while (0)

// C[i, j0..<j0 + 16·K] for one row while the row's entries stream past: K 16-float accumulators
// kept in registers. ADD = 1 starts each accumulator from C's current value instead of +0
// (C += A·B): the sum of a row whose entries come in several column blocks, block after block, is
// then the same sequence of operations as the sum over the whole row.
#define STGNN_SPMM_CHUNKS(K, ADD)                                                               \
    for (; j0 + 16 * (K) <= w; j0 += 16 * (K)) {                                                \
        stgnn_v16 acc[K];                                                                       \
        for (int k = 0; k < (K); k++)                                                           \
            acc[k] = (ADD) ? STGNN_LD16(ci + j0 + 16 * k) : (stgnn_v16){0};                     \
        for (ptrdiff_t p = lo; p < hi; p++) {                                                   \
            const stgnn_v16 v = (stgnn_v16){0} + val[p];                                        \
            const float *bp = b + (ptrdiff_t)idx[p] * ldb + j0;                                 \
            for (int k = 0; k < (K); k++) acc[k] = acc[k] + v * STGNN_LD16(bp + 16 * k);        \
        }                                                                                       \
        for (int k = 0; k < (K); k++) STGNN_ST16(ci + j0 + 16 * k, acc[k]);                     \
    }

// C[i, 0..<w] = Σ_p val[p] · B[idx[p], 0..<w] for rows i in [r0, r1): the row's columns in chunks
// of 16·NACC (NACC = 8 or 4), then 64, 32 and 16 columns, then one at a time. Every output element
// is the same sequence of operations whichever chunk holds it.
#define STGNN_SPMM_BODY(NACC, ADD)                                                              \
    _Pragma("clang fp contract(off)")                                                           \
    for (ptrdiff_t i = r0; i < r1; i++) {                                                       \
        float *ci = c + i * ldc;                                                                \
        const ptrdiff_t lo = ptr[i], hi = ptr[i + 1];                                           \
        ptrdiff_t j0 = 0;                                                                       \
        if ((NACC) >= 8) STGNN_SPMM_CHUNKS(8, ADD)                                              \
        if ((NACC) >= 4) STGNN_SPMM_CHUNKS(4, ADD)                                              \
        STGNN_SPMM_CHUNKS(2, ADD)                                                               \
        STGNN_SPMM_CHUNKS(1, ADD)                                                               \
        for (; j0 < w; j0++) {                                                                  \
            float s = (ADD) ? ci[j0] : 0;                                                       \
            for (ptrdiff_t p = lo; p < hi; p++) s = s + val[p] * b[(ptrdiff_t)idx[p] * ldb + j0]; \
            ci[j0] = s;                                                                         \
        }                                                                                       \
    }

// acc[idx[p], 0..<w] += val[p] · B[i, 0..<w] for rows i in [r0, r1) (acc row stride w): the
// row's chunk of B kept in registers while its entries are scattered.
#define STGNN_SCATTER_BODY(NACC)                                                                \
    _Pragma("clang fp contract(off)")                                                           \
    for (ptrdiff_t i = r0; i < r1; i++) {                                                       \
        const float *bi = b + i * ldb;                                                          \
        const ptrdiff_t lo = ptr[i], hi = ptr[i + 1];                                           \
        ptrdiff_t j0 = 0;                                                                       \
        for (; j0 + 16 * (NACC) <= w; j0 += 16 * (NACC)) {                                      \
            stgnn_v16 bv[NACC];                                                                 \
            for (int k = 0; k < (NACC); k++) bv[k] = STGNN_LD16(bi + j0 + 16 * k);              \
            for (ptrdiff_t p = lo; p < hi; p++) {                                               \
                const stgnn_v16 v = (stgnn_v16){0} + val[p];                                    \
                float *ap = acc + (ptrdiff_t)idx[p] * w + j0;                                   \
                for (int k = 0; k < (NACC); k++)                                                \
                    STGNN_ST16(ap + 16 * k, STGNN_LD16(ap + 16 * k) + v * bv[k]);               \
            }                                                                                   \
        }                                                                                       \
        for (; j0 + 16 <= w; j0 += 16) {                                                        \
            const stgnn_v16 bv = STGNN_LD16(bi + j0);                                           \
            for (ptrdiff_t p = lo; p < hi; p++) {                                               \
                float *ap = acc + (ptrdiff_t)idx[p] * w + j0;                                   \
                STGNN_ST16(ap, STGNN_LD16(ap) + ((stgnn_v16){0} + val[p]) * bv);                \
            }                                                                                   \
        }                                                                                       \
        for (; j0 < w; j0++) {                                                                  \
            const float bj = bi[j0];                                                            \
            for (ptrdiff_t p = lo; p < hi; p++) acc[(ptrdiff_t)idx[p] * w + j0] += val[p] * bj; \
        }                                                                                       \
    }

// IDX: the column index type, int32_t (any matrix) or uint16_t (X when its genes fit 16 bits,
// the blocks of Xᵀ): the same bodies instantiated for both, so the arithmetic is the same.
#define STGNN_KERNEL_ARGS(IDX)                                                                  \
    ptrdiff_t r0, ptrdiff_t r1, const ptrdiff_t *ptr, const IDX *idx, const float *val,         \
    const float *b, ptrdiff_t ldb, ptrdiff_t w

// `spmm` chunk widths: AVX-512 128 columns (8 zmm), AVX2 64 (8 ymm). Measured on DLPFC
// (docs/PERFORMANCE.md, "Update: wider register chunks"): with X in column blocks of 128 genes
// (B's rows in L2), 128-column chunks run X·B 1.28× and the Xᵀ gather 1.24× faster than 32-column
// ones (a row's indices and values are read once per 128 columns instead of four times); Â and M
// (4–7 entries a row) gain 1.03–1.10×. Before the column blocks, when B's rows came from L3,
// 32-column chunks had been fastest: the best width depends on the layout. Rows with many entries
// against 64- or 128-column chunks made no difference (≤ 4 %). The scatter keeps 32 columns.

// Each kernel in both index widths: SUFFIX names the width (_i32 for int32_t, _u16 for uint16_t).
#define STGNN_INSTANTIATE(IDX, SUFFIX)                                                          \
    /* AVX2 `spmm`: 64 columns per chunk in 8 ymm accumulators. */                              \
    __attribute__((target("avx2")))                                                            \
    static void spmm_avx2##SUFFIX(STGNN_KERNEL_ARGS(IDX), float *c, ptrdiff_t ldc) { STGNN_SPMM_BODY(4, 0) } \
    /* AVX-512 `spmm`: 128 columns per chunk in 8 zmm accumulators. */                          \
    __attribute__((target("avx512f")))                                                         \
    static void spmm_avx512##SUFFIX(STGNN_KERNEL_ARGS(IDX), float *c, ptrdiff_t ldc) { STGNN_SPMM_BODY(8, 0) } \
    /* AVX2 `spmm`, adding into C (C += A·B). */                                                \
    __attribute__((target("avx2")))                                                            \
    static void spmm_add_avx2##SUFFIX(STGNN_KERNEL_ARGS(IDX), float *c, ptrdiff_t ldc) { STGNN_SPMM_BODY(4, 1) } \
    /* AVX-512 `spmm`, adding into C (C += A·B). */                                             \
    __attribute__((target("avx512f")))                                                         \
    static void spmm_add_avx512##SUFFIX(STGNN_KERNEL_ARGS(IDX), float *c, ptrdiff_t ldc) { STGNN_SPMM_BODY(8, 1) } \
    /* AVX2 scatter of the transposed product: 32 columns of B's row in 4 ymm registers. */     \
    __attribute__((target("avx2")))                                                            \
    static void scatter_avx2##SUFFIX(STGNN_KERNEL_ARGS(IDX), float *acc) { STGNN_SCATTER_BODY(2) } \
    /* AVX-512 scatter of the transposed product: 32 columns of B's row in 2 zmm registers. */  \
    __attribute__((target("avx512f")))                                                         \
    static void scatter_avx512##SUFFIX(STGNN_KERNEL_ARGS(IDX), float *acc) { STGNN_SCATTER_BODY(2) } \
    static void spmm##SUFFIX(int level, int add, STGNN_KERNEL_ARGS(IDX), float *c, ptrdiff_t ldc) {     \
        if (level >= 2) (add ? spmm_add_avx512##SUFFIX : spmm_avx512##SUFFIX)(r0, r1, ptr, idx, val, b, ldb, w, c, ldc); \
        else (add ? spmm_add_avx2##SUFFIX : spmm_avx2##SUFFIX)(r0, r1, ptr, idx, val, b, ldb, w, c, ldc); \
    }                                                                                           \
    static void scatter##SUFFIX(int level, STGNN_KERNEL_ARGS(IDX), float *acc) {                \
        (level >= 2 ? scatter_avx512##SUFFIX : scatter_avx2##SUFFIX)(r0, r1, ptr, idx, val, b, ldb, w, acc); \
    }

STGNN_INSTANTIATE(int32_t, _i32)
STGNN_INSTANTIATE(uint16_t, _u16)

void stgnn_spmm(int level, int add, int idx_bits, ptrdiff_t r0, ptrdiff_t r1, const ptrdiff_t *ptr,
                const void *idx, const float *val, const float *b, ptrdiff_t ldb, ptrdiff_t w,
                float *c, ptrdiff_t ldc) {
    if (idx_bits == 16) spmm_u16(level, add, r0, r1, ptr, (const uint16_t *)idx, val, b, ldb, w, c, ldc);
    else if (idx_bits == 32) spmm_i32(level, add, r0, r1, ptr, (const int32_t *)idx, val, b, ldb, w, c, ldc);
    else abort();
}

void stgnn_scatter(int level, int idx_bits, ptrdiff_t r0, ptrdiff_t r1, const ptrdiff_t *ptr,
                   const void *idx, const float *val, const float *b, ptrdiff_t ldb, ptrdiff_t w, float *acc) {
    if (idx_bits == 16) scatter_u16(level, r0, r1, ptr, (const uint16_t *)idx, val, b, ldb, w, acc);
    else if (idx_bits == 32) scatter_i32(level, r0, r1, ptr, (const int32_t *)idx, val, b, ldb, w, acc);
    else abort();
}

/// 2 when AVX-512F is usable (CPU and OS), 1 for AVX2, 0 otherwise.
int stgnn_simd_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2")) return 1;
    return 0;
}

#undef STGNN_SPMM_BODY
#undef STGNN_SPMM_CHUNKS
#undef STGNN_SCATTER_BODY
#undef STGNN_KERNEL_ARGS
#undef STGNN_INSTANTIATE
#undef STGNN_LD16
#undef STGNN_ST16

#else


/// Not an x86-64 clang build: only the portable Swift kernels exist (level 0, never dispatched here).
int stgnn_simd_level(void) { return 0; }

void stgnn_spmm(int level, int add, int idx_bits, ptrdiff_t r0, ptrdiff_t r1, const ptrdiff_t *ptr,
                const void *idx, const float *val, const float *b, ptrdiff_t ldb, ptrdiff_t w,
                float *c, ptrdiff_t ldc) { abort(); }
void stgnn_scatter(int level, int idx_bits, ptrdiff_t r0, ptrdiff_t r1, const ptrdiff_t *ptr,
                   const void *idx, const float *val, const float *b, ptrdiff_t ldb, ptrdiff_t w, float *acc) { abort(); }

#endif
