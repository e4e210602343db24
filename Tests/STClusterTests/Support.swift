import Foundation
import STCore
import STComm
@testable import STCluster

/// Standard normal draws (Box–Muller) from the project's generator.
struct Normal {
    var rng: Xoshiro256
    init(seed: UInt64) { rng = Xoshiro256(seed: seed, stream: 7) }
    mutating func next() -> Double {
        let u1 = 1 - rng.nextDouble(), u2 = rng.nextDouble()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

/// Rows `rows` of a row-major matrix (float64).
func selectRows(_ m: Matrix64, _ rows: [Int]) -> Matrix64 {
    var out = Matrix64(zeros: rows.count, m.cols)
    for (r, i) in rows.enumerated() { for j in 0..<m.cols { out[r, j] = m[i, j] } }
    return out
}

/// Rows `rows` of a row-major matrix (float32).
func selectRows(_ m: Matrix, _ rows: [Int]) -> Matrix {
    var out = Matrix(zeros: rows.count, m.cols)
    for (r, i) in rows.enumerated() { for j in 0..<m.cols { out[r, j] = m[i, j] } }
    return out
}

/// A random assignment of n spots to `parts` ranks (every rank gets at least one), as global
/// index lists in a shuffled (not ascending) order, so tests do not rely on contiguous or
/// sorted ownership.
func randomSplit(_ n: Int, parts: Int, seed: UInt64) -> [[Int]] {
    var rng = Xoshiro256(seed: seed, stream: 11)
    var owners = (0..<n).map { $0 % parts }
    owners.shuffle(using: &rng)
    var out = [[Int]](repeating: [], count: parts)
    for (g, o) in owners.enumerated() { out[o].append(g) }
    for r in 0..<parts { out[r].shuffle(using: &rng) }
    return out
}

/// Gaussian blobs with one shared covariance: K components in p dimensions.
struct Blobs {
    var x: Matrix64
    var truth: [Int]
    var means: [[Double]]
    var proportions: [Double]
    var covariance: [Double]   // p×p

    /// Σ = B Bᵀ for a fixed lower-triangular B; component k of size ⌊N·π_k⌋ (rest to the last).
    init(n: Int, means: [[Double]], proportions: [Double], factor b: [Double], seed: UInt64) {
        let k = means.count, p = means[0].count
        var g = Normal(seed: seed)
        var sizes = proportions.map { Int(Double(n) * $0) }
        sizes[k - 1] = n - sizes.dropLast().reduce(0, +)
        x = Matrix64(zeros: n, p)
        truth = []
        var row = 0
        for c in 0..<k {
            for _ in 0..<sizes[c] {
                let z = (0..<p).map { _ in g.next() }
                for i in 0..<p {
                    var v = means[c][i]
                    for j in 0...i { v += b[i * p + j] * z[j] }
                    x[row, i] = v
                }
                truth.append(c)
                row += 1
            }
        }
        self.means = means
        self.proportions = proportions
        var s = [Double](repeating: 0, count: p * p)
        for i in 0..<p { for j in 0..<p { for l in 0..<p { s[i * p + j] += b[i * p + l] * b[j * p + l] } } }
        covariance = s
    }
}
