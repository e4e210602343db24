import XCTest
import STCore

/// X with 16-bit column indices (`CSRMatrix16`, `GeneMatrix`): every kernel, every path, every
/// layout, bitwise equal to the same matrix with 32-bit indices and to the `_ref` kernels.
final class IndexWidthTests: XCTestCase {
    var paths: [Sparse.Path] { Sparse.Path.allCases.filter { $0.rawValue <= Sparse.supportedPath.rawValue } }

    /// 65 536 columns, entries spread over the whole range, including columns 32 767, 32 768 and
    /// 65 535 (an index read as signed 16-bit would go negative there), rows of every length.
    func wideColumnMatrix(rows: Int, seed: UInt64) -> CSRMatrix {
        var rng = Xoshiro256(seed: seed)
        var r = [Int](), c = [Int](), v = [Float]()
        for i in 0..<rows {
            let len = i % 4 == 0 ? i % 45 : Int(rng.below(9))
            for _ in 0..<len { r.append(i); c.append(Int(rng.below(65_536))); v.append(Float(rng.nextDouble() * 4 - 1)) }
            if i % 5 == 1 { for col in [0, 32_767, 32_768, 65_535] { r.append(i); c.append(col); v.append(Float(i) / 7) } }
        }
        return CSRMatrix(rows: rows, cols: 65_536, row: r, col: c, val: v)
    }

    func testNarrowingKeepsEveryEntry() {
        let a = wideColumnMatrix(rows: 60, seed: 1)
        let n = a.withIndices(UInt16.self)
        XCTAssertEqual(n.indices.map(Int.init), a.indices.map(Int.init))
        XCTAssertEqual(n.values, a.values)
        XCTAssertEqual(n.indptr, a.indptr)
        XCTAssertEqual(n.withIndices(Int32.self), a)
        XCTAssertTrue(n.indices.contains(65_535) && n.indices.contains(32_768))
    }

    /// The width follows the column count: 65 536 columns fit 16 bits, 65 537 fall back to 32.
    func testGeneMatrixWidthFollowsColumns() {
        let fits = CSRMatrix(rows: 2, cols: 65_536, row: [0, 1], col: [65_535, 0], val: [1, 2])
        let over = CSRMatrix(rows: 2, cols: 65_537, row: [0, 1], col: [65_536, 0], val: [1, 2])
        XCTAssertTrue(GeneMatrix.usesNarrowIndices(cols: 65_536))
        XCTAssertFalse(GeneMatrix.usesNarrowIndices(cols: 65_537))
        let g = GeneMatrix(fits), h = GeneMatrix(over)
        XCTAssertEqual(g.indexBits, 16)
        XCTAssertEqual(h.indexBits, 32)
        XCTAssertEqual(g.wideMatrix, fits)
        XCTAssertEqual(h.wideMatrix, over)
        XCTAssertEqual(GeneMatrix(emptyRows: 3, cols: 65_537).indexBits, 32)
        XCTAssertEqual(GeneMatrix(emptyRows: 3, cols: 10).indexBits, 16)
        XCTAssertEqual(GeneMatrix.bytesPerEntry(indexBits: 16), 6)
        XCTAssertEqual(GeneMatrix.bytesPerEntry(indexBits: 32), 8)
        XCTAssertEqual(g.selectingRows([1, 0]).wideMatrix, fits.selectingRows([1, 0]))
    }

    /// spmm with 16-bit indices against 32-bit and against both `spmm_ref`s, bitwise, on every path,
    /// every tail of the 32- and 16-column chunks, strided operands, 1–3 threads.
    func testSpmmNarrowBitwiseEqualWideAndReference() {
        for a in [raggedCSR(rows: 90, cols: 57, seed: 21), wideColumnMatrix(rows: 70, seed: 2)] {
            let a16 = a.withIndices(UInt16.self)
            for w in [1, 7, 16, 17, 31, 32, 33, 64, 65, 130] {
                let ld = w + 3
                let b = randomDense(a.cols * ld, seed: UInt64(w))
                let ref = Sparse.spmm_ref(a, b, ldb: ld, width: w)
                XCTAssertEqual(Sparse.spmm_ref(a16, b, ldb: ld, width: w).map(\.bitPattern), ref.map(\.bitPattern))
                for threads in [1, 3] {
                    let pool = ThreadPool(threads: threads)
                    for path in paths {
                        var c16 = [Float](repeating: .nan, count: a.rows * ld), c32 = c16
                        b.withUnsafeBufferPointer { bp in
                            c16.withUnsafeMutableBufferPointer {
                                Sparse.spmm(a16, bp.baseAddress!, ldb: ld, width: w, into: $0.baseAddress!, ldc: ld, path: path, pool: pool)
                            }
                            c32.withUnsafeMutableBufferPointer {
                                Sparse.spmm(a, bp.baseAddress!, ldb: ld, width: w, into: $0.baseAddress!, ldc: ld, path: path, pool: pool)
                            }
                        }
                        XCTAssertEqual(c16.map(\.bitPattern), c32.map(\.bitPattern), "cols \(a.cols), w \(w), \(threads) threads, \(path)")
                        let got = (0..<a.rows).flatMap { i in c16[(i * ld)..<(i * ld + w)] }
                        XCTAssertEqual(got.map(\.bitPattern), ref.map(\.bitPattern), "cols \(a.cols), w \(w), \(path) vs spmm_ref")
                    }
                }
            }
        }
    }

