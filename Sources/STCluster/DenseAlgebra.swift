import CBLAS

/// Small dense float64 linear algebra (d×d, p×p, d ≤ a few hundred) over LAPACK/OpenBLAS.
///
/// Everything here is row-major. LAPACK is column-major, but every matrix handed to it is
/// symmetric, so the row-major array *is* the column-major matrix; only outputs need care.
enum DenseAlgebra {
    /// Symmetric eigen-decomposition A = Q diag(λ) Qᵀ of an n×n symmetric matrix (dsyev).
    ///
    /// - Parameter a: n×n row-major, symmetric (only its upper triangle, in row-major terms, is
    ///   read; callers symmetrise first so the result does not depend on which triangle).
    /// - Returns: λ (n, descending) and Q (n×n row-major, eigenvector j in column j), or nil when
    ///   LAPACK reports failure to converge.
    static func symmetricEigen(_ a: [Double], n: Int) -> (values: [Double], vectors: [Double])? {
        precondition(a.count == n * n)
        if n == 0 { return ([], []) }
        var work = a
        var w = [Double](repeating: 0, count: n)
        var nn = Int32(n), lda = Int32(n), info: Int32 = 0
        var jobz = Int8(UInt8(ascii: "V")), uplo = Int8(UInt8(ascii: "L"))
        // Workspace query, then the decomposition.
        var lwork: Int32 = -1
        var query = 0.0
        dsyev_(&jobz, &uplo, &nn, &work, &lda, &w, &query, &lwork, &info)
        guard info == 0 else { return nil }
        lwork = Int32(max(Double(3 * n), query.rounded(.up)))
        var scratch = [Double](repeating: 0, count: Int(lwork))
        dsyev_(&jobz, &uplo, &nn, &work, &lda, &w, &scratch, &lwork, &info)
        guard info == 0 else { return nil }
        // dsyev: ascending values, eigenvector j in column j of the column-major output, i.e.
        // contiguous at work[j*n ..< (j+1)*n]. Reverse to descending, store row-major columns.
        var values = [Double](repeating: 0, count: n)
        var vectors = [Double](repeating: 0, count: n * n)
        for jj in 0..<n {
            let j = n - 1 - jj
            values[jj] = w[j]
            for i in 0..<n { vectors[i * n + jj] = work[j * n + i] }
        }
        return (values, vectors)
    }

    /// Cholesky factor L (lower, row-major, A = L Lᵀ) of a symmetric positive definite n×n
    /// matrix (dpotrf), or nil when A is not numerically positive definite.
    static func cholesky(_ a: [Double], n: Int) -> [Double]? {
        precondition(a.count == n * n)
        if n == 0 { return [] }
        var f = a
        var nn = Int32(n), lda = Int32(n), info: Int32 = 0
        // Column-major 'U' gives A = UᵀU with U in the column-major upper triangle; read row-major,
        // that storage is Uᵀ = L in the lower triangle.
        var uplo = Int8(UInt8(ascii: "U"))
        dpotrf_(&uplo, &nn, &f, &lda, &info)
        guard info == 0 else { return nil }
        for i in 0..<n { for j in (i + 1)..<n { f[i * n + j] = 0 } }
        return f
    }

    /// Solves Y Lᵀ = X in place for n rows of width p (row i becomes L⁻¹ xᵢ): whitening by the
    /// lower Cholesky factor L (p×p row-major).
    static func whitenRows(_ x: UnsafeMutablePointer<Double>, rows n: Int, width p: Int, lower l: [Double]) {
        if n == 0 || p == 0 { return }
        l.withUnsafeBufferPointer { lb in
            cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit,
                        blasint(n), blasint(p), 1.0, lb.baseAddress!, blasint(p), x, blasint(p))
        }
    }

    /// (A + Aᵀ)/2 for an n×n row-major matrix: exact symmetry, so results never depend on which
    /// triangle a LAPACK routine reads.
    static func symmetrised(_ a: [Double], n: Int) -> [Double] {
        var s = a
        for i in 0..<n {
            for j in (i + 1)..<n {
                let v = 0.5 * (a[i * n + j] + a[j * n + i])
                s[i * n + j] = v; s[j * n + i] = v
            }
        }
        return s
    }
}
