import XCTest
import Foundation
import STTestSupport
import STData

/// The CLI end to end: the built executable, as a user runs it.
final class RunCommandTests: XCTestCase {
    func testRunOnBuiltInSlideWritesDocumentedOutputs() throws {
        let dir = try Executable.tempDir("run")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Executable.run(["run", "--epochs", "3", "--output", dir, "--progress-every", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("epoch     3/3"), "progress lines on stderr: \(r.stderr)")

        // metrics.jsonl: one object per epoch with the documented fields.
        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        for (i, line) in lines.enumerated() {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertEqual(obj["epoch"] as? Int, i + 1)
            for k in ["loss", "loss_feat", "loss_sl_1", "loss_sl_2", "seconds"] {
                XCTAssertNotNil(obj[k] as? Double, "metrics line \(i + 1) lacks \(k)")
            }
        }
        // summary.json.
        let s = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
        XCTAssertEqual(s["n_spots"] as? Int, 3000)
        XCTAssertEqual(s["n_genes"] as? Int, 400)
        XCTAssertEqual(s["epochs"] as? Int, 3)
        XCTAssertEqual(s["ranks"] as? Int, 1)
        XCTAssertNotNil(s["train_seconds"] as? Double)
        XCTAssertEqual((s["peak_rss_bytes_per_rank"] as? [Int])?.count, 1)
        XCTAssertNotNil(s["configuration"] as? [String: Any])
        XCTAssertNotNil(s["phase_seconds"] as? [String: Double])
        for k in ["final_loss", "final_loss_feat", "final_loss_sl_1", "final_loss_sl_2"] { XCTAssertNotNil(s[k] as? Double, k) }
        // result.h5ad: obs, obsm["spatial"], obsm["latent"] (N × 64).
        let f = try HDF5File(path: dir + "/result.h5ad")
        XCTAssertEqual(try f.shape("obsm/latent"), [3000, 64])
        XCTAssertEqual(try f.shape("obsm/spatial"), [3000, 2])
        XCTAssertTrue(f.exists("obs/domain"))
        let z = try f.read("obsm/latent", as: Float.self)
        XCTAssertTrue(z.allSatisfy(\.isFinite))
        XCTAssertGreaterThan(z.map(abs).max()!, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/.result.h5ad.tmp"))
    }

    func testSynthThenRunFromFile() throws {
        let dir = try Executable.tempDir("synth")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/slide.h5ad"
        let s = try Executable.run(["synth", "--spots", "500", "--genes", "120", "--domains", "4", "--output", file])
        XCTAssertEqual(s.status, 0, s.stderr)
        let slide = try AnnDataReader.read(path: file)
        XCTAssertEqual(slide.nObs, 500)
        XCTAssertEqual(slide.nVars, 120)
        XCTAssertEqual(Set(slide.obs["ground_truth"]!.labels().compactMap { $0 }).count, 4)
        let r = try Executable.run(["run", "--input", file, "--epochs", "2", "--output", dir + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try HDF5File(path: dir + "/out/result.h5ad").shape("obsm/latent"), [500, 64])
    }

    /// `--help` texts are part of the interface: compared with the committed snapshots
    /// (regenerate with STGNN_UPDATE_SNAPSHOTS=1 after a deliberate change).
    func testHelpTextIsStable() throws {
        let snapshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots")
        for sub in ["", "run", "verify", "synth", "partition", "compare"] {
            let r = try Executable.run(sub.isEmpty ? ["--help"] : ["help", sub])
            XCTAssertEqual(r.status, 0)
            let file = snapshots.appendingPathComponent("help\(sub.isEmpty ? "" : "-" + sub).txt")
            if ProcessInfo.processInfo.environment["STGNN_UPDATE_SNAPSHOTS"] == "1" {
                try r.stdout.write(to: file, atomically: true, encoding: .utf8)
                continue
            }
            let expected = try String(contentsOf: file, encoding: .utf8)
            XCTAssertEqual(r.stdout, expected, "help of '\(sub)' changed; if deliberate, rerun with STGNN_UPDATE_SNAPSHOTS=1")
        }
    }

    /// The model's per-spot loops are SIMD8 only: a latent width that is not a multiple of 8 is a
    /// usage error, before anything is read.
    func testDimMustBeAMultipleOf8() throws {
        let r = try Executable.run(["run", "--dim", "12", "--epochs", "1", "--output", "/nonexistent/never-written"])
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertTrue(r.stderr.contains("--dim must be a positive multiple of 8"), r.stderr)
    }
}
