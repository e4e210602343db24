import XCTest
import STCore
#if canImport(Glibc)
import Glibc
#endif

/// Optimised kernels against their frozen `_ref` twins, on random matrices with fixed seeds.
final class KernelTests: XCTestCase {
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

    /// Every implementation path this CPU has (portable always; AVX2 / AVX-512 on x86-64).
    var paths: [Sparse.Path] { Sparse.Path.allCases.filter { $0.rawValue <= Sparse.supportedPath.rawValue } }

    /// All paths perform the reference's operations in the reference's order (separate float32
    /// multiply and add, entries in stored order), so they must agree with `spmm_ref` bitwise.
    /// The widths reach every register chunk of the kernels (128, 64, 32, 16 columns, single
    /// columns: 247 = 128 + 64 + 32 + 16 + 7) and combinations of them.
    func testSpmmPathsBitwiseEqualReference() {
        let a = raggedCSR(rows: 90, cols: 57, seed: 21)
        for w in [1, 7, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 100, 128, 130, 192, 247, 256] {
            let ld = w + 5
            let b = randomDense(57 * ld, seed: UInt64(w))
            let ref = Sparse.spmm_ref(a, b, ldb: ld, width: w)
            for path in paths {
                var c = [Float](repeating: .nan, count: 90 * ld)
                b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer {
                    Sparse.spmm(a, bp.baseAddress!, ldb: ld, width: w, into: $0.baseAddress!, ldc: ld, path: path)
                } }
                var mismatches = 0, outside = 0
                for i in 0..<90 {
                    for j in 0..<w where c[i * ld + j].bitPattern != ref[i * w + j].bitPattern { mismatches += 1 }
                    for j in w..<ld where !c[i * ld + j].isNaN { outside += 1 }
                }
                XCTAssertEqual(mismatches, 0, "path \(path), width \(w): entries differ from spmm_ref")
                XCTAssertEqual(outside, 0, "path \(path), width \(w): wrote outside its column block")
            }
        }
    }

    func testSpmmEmptyMatrices() {
        let empty = CSRMatrix(rows: 4, cols: 3, indptr: [0, 0, 0, 0, 0], indices: [], values: [])
        let b = [Float](repeating: 1, count: 3 * 8)
        for path in paths {
            var c = [Float](repeating: .nan, count: 4 * 8)
            b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer {
                Sparse.spmm(empty, bp.baseAddress!, ldb: 8, width: 8, into: $0.baseAddress!, ldc: 8, path: path)
            } }
            XCTAssertEqual(c, [Float](repeating: 0, count: 32), "path \(path)")
            var acc = [Double](repeating: 2, count: 3 * 8), scratch = [Float]()
            b.withUnsafeBufferPointer { bp in acc.withUnsafeMutableBufferPointer {
                Sparse.spmmTransposedAccumulate(empty, bp.baseAddress!, ldb: 8, width: 8, into: $0.baseAddress!, ldc: 8,
                                                scratch: &scratch, path: path)
            } }
            XCTAssertEqual(acc, [Double](repeating: 2, count: 24), "path \(path)")
        }
    }

    /// The transposed product on shapes that exercise the column split (G·w·4 bytes above the
    /// accumulator budget, split not a divisor of w), blocks sparser than G (touched-column
    /// flushes) and denser than G (whole-accumulator flushes), and column-block operands (ldb > w,
    /// ldc > w). All paths agree bitwise; each agrees with the float64 reference to float32 rounding.
    func testTransposedProductPathsAndSplits() {
        let genes = 1500
        XCTAssertEqual(Sparse.transposedColumnBlock(genes: genes, width: 128), 80)
        XCTAssertEqual(Sparse.transposedColumnBlock(genes: 37, width: 128), 128)
        XCTAssertEqual(Sparse.transposedColumnBlock(genes: 100_000, width: 128), 16)
        let a = raggedCSR(rows: 700, cols: genes, seed: 31)
        for (w, block) in [(128, 4096), (128, 16), (37, 64), (3, 5)] {
            let ldb = w + 2, ldc = w + 1
            let b = randomDense(700 * ldb, seed: UInt64(w + block))
            let ref = Sparse.spmmTransposed_ref(a, b, ldb: ldb, width: w)
            var results: [[Double]] = []
            for path in paths {
                var c = [Double](repeating: 0.25, count: genes * ldc)
                var scratch = [Float]()
                b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer {
                    Sparse.spmmTransposedAccumulate(a, bp.baseAddress!, ldb: ldb, width: w, into: $0.baseAddress!, ldc: ldc,
                                                    scratch: &scratch, block: block, path: path)
                } }
                var worst = 0.0
                for g in 0..<genes {
                    for j in 0..<w { worst = Swift.max(worst, abs(c[g * ldc + j] - 0.25 - ref[g * w + j])) }
                    for j in w..<ldc { XCTAssertEqual(c[g * ldc + j], 0.25, "path \(path) wrote outside its columns") }
                }
                XCTAssertLessThan(worst, 1e-4, "path \(path), width \(w), block \(block)")
                results.append(c)
            }
            for k in 1..<results.count {
                XCTAssertTrue(zip(results[0], results[k]).allSatisfy { $0.bitPattern == $1.bitPattern },
                              "path \(paths[k]) differs from \(paths[0]) (width \(w), block \(block))")
            }
        }
    }

    func testDefaultPathIsSupported() {
        XCTAssertLessThanOrEqual(Sparse.defaultPath.rawValue, Sparse.supportedPath.rawValue)
        XCTAssertEqual(Sparse.Path.allCases.map(\.description), ["portable", "avx2", "avx512"])
    }

    /// Laps accumulate the time since the previous mark into the right phase, and time between
    /// repetitions (before `start()`) is not counted: checked against sleeps and the wall clock.
    func testPhaseTimerAccumulatesInOrder() {
        let t = PhaseTimer()
        let t0 = PhaseTimer.now()
        for _ in 0..<3 {
            usleep(30_000)   // outside any phase
            t.start()
            usleep(20_000)
            t.lap("first")
            t.lap("second")
            usleep(10_000)
            t.lap("first")   // a phase may recur within one repetition
        }
        let wall = Double(PhaseTimer.now() - t0) * 1e-9
        XCTAssertEqual(t.names, ["first", "second"])
        XCTAssertEqual(t.counts, [6, 3])
        XCTAssertGreaterThanOrEqual(t.seconds[0], 3 * 0.030, "the sleeps inside phase 'first'")
        XCTAssertLessThan(t.seconds[1], t.seconds[0], "'second' holds no sleep")
        XCTAssertLessThanOrEqual(t.total, wall - 3 * 0.030, "the 30 ms before each start() is not counted")
        t.reset()
        XCTAssertTrue(t.names.isEmpty)
        XCTAssertEqual(t.total, 0)
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

    /// π is a bijection of 0..<N for every N (powers of two and ±1 around them, where cycle
    /// walking matters most), π⁻¹ inverts it, and the materialised array is π.
    func testFeistelPermutationIsABijectionWithItsInverse() {
        for n in [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 255, 256, 257, 1000, 4095, 4097, 65_537] {
            let f = FeistelPermutation(seed: 41, epoch: 2, count: n)
            var seen = [Bool](repeating: false, count: n)
            for i in 0..<n {
                let s = f.source(of: i)
                XCTAssertTrue(s >= 0 && s < n && !seen[s], "n = \(n): π(\(i)) = \(s)")
                seen[s] = true
                XCTAssertEqual(f.destination(of: s), i, "n = \(n): π⁻¹(π(\(i)))")
            }
            XCTAssertEqual(corruptionPermutation(seed: 41, epoch: 2, count: n), (0..<n).map { Int32(f.source(of: $0)) })
        }
        // Deterministic in (seed, epoch), different across them.
        XCTAssertEqual(FeistelPermutation(seed: 1, epoch: 1, count: 100), FeistelPermutation(seed: 1, epoch: 1, count: 100))
        XCTAssertNotEqual(FeistelPermutation(seed: 1, epoch: 1, count: 100), FeistelPermutation(seed: 1, epoch: 2, count: 100))
    }

    /// The vectorised batch (`evaluate`, C on every SIMD path) gives the scalar π and π⁻¹ bit for
    /// bit: sizes around powers of two (cycle walking), a 2³¹ − 1 slide (the largest index and the
    /// widest radices), batches with lane remainders, indices in any order.
    func testFeistelBatchEqualsScalarOnEveryPath() {
        var rng = Xoshiro256(seed: 9)
        for n in [1, 2, 3, 7, 16, 17, 255, 257, 4097, 65_537, 3_000_001, Int(Int32.max)] {
            for epoch in [0, 3] {
                let f = FeistelPermutation(seed: 77, epoch: epoch, count: n)
                let m = Swift.min(n, 203)
                let input = (0..<m).map { k in k < m / 2 ? k : Int(rng.next() % UInt64(n)) } + [n - 1]
                let src = input.map { f.source(of: $0) }, dst = input.map { f.destination(of: $0) }
                for path in Sparse.Path.allCases where path.rawValue <= Sparse.supportedPath.rawValue {
                    for inverse in [false, true] {
                        var out = [Int](repeating: -1, count: input.count)
                        input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { o in
                            f.evaluate(i, inverse: inverse, into: o.baseAddress!, path: path)
                        } }
                        XCTAssertEqual(out, inverse ? dst : src, "n = \(n), epoch \(epoch), \(path), inverse \(inverse)")
                    }
                }
            }
        }
    }

    /// Statistics of a random permutation: over 400 epochs of N = 1000, fixed points average ≈ 1
    /// (Poisson(1)), and where spot 0 goes is spread evenly over ten bins (χ² with 9 degrees of
    /// freedom, below its 0.999 quantile 27.9); consecutive spots do not go to consecutive places.
    func testFeistelPermutationLooksRandom() {
        let n = 1000, epochs = 400
        var fixed = 0, bins = [Int](repeating: 0, count: 10), adjacent = 0
        for e in 0..<epochs {
            let f = FeistelPermutation(seed: 7, epoch: e, count: n)
            for i in 0..<n where f.source(of: i) == i { fixed += 1 }
            bins[f.destination(of: 0) * 10 / n] += 1
            for i in 0..<(n - 1) where abs(f.source(of: i + 1) - f.source(of: i)) == 1 { adjacent += 1 }
        }
        XCTAssertEqual(Double(fixed) / Double(epochs), 1, accuracy: 0.25)
        let expected = Double(epochs) / 10
        let chi2 = bins.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        XCTAssertLessThan(chi2, 27.9, "bins \(bins)")
        // A random permutation has 2(n−1)/n ≈ 2 adjacent pairs per epoch.
        XCTAssertEqual(Double(adjacent) / Double(epochs), 2, accuracy: 0.5)
    }
}

