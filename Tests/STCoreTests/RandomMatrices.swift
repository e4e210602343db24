import STCore

// Seeded random inputs shared by the kernel and thread-pool tests.

/// A random CSR matrix: each entry present with probability `density`, values in [−1, 3).
func randomCSR(rows: Int, cols: Int, density: Double, seed: UInt64) -> CSRMatrix {
    var rng = Xoshiro256(seed: seed)
    var r = [Int](), c = [Int](), v = [Float]()
    for i in 0..<rows { for j in 0..<cols where rng.nextDouble() < density {
        r.append(i); c.append(j); v.append(Float(rng.nextDouble() * 4 - 1))
    } }
    return CSRMatrix(rows: rows, cols: cols, row: r, col: c, val: v)
}

/// `count` random floats in [−1, 1).
func randomDense(_ count: Int, seed: UInt64) -> [Float] {
    var rng = Xoshiro256(seed: seed)
    return (0..<count).map { _ in Float(rng.nextDouble() * 2 - 1) }
}

/// Rows of several lengths (0, 1, 2, …, 40 entries) so that every unrolled and tail loop runs.
func raggedCSR(rows: Int, cols: Int, seed: UInt64) -> CSRMatrix {
    var rng = Xoshiro256(seed: seed)
    var r = [Int](), c = [Int](), v = [Float]()
    for i in 0..<rows {
        let len = i % 3 == 0 ? i % 41 : Int(rng.below(UInt64(Swift.min(cols, 12))))
        for _ in 0..<len {
            r.append(i); c.append(Int(rng.below(UInt64(cols)))); v.append(Float(rng.nextDouble() * 4 - 1))
        }
    }
    return CSRMatrix(rows: rows, cols: cols, row: r, col: c, val: v)
}
