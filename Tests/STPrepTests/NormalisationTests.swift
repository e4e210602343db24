import STComm
import STCore
import STPrep
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// normalize_total / log1p / scale on the synthetic counts of `HVGTests` against scanpy 1.11.5
/// (snippet in HVGTests.swift: rows 0, 1 and 59 of the preprocessed HVG matrix and the stds).
final class NormalisationTests: XCTestCase {
    static let rows: [Int: [Double]] = [
        0: [0.0, 1.7796591520309448, 1.9577829837799072, 0.0, 1.915236473083496, 0.0, 0.0, 1.8955427408218384,
            1.9122979640960693, 0.0],
        1: [2.057128667831421, 0.0, 0.0, 2.2639925479888916, 0.0, 0.0, 0.0, 0.0, 0.0, 2.1484367847442627],
        59: [0.0, 1.8681546449661255, 0.0, 2.198455572128296, 0.0, 2.177885055541992, 1.6332062482833862,
             2.2383687496185303, 1.7305350303649902, 0.0],
    ]
    static let std: [Double] = [2.523212753694486, 2.4103890053249137, 3.007524614821141, 2.7762750227774498, 2.5980811291502026,
                      2.7002947989671253, 2.7571405606934047, 2.988922151625562, 2.602073420399318, 2.6038374034040195]

    func testPreprocessMatchesScanpy() throws {
        let r = try preprocess(counts: syntheticCounts(), hvg: HVGOptions(nTopGenes: 10), comm: SingleProcessCommunicator())
        XCTAssertEqual(r.selectedGenes, HVGTests.selected)
        XCTAssertEqual(r.X.rows, 60)
        XCTAssertEqual(r.X.cols, 10)
        for (j, s) in Self.std.enumerated() { XCTAssertEqual(r.scaleStd[j], s, accuracy: 1e-7 * s) }
        let dense = r.X.wideMatrix.toDense()
        for (i, expected) in Self.rows {
            for j in 0..<10 { XCTAssertEqual(Double(dense[i, j]), expected[j], accuracy: 1e-6 * max(1, expected[j]), "[\(i), \(j)]") }
        }
    }

    /// preprocess = normalize_total (totals over all genes) → HVG columns → log1p → scale.
    func testPreprocessEqualsTheStepsComposed() throws {
        let comm = SingleProcessCommunicator()
        let counts = syntheticCounts()
        let r = try preprocess(counts: counts, hvg: HVGOptions(nTopGenes: 10), comm: comm)
        var x = counts
        try normalizeTotal(&x, targetSum: 1e4, comm: comm)
        var h = x.selectingColumns(r.selectedGenes)
        log1pInPlace(&h)
        let std = scaleUnitVariance(&h, maxValue: 10, comm: comm)
        XCTAssertEqual(h, r.X.wideMatrix)
        XCTAssertEqual(r.X.indexBits, 16)   // 10 genes: 16-bit indices
        XCTAssertEqual(std, r.scaleStd)
    }

    func testNormalizeTotalFloat32Arithmetic() throws {
        // Spot totals 3 and 7: x / (total / 1e4) in float32, as scanpy divides.
        var x = CSRMatrix(rows: 2, cols: 3, row: [0, 0, 1, 1], col: [0, 2, 1, 2], val: [1, 2, 3, 4])
        try normalizeTotal(&x, targetSum: 1e4, comm: SingleProcessCommunicator())
        let f0 = Float(3) / Float(1e4), f1 = Float(7) / Float(1e4)
        XCTAssertEqual(x.values, [1 / f0, 2 / f0, 3 / f1, 4 / f1])
    }

    func testScaleClipsAndHandlesConstantColumns() {
        // Column 0 constant (std 0 → 1), column 1 has one huge value (≈ √n std away) clipped at 10.
        let n = 200
        var row = [Int](), col = [Int](), val = [Float]()
        for i in 0..<n { row.append(i); col.append(0); val.append(2) }
        for i in 0..<n { row.append(i); col.append(1); val.append(i == 0 ? 1000 : 1) }
        var x = CSRMatrix(rows: n, cols: 2, row: row, col: col, val: val)
        let std = scaleUnitVariance(&x, maxValue: 10, comm: SingleProcessCommunicator())
        XCTAssertEqual(std[0], 1)
        let d = x.toDense()
        XCTAssertEqual(d[0, 0], 2)
        XCTAssertEqual(d[0, 1], 10)
        XCTAssertEqual(Double(d[1, 1]), 1 / std[1], accuracy: 1e-7)
    }

    func testZeroCountSpotIsAnErrorOnEveryRank() {
        var counts = syntheticCounts()
        // Empty spot 45 (global): drop its entries.
        let keep = (0..<counts.rows).flatMap { i in i == 45 ? [] : Array(counts.indptr[i]..<counts.indptr[i + 1]) }
        var ptr = [0]
        for i in 0..<counts.rows { ptr.append(ptr.last! + (i == 45 ? 0 : counts.indptr[i + 1] - counts.indptr[i])) }
        counts = CSRMatrix(rows: counts.rows, cols: counts.cols, indptr: ptr, indices: keep.map { counts.indices[$0] },
                           values: keep.map { counts.values[$0] })
        let messages = ThreadGroupCommunicator.run(ranks: 3) { comm -> String in
            let rows = Array((comm.rank * 20)..<((comm.rank + 1) * 20))
            do {
                _ = try preprocess(counts: counts.selectingRows(rows), hvg: HVGOptions(nTopGenes: 10), comm: comm)
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(Set(messages).count, 1, "\(messages)")
        XCTAssertTrue(messages[0].contains("spot 45") && messages[0].contains("zero total"), messages[0])
        // With explicit global row ids (e.g. after a spatial partition).
        let ids = [45, 3, 7]
        XCTAssertThrowsError(try preprocess(counts: counts.selectingRows([45, 3, 7]), hvg: HVGOptions(nTopGenes: 2),
                                            rowIDs: ids, comm: SingleProcessCommunicator())) { e in
            XCTAssertTrue("\(e)".contains("spot 45"), "\(e)")
        }
    }
}
