// The discriminator's binary cross-entropy with logits, forward and backward in one pass,
// vectorised (AVX-512, AVX2, or the target's baseline vectors).
//
// Why C: libm's exp and log1p are scalar (and the loss took them in float64): on DLPFC the
// 4·N softplus terms and sigmoids were 0.25–0.36 ms of a 9 ms epoch on two threads. No library we
// depend on has vector log1p (glibc's libmvec has one only from 2.35, and not at every width),
// so the polynomial is Cephes' logf (S. L. Moshier), written out as STModel's Swift loop
// (`BCEWithLogits.terms_ref`) writes it. Arithmetic contract: per value, exactly the float32
// operations of that loop, lane-independent and with no fused multiply-add, so every level gives
// the bits of the Swift loop.
#ifndef STGNN_BCE_SIMD_H
#define STGNN_BCE_SIMD_H

#include <stddef.h>

/// For the flat values q in [q0, q1) of logits (N × 4, labels 1, 0, 1, 0 by column, so label
/// y_q = 1 when q is even): with t = exp(−|s|) (`VectorMath.exp`) and l = log1p(t) (Cephes' logf
/// polynomial, on t itself when t < √2 − 1, else on (1 + t)/2 − 1 with exponent 1),
/// terms[q] = max(y ? −s : s, 0) + l (the softplus of the loss term), and
/// dlogits[q] = w·(σ(s) − y) with σ(s) = 1/(1 + t) for s ≥ 0, t/(1 + t) otherwise.
/// level: 2 AVX-512, 1 AVX2, 0 baseline (as `stgnn_simd_level`; a level the CPU lacks must not be passed).
void stgnn_bce_terms(int level, ptrdiff_t q0, ptrdiff_t q1, const float *logits, float w, float *terms,
                     float *dlogits);

#endif