    /// The scatter form of Xᵀ·B with 16-bit indices against 32-bit (bitwise) and the float64
    /// reference, with sparse and dense row blocks and the column split.
    func testTransposedProductNarrowBitwiseEqualWide() {
        for a in [raggedCSR(rows: 700, cols: 1500, seed: 31), wideColumnMatrix(rows: 300, seed: 3)] {
            let a16 = a.withIndices(UInt16.self)
            for (w, block) in [(128, 4096), (37, 64), (3, 5)] {
                let ldb = w + 2, ldc = w + 1
                let b = randomDense(a.rows * ldb, seed: UInt64(w + block))
                XCTAssertEqual(Sparse.spmmTransposed_ref(a16, b, ldb: ldb, width: w).map(\.bitPattern),
                               Sparse.spmmTransposed_ref(a, b, ldb: ldb, width: w).map(\.bitPattern))
                for path in paths {
                    var c16 = [Double](repeating: 0.25, count: a.cols * ldc), c32 = c16
                    var s16 = [Float](), s32 = [Float]()
                    b.withUnsafeBufferPointer { bp in
                        c16.withUnsafeMutableBufferPointer {
                            Sparse.spmmTransposedAccumulate(a16, bp.baseAddress!, ldb: ldb, width: w, into: $0.baseAddress!,
                                                            ldc: ldc, scratch: &s16, block: block, path: path)
                        }
                        c32.withUnsafeMutableBufferPointer {
                            Sparse.spmmTransposedAccumulate(a, bp.baseAddress!, ldb: ldb, width: w, into: $0.baseAddress!,
                                                            ldc: ldc, scratch: &s32, block: block, path: path)
                        }
                    }
                    XCTAssertEqual(c16.map(\.bitPattern), c32.map(\.bitPattern), "cols \(a.cols), w \(w), block \(block), \(path)")
                    // A scatter into the wrong gene would still be bitwise equal between widths if
                    // both were wrong: check against the float64 reference too.
                    let ref = Sparse.spmmTransposed_ref(a, b, ldb: ldb, width: w)
                    var worst = 0.0
                    for g in 0..<a.cols { for j in 0..<w { worst = max(worst, abs(c16[g * ldc + j] - 0.25 - ref[g * w + j])) } }
                    XCTAssertLessThan(worst, 1e-4, "cols \(a.cols), w \(w), block \(block), \(path)")
                }
            }
        }
    }

    /// The fast layouts (column blocks, transposed row blocks) built from a 16-bit X give the bits
    /// of the plain 32-bit kernels, for any threads and path.
    func testFastLayoutsNarrowBitwiseEqualWide() {
        let a = randomCSR(rows: 900, cols: 290, density: 0.08, seed: 5)
        let a16 = a.withIndices(UInt16.self)
        let w = 40, ldb = 48
        let bG = randomDense(a.cols * ldb, seed: 7), bN = randomDense(a.rows * ldb, seed: 8)
        let ref = Sparse.spmm_ref(a, bG, ldb: ldb, width: w)
        var scatter = [Double](repeating: 0, count: a.cols * w), s = [Float]()
        scatter.withUnsafeMutableBufferPointer {
            Sparse.spmmTransposedAccumulate(a, bN, ldb: ldb, width: w, into: $0.baseAddress!, ldc: w, scratch: &s, block: 256)
        }
        let blocks = ColumnBlocks(a16, block: 64)
        let t16 = TransposedBlocks(a16, block: 256, subBlock: 37)
        for threads in [1, 2, 3] {
            let pool = ThreadPool(threads: threads)
            for path in paths {
                var c = [Float](repeating: .nan, count: a.rows * w)
                c.withUnsafeMutableBufferPointer {
                    blocks.multiply(bG, ldb: ldb, width: w, into: $0.baseAddress!, ldc: w, path: path, pool: pool)
                }
                XCTAssertEqual(c.map(\.bitPattern), ref.map(\.bitPattern), "column blocks, \(threads) threads, \(path)")
                var gather = [Double](repeating: 0, count: a.cols * w), g = [Float]()
                gather.withUnsafeMutableBufferPointer {
                    t16.accumulate(bN, ldb: ldb, width: w, into: $0.baseAddress!, ldc: w, scratch: &g, path: path, pool: pool)
                }
                XCTAssertEqual(gather.map(\.bitPattern), scatter.map(\.bitPattern), "transposed blocks, \(threads) threads, \(path)")
            }
        }
    }
}
