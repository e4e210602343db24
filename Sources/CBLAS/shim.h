// OpenBLAS: the CBLAS interface, plus the few LAPACK routines (Fortran ABI, exported by
// libopenblas itself) that the dense d×d linear algebra needs.
#ifndef STGNN_CBLAS_SHIM_H
#define STGNN_CBLAS_SHIM_H
#include <cblas.h>

// Symmetric eigen-decomposition, double precision (column-major).
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
            double *w, double *work, const int *lwork, int *info);
// Cholesky factorisation, double precision (column-major).
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
#endif
