import XCTest
import Foundation
import STCore
@testable import STData
import STTestSupport

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

/// Writes `x` as a minimal CSR .h5ad (X, obs, var, obsm["spatial"]) with int64 indices: `indices`
/// replaces the stored ones (any value, for files that lie).
func writeCSRH5AD(_ x: CSRMatrix, indices: [Int64]? = nil, to p: String) throws {
    let w = try HDF5Writer(path: p)
    try w.createGroup("X")
    try w.setAttribute("X", "encoding-type", "csr_matrix")
    try w.setAttribute("X", "encoding-version", "0.1.0")
    try w.setAttribute("X", "shape", [Int64(x.rows), Int64(x.cols)])
    try w.write("X/data", x.values, compression: 4)
    try w.write("X/indices", indices ?? x.indices.map { Int64($0) })
    try w.write("X/indptr", x.indptr.map { Int64($0) })
    try RawH5AD().writeFrame(w, "obs", (0..<x.rows).map { "o\($0)" })
    try RawH5AD().writeFrame(w, "var", (0..<x.cols).map { "v\($0)" })
    try w.write("obsm/spatial", (0..<(2 * x.rows)).map { Double($0) }, shape: [x.rows, 2])
    try w.close()
}
