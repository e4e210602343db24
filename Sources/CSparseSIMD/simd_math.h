// Lane-wise helpers shared by the C kernels of this target (readout_simd.c, bce_simd.c): one
// definition of the vector exp, so that every kernel computes e^x with the operations of
// `VectorMath.exp`. Private to the target (not under include/).
#ifndef STGNN_SIMD_MATH_H
#define STGNN_SIMD_MATH_H

// Lane select by a comparison mask: mask ? a : b. V vector of floats, U its uint32 twin.
#define STGNN_R_SEL(V, U, mask, a, b) ((V)(((U)(mask) & (U)(a)) | (~(U)(mask) & (U)(b))))

// e^x as `VectorMath.exp`, operation for operation.
#define STGNN_R_EXP(V, U, x, out)                                                                  \
    do {                                                                                           \
        const V hi = (V){0} + 88.0f, lo = (V){0} + -87.33654f, magic = (V){0} + 12582912.0f;       \
        /* pointwiseMin/Max are IEEE minimum/maximum: a NaN lane takes the bound (88). */         \
        V xc = STGNN_R_SEL(V, U, (x) <= hi, (x), hi);                                              \
        xc = STGNN_R_SEL(V, U, lo > xc, lo, xc);                                                   \
        const V t = xc * 1.44269504f + magic;                                                      \
        const V nn = t - magic;                                                                    \
        const V r = xc - nn * 0.693359375f + nn * 2.1219444e-4f;                                   \
        V p = (V){0} + 1.98756915e-4f;                                                             \
        p = p * r + 1.3981999507e-3f;                                                              \
        p = p * r + 8.3334519073e-3f;                                                              \
        p = p * r + 4.1665795894e-2f;                                                              \
        p = p * r + 1.6666665459e-1f;                                                              \
        p = p * r + 5.0000001201e-1f;                                                              \
        p = p * (r * r) + r + 1.0f;                                                                \
        const U ni = (U)t - (U)magic;                                                              \
        (out) = p * (V)((ni + 127u) << 23);                                                        \
    } while (0)

#endif
