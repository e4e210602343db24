import XCTest
import Foundation
import STTestSupport
import STData

/// `stgnn-dist run --input …` on every input layout, through the built executable.
final class InputFormatRunTests: XCTestCase {
    static let folders = try! InputFolders()

    /// Runs 2 epochs on `inputs` and checks the exit status and the result's spot count.
    @discardableResult
    func run(_ inputs: [String], extra: [String] = [], spots: Int, file: StaticString = #filePath, line: UInt = #line) throws -> HDF5File {
        let out = try Executable.tempDir("inputs")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: out) }
        let r = try Executable.run(["run"] + inputs.flatMap { ["--input", $0] } + extra
                                   + ["--epochs", "2", "--output", out, "--progress-every", "0"])
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains("\(spots) spots"), r.stderr, file: file, line: line)
        let f = try HDF5File(path: out + "/result.h5ad")
        XCTAssertEqual(try f.shape("obsm/latent"), [spots, 64], file: file, line: line)
        XCTAssertEqual(try f.shape("obsm/spatial"), [spots, 2], file: file, line: line)
        return f
    }

    func testSpaceRangerFolder() throws {
        let t = try TempDir()
        try Self.folders.writeSpaceRanger(t.file("outs"))
        let f = try run([t.file("outs")], spots: Self.folders.barcodes.count)
        XCTAssertTrue(f.exists("obs/array_row"))
    }

    func testMatrixMarketFolder() throws {
        let t = try TempDir()
        try Self.folders.writeSpaceRangerMatrixMarket(t.file("outs"))
        try run([t.file("outs/filtered_feature_bc_matrix")], spots: Self.folders.barcodes.count)
        // A plain folder with an explicit barcode,x,y file (in-tissue spots of a filtered matrix).
        let f2 = try InputFolders(spots: 120, genes: 50, domains: 3, seed: 9)
        try f2.writeMatrixMarket(t.file("plain"), gzip: false)
        try f2.writePlainPositions(t.file("xy.csv"))
        // The matrix holds out-of-tissue barcodes the plain file lacks: one clear line.
        let bad = try Executable.run(["run", "--input", t.file("plain"), "--positions", t.file("xy.csv"), "--epochs", "1",
                                      "--output", t.file("o"), "--progress-every", "0"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.stderr.split(separator: "\n").filter { $0.hasPrefix("stgnn-dist: error:") }.count, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("has no position"), bad.stderr)
    }

    /// Blank lines cost nothing: a barcodes.tsv.gz and a features.tsv.gz each padded with 60 million
    /// blank lines (≈ 60 KB of gzip each) train under a 1 GB address-space limit; the lists used to
    /// be collected line by line first (≥ 1 GiB for the barcodes alone). Found with Tests/fuzz.
    func testBlankLinesInGzipListsCostNoMemory() throws {
        let t = try TempDir()
        try Self.folders.writeSpaceRangerMatrixMarket(t.file("outs"))
        let dir = t.file("outs/filtered_feature_bc_matrix")
        let blank = [UInt8](repeating: 10, count: 60_000_000)
        for name in ["barcodes.tsv.gz", "features.tsv.gz"] {
            let lines = try GzipLineReader.readLines(dir + "/" + name)
            try Gzip.write(Array((lines.joined(separator: "\n") + "\n").utf8) + blank, to: dir + "/" + name)
        }
        let out = try Executable.tempDir("blank")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: out) }
        let r = try Executable.run(["run", "--input", dir, "--epochs", "1", "--no-pictures", "--no-domains",
                                    "--output", out, "--progress-every", "0"], addressSpaceKiB: 1_000_000)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(Self.folders.barcodes.count) spots"), r.stderr)
    }

    func testTwoSlides() throws {
        let t = try TempDir()
        let a = t.file("a.h5ad"), b = t.file("b.h5ad")
        for (p, seed) in [(a, "1"), (b, "2")] {
            let s = try Executable.run(["synth", "--spots", "200", "--genes", "80", "--domains", "3", "--seed", seed, "--output", p])
            XCTAssertEqual(s.status, 0, s.stderr)
        }
        let f = try run([a, b], spots: 400)
        XCTAssertTrue(f.exists("obs/slice"))
        XCTAssertEqual(try f.readStrings("obs/slice/categories"), ["a", "b"])
        try run([a, b], extra: ["--aligned"], spots: 400)
    }

    func testBadFolderIsOneLine() throws {
        let t = try TempDir()
        let slide = t.file("slide") + "/"
        try FileManager.default.createDirectory(atPath: slide, withIntermediateDirectories: true)
        try Self.folders.writeTenXH5(slide + "filtered_feature_bc_matrix.h5")
        let r = try Executable.run(["run", "--input", slide, "--epochs", "1", "--output", t.file("o"), "--progress-every", "0"])
        XCTAssertNotEqual(r.status, 0)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines, ["stgnn-dist: error: \(slide): a Space Ranger folder needs spatial/tissue_positions.csv or spatial/tissue_positions_list.csv (found filtered_feature_bc_matrix.h5 only)"])
    }
}
