// One Adam step over float32 arrays, vectorised (AVX-512, AVX2, or the target's baseline vectors).
//
// Why C: Swift's SIMD squareRoot() compiles to one scalar sqrtss (and a libm fallback) per lane,
// and Swift has no per-function target attribute; clang's elementwise sqrt on vector types gives
// vsqrtps. Arithmetic contract: exactly the float32 operations of STModel's `adamUpdate_ref`, in its
// order, with no fused multiply-add (IEEE sqrt, division, multiply and add are correctly rounded
// in every vector width), so every level gives the same bits as the scalar reference.
#ifndef STGNN_ADAM_SIMD_H
#define STGNN_ADAM_SIMD_H

#include <stddef.h>

/// For i in [0, n): m ← m + (g − m)·(1 − b1); v ← v·b2 + (1 − b2)·g·g;
/// p ← p − step·(m / (√v / bc2sqrt + eps)). level: 2 AVX-512, 1 AVX2, 0 baseline (as
/// `stgnn_simd_level`; a level the CPU lacks must not be passed).
void stgnn_adam_update(int level, ptrdiff_t n, float *p, const float *g, float *m, float *v,
                       float b1, float b2, float eps, float step, float bc2sqrt);

#endif
