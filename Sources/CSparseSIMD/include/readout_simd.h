// The per-half-row loops of the local readout, vectorised (AVX-512, AVX2, or the target's
// baseline vectors).
//
// Why C: the Swift loops (STModel's `LocalReadout`, kept as `summaries_ref` / `backwardRows_ref`)
// run on SIMD8<Float>, which the baseline x86-64 target lowers to pairs of SSE instructions, and
// Swift has no per-function target attribute; the n·2d sigmoids and the three divisions per value
// of the backward were ~1 ms of a one-thread DLPFC epoch. Arithmetic contract: exactly the float32
// operations of the Swift loops, in their order, with no fused multiply-add: the elementwise parts
// (exp, sigmoid, divisions) are lane-independent and correctly rounded at every width; the two
// sums (‖s‖² and the backward's dot product) keep the Swift loops' eight running lanes (lane j
// sums the values j, j+8, j+16, … in turn) and add the lanes 0…7 in order from −0, as
// SIMD8.sum() does. So every level gives the bits of the Swift loops.
#ifndef STGNN_READOUT_SIMD_H
#define STGNN_READOUT_SIMD_H

#include <stddef.h>

/// For half-rows h in [h0, h1) of s (read as rows of d floats, d a multiple of 8):
/// nr = max(‖s_h‖, 1e-12), norms[h] = nr, g_h = σ(s_h / nr), σ(x) = 1 / (1 + exp(−x)) with
/// `VectorMath.exp` (Cephes' polynomial, Cody–Waite reduction, inputs clamped to [−87.33654, 88]).
/// level: 2 AVX-512, 1 AVX2, 0 baseline (as `stgnn_simd_level`; a level the CPU lacks must not be passed).
void stgnn_readout_summaries(int level, ptrdiff_t h0, ptrdiff_t h1, ptrdiff_t d, const float *s, float *g,
                             float *norms);

/// For half-rows h in [h0, h1), in place in ds (∂g in, ∂s out): dq = ∂g·g·(1 − g),
/// dot = Σ dq·(s/nr), ∂s = (dq − (s/nr)·(dot·k)) / nr with nr = norms[h], k = 1 if nr > 1e-12 else 0.
void stgnn_readout_backward(int level, ptrdiff_t h0, ptrdiff_t h1, ptrdiff_t d, const float *s, const float *g,
                            const float *norms, float *ds);

#endif
