import XCTest
import Foundation
import STTestSupport
import STData

/// Nonsense that used to train is refused up front with one usage line (exit 64), before any file
/// is read or written; counts that overflow and a diverging run name their cause.
final class OptionValidationTests: XCTestCase {
    func assertRefused(_ args: [String], contains text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try Executable.tempDir("opts")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Executable.run(["run", "--output", dir + "/out", "--synthetic-spots", "200", "--synthetic-genes", "100"] + args)
        XCTAssertEqual(r.status, 64, "\(args): expected a usage error; stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(text), "\(args): stderr lacks '\(text)': \(r.stderr)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out"), "\(args): the output directory was created", file: file, line: line)
    }

    func testNonsenseOptionsAreRefusedBeforeAnythingStarts() throws {
        try assertRefused(["--epochs", "0"], contains: "--epochs must be at least 1")
        for v in ["-1", "nan", "inf"] {
            try assertRefused(["--alpha=\(v)"], contains: "--alpha must be a finite weight")
            try assertRefused(["--beta=\(v)"], contains: "--beta must be a finite weight")
        }
        try assertRefused(["--alpha", "0", "--beta", "0"], contains: "cannot both be 0")
        for v in ["inf", "1e-300", "0"] { try assertRefused(["--target-sum", v], contains: "--target-sum must be in [1, 10¹²]") }
        for v in ["1e10", "0", "nan", "-0.001"] { try assertRefused(["--lr=\(v)"], contains: "--lr must be in (0, 1]") }
        try assertRefused(["--max-value", "inf"], contains: "--max-value must be positive and finite")
        try assertRefused(["--dim", "12"], contains: "--dim must be a positive multiple of 8")
        try assertRefused(["--neighbors", "0"], contains: "--neighbors must be in 1…1000")
        for v in ["-1", "0.5", "nan"] { try assertRefused(["--stall-timeout=\(v)"], contains: "--stall-timeout must be 0 (no deadline) or at least 1 second") }
    }

    /// Finite float32 counts near 3.4·10³⁸ overflow a spot's total: refused naming the file and X,
    /// not trained into a constant loss.
    func testCountsWhoseTotalOverflowsAreRefused() throws {
        let slide = try SyntheticSlide(SyntheticSlide.Parameters(spots: 150, genes: 60, domains: 3, markersPerDomain: 10, seed: 7))
        var raw = RawH5AD(slide: slide)
        let start = Int(raw.indptr[17]), end = Int(raw.indptr[18])
        XCTAssertGreaterThan(end - start, 1)
        for p in start..<end { raw.data![p] = 3.0e38 }
        let t = try TempDir()
        let path = t.file("huge.h5ad")
        try raw.write(path)
        let r = try Executable.run(["run", "--input", path, "--output", t.file("out"), "--epochs", "2"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(path) && r.stderr.contains("'X'") && r.stderr.contains("overflows float32"), r.stderr)
        XCTAssertFalse(r.stderr.contains("epoch"), "refused before training: \(r.stderr)")
    }

    /// Ctrl-C on a single process stops it like SIGTERM: after the current epoch, with a
    /// checkpoint, exit status 75, no result.h5ad.
    func testSIGINTStopsWithACheckpoint() throws {
        let dir = try Executable.tempDir("sigint")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try Executable.path())
        p.arguments = ["run", "--epochs", "100000", "--synthetic-spots", "300", "--synthetic-genes", "100",
                       "--output", dir, "--progress-every", "0"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // Wait for training to start (metrics.jsonl appears with the first epoch).
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: dir + "/metrics.jsonl") && Date() < deadline { usleep(50_000) }
        usleep(200_000)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 75, stderr)
        XCTAssertTrue(stderr.contains("stopped by SIGINT"), stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/checkpoints/latest"), stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/result.h5ad"))
    }
}

/// The memory preflight: a run too large for `--max-memory` is refused before X is read, with
/// the estimate and a rank count that fits; the estimate bounds the measured peak from above.
final class MemoryPreflightTests: XCTestCase {
    func testTooLargeForItsRanksIsRefusedWithTheRankCountThatFits() throws {
        let dir = try Executable.tempDir("mem")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Executable.run(["run", "--synthetic-spots", "20000", "--synthetic-genes", "400", "--epochs", "2",
                                    "--max-memory", "150M", "--output", dir + "/out"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("too large for 1 rank: a rank would need about"), r.stderr)
        XCTAssertTrue(r.stderr.contains("more than --max-memory = 150 MiB") && r.stderr.contains("ranks (1 per node) would fit"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/metrics.jsonl"))
        let bad = try Executable.run(["run", "--max-memory", "lots", "--output", dir + "/x"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("--max-memory must be a size"), bad.stderr)
    }

    /// The reported peak is the run's own, not its launcher's: with 512 MiB touched in this test
    /// process first (the launcher's high-water mark, which Linux carries into ru_maxrss across
    /// a vfork/posix_spawn exec), a run whose own peak is ~300 MiB reports well under 512 MiB.
    func testPeakRSSIsTheRunsOwnNotItsLaunchers() throws {
        let dir = try Executable.tempDir("mem3")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ballast = UnsafeMutableRawPointer.allocate(byteCount: 512 << 20, alignment: 4096)
        defer { ballast.deallocate() }
        for i in stride(from: 0, to: 512 << 20, by: 4096) { ballast.storeBytes(of: UInt8(1), toByteOffset: i, as: UInt8.self) }
        let r = try Executable.run(["run", "--synthetic-spots", "2000", "--synthetic-genes", "200", "--epochs", "2",
                                    "--no-pictures", "--no-domains", "--output", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let s = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
        let peak = try XCTUnwrap((s["peak_rss_bytes_per_rank"] as? [Int])?.max())
        XCTAssertLessThan(peak, 400 << 20, "the launcher's 512 MiB leaked into the run's peak RSS")
        XCTAssertGreaterThan(peak, 8 << 20)
    }

    func testEstimateBoundsTheMeasuredPeak() throws {
        let dir = try Executable.tempDir("mem2")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Executable.run(["run", "--synthetic-spots", "20000", "--synthetic-genes", "600", "--epochs", "2",
                                    "--no-pictures", "--no-domains", "--output", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let s = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
        let estimate = try XCTUnwrap(s["memory_estimate_bytes"] as? Int)
        let peak = try XCTUnwrap((s["peak_rss_bytes_per_rank"] as? [Int])?.max())
        XCTAssertGreaterThanOrEqual(Double(estimate), Double(peak), "an estimate below the peak would let a run be killed")
        XCTAssertLessThan(Double(estimate), 2 * Double(peak), "an estimate far above the peak would refuse runs that fit")
    }
}
