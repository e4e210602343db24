// The corruption permutation's Feistel network (STCore's `FeistelPermutation`), evaluated for
// many indices at once, vectorised (AVX-512, AVX2, or the target's baseline vectors).
//
// Why C: each evaluation is eight rounds of a 64-bit mix, a division to split the index and a
// cycle-walk; one value at a time in Swift it was 0.2 ms of a 9 ms epoch on DLPFC (π and π⁻¹ of
// every owned row), and Swift has no per-function target attribute for wider vectors. The lanes
// are independent: the division is done in float64 (exact: index < 2³³, divisor < 2¹⁸) and the
// 64 × 64 → high-64 multiply by m < 2³² from 32-bit halves (exact), so every level gives the
// bits of the scalar Swift (`FeistelPermutation.source(of:)`, `destination(of:)`, tested).
#ifndef STGNN_FEISTEL_SIMD_H
#define STGNN_FEISTEL_SIMD_H

#include <stddef.h>
#include <stdint.h>

/// out[i] = π(in[i]) (inverse = 0: `source(of:)`) or π⁻¹(in[i]) (inverse = 1: `destination(of:)`)
/// for i in [0, n), each in[i] in [0, count). a, b: the network's radices (a·b ≥ count, both
/// < 2¹⁸); keys: its 8 round keys. level: 2 AVX-512, 1 AVX2, 0 baseline (as `stgnn_simd_level`).
void stgnn_feistel(int level, int inverse, ptrdiff_t n, const int64_t *in, int64_t *out, uint64_t count,
                   uint64_t a, uint64_t b, const uint64_t keys[8]);

#endif
