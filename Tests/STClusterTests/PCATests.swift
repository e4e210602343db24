import XCTest
import STCore
import STComm
@testable import STCluster

/// Oracle: cyclic Jacobi eigen-decomposition of a small symmetric matrix (independent of LAPACK).
/// Returns eigenvalues descending and eigenvectors as columns (row-major n×n).
func jacobiEigen(_ a0: [Double], n: Int) -> (values: [Double], vectors: [Double]) {
    var a = a0
    var v = [Double](repeating: 0, count: n * n)
    for i in 0..<n { v[i * n + i] = 1 }
    for _ in 0..<100 {
        var off = 0.0
        for i in 0..<n { for j in 0..<n where i != j { off += a[i * n + j] * a[i * n + j] } }
        if off < 1e-30 * max(1, a.reduce(0) { $0 + $1 * $1 }) { break }
        for p in 0..<n {
            for q in (p + 1)..<n where a[p * n + q] != 0 {
                let theta = (a[q * n + q] - a[p * n + p]) / (2 * a[p * n + q])
                let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot(), s = t * c
                for k in 0..<n {   // A ← A J (columns p, q)
                    let akp = a[k * n + p], akq = a[k * n + q]
                    a[k * n + p] = c * akp - s * akq; a[k * n + q] = s * akp + c * akq
                }
                for k in 0..<n {   // A ← Jᵀ A (rows p, q)
                    let apk = a[p * n + k], aqk = a[q * n + k]
                    a[p * n + k] = c * apk - s * aqk; a[q * n + k] = s * apk + c * aqk
                }
                for k in 0..<n {
                    let vkp = v[k * n + p], vkq = v[k * n + q]
                    v[k * n + p] = c * vkp - s * vkq; v[k * n + q] = s * vkp + c * vkq
                }
            }
        }
    }
    let order = (0..<n).sorted { a[$0 * n + $0] > a[$1 * n + $1] }
    var vals = [Double](), vecs = [Double](repeating: 0, count: n * n)
    for (jj, j) in order.enumerated() {
        vals.append(a[j * n + j])
        for i in 0..<n { vecs[i * n + jj] = v[i * n + j] }
    }
    return (vals, vecs)
}

/// Dense reference PCA: H = A·W formed explicitly (float64), its G×G covariance decomposed by
/// Jacobi, sklearn's sign rule applied to each axis; scores = H_c V.
func densePCA(_ a: Matrix, _ w: Matrix?, k: Int) -> (scores: [Double], variance: [Double], ratio: [Double], axes: [Double]) {
    let n = a.rows, d = a.cols, g = w?.cols ?? d
    var h = [Double](repeating: 0, count: n * g)
    for i in 0..<n {
        for c in 0..<g {
            if let w {
                var s = 0.0
                for l in 0..<d { s += Double(a[i, l]) * Double(w[l, c]) }
                h[i * g + c] = s
            } else {
                h[i * g + c] = Double(a[i, c])
            }
        }
    }
    for c in 0..<g {
        var m = 0.0
        for i in 0..<n { m += h[i * g + c] }
        m /= Double(n)
        for i in 0..<n { h[i * g + c] -= m }
    }
    var cov = [Double](repeating: 0, count: g * g)
    for r in 0..<g { for c in 0..<g { var s = 0.0; for i in 0..<n { s += h[i * g + r] * h[i * g + c] }; cov[r * g + c] = s / Double(n - 1) } }
    let total = (0..<g).reduce(0.0) { $0 + cov[$1 * g + $1] }
    var (vals, vecs) = jacobiEigen(cov, n: g)
    for j in 0..<k {   // svd_flip(u_based_decision=False): largest |entry| of each axis positive
        var best = 0.0, sign = 1.0
        for r in 0..<g where abs(vecs[r * g + j]) > best { best = abs(vecs[r * g + j]); sign = vecs[r * g + j] < 0 ? -1 : 1 }
        for r in 0..<g { vecs[r * g + j] *= sign }
    }
    var scores = [Double](repeating: 0, count: n * k)
    for i in 0..<n { for j in 0..<k { var s = 0.0; for r in 0..<g { s += h[i * g + r] * vecs[r * g + j] }; scores[i * k + j] = s } }
    var axes = [Double](repeating: 0, count: k * g)
    for j in 0..<k { for r in 0..<g { axes[j * g + r] = vecs[r * g + j] } }
    vals = Array(vals[0..<k])
    return (scores, vals, vals.map { $0 / total }, axes)
}

func maxRelErr(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    var num = 0.0, den = 0.0
    for i in a.indices { num = max(num, abs(a[i] - b[i])); den = max(den, abs(b[i])) }
    return den > 0 ? num / den : num
}

