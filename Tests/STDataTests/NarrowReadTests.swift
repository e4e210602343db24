import XCTest
import STCore
@testable import STData
import STTestSupport

/// X read with 16-bit column indices (`readGenes(rows:order:)`, what a run reads) equals X read
/// with 32-bit ones; 65 537 genes fall back to 32 bits; a stored index out of range is an error
/// naming its row, never a value wrapped into 16 bits.
final class NarrowReadTests: XCTestCase {
    /// Random counts over `cols` genes with entries at the top of the column range.
    func counts(rows: Int, cols: Int, seed: UInt64) -> CSRMatrix {
        var rng = Xoshiro256(seed: seed)
        var r = [Int](), c = [Int](), v = [Float]()
        for i in 0..<rows {
            for _ in 0..<(1 + Int(rng.below(30))) { r.append(i); c.append(Int(rng.below(UInt64(cols)))); v.append(Float(1 + rng.below(9))) }
            r.append(i); c.append(cols - 1 - i % 3); v.append(1)
        }
        return CSRMatrix(rows: rows, cols: cols, row: r, col: c, val: v)
    }

    func testNarrowReadEqualsWideRead() throws {
        let t = try TempDir()
        for cols in [30, 40_000, 65_536] {
            let x = counts(rows: 200, cols: cols, seed: UInt64(cols))
            let p = t.file("x\(cols).h5ad")
            try writeCSRH5AD(x, to: p)
            let r = try AnnDataReader(path: p)
            var rng = Xoshiro256(seed: 9)
            for list in [Array(0..<200), Array(stride(from: 1, to: 200, by: 3)), [7], [], (0..<200).filter { _ in rng.below(3) == 0 }] {
                var order = Array(0..<list.count)
                for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.below(UInt64(i + 1)))) }
                let wide = try r.readX(rows: list, order: order)
                XCTAssertEqual(wide, x.selectingRows(list).selectingRows(order))
                let g = try r.readGenes(rows: list, order: order)
                XCTAssertEqual(g.indexBits, 16, "\(cols) genes")
                XCTAssertEqual(g.wideMatrix, wide, "\(cols) genes, list of \(list.count)")
                for buffer in [1, 5, 64, 1 << 20] {   // buffers smaller than a row: rows copied in pieces
                    let (ptr, idx, val) = try r.sparse!.readMajorList(list, order: order, bufferEntries: buffer, indexType: UInt16.self)
                    XCTAssertEqual(CSRMatrix16(rows: list.count, cols: cols, indptr: ptr, indices: idx, values: val).withIndices(Int32.self),
                                   wide, "\(cols) genes, list of \(list.count), buffer \(buffer)")
                }
            }
        }
    }

    func testSixtyFiveThousandFiveHundredThirtySevenGenesReadWide() throws {
        let t = try TempDir()
        let x = counts(rows: 50, cols: 65_537, seed: 4)
        XCTAssertTrue(x.indices.contains(65_536))
        let p = t.file("wide.h5ad")
        try writeCSRH5AD(x, to: p)
        let r = try AnnDataReader(path: p)
        let g = try r.readGenes(rows: Array(0..<50), order: Array((0..<50).reversed()))
        XCTAssertEqual(g.indexBits, 32)
        XCTAssertEqual(g, .wide(x.selectingRows(Array((0..<50).reversed()))))
        // Asked for 16 bits anyway, the reader refuses before reading.
        assertInputError(p, "X", contains: "do not fit 16-bit") {
            _ = try r.sparse!.readMajorList(Array(0..<50), order: Array(0..<50), indexType: UInt16.self)
        }
    }

    /// Stored indices beyond the declared genes (65 536 + 4 would wrap to 4 in 16 bits, −1 to
    /// 65 535) are refused by the narrow read with the row named, as by the wide one.
    func testOutOfRangeIndexIsAnErrorNotAWrap() throws {
        let t = try TempDir()
        let x = counts(rows: 20, cols: 65_536, seed: 5)
        for bad: Int64 in [65_540, 65_536, -1] {
            var stored = x.indices.map { Int64($0) }
            let row = 13, at = x.indptr[row] + 1
            stored[at] = bad
            let p = t.file("bad\(bad).h5ad")
            try writeCSRH5AD(x, indices: stored, to: p)
            let r = try AnnDataReader(path: p)
            assertInputError(p, "X/indices", contains: "index \(bad) out of range 0..<65536 (in row \(row))") {
                _ = try r.readGenes(rows: Array(0..<20), order: Array(0..<20))
            }
            assertInputError(p, "X/indices", contains: "out of range 0..<65536 (in row \(row))") {
                _ = try r.readX(rows: Array(0..<20), order: Array(0..<20))
            }
        }
    }
}
