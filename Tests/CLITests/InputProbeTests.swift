import XCTest
import STTestSupport

/// A file whose HDF5 metadata crashes libhdf5 itself (a libFuzzer finding, `free(): invalid
/// pointer` inside libhdf5 1.10.8 while its structure is read) ends the run with one line and
/// status 1, from the probe in a child process, instead of a backtrace.
final class InputProbeTests: XCTestCase {
    func testAFileThatCrashesLibHDF5IsOneLine() throws {
        let file = SharedData.packageRoot.appendingPathComponent("Tests/fuzz/regressions/libhdf5-crash.corrupt-hdf5").path
        let dir = try Executable.tempDir("probe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The file does crash the HDF5 library when read in-process (the probe's child).
        let child = try Executable.run(["probe-input", "--input", file], environment: ["SWIFT_BACKTRACE": "enable=no"])
        XCTAssertTrue(child.status != 0, "the regression file no longer crashes libhdf5: \(child.stderr)")
        let r = try Executable.run(["run", "--input", file, "--epochs", "2", "--output", dir + "/out"])
        XCTAssertEqual(r.status, 1, r.stderr)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("libhdf5-crash.corrupt-hdf5: the HDF5 library crashed"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/result.h5ad"))
    }

    /// A file on which libhdf5 loops forever (a libFuzzer finding) ends the run after the probe's
    /// deadline (`STGNN_PROBE_TIMEOUT`, 300 s by default) with one line, and no child is left.
    func testAFileOnWhichLibHDF5LoopsIsOneLineAfterTheDeadline() throws {
        let file = SharedData.packageRoot.appendingPathComponent("Tests/fuzz/regressions/libhdf5-loop.corrupt-hdf5").path
        let dir = try Executable.tempDir("probe-loop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t0 = Date()
        let r = try Executable.run(["run", "--input", file, "--epochs", "2", "--output", dir + "/out"],
                                   environment: ["STGNN_PROBE_TIMEOUT": "3"])
        let took = Date().timeIntervalSince(t0)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("did not finish within 3 s"), r.stderr)
        XCTAssertLessThan(took, 30, "the deadline ended the run")
    }
}
