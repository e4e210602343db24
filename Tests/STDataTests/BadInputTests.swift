import XCTest
import Foundation
import STCore
@testable import STData
import STTestSupport

/// Each kind of bad input gives one `InputError` line naming the file and the field.
final class BadInputTests: XCTestCase {
    func read(_ path: String) throws { _ = try AnnDataReader.read(path: path) }

    func testMissingAndNonHDF5Files() throws {
        let t = try TempDir()
        let missing = t.file("nope.h5ad")
        assertInputError(missing, nil, contains: "no such file") { try read(missing) }
        let text = t.file("text.h5ad")
        try "hello".write(toFile: text, atomically: true, encoding: .utf8)
        assertInputError(text, nil, contains: "not an HDF5 file") { try read(text) }
        assertInputError(t.path, nil, contains: "directory") { try read(t.path) }
    }

    func testMissingXAndSpatial() throws {
        let t = try TempDir()
        var raw = RawH5AD(); raw.data = nil
        let noX = t.file("nox.h5ad"); try raw.write(noX)
        assertInputError(noX, "X", contains: "missing") { try read(noX) }

        raw = RawH5AD(); raw.spatial = nil
        let noSp = t.file("nosp.h5ad"); try raw.write(noSp)
        assertInputError(noSp, "obsm/spatial", contains: "missing") { try read(noSp) }
        // The header and X still read without coordinates.
        XCTAssertEqual(try AnnDataReader(path: noSp).readX().nnz, 5)
    }

    func testBadCoordinates() throws {
        let t = try TempDir()
        for (name, bad) in [("nan", Double.nan), ("inf", Double.infinity)] {
            var raw = RawH5AD(); raw.spatial![5] = bad
            let p = t.file(name + ".h5ad"); try raw.write(p)
            assertInputError(p, "obsm/spatial", contains: "row 2 ('cell2')") { try read(p) }
        }
        var raw = RawH5AD(); raw.spatial = [0, 0, 1, 1, 2, 2]
        let short = t.file("short.h5ad"); try raw.write(short)
        assertInputError(short, "obsm/spatial", contains: "3 rows but X has 4") { try read(short) }
        raw = RawH5AD(); raw.spatial = [0, 1, 2, 3]; raw.spatialCols = 1
        let oneCol = t.file("onecol.h5ad"); try raw.write(oneCol)
        assertInputError(oneCol, "obsm/spatial", contains: "N×2") { try read(oneCol) }
        // N×3 is accepted: z is dropped.
        raw = RawH5AD(); raw.spatial = [0, 1, 9, 2, 3, 9, 4, 5, 9, 6, 7, 9]; raw.spatialCols = 3
        let three = t.file("three.h5ad"); try raw.write(three)
        XCTAssertEqual(try AnnDataReader(path: three).spatial(), [0, 1, 2, 3, 4, 5, 6, 7])
    }

    func testBadValues() throws {
        let t = try TempDir()
        var raw = RawH5AD(); raw.data![3] = -4
        let neg = t.file("neg.h5ad"); try raw.write(neg)
        assertInputError(neg, "X/data", contains: "negative value -4.0 (in row 3)") { try read(neg) }
        raw = RawH5AD(); raw.data![0] = .nan
        let nan = t.file("nan.h5ad"); try raw.write(nan)
        assertInputError(nan, "X/data", contains: "non-finite") { try read(nan) }
        // Row reads that avoid the bad row succeed; those that include it fail.
        let r = try AnnDataReader(path: neg)
        XCTAssertEqual(try r.readX(rows: 0..<3).nnz, 3)
        assertInputError(neg, "X/data") { _ = try r.readX(rows: [1, 3]) }
    }

    func testMalformedCSR() throws {
        let t = try TempDir()
        var raw = RawH5AD(); raw.indices[2] = 3
        let idx = t.file("idx.h5ad"); try raw.write(idx)
        assertInputError(idx, "X/indices", contains: "index 3 out of range 0..<3") { try read(idx) }
        raw = RawH5AD(); raw.indices[2] = -1
        let negIdx = t.file("negidx.h5ad"); try raw.write(negIdx)
        assertInputError(negIdx, "X/indices", contains: "out of range") { try read(negIdx) }

        raw = RawH5AD(); raw.indptr = [0, 3, 2, 3, 5]
        let mono = t.file("mono.h5ad"); try raw.write(mono)
        assertInputError(mono, "X/indptr", contains: "non-decreasing") { try read(mono) }

        raw = RawH5AD(); raw.indptr = [0, 2, 2, 5]
        let len = t.file("len.h5ad"); try raw.write(len)
        assertInputError(len, "X/indptr", contains: "expected 5") { try read(len) }

        raw = RawH5AD(); raw.indptr = [0, 2, 2, 3, 4]
        let last = t.file("last.h5ad"); try raw.write(last)
        assertInputError(last, "X/indptr", contains: "must equal nnz") { try read(last) }

        raw = RawH5AD(); raw.indptr = [1, 2, 2, 3, 5]
        let first = t.file("first.h5ad"); try raw.write(first)
        assertInputError(first, "X/indptr", contains: "start at 0") { try read(first) }

        raw = RawH5AD(); raw.indices = [0, 2, 1, 0]
        let nnz = t.file("nnz.h5ad"); try raw.write(nnz)
        assertInputError(nnz, "X/indices", contains: "has 4 entries but data has 5") { try read(nnz) }
    }

    func testZeroRowsAndNameMismatch() throws {
        let t = try TempDir()
        var raw = RawH5AD()
        raw.nObs = 0; raw.data = []; raw.indices = []; raw.indptr = [0]; raw.spatial = []
        let zero = t.file("zero.h5ad"); try raw.write(zero)
        assertInputError(zero, "X", contains: "zero rows") { try read(zero) }

        raw = RawH5AD(); raw.obsNames = ["a", "b", "c"]
        let names = t.file("names.h5ad"); try raw.write(names)
        assertInputError(names, "obs/_index", contains: "3 names but X has 4 rows") { try read(names) }
    }

    func testBadDenseX() throws {
        let t = try TempDir()
        let p = t.file("dense.h5ad")
        let w = try HDF5Writer(path: p)
        try w.write("X", [Float](arrayLiteral: 1, 0, 2, -1, 0, 0), shape: [2, 3])
        try RawH5AD().writeFrame(w, "obs", ["a", "b"])
        try RawH5AD().writeFrame(w, "var", ["x", "y", "z"])
        try w.write("obsm/spatial", [0.0, 1, 2, 3], shape: [2, 2])
        try w.close()
        assertInputError(p, "X", contains: "negative value -1.0 at row 1, column 0") { try read(p) }
    }
}
