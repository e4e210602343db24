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
