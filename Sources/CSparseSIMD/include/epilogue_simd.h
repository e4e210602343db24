// The reconstruction epilogue's per-gene work (ReconstructionLoss.reduceRange after its dgemm),
// vectorised (AVX-512, AVX2, or the target's baseline vectors).
//
// Why C: the Swift loop runs on SIMD8<Double>, which the package's x86-64 baseline (SSE2) splits
// into four 2-lane operations, with the sum of the ranks' rows stored and reloaded between. On
// 1500 genes of DLPFC (d = 64, two sources) it took 0.20–0.27 ms beside the 0.19 ms dgemm, every
// epoch, on the critical path of every multi-rank run. Arithmetic contract: exactly the float64
// operations of STModel's Swift loop (`ReconstructionLoss.rows_ref`), lane-independent (lane j:
// latent indices ≡ j mod 8), multiplies and adds never fused, so every level gives its bits.
#ifndef STGNN_EPILOGUE_SIMD_H
#define STGNN_EPILOGUE_SIMD_H

#include <stddef.h>

/// For each gene j in 0..<genes, with the rows w[j·d…], kw[j·d…] (W2ᵀ and (K W2)ᵀ, d doubles
/// each) and c = the row j of [Cᵀ | ∂W1] (2d values) summed over the sources in order
/// (((s₀ + s₁) + s₂) + …, each widened to double; source q is float32 when isFloat32[q], its row j
/// at sources[q] + j·ldct elements), for a in 0..<d:
///   kl[a mod 8] += w[a]·kw[a];   wl[a mod 8] += w[a]·c[a]
///   out[j·ldo + a] = (float)c[d + a];   out[j·ldo + d + a] = (float)(scale·(kw[a] − c[a]))
/// d a multiple of 8; kl, wl 8 lanes each, added to. level: 2 AVX-512, 1 AVX2, 0 baseline (as
/// `stgnn_simd_level`; a level the CPU lacks must not be passed).
void stgnn_epilogue_rows(int level, ptrdiff_t genes, ptrdiff_t d, const double *w, const double *kw,
                         const void *const *sources, const unsigned char *isFloat32, ptrdiff_t nsources,
                         ptrdiff_t ldct, double scale, float *out, ptrdiff_t ldo, double *kl, double *wl);

#endif
