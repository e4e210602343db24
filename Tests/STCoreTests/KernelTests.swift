import XCTest
import STCore

/// Optimised kernels against their frozen `_ref` twins, on random matrices with fixed seeds.
final class KernelTests: XCTestCase {
    func randomCSR(rows: Int, cols: Int, density: Double, seed: UInt64) -> CSRMatrix {
        var rng = Xoshiro256(seed: seed)
        var r = [Int](), c = [Int](), v = [Float]()
        for i in 0..<rows { for j in 0..<cols where rng.nextDouble() < density {
            r.append(i); c.append(j); v.append(Float(rng.nextDouble() * 4 - 1))
        } }
        return CSRMatrix(rows: rows, cols: cols, row: r, col: c, val: v)
    }

    func randomDense(_ count: Int, seed: UInt64) -> [Float] {
        var rng = Xoshiro256(seed: seed)
        return (0..<count).map { _ in Float(rng.nextDouble() * 2 - 1) }
    }

    func testSpmmMatchesReference() {
        for (seed, w) in [(1 as UInt64, 1), (2, 7), (3, 64), (4, 128)] {
            let a = randomCSR(rows: 53, cols: 41, density: 0.15, seed: seed)
            let ld = w + 3   // a column block of a wider buffer
            let b = randomDense(41 * ld, seed: seed + 100)
            var c = [Float](repeating: .nan, count: 53 * ld)
            b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer {
                Sparse.spmm(a, bp.baseAddress!, ldb: ld, width: w, into: $0.baseAddress!, ldc: ld)
            } }
            let ref = Sparse.spmm_ref(a, b, ldb: ld, width: w)
            for i in 0..<53 { for j in 0..<w {
                XCTAssertEqual(c[i * ld + j], ref[i * w + j], accuracy: 1e-5, "seed \(seed) (\(i), \(j))")
            } }
            for i in 0..<53 { for j in w..<ld { XCTAssertTrue(c[i * ld + j].isNaN, "spmm wrote outside its column block") } }
        }
    }

    func testTransposedProductMatchesReference() {
        for (seed, w) in [(5 as UInt64, 3), (6, 64)] {
            let a = randomCSR(rows: 300, cols: 37, density: 0.2, seed: seed)
            let b = randomDense(300 * w, seed: seed + 1)
            var c = [Double](repeating: 0.5, count: 37 * w)   // accumulates into existing values
            var scratch = [Float]()
            b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer {
                Sparse.spmmTransposedAccumulate(a, bp.baseAddress!, ldb: w, width: w, into: $0.baseAddress!, ldc: w,
                                                scratch: &scratch, block: 64)
            } }
            let ref = Sparse.spmmTransposed_ref(a, b, ldb: w, width: w)
            for i in 0..<c.count { XCTAssertEqual(c[i], ref[i] + 0.5, accuracy: 1e-4, "seed \(seed) entry \(i)") }
        }
    }

    func testGramAccumulate() {
        let n = 1000, p = 5, q = 6
        let a = randomDense(n * p, seed: 9), b = randomDense(n * q, seed: 10)
        var c = [Double](repeating: 0, count: p * q), scratch = [Float]()
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer {
            BLAS.gramAccumulate(n: n, p: p, q: q, a: ap.baseAddress!, lda: p, b: bp.baseAddress!, ldb: q,
                                into: $0.baseAddress!, ldc: q, scratch: &scratch, block: 128)
        } } }
        for i in 0..<p { for j in 0..<q {
            var s = 0.0
            for r in 0..<n { s += Double(a[r * p + i]) * Double(b[r * q + j]) }
            XCTAssertEqual(c[i * q + j], s, accuracy: 1e-4)
        } }
    }

    func testCSRConstructionSumsDuplicatesAndSorts() {
        let m = CSRMatrix(rows: 2, cols: 4, row: [0, 0, 1, 0, 1], col: [3, 1, 2, 3, 0], val: [1, 2, 3, 4, 5])
        XCTAssertEqual(m.indptr, [0, 2, 4])
        XCTAssertEqual(m.indices, [1, 3, 0, 2])
        XCTAssertEqual(m.values, [2, 5, 5, 3])
        XCTAssertEqual(m.transposed().transposed(), m)
        XCTAssertEqual(m.selectingColumns([0, 3]).toDense().data, [0, 5, 5, 0])
    }

    func testPermutationIsDeterministicAndValid() {
        let p1 = corruptionPermutation(seed: 41, epoch: 3, count: 1000)
        XCTAssertEqual(p1, corruptionPermutation(seed: 41, epoch: 3, count: 1000))
        XCTAssertNotEqual(p1, corruptionPermutation(seed: 41, epoch: 4, count: 1000))
        XCTAssertNotEqual(p1, corruptionPermutation(seed: 42, epoch: 3, count: 1000))
        XCTAssertEqual(Set(p1).count, 1000)
        XCTAssertEqual(p1.min(), 0); XCTAssertEqual(p1.max(), 999)
        // Uniformity: each element lands in the first half about half the time.
        var hits = 0
        for e in 0..<200 { if corruptionPermutation(seed: 7, epoch: e, count: 10)[0] < 5 { hits += 1 } }
        XCTAssertGreaterThan(hits, 70); XCTAssertLessThan(hits, 130)
    }
}
