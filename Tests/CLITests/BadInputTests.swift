import XCTest
import Foundation
import STTestSupport
import STData

/// Bad input through the built executable, as a user meets it (issue 2, "Bad input"):
/// `stgnn-dist run --input BAD --output DIR --epochs 2` must exit non-zero with exactly one line
/// `stgnn-dist: error: …` on stderr naming the file and the field, and leave no `result.h5ad`
/// (nor its `.tmp`) in DIR. Inputs that are odd but legal (duplicate coordinates, genes with no
/// counts) must train.
final class BadInputTests: XCTestCase {
    /// A small valid slide to break one thing in: 150 spots × 60 genes, 3 layered domains.
    static let slide = try! SyntheticSlide(SyntheticSlide.Parameters(spots: 150, genes: 60, domains: 3, markersPerDomain: 10, seed: 7))

    /// The base file's CSR arrays, to edit.
    var base: RawH5AD { RawH5AD(slide: Self.slide) }

    /// The first stored entry of spot `row` in `raw` (rows of the synthetic slide all have counts).
    func entry(of row: Int, _ raw: RawH5AD) -> Int { Int(raw.indptr[row]) }

    /// Runs `run --input path --output DIR --epochs 2` and checks the failure contract: non-zero
    /// exit, exactly one error line, naming `path` and `field` (when given) and containing `text`,
    /// no crash output, no result file.
    func assertRunFails(_ path: String, field: String?, contains text: String? = nil,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let out = try TempDir()
        let dir = out.file("out")
        let r = try Executable.run(["run", "--input", path, "--output", dir, "--epochs", "2", "--progress-every", "0"])
        XCTAssertNotEqual(r.status, 0, "expected a non-zero exit; stderr: \(r.stderr)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        let errors = lines.filter { $0.hasPrefix("stgnn-dist: error:") }
        XCTAssertEqual(errors.count, 1, "expected one error line; stderr:\n\(r.stderr)", file: file, line: line)
        // Besides the error, only rank 0's start-up note ("stgnn-dist <version>: …") may appear:
        // no crash report, no HDF5 diagnostics stack, no second message.
        for l in lines where !l.hasPrefix("stgnn-dist: error:") && !l.hasPrefix("stgnn-dist ") {
            XCTFail("unexpected stderr line '\(l)'; stderr:\n\(r.stderr)", file: file, line: line)
        }
        if let e = errors.first {
            XCTAssertTrue(e.contains(path), "error line does not name the file \(path): \(e)", file: file, line: line)
            if let field { XCTAssertTrue(e.contains("'\(field)'"), "error line does not name the field '\(field)': \(e)", file: file, line: line) }
            if let text { XCTAssertTrue(e.contains(text), "error line lacks '\(text)': \(e)", file: file, line: line) }
        }
        let left = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        XCTAssertFalse(left.contains("result.h5ad"), "a failed run left result.h5ad in \(dir)", file: file, line: line)
        XCTAssertFalse(left.contains { $0.hasSuffix(".tmp") }, "a failed run left a temporary file in \(dir): \(left)", file: file, line: line)
    }

    /// Runs a legal but unusual file to completion and checks the embedding is written.
    func assertRunSucceeds(_ path: String, extra: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws {
        let out = try TempDir()
        let dir = out.file("out")
        let r = try Executable.run(["run", "--input", path, "--output", dir, "--epochs", "2", "--progress-every", "0"] + extra)
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        let f = try HDF5File(path: dir + "/result.h5ad")
        XCTAssertEqual(try f.shape("obsm/latent"), [Self.slide.parameters.spots, 64], file: file, line: line)
        XCTAssertTrue(try f.read("obsm/latent", as: Float.self).allSatisfy(\.isFinite), file: file, line: line)
    }

    // MARK: - The file itself

    func testMissingFile() throws {
        let t = try TempDir()
        try assertRunFails(t.file("absent.h5ad"), field: nil, contains: "no such file")
    }

    /// Tests run as root, where chmod 000 does not stop reading: a directory in the file's place is
    /// the unreadable input every user can produce. A chmod-000 file is checked too when not root.
    func testUnreadableFile() throws {
        let t = try TempDir()
        let dir = t.file("slide.h5ad")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        try assertRunFails(dir, field: nil, contains: "directory")
        if getuid() != 0 {
            let p = t.file("locked.h5ad")
            try base.write(p)
            chmod(p, 0)
            defer { chmod(p, 0o644) }
            try assertRunFails(p, field: nil)
        }
    }

    func testNotHDF5() throws {
        let t = try TempDir()
        let p = t.file("text.h5ad")
        try "spot,x,y\n1,2,3\n".write(toFile: p, atomically: true, encoding: .utf8)
        try assertRunFails(p, field: nil, contains: "not an HDF5 file")
    }

    // MARK: - Missing pieces

    func testMissingX() throws {
        let t = try TempDir()
        var raw = base; raw.data = nil
        let p = t.file("nox.h5ad"); try raw.write(p)
        try assertRunFails(p, field: "X", contains: "missing")
    }

    func testMissingSpatial() throws {
        let t = try TempDir()
        var raw = base; raw.spatial = nil
        let p = t.file("nospatial.h5ad"); try raw.write(p)
        try assertRunFails(p, field: "obsm/spatial", contains: "missing")
    }

    // MARK: - Coordinates

    func testNonFiniteCoordinates() throws {
        let t = try TempDir()
        for (name, bad) in [("nan", Double.nan), ("inf", Double.infinity), ("neginf", -Double.infinity)] {
            var raw = base; raw.spatial![2 * 17 + 1] = bad
            let p = t.file("\(name).h5ad"); try raw.write(p)
            try assertRunFails(p, field: "obsm/spatial", contains: "row 17")
        }
    }

    func testSpatialRowCountDiffers() throws {
        let t = try TempDir()
        var raw = base; raw.spatial!.removeLast(2)
        let p = t.file("short.h5ad"); try raw.write(p)
        try assertRunFails(p, field: "obsm/spatial", contains: "149 rows but X has 150")
    }

    /// Duplicate coordinates are legal: duplicates are each other's distance-0 neighbours.
    func testDuplicateCoordinatesRun() throws {
        let t = try TempDir()
        var raw = base
        for i in [1, 2, 40, 41, 42] { raw.spatial![2 * i] = raw.spatial![0]; raw.spatial![2 * i + 1] = raw.spatial![1] }
        let p = t.file("dups.h5ad"); try raw.write(p)
        try assertRunSucceeds(p)
    }

    // MARK: - Values of X

    func testNegativeValueInX() throws {
        let t = try TempDir()
        var raw = base; raw.data![entry(of: 77, raw)] = -3
        let p = t.file("neg.h5ad"); try raw.write(p)
        try assertRunFails(p, field: "X/data", contains: "negative")
    }

    func testNonFiniteValueInX() throws {
        let t = try TempDir()
        for (name, bad) in [("nan", Float.nan), ("inf", Float.infinity)] {
            var raw = base; raw.data![entry(of: 91, raw)] = bad
            let p = t.file("\(name).h5ad"); try raw.write(p)
            try assertRunFails(p, field: "X/data", contains: "non-finite")
        }
    }

    // MARK: - Malformed CSR

    func testIndexOutOfRange() throws {
        let t = try TempDir()
        for (name, bad) in [("high", Int32(60)), ("negative", Int32(-1))] {
            var raw = base; raw.indices[entry(of: 33, raw)] = bad
            let p = t.file("\(name).h5ad"); try raw.write(p)
            try assertRunFails(p, field: "X/indices", contains: "out of range")
        }
    }

    func testIndptrNotMonotone() throws {
        let t = try TempDir()
        var raw = base; raw.indptr[50] = raw.indptr[52] + 1
        let p = t.file("indptr.h5ad"); try raw.write(p)
        try assertRunFails(p, field: "X/indptr", contains: "non-decreasing")
    }

    // MARK: - Too little data

    func testFewerThanKPlusOneSpots() throws {
        let t = try TempDir()
        var raw = RawH5AD()   // 4 spots
        raw.nObs = 3; raw.indptr = [0, 2, 3, 5]; raw.spatial = [0, 0, 1, 0, 0, 1]
        let p = t.file("three.h5ad"); try raw.write(p)
        try assertRunFails(p, field: "obsm/spatial", contains: "at least 4 spots")
    }

    func testSpotWithZeroCounts() throws {
        let t = try TempDir()
        var raw = base
        let a = Int(raw.indptr[64]), b = Int(raw.indptr[65])
        raw.data!.removeSubrange(a..<b); raw.indices.removeSubrange(a..<b)
        for i in 65...raw.nObs { raw.indptr[i] -= Int64(b - a) }
        let p = t.file("emptyspot.h5ad"); try raw.write(p)
        try assertRunFails(p, field: "X", contains: "spot 64")
    }

    /// Stored zeros count as zero too: every spot's total is 0.
    func testAllZeroCounts() throws {
        let t = try TempDir()
        var raw = base; raw.data = [Float](repeating: 0, count: raw.data!.count)
        let p = t.file("zeros.h5ad"); try raw.write(p)
        try assertRunFails(p, field: "X", contains: "zero total counts")
        var empty = base; empty.data = []; empty.indices = []; empty.indptr = [Int64](repeating: 0, count: empty.nObs + 1)
        let q = t.file("empty.h5ad"); try empty.write(q)
        try assertRunFails(q, field: "X", contains: "zero total counts")
    }

    /// Genes without a single count are legal (common in real panels) and must train, with and
    /// without HVG selection.
    func testZeroCountGenesRun() throws {
        let t = try TempDir()
        let raw = base
        let dropped: Set<Int32> = [0, 5, 59]
        var data = [Float](), indices = [Int32](), indptr: [Int64] = [0]
        for i in 0..<raw.nObs {
            for q in Int(raw.indptr[i])..<Int(raw.indptr[i + 1]) where !dropped.contains(raw.indices[q]) {
                data.append(raw.data![q]); indices.append(raw.indices[q])
            }
            indptr.append(Int64(indices.count))
        }
        var z = raw; z.data = data; z.indices = indices; z.indptr = indptr
        let p = t.file("zerogenes.h5ad"); try z.write(p)
        try assertRunSucceeds(p)
        try assertRunSucceeds(p, extra: ["--n-top-genes", "30"])
    }
}
