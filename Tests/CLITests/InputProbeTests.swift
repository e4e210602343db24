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

    /// The two fuzzer files the probe used to pass: their coordinates are unreadable (an error the
    /// probe stopped at) and an obs column's variable-length strings crash libhdf5 (H5HG_read),
    /// which the job reads first. The probe now tries every read on its own, in the job's order.
    func testCorruptObsBehindUnreadableCoordinatesIsOneLineFromTheProbe() throws {
        for name in ["libhdf5-crash-obs-index", "libhdf5-crash-obs-column"] {
            let file = regression(name)
            let child = try Executable.run(["probe-input", "--input", file], environment: ["SWIFT_BACKTRACE": "enable=no"])
            XCTAssertTrue(child.status != 0, "\(name) no longer crashes libhdf5 in the probe: \(child.stderr)")
            let dir = try Executable.tempDir("probe-obs")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let r = try Executable.run(["run", "--input", file, "--epochs", "2", "--output", dir + "/out"])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("\(name).corrupt-hdf5: the HDF5 library crashed (Segmentation fault, signal 11) reading the file's structure in a separate probe process"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/result.h5ad"))
        }
    }

    /// Without the probe (`STGNN_INPUT_PROBE=0`) the same crash happens inside the job's own
    /// read, where `HDF5CrashGuard` turns the SIGSEGV into one line naming file and field, and no
    /// backtrace.
    func testACrashInsideLibHDF5InTheJobIsOneLineNamingTheField() throws {
        for (name, field) in [("libhdf5-crash-obs-index", "obs/index"), ("libhdf5-crash-obs-column", "obs/__categories/layer")] {
            let dir = try Executable.tempDir("guard")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let r = try Executable.run(["run", "--input", regression(name), "--epochs", "2", "--output", dir + "/out"],
                                       environment: ["STGNN_INPUT_PROBE": "0"])
            XCTAssertEqual(r.status, 1, r.stderr)
            let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("stgnn-dist: error:") }
            XCTAssertEqual(errors.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("\(name).corrupt-hdf5: field '\(field)': the HDF5 library crashed (SIGSEGV) reading it"), r.stderr)
            XCTAssertFalse(r.stderr.contains("Backtrac"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/result.h5ad"))
        }
    }

    /// X's chunk index damaged past the first rows (`DamagedChunkIndex`: the last B-tree leaf of
    /// X/data): opening X/data walks the whole index (`HDF5Storage`'s chunk count), so the job
    /// refuses the file with one line naming X/data before any row is read, with or without the
    /// probe, and libhdf5 does not crash.
    func testDamagedChunkIndexPastTheFirstRowsIsOneLine() throws {
        let dir = try Executable.tempDir("chunk-index")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/damaged.h5ad"
        let offset = try DamagedChunkIndex.write(file)
        XCTAssertGreaterThan(offset, 64 * 200, "the damaged leaf maps chunks far past the first rows")
        let child = try Executable.run(["probe-input", "--input", file], environment: ["SWIFT_BACKTRACE": "enable=no"])
        XCTAssertEqual(child.status, 0, child.stderr)
        for probe in ["1", "0"] {
            let r = try Executable.run(["run", "--input", file, "--epochs", "2", "--output", dir + "/out" + probe],
                                       environment: ["STGNN_INPUT_PROBE": probe])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("damaged.h5ad: field 'X/data': its chunks could not be counted"), r.stderr)
        }
    }

    /// Without the probe, a file on which libhdf5 loops is ended on one process by the deadline of
    /// each HDF5 read call (`--setup-timeout`, here 3 s): one line naming the field.
    func testALoopInsideLibHDF5InTheJobEndsAtTheReadDeadline() throws {
        let dir = try Executable.tempDir("guard-loop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t0 = Date()
        let r = try Executable.run(["run", "--input", regression("libhdf5-loop"), "--epochs", "2", "--output", dir + "/out",
                                    "--setup-timeout", "3"], environment: ["STGNN_INPUT_PROBE": "0"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").filter { $0.hasPrefix("stgnn-dist: error:") }.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("libhdf5-loop.corrupt-hdf5: field '") && r.stderr.contains("reading it did not finish within 3 s"), r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 30)
    }

    func regression(_ name: String) -> String {
        SharedData.packageRoot.appendingPathComponent("Tests/fuzz/regressions/\(name).corrupt-hdf5").path
    }
}
