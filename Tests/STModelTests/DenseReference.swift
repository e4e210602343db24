import Foundation
@testable import STModel
import STCore
import STPartition

/// A plain float64 implementation of the GraphST loss with dense matrices and no shortcuts
/// (H is formed, Ũ = P X W1 computed from the permuted X, readout as GraphST writes it: mask product
/// divided by row sums, then L2-normalised). The oracle for the gradient checks.
struct DenseReference {
    let n: Int, g: Int, d: Int
    let x: [Double]      // n×g
    let adj: [Double]    // n×n
    let mask: [Double]   // n×n
    let alpha: Double, beta: Double
    let readout: Readout

    func loss(_ p: [Double], perm: [Int32]) -> (total: Double, feat: Double, sl1: Double, sl2: Double) {
        let L = ParameterLayout(genes: g, dim: d)
        // GraphST's shapes out of the model's layout: W1 (g×d), W2 (d×g), Wb (d×d) row-major.
        let w1 = L.indices(of: .w1).map { p[$0] }, w2 = L.indices(of: .w2).map { p[$0] }
        let wb = L.indices(of: .wb).map { p[$0] }, b = p[L.bias.lowerBound]
        func mm(_ a: [Double], _ ar: Int, _ ac: Int, _ bm: [Double], _ bc: Int) -> [Double] {
            var c = [Double](repeating: 0, count: ar * bc)
            for i in 0..<ar { for k in 0..<ac { let v = a[i * ac + k]; if v == 0 { continue }
                for j in 0..<bc { c[i * bc + j] += v * bm[k * bc + j] } } }
            return c
        }
        var xt = [Double](repeating: 0, count: n * g)
        for i in 0..<n { for j in 0..<g { xt[i * g + j] = x[Int(perm[i]) * g + j] } }
        let z = mm(adj, n, n, mm(x, n, g, w1, d), d)
        let zt = mm(adj, n, n, mm(xt, n, g, w1, d), d)
        let e = z.map { max($0, 0) }, et = zt.map { max($0, 0) }
        func read(_ e: [Double]) -> [Double] {
            switch readout {
            case .local:
                var s = mm(mask, n, n, e, d)
                for i in 0..<n {
                    var rs = 0.0; for j in 0..<n { rs += mask[i * n + j] }
                    var nr = 0.0
                    for a in 0..<d { s[i * d + a] /= rs; nr += s[i * d + a] * s[i * d + a] }
                    nr = max(nr.squareRoot(), 1e-12)
                    for a in 0..<d { s[i * d + a] = 1 / (1 + exp(-s[i * d + a] / nr)) }
                }
                return s
            case .global:
                var m = [Double](repeating: 0, count: d)
                for i in 0..<n { for a in 0..<d { m[a] += e[i * d + a] / Double(n) } }
                var s = [Double](repeating: 0, count: n * d)
                for i in 0..<n { for a in 0..<d { s[i * d + a] = 1 / (1 + exp(-m[a])) } }
                return s
            }
        }
        let gv = read(e), gt = read(et)
        func bil(_ h: [Double], _ c: [Double], _ i: Int) -> Double {
            var s = b
            for a in 0..<d { for bb in 0..<d { s += h[i * d + a] * wb[a * d + bb] * c[i * d + bb] } }
            return s
        }
        func sp(_ v: Double) -> Double { max(v, 0) + log1p(exp(-abs(v))) }
        var l1 = 0.0, l2 = 0.0
        for i in 0..<n {
            l1 += sp(-bil(e, gv, i)) + sp(bil(et, gv, i))
            l2 += sp(-bil(et, gt, i)) + sp(bil(e, gt, i))
        }
        l1 /= Double(2 * n); l2 /= Double(2 * n)
        let h = mm(mm(adj, n, n, z, d), n, d, w2, g)
        var feat = 0.0
        for i in 0..<(n * g) { feat += (h[i] - x[i]) * (h[i] - x[i]) }
        feat /= Double(n * g)
        return (alpha * feat + beta * (l1 + l2), feat, l1, l2)
    }
}

/// Small random test problems: spots on a jittered grid, kNN graph by brute force, GraphST's 10x
/// normalisation, sparse non-negative X.
struct TinyProblem {
    let n: Int, g: Int, d: Int, k: Int
    let coords: [Double]
    let x: CSRMatrix
    let adj: CSRMatrix
    let mask: CSRMatrix

    init(n: Int, g: Int, d: Int, k: Int = 3, seed: UInt64, kipf: Bool = false) {
        self.n = n; self.g = g; self.d = d; self.k = k
        var rng = Xoshiro256(seed: seed)
        var c = [Double]()
        for i in 0..<n { c.append(Double(i % 7) + 0.3 * rng.nextDouble()); c.append(Double(i / 7) + 0.3 * rng.nextDouble()) }
        coords = c
        var rows = [Int](), cols = [Int](), vals = [Float]()
        for i in 0..<n { for j in 0..<g where rng.nextDouble() < 0.4 {
            rows.append(i); cols.append(j); vals.append(Float(1 + 3 * rng.nextDouble()))
        } }
        x = CSRMatrix(rows: n, cols: g, row: rows, col: cols, val: vals)
        var knn = [[Int]](repeating: [], count: n)
        for i in 0..<n {
            let others = (0..<n).filter { $0 != i }.sorted {
                let di = pow(c[2*$0]-c[2*i], 2) + pow(c[2*$0+1]-c[2*i+1], 2)
                let dj = pow(c[2*$1]-c[2*i], 2) + pow(c[2*$1+1]-c[2*i+1], 2)
                return di != dj ? di < dj : $0 < $1
            }
            knn[i] = Array(others.prefix(k))
        }
        var a = [[Bool]](repeating: [Bool](repeating: false, count: n), count: n)
        for i in 0..<n { for j in knn[i] { a[i][j] = true; a[j][i] = true } }
        var deg = [Double](repeating: 0, count: n)
        for i in 0..<n { deg[i] = Double(a[i].filter { $0 }.count) + (kipf ? 1 : 0) }
        var ar = [Int](), ac = [Int](), av = [Float]()
        for i in 0..<n { for j in 0..<n {
            let aij = (a[i][j] ? 1.0 : 0.0) + (kipf && i == j ? 1 : 0)
            var v = aij / (deg[i].squareRoot() * deg[j].squareRoot())
            if !kipf && i == j { v += 1 }
            if v != 0 { ar.append(i); ac.append(j); av.append(Float(v)) }
        } }
        adj = CSRMatrix(rows: n, cols: n, row: ar, col: ac, val: av)
        var mr = [Int](), mc = [Int]()
        for i in 0..<n { for j in ([i] + knn[i]) { mr.append(i); mc.append(j) } }
        mask = CSRMatrix(rows: n, cols: n, row: mr, col: mc, val: [Float](repeating: 1, count: mr.count))
    }

    func reference(alpha: Double = 10, beta: Double = 1, readout: Readout = .local) -> DenseReference {
        DenseReference(n: n, g: g, d: d, x: x.toDense().data.map(Double.init), adj: adj.toDense().data.map(Double.init),
                       mask: mask.toDense().data.map(Double.init), alpha: alpha, beta: beta, readout: readout)
    }
}
