import XCTest
import Foundation
import STCore
@testable import STData

/// A temporary directory removed at the end of the test.
final class TempDir {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("stdata-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    func contents() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted() ?? [] }
}

/// The parts of an h5ad written by `writeRawH5AD`, each replaceable to make a broken file.
struct RawH5AD {
    var nObs = 4
    var nVars = 3
    /// X as CSR arrays (nil = no X).
    var data: [Float]? = [1, 2, 3, 4, 5]
    var indices: [Int32] = [0, 2, 1, 0, 1]
    var indptr: [Int64] = [0, 2, 2, 3, 5]
    var shape: [Int64]? = nil
    var obsNames: [String]? = nil
    var spatial: [Double]? = [0, 0, 1, 0, 0, 1, 1, 1]
    var spatialCols = 2

    /// Writes the file with `HDF5Writer` in anndata's layout, without any validation.
    func write(_ path: String) throws {
        let w = try HDF5Writer(path: path)
        try w.setAttribute("/", "encoding-type", "anndata")
        try w.setAttribute("/", "encoding-version", "0.1.0")
        if let data {
            try w.createGroup("X")
            try w.setAttribute("X", "encoding-type", "csr_matrix")
            try w.setAttribute("X", "encoding-version", "0.1.0")
            try w.setAttribute("X", "shape", shape ?? [Int64(nObs), Int64(nVars)])
            try w.write("X/data", data)
            try w.write("X/indices", indices)
            try w.write("X/indptr", indptr)
        }
        try writeFrame(w, "obs", obsNames ?? (0..<nObs).map { "cell\($0)" })
        try writeFrame(w, "var", (0..<nVars).map { "gene\($0)" })
        try w.createGroup("obsm")
        if let spatial {
            try w.write("obsm/spatial", spatial, shape: [spatial.count / spatialCols, spatialCols])
        }
        try w.close()
    }

    func writeFrame(_ w: HDF5Writer, _ g: String, _ names: [String]) throws {
        try w.createGroup(g)
        try w.setAttribute(g, "encoding-type", "dataframe")
        try w.setAttribute(g, "encoding-version", "0.2.0")
        try w.setAttribute(g, "_index", "_index")
        try w.setAttribute(g, "column-order", strings: [])
        try w.writeStrings(g + "/_index", names)
    }
}

/// A small CSR matrix with varied row lengths (some empty) and its dense form.
func sampleCSR(rows: Int, cols: Int, seed: UInt64) -> CSRMatrix {
    var rng = Xoshiro256(seed: seed)
    var r: [Int] = [], c: [Int] = [], v: [Float] = []
    for i in 0..<rows where rng.below(5) != 0 {
        for j in 0..<cols where rng.below(3) == 0 {
            r.append(i); c.append(j); v.append(Float(1 + rng.below(20)))
        }
    }
    return CSRMatrix(rows: rows, cols: cols, row: r, col: c, val: v)
}

/// Asserts that `body` throws an `InputError` naming `file` and `field` on one line.
func assertInputError(_ file: String, _ field: String?, contains text: String? = nil,
                      line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected an InputError for field \(field ?? "nil")", line: line)
    } catch let e as InputError {
        XCTAssertEqual(e.file, file, "\(e)", line: line)
        XCTAssertEqual(e.field, field, "\(e)", line: line)
        let d = e.description
        XCTAssertFalse(d.contains("\n"), "multi-line: \(d)", line: line)
        XCTAssertTrue(d.hasPrefix(file), d, line: line)
        if let field { XCTAssertTrue(d.contains("'\(field)'"), d, line: line) }
        if let text { XCTAssertTrue(d.contains(text), "'\(d)' lacks '\(text)'", line: line) }
    } catch {
        XCTFail("expected an InputError, got \(error)", line: line)
    }
}
