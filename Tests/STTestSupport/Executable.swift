import Foundation
import XCTest

/// Runs the built `stgnn-dist` executable (as users do) and captures its output.
public enum Executable {
    /// The executable: `$STGNN_BIN`, else the one built beside the test bundle.
    public static func path() throws -> String {
        if let p = ProcessInfo.processInfo.environment["STGNN_BIN"], FileManager.default.isExecutableFile(atPath: p) {
            return p
        }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            let p = bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("stgnn-dist").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        // On Linux the test bundle is an executable (…/debug/stgnn-distPackageTests.xctest) and
        // not among Bundle.allBundles: look beside it, so `--scratch-path DIR` builds test their
        // own executable rather than whatever .build/ holds.
        if let arg0 = CommandLine.arguments.first, arg0.hasSuffix(".xctest") {
            let p = URL(fileURLWithPath: arg0).deletingLastPathComponent().appendingPathComponent("stgnn-dist").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        for config in ["release", "debug"] {
            let p = SharedData.packageRoot.appendingPathComponent(".build/\(config)/stgnn-dist").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        throw XCTSkip("stgnn-dist executable not built (swift build --build-tests builds it; or set STGNN_BIN)")
    }

    public struct Result {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `stgnn-dist args…` with a clean MPI environment (one process, no launcher); with
    /// `addressSpaceKiB`, under that address-space limit (`ulimit -v`), so that a large
    /// allocation ends the process instead of passing.
    public static func run(_ args: [String], environment extra: [String: String] = [:],
                           addressSpaceKiB: Int? = nil) throws -> Result {
        let p = Process()
        if let limit = addressSpaceKiB {
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "ulimit -v \(limit) && exec \"$0\" \"$@\"", try path()] + args
        } else {
            p.executableURL = URL(fileURLWithPath: try path())
            p.arguments = args
        }
        var env = ProcessInfo.processInfo.environment
        for k in ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"] { env[k] = nil }
        env["OPENBLAS_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] ?? "1"
        env["COLUMNS"] = "100"
        for (k, v) in extra { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both pipes before waiting, so a chatty process cannot block on a full pipe.
        final class Box: @unchecked Sendable { var data = Data() }
        let o = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { o.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let e = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o.data, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }

    /// A fresh temporary directory.
    public static func tempDir(_ tag: String) throws -> String {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("stgnn-\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u.path
    }
}
