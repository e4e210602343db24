import XCTest
import Foundation
import STCore
@testable import STData
import STTestSupport

/// Files that lie about their sizes (issue 9.1, see `HostileH5AD`): each is refused with one
/// `InputError` naming the file and the lying field, at once, before anything sized by the lie is
/// allocated; the valid file they are made from reads.
final class HostileFileTests: XCTestCase {
    /// Everything `run` reads from an `.h5ad`: header, names, coordinates, row counts, obs, X.
    func readAll(_ path: String) throws {
        let r = try AnnDataReader(path: path)
        _ = try r.spatial()
        _ = try r.rowNNZ()
        _ = try r.obsNames()
        _ = try r.varNames()
        _ = try r.obs()
        _ = try r.readX(rows: Array(0..<r.nObs))
    }

    func check(_ lie: HostileH5AD, line: UInt = #line) throws {
        let t = try TempDir()
        let p = t.file(lie.rawValue + ".h5ad")
        try lie.write(p)
        let size = (try FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? -1
        XCTAssertLessThan(size, 150_000, "the crafted file should be small", line: line)
        let t0 = Date()
        assertInputError(p, lie.field, contains: lie.message, line: line) { try readAll(p) }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2, "refusing \(lie) took too long", line: line)
    }

    func testValidFileReads() throws {
        let t = try TempDir()
        let p = t.file("valid.h5ad")
        try HostileH5AD.writeValid(p)
        XCTAssertNoThrow(try readAll(p))
        let r = try AnnDataReader(path: p)
        XCTAssertEqual(r.header.rows, 300); XCTAssertEqual(r.header.cols, 120)
        XCTAssertEqual(try r.spatial(), HostileH5AD.slide.coordinates)
        XCTAssertEqual(try r.readX(), HostileH5AD.slide.counts)
    }

    func testIndptrEndsAt1e12() throws { try check(.indptrEndsAt1e12) }
    func testDataExtent1e12() throws { try check(.dataExtent1e12) }
    func testShapeColumns2e9() throws { try check(.shapeColumns2e9) }
    func testShapeColumns2e9WithIndex() throws { try check(.shapeColumns2e9WithIndex) }
    func testShapeRows1e9() throws { try check(.shapeRows1e9) }
    func testShapeRows1e9WithIndptr() throws { try check(.shapeRows1e9WithIndptr) }
    func testSpatialColumns1e9() throws { try check(.spatialColumns1e9) }
    func testObsIndex1e10() throws { try check(.obsIndex1e10) }
    func testCodes1e10() throws { try check(.codes1e10) }
    func testCodesForgedChunk() throws { try check(.codesForgedChunk) }
    func testDenseFillValue() throws { try check(.denseFillValue) }
    func testDenseUnallocated() throws { try check(.denseUnallocated) }
    func testShapeFloats() throws { try check(.shapeFloats) }
    func testIndptrFloats() throws { try check(.indptrFloats) }

    /// obsm["spatial"] with more columns than x and y: only the first two are read (a hyperslab),
    /// a wide array is fine when it is really stored.
    func testSpatialReadsTwoColumnsOfAWideArray() throws {
        let t = try TempDir()
        var raw = RawH5AD()
        let cols = 5000
        raw.spatialCols = cols
        raw.spatial = (0..<(4 * cols)).map { Double($0 % cols == 0 ? $0 / cols : ($0 % cols == 1 ? 10 + $0 / cols : -1)) }
        let p = t.file("wide.h5ad"); try raw.write(p)
        XCTAssertEqual(try AnnDataReader(path: p).spatial(), [0, 10, 1, 11, 2, 12, 3, 13])
        XCTAssertEqual(try HDF5File(path: p).readColumns("obsm/spatial", 1..<3, rows: 2..<4, as: Double.self), [12, -1, 13, -1])
    }

    /// A dense X is read in blocks of at most `denseBlockElements` values: several rows per read
    /// (one union selection), or a row wider than a block in column pieces; rows, values and the
    /// error's row and column do not depend on the block.
    func testDenseXInBlocks() throws {
        let t = try TempDir()
        let rows = 7, cols = 20
        var v = [Float](repeating: 0, count: rows * cols)
        for i in 0..<rows { v[i * cols + i] = Float(i + 1); v[i * cols + cols - 1] = 7 }
        let p = t.file("dense.h5ad")
        let w = try HDF5Writer(path: p)
        try w.write("X", v, shape: [rows, cols], compression: 1)
        let raw = RawH5AD()
        try raw.writeFrame(w, "obs", (0..<rows).map { "c\($0)" })
        try raw.writeFrame(w, "var", (0..<cols).map { "g\($0)" })
        try w.close()
        for block in [1 << 22, 45, 20, 8, 1] {
            let r = try AnnDataReader(path: p)
            r.denseBlockElements = block
            XCTAssertEqual(try r.rowNNZ(), [Int](repeating: 2, count: rows), "block \(block)")
            let x = try r.readX(rows: [1, 3, 4, 6])
            XCTAssertEqual(x.indptr, [0, 2, 4, 6, 8], "block \(block)")
            XCTAssertEqual(x.indices, [1, 19, 3, 19, 4, 19, 6, 19], "block \(block)")
            XCTAssertEqual(x.values, [2, 7, 4, 7, 5, 7, 7, 7], "block \(block)")
            XCTAssertEqual(try r.readX(), CSRMatrix(rows: rows, cols: cols, row: Array(0..<rows) + Array(0..<rows),
                                                   col: Array(0..<rows) + [Int](repeating: 19, count: rows),
                                                   val: (1...rows).map(Float.init) + [Float](repeating: 7, count: rows)), "block \(block)")
        }
        v[5 * cols + 13] = -2
        let bad = t.file("bad.h5ad")
        let w2 = try HDF5Writer(path: bad)
        try w2.write("X", v, shape: [rows, cols], compression: 1)
        try raw.writeFrame(w2, "obs", (0..<rows).map { "c\($0)" })
        try raw.writeFrame(w2, "var", (0..<cols).map { "g\($0)" })
        try w2.close()
        for block in [45, 8] {
            let r = try AnnDataReader(path: bad)
            r.denseBlockElements = block
            assertInputError(bad, "X", contains: "negative value -2.0 at row 5, column 13") { _ = try r.readX(rows: [2, 5]) }
        }
    }
}