/// The vectorised exp and sigmoid against float64 references over their whole range.
final class VectorMathTests: XCTestCase {
    func testExpAccuracy() {
        var worst = 0.0, at: Float = 0
        var x: Float = -87
        while x < 87.9 {
            var v = SIMD8<Float>()
            for k in 0..<8 { v[k] = x + Float(k) * 0.001 }
            let e = VectorMath.exp(v)
            for k in 0..<8 {
                let ref = Foundation.exp(Double(v[k]))
                let err = abs(Double(e[k]) - ref) / ref
                if err > worst { worst = err; at = v[k] }
            }
            x += 0.0173
        }
        XCTAssertLessThan(worst, 3e-7, "worst relative error \(worst) at x = \(at)")
    }

    func testSigmoidAccuracyAndLimits() {
        var worst = 0.0
        var x: Float = -100
        while x < 100 {
            let s = VectorMath.sigmoid(SIMD8(repeating: x))[0]
            let ref = 1 / (1 + Foundation.exp(-Double(x)))
            worst = max(worst, abs(Double(s) - ref) / max(ref, 1e-30))
            XCTAssertTrue(s.isFinite && s >= 0 && s <= 1, "σ(\(x)) = \(s)")
            x += 0.01
        }
        XCTAssertLessThan(worst, 1e-6)
        XCTAssertEqual(VectorMath.sigmoid(SIMD8(repeating: 0))[3], 0.5)
    }
}
