import XCTest
import Foundation
import STTestSupport

/// Files that lie about their sizes (issue 9.1, see `HostileH5AD`) through the built executable:
/// `run` must exit 1 within a few seconds with one line naming the file and the lying field, under
/// an address-space limit of 3 GB (`ulimit -v`), so a rank that tried to allocate by a declared
/// size would crash instead of passing. The valid file they are made from trains under the same
/// limit.
final class HostileFileRunTests: XCTestCase {
    /// Virtual memory the run may map (KiB): ample for a 300-spot run (its peak RSS is ~60 MB),
    /// far below what any of the lies would make a trusting reader allocate.
    static let addressSpaceKiB = 3_000_000

    /// Runs `stgnn-dist run --input path …` under the limit; returns status, stderr and seconds.
    func limitedRun(_ path: String, output: String) throws -> (status: Int32, stderr: String, seconds: Double) {
        let t0 = Date()
        let r = try Executable.run(["run", "--input", path, "--output", output, "--epochs", "2", "--progress-every", "0"],
                                   addressSpaceKiB: Self.addressSpaceKiB)
        return (r.status, r.stderr, Date().timeIntervalSince(t0))
    }

    func testValidFileTrainsUnderTheLimit() throws {
        let t = try TempDir()
        let p = t.file("valid.h5ad")
        try HostileH5AD.writeValid(p)
        let r = try limitedRun(p, output: t.file("out"))
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func testEveryLieIsRefusedAtOnceWithOneLine() throws {
        let t = try TempDir()
        for lie in HostileH5AD.allCases {
            let p = t.file(lie.rawValue + ".h5ad")
            try lie.write(p)
            let out = t.file("out-" + lie.rawValue)
            let r = try limitedRun(p, output: out)
            XCTAssertEqual(r.status, 1, "\(lie): \(r.stderr)")
            XCTAssertLessThan(r.seconds, 10, "\(lie) took \(r.seconds) s")
            let lines = r.stderr.split(separator: "\n").map(String.init)
            let errors = lines.filter { $0.hasPrefix("stgnn-dist: error: ") }
            XCTAssertEqual(errors.count, 1, "\(lie): \(r.stderr)")
            XCTAssertEqual(lines.filter { !$0.hasPrefix("stgnn-dist") }, [], "\(lie): unexpected output \(r.stderr)")
            if let e = errors.first {
                XCTAssertTrue(e.hasPrefix("stgnn-dist: error: \(p): field '\(lie.field)': "), "\(lie): \(e)")
                XCTAssertTrue(e.contains(lie.message), "\(lie): '\(e)' lacks '\(lie.message)'")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/result.h5ad"), "\(lie) left a result")
        }
    }
}
