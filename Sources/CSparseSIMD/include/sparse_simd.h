// Wide-vector (AVX2, AVX-512) instantiations of the two sparse×dense kernels of STCore's `Sparse`.
//
// Why C: Swift compiles for the baseline of the target (x86-64: SSE2, 4 floats per instruction)
// and has no per-function target attribute, so Swift kernels run 4-wide even on AVX-512 machines.
// These functions carry clang `target` attributes (sparse_simd.c), and `Sparse` calls them only
// after `stgnn_simd_level()` reported the instructions present: runtime dispatch, as OpenBLAS does,
// so one binary runs on every x86-64 node of a cluster.
//
// Arithmetic contract (shared with the Swift kernels and the `_ref` twins): every output element
// is a sequence of separate float32 multiplies and adds in stored entry order, starting from +0,
// with no fused multiply-add, so all paths give bitwise identical results.
#ifndef STGNN_SPARSE_SIMD_H
#define STGNN_SPARSE_SIMD_H

#include <stdint.h>
#include <stddef.h>

/// 2 when AVX-512F is usable (CPU and OS), 1 for AVX2, 0 otherwise (or not an x86-64 build).
int stgnn_simd_level(void);

// Column indices: `idx` points to int32_t (idx_bits = 32, any matrix) or uint16_t (idx_bits = 16,
// X when its genes fit, the row blocks of Xᵀ); both widths are instantiations of the same bodies.
// level: 2 = AVX-512, 1 = AVX2 (the caller checked `stgnn_simd_level()`).

/// C[i, 0..<w] = Σ_p val[p] · B[idx[p], 0..<w] for rows i in [r0, r1); with add = 1 each sum
/// continues from C's value instead of +0 (C += A·B: a row's column blocks taken in order).
void stgnn_spmm(int level, int add, int idx_bits, ptrdiff_t r0, ptrdiff_t r1, const ptrdiff_t *ptr,
                const void *idx, const float *val, const float *b, ptrdiff_t ldb, ptrdiff_t w,
                float *c, ptrdiff_t ldc);

/// acc[idx[p], 0..<w] += val[p] · B[i, 0..<w] for rows i in [r0, r1): the scatter of Aᵀ·B.
void stgnn_scatter(int level, int idx_bits, ptrdiff_t r0, ptrdiff_t r1, const ptrdiff_t *ptr,
                   const void *idx, const float *val, const float *b, ptrdiff_t ldb, ptrdiff_t w, float *acc);

#include "thread_pool.h"
#include "adam_simd.h"
#include "readout_simd.h"
#include "bce_simd.h"
#include "feistel_simd.h"
#include "epilogue_simd.h"

#endif
