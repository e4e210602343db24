import XCTest
import STTestSupport

/// The outputs of a run appear together or not at all: a failure while writing any of them
/// leaves no result of the run in the folder (only `metrics.jsonl`), and no staging folder.
final class OutputStagingTests: XCTestCase {
    func run(_ dir: String, failing name: String? = nil) throws -> Executable.Result {
        try Executable.run(["run", "--synthetic-spots", "400", "--synthetic-genes", "120", "--epochs", "3",
                            "--output", dir, "--overwrite"],
                           environment: name.map { ["STGNN_FAIL_WRITE": $0] } ?? [:])
    }

    func testAFailedOutputLeavesNoneOfTheOthers() throws {
        let dir = try Executable.tempDir("staging")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fm = FileManager.default
        let outputs = ["result.h5ad", "domains.csv", "domains.png", "loss.png", "summary.json"]
        for name in ["summary.json", "result.h5ad", "domains.csv"] {
            let r = try run(dir, failing: name)
            XCTAssertEqual(r.status, 1, r.stderr)
            let lines = r.stderr.split(separator: "\n").filter { $0.contains("error") }
            XCTAssertEqual(lines.count, 1, r.stderr)
            // The message names the file the user knows, not the staging folder.
            XCTAssertTrue(r.stderr.contains(dir + "/" + name) && !r.stderr.contains(".stgnn-dist-staging"), r.stderr)
            for f in outputs { XCTAssertFalse(fm.fileExists(atPath: dir + "/" + f), "\(f) left after \(name) failed") }
            XCTAssertFalse(fm.fileExists(atPath: dir + "/.stgnn-dist-staging"))
            XCTAssertTrue(fm.fileExists(atPath: dir + "/metrics.jsonl"))
        }
        // A run that succeeds leaves all of them, and nothing else of the staging.
        let ok = try run(dir)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        for f in outputs { XCTAssertTrue(fm.fileExists(atPath: dir + "/" + f), f) }
        XCTAssertFalse(fm.fileExists(atPath: dir + "/.stgnn-dist-staging"))
        // A failing rerun over a finished run (--overwrite) does not leave the old result beside it.
        let again = try run(dir, failing: "summary.json")
        XCTAssertEqual(again.status, 1, again.stderr)
        for f in outputs { XCTAssertFalse(fm.fileExists(atPath: dir + "/" + f), "\(f) of the old run left") }
    }
}