func randomMatrix(_ r: Int, _ c: Int, seed: UInt64, scale: Double = 1) -> Matrix {
    var g = Normal(seed: seed)
    return Matrix(rows: r, cols: c, data: (0..<(r * c)).map { _ in Float(g.next() * scale) })
}

final class PCATests: XCTestCase {
    /// A with a decaying spectrum (so the k axes are well separated), plus an offset.
    func problem(n: Int = 60, d: Int = 8, g: Int = 25) -> (Matrix, Matrix) {
        var a = randomMatrix(n, d, seed: 1)
        for i in 0..<n { for j in 0..<d { a[i, j] = a[i, j] * Float(1.0 / Double(j + 1)) + 3 } }
        return (a, randomMatrix(d, g, seed: 2, scale: 0.3))
    }

    func testMatchesDenseCovarianceOfExplicitH() throws {
        let (a, w) = problem()
        let k = 5
        let r = try PCA.fit(rows: a, projection: w, components: k, comm: SingleProcessCommunicator())
        let ref = densePCA(a, w, k: k)
        XCTAssertEqual(r.components, k)
        XCTAssertLessThan(maxRelErr(r.scores.data, ref.scores), 1e-10, "scores, including signs")
        XCTAssertLessThan(maxRelErr(r.explainedVariance, ref.variance), 1e-10)
        XCTAssertLessThan(maxRelErr(r.explainedVarianceRatio, ref.ratio), 1e-10)
        XCTAssertLessThan(maxRelErr(PCA.components(of: r, projection: w).data, ref.axes), 1e-10, "components_")
    }

    func testIdentityProjectionIsPCAOfRowsThemselves() throws {
        let (a, _) = problem()
        let r = try PCA.fit(rows: a, projection: nil, components: 4, comm: SingleProcessCommunicator())
        let ref = densePCA(a, nil, k: 4)
        XCTAssertLessThan(maxRelErr(r.scores.data, ref.scores), 1e-10)
        XCTAssertLessThan(maxRelErr(r.explainedVariance, ref.variance), 1e-10)
        XCTAssertLessThan(maxRelErr(r.explainedVarianceRatio, ref.ratio), 1e-10)
    }

    func testOneAndThreeRanksAgree() throws {
        let (a, w) = problem()
        let one = try PCA.fit(rows: a, projection: w, components: 5, comm: SingleProcessCommunicator())
        let split = randomSplit(a.rows, parts: 3, seed: 5)
        let parts = try ThreadGroupCommunicator.run(ranks: 3) { comm in
            try PCA.fit(rows: selectRows(a, split[comm.rank]), projection: w, components: 5, comm: comm)
        }
        for (rank, p) in parts.enumerated() {
            XCTAssertLessThan(maxRelErr(p.explainedVariance, one.explainedVariance), 1e-12)
            XCTAssertLessThan(maxRelErr(p.scores.data, selectRows(one.scores, split[rank]).data), 1e-11)
        }
    }

    func testRankDeficientProjectionDropsNullComponents() throws {
        // W = B Cᵀ of rank 3: A·W has 3 non-zero components whatever k asks.
        let (a, _) = problem()
        let b = randomMatrix(8, 3, seed: 3), c = randomMatrix(25, 3, seed: 4)
        var w = Matrix(zeros: 8, 25)
        for i in 0..<8 { for j in 0..<25 { var s: Float = 0; for l in 0..<3 { s += b[i, l] * c[j, l] }; w[i, j] = s } }
        let r = try PCA.fit(rows: a, projection: w, components: 6, comm: SingleProcessCommunicator())
        XCTAssertEqual(r.requestedComponents, 6)
        XCTAssertEqual(r.components, 3)
        XCTAssertEqual(r.scores.cols, 3)
        let ref = densePCA(a, w, k: 3)
        XCTAssertLessThan(maxRelErr(r.scores.data, ref.scores), 1e-9)
        XCTAssertEqual(r.explainedVarianceRatio.reduce(0, +), 1, accuracy: 1e-10)
    }

    func testTooManyComponentsIsAClearError() {
        let (a, w) = problem(n: 6, d: 8, g: 25)
        XCTAssertThrowsError(try PCA.fit(rows: a, projection: w, components: 7, comm: SingleProcessCommunicator())) { e in
            XCTAssertEqual(e as? ClusteringError, .tooManyComponents(requested: 7, maximum: 6, spots: 6, features: 25, width: 8))
        }
        XCTAssertThrowsError(try PCA.fit(rows: Matrix(zeros: 1, 3), projection: nil, components: 1, comm: SingleProcessCommunicator()))
    }
}
