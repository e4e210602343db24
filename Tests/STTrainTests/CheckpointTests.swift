import XCTest
import Foundation
import STCore
import STComm
import STData
import STModel
import STTrain

/// Checkpoint and resume through the whole `run` pipeline, with in-process ranks
/// (`ThreadGroupCommunicator`): E epochs + resume to 2E equals 2E straight, on the same rank count
/// bitwise and on another rank count to float tolerance; wrong, truncated, corrupted checkpoints
/// are refused; a failed write loses nothing; a stop request on one rank stops all ranks.
final class CheckpointTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "stgnn-ckpt-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// A small run configuration: 400 synthetic spots × 100 genes (all kept), d = 16.
    func config(_ dir: String, epochs: Int, every: Int = 0, keep: Int = 2, resume: String? = nil) -> RunConfiguration {
        var c = RunConfiguration()
        c.output.output = dir
        c.model.epochs = epochs
        c.model.dim = 16
        c.model.lr = 1e-2
        c.data.syntheticSpots = 400
        c.data.syntheticGenes = 100
        c.data.syntheticDomains = 4
        c.output.checkpointEvery = every
        c.output.keepCheckpoints = keep
        c.output.resume = resume
        return c
    }

    /// Runs the pipeline on `ranks` in-process ranks; returns each rank's outcome.
    func job(_ c: RunConfiguration, ranks: Int, slideSeed: UInt64 = 0,
             stop: ((_ rank: Int, _ epoch: Int) -> Int32?)? = nil) -> [Result<RunSummary, Error>] {
        ThreadGroupCommunicator.run(ranks: ranks) { comm -> Result<RunSummary, Error> in
            Result {
                let source = try SyntheticSource(SyntheticSlide.Parameters(
                    spots: c.data.syntheticSpots, genes: c.data.syntheticGenes, domains: c.data.syntheticDomains, seed: slideSeed))
                let p = RunPipeline(config: c, source: source, comm: comm)
                if let stop { p.stopRequested = { stop(comm.rank, $0) } }
                return try p.run()
            }
        }
    }

    /// Rank 0's summary of a job that must succeed on every rank.
    @discardableResult
    func succeed(_ c: RunConfiguration, ranks: Int, slideSeed: UInt64 = 0,
                 stop: ((Int, Int) -> Int32?)? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> RunSummary {
        let results = job(c, ranks: ranks, slideSeed: slideSeed, stop: stop)
        for (r, res) in results.enumerated() {
            if case .failure(let e) = res { XCTFail("rank \(r) failed: \(e)", file: file, line: line); throw e }
        }
        return try results[0].get()
    }

    /// The error of a job that must fail: rank 0's error (the one it prints), after checking that
    /// every other rank failed too (quietly, with `RootFailure`) or with the same error.
    func refuse(_ c: RunConfiguration, ranks: Int, slideSeed: UInt64 = 0, file: StaticString = #filePath, line: UInt = #line) -> String {
        let results = job(c, ranks: ranks, slideSeed: slideSeed)
        var messages = [String]()
        for (r, res) in results.enumerated() {
            switch res {
            case .success: XCTFail("rank \(r) of \(ranks) succeeded; expected a refusal", file: file, line: line)
            case .failure(let e):
                messages.append(String(describing: e))
                if r > 0 && !(e is RootFailure) && String(describing: e) != messages[0] {
                    XCTFail("rank \(r) failed differently from rank 0: \(e)", file: file, line: line)
                }
            }
        }
        return messages.first ?? ""
    }

    func metrics(_ dir: String) throws -> [EpochRecord] {
        let text = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(EpochRecord.self, from: Data($0.utf8)) }
    }

    func latent(_ dir: String) throws -> [Float] {
        try HDF5File(path: dir + "/result.h5ad").read("obsm/latent", as: Float.self)
    }

    func ckpt(_ dir: String, _ epoch: Int) -> String { dir + "/checkpoints/" + CheckpointStore.fileName(epoch: epoch) }

    func latestName(_ dir: String) throws -> String {
        try String(contentsOfFile: dir + "/checkpoints/latest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: format

    func testCRC64CheckValueAndRoundTrip() throws {
        XCTAssertEqual(CRC64.checksum(Data("123456789".utf8)), 0x995D_C9BB_DF19_39FA)
        let dir = root + "/a"
        try succeed(config(dir, epochs: 3, every: 3), ranks: 1)
        let c = try Checkpoint.read(path: ckpt(dir, 3))
        XCTAssertEqual(c.metadata.epoch, 3)
        XCTAssertEqual(c.metadata.adam.step, 3)
        XCTAssertEqual(c.metadata.seed, 41)
        XCTAssertEqual(c.metadata.parameter_count, ParameterLayout(genes: 100, dim: 16).count)
        XCTAssertEqual(c.metadata.data.n_spots, 400)
        XCTAssertEqual(try Checkpoint.decode(c.encoded(), path: "x"), c)
        XCTAssertEqual(try latestName(dir), "epoch-000003.ckpt")
        XCTAssertEqual(CheckpointStore.epoch(ofFileName: "epoch-1234567.ckpt"), 1_234_567)
        XCTAssertNil(CheckpointStore.epoch(ofFileName: "epoch-12.ckpt.tmp"))
    }

    /// `--resume` accepts `latest`, a checkpoint file, a `latest` pointer file, a checkpoint
    /// directory and an output directory.
    func testResumeSpecResolution() throws {
        let dir = root + "/spec"
        try succeed(config(dir, epochs: 4, every: 2, keep: 5), ranks: 1)
        let store = CheckpointStore(output: root + "/other", keep: 2)
        XCTAssertEqual(try CheckpointStore(output: dir, keep: 2).resolve("latest"), ckpt(dir, 4))
        for spec in [dir, dir + "/checkpoints", dir + "/checkpoints/latest"] {
            XCTAssertEqual(try store.resolve(spec), ckpt(dir, 4), spec)
        }
        XCTAssertEqual(try store.resolve(ckpt(dir, 2)), ckpt(dir, 2))
        try Data("epoch-000099.ckpt\n".utf8).write(to: URL(fileURLWithPath: dir + "/checkpoints/latest"))
        XCTAssertThrowsError(try store.resolve(dir)) { XCTAssertTrue("\($0)".contains("names epoch-000099.ckpt, which does not exist"), "\($0)") }
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir + "/checkpoints/latest"))
        XCTAssertThrowsError(try store.resolve(dir)) { XCTAssertTrue("\($0)".contains("corrupted pointer"), "\($0)") }
        XCTAssertThrowsError(try store.resolve(root)) { XCTAssertTrue("\($0)".contains("without a 'latest'"), "\($0)") }
    }

    /// The fingerprint does not depend on how spots are split over ranks.
    func testDataFingerprintIsRankCountIndependent() throws {
        var prints = [DataFingerprint]()
        for ranks in [1, 2, 3] {
            let s = try succeed(config(root + "/f\(ranks)", epochs: 1), ranks: ranks)
            prints.append(s.data_fingerprint)
        }
        for p in prints.dropFirst() { XCTAssertEqual(p.differences(from: prints[0]), [], "fingerprints on 1 and more ranks") }
        XCTAssertEqual(prints[0].n_genes, 100)
    }

    // MARK: resume equals straight

    /// E epochs, checkpoint, resume to 2E on the same rank count: every loss, the parameters, the
    /// Adam moments and the embedding are bitwise those of 2E straight.
    func testResumeOnSameRankCountIsBitwiseIdentical() throws {
        let e = 6
        for ranks in [1, 2] {
            let straight = root + "/straight\(ranks)", split = root + "/split\(ranks)"
            try succeed(config(straight, epochs: 2 * e, every: e), ranks: ranks)
            try succeed(config(split, epochs: e, every: e), ranks: ranks)
            let s = try succeed(config(split, epochs: 2 * e, every: e, resume: "latest"), ranks: ranks)
            XCTAssertEqual(s.resumed_from?.epoch, e)
            XCTAssertEqual(s.epochs, 2 * e)
            XCTAssertEqual(s.epochs_this_run, e)
            let a = try metrics(straight), b = try metrics(split)
            XCTAssertEqual(a.count, 2 * e)
            XCTAssertEqual(b.map(\.epoch), Array(1...(2 * e)), "each epoch once in the resumed metrics")
            for (x, y) in zip(a, b) {
                XCTAssertEqual([x.loss, x.loss_feat, x.loss_sl_1, x.loss_sl_2], [y.loss, y.loss_feat, y.loss_sl_1, y.loss_sl_2],
                               "epoch \(x.epoch) on \(ranks) rank(s)")
            }
            let ca = try Checkpoint.read(path: ckpt(straight, 2 * e)), cb = try Checkpoint.read(path: ckpt(split, 2 * e))
            XCTAssertEqual(ca.params, cb.params, "parameters after 2E on \(ranks) rank(s)")
            XCTAssertEqual(ca.m, cb.m)
            XCTAssertEqual(ca.v, cb.v)
            XCTAssertEqual(ca.metadata.adam, cb.metadata.adam)
            XCTAssertEqual(try latent(straight), try latent(split), "embedding")
        }
    }

    /// E epochs on P ranks, resume to 2E on Q ranks, against 2E straight on P ranks: losses to 1e-5
    /// relative, parameters to 1e-4 of their largest magnitude.
    func testResumeOnAnotherRankCountAgrees() throws {
        let e = 6
        for (p, q) in [(1, 3), (3, 2)] {
            let straight = root + "/straight-\(p)", split = root + "/split-\(p)-\(q)"
            try succeed(config(straight, epochs: 2 * e, every: e), ranks: p)
            try succeed(config(split, epochs: e, every: e), ranks: p)
            let s = try succeed(config(split, epochs: 2 * e, every: e, resume: "latest"), ranks: q)
            XCTAssertEqual(s.resumed_from?.ranks, p)
            XCTAssertEqual(s.ranks, q)
            let a = try metrics(straight), b = try metrics(split)
            XCTAssertEqual(b.map(\.epoch), Array(1...(2 * e)))
            var lossErr = 0.0
            for (x, y) in zip(a, b) {
                for (u, v) in [(x.loss, y.loss), (x.loss_feat, y.loss_feat), (x.loss_sl_1, y.loss_sl_1), (x.loss_sl_2, y.loss_sl_2)] {
                    lossErr = max(lossErr, abs(u - v) / abs(u))
                }
            }
            let ca = try Checkpoint.read(path: ckpt(straight, 2 * e)), cb = try Checkpoint.read(path: ckpt(split, 2 * e))
            let scale = ca.params.map { abs($0) }.max()!
            let paramErr = zip(ca.params, cb.params).map { abs($0 - $1) }.max()! / scale
            print(String(format: "resume %d → %d ranks vs %d epochs straight on %d: max loss rel err %.3e, max param err %.3e (of max |p|)",
                         p, q, 2 * e, p, lossErr, paramErr))
            XCTAssertLessThan(lossErr, 1e-5, "\(p) → \(q) ranks: losses")
            XCTAssertLessThan(paramErr, 1e-4, "\(p) → \(q) ranks: parameters")
        }
    }

    /// --epochs is the total: resuming at E with --epochs E trains nothing and still writes the
    /// outputs, reporting the checkpoint's last losses.
    func testResumeAtTargetTrainsNothing() throws {
        let dir = root + "/done"
        let first = try succeed(config(dir, epochs: 4, every: 4), ranks: 1)
        let again = try succeed(config(dir, epochs: 4, resume: "latest"), ranks: 2)
        XCTAssertEqual(again.epochs_this_run, 0)
        XCTAssertEqual(again.epochs, 4)
        XCTAssertEqual(again.final_loss, first.final_loss)
        XCTAssertEqual(try metrics(dir).count, 4)
    }

    /// `--resume auto` (requeued batch jobs): a fresh start when the folder has no checkpoint, a
    /// continuation from the newest one when it has, and, when the newest is corrupt, the newest
    /// intact one (identical to resuming from it by hand).
    func testResumeAutoStartsFreshContinuesAndSkipsACorruptNewest() throws {
        let dir = root + "/auto"
        let first = try succeed(config(dir, epochs: 4, every: 2, resume: "auto"), ranks: 1)
        XCTAssertNil(first.resumed_from)
        XCTAssertEqual(first.epochs_this_run, 4)
        let second = try succeed(config(dir, epochs: 6, every: 2, resume: "auto"), ranks: 2)
        XCTAssertEqual(second.resumed_from?.epoch, 4)
        XCTAssertEqual(second.epochs_this_run, 2)
        // Corrupt the newest (epoch 6): a byte in the middle of its payload.
        let newest = ckpt(dir, 6)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: newest))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: newest))
        let third = try succeed(config(dir, epochs: 8, every: 2, resume: "auto"), ranks: 3)
        XCTAssertEqual(third.resumed_from?.epoch, 4, "the corrupt epoch-6 checkpoint is skipped")
        XCTAssertEqual(third.epochs_this_run, 4)
        // A checkpoint of another configuration is not silently ignored: the folder holds another run.
        var other = config(dir, epochs: 10, every: 2, resume: "auto")
        other.model.lr = 5e-2
        XCTAssertTrue(refuse(other, ranks: 1).contains("different configuration"))
    }

    // MARK: refusals

    /// A folder holding another run is refused (naming what it holds) unless the run continues it
    /// (`--resume`) or replaces it (`--overwrite`, which removes the old outputs first); a folder
    /// another job is writing into is refused while that job holds its lock.
    func testOutputFolderOfAnotherRunIsRefusedUnlessOverwritten() throws {
        let dir = root + "/taken"
        try succeed(config(dir, epochs: 2, every: 2), ranks: 1)
        let msg = refuse(config(dir, epochs: 2), ranks: 2)
        XCTAssertTrue(msg.contains("holds another run's outputs") && msg.contains("result.h5ad") && msg.contains("checkpoints/"), msg)
        var c = config(dir, epochs: 3)
        c.output.overwrite = true
        let s = try succeed(c, ranks: 1)
        XCTAssertNil(s.resumed_from)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/checkpoints"), "the old checkpoints are gone")
        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3, "metrics of the new run only")

        // Another job's lock: held by an open flock in this process, as a concurrent job would.
        let lock = open(dir + "/.stgnn-dist.lock", O_RDWR | O_CREAT, 0o644)
        XCTAssertEqual(flock(lock, LOCK_EX | LOCK_NB), 0)
        var d = config(dir, epochs: 3)
        d.output.overwrite = true
        XCTAssertTrue(refuse(d, ranks: 1).contains("another stgnn-dist job is writing into this folder"))
        flock(lock, LOCK_UN)
        close(lock)
        XCTAssertNoThrow(try succeed(d, ranks: 1))
    }

    /// `--output` naming an existing file: refused in those words (not Foundation's "could not be
    /// completed"), and the file is left as it was.
    func testOutputThatIsAFileIsRefused() throws {
        let path = root + "/a-file"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertTrue(refuse(config(path, epochs: 2), ranks: 1).contains("--output names an existing file, not a folder"))
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "keep me")
    }

    func testCheckpointOfAnotherConfigurationIsRefused() throws {
        let dir = root + "/cfg"
        try succeed(config(dir, epochs: 2, every: 2), ranks: 1)
        var c = config(dir, epochs: 4, resume: "latest")
        c.model.lr = 2e-2
        let msg = refuse(c, ranks: 3)
        XCTAssertTrue(msg.contains("different configuration") && msg.contains("lr is 0.01 in the checkpoint, 0.02 in this run"), msg)
        XCTAssertTrue(msg.contains(ckpt(dir, 2)), "names the checkpoint: \(msg)")
        c = config(dir, epochs: 4, resume: "latest")
        c.model.readout = .global
        XCTAssertTrue(refuse(c, ranks: 1).contains("readout is local in the checkpoint, global in this run"))
        // What does not change the numbers does not matter: another output directory, progress, keep.
        c = config(root + "/elsewhere", epochs: 4, keep: 5, resume: ckpt(dir, 2))
        c.output.progressEvery = 1
        XCTAssertEqual(try succeed(c, ranks: 2).resumed_from?.epoch, 2)
    }

    /// A checkpoint whose epochs used other corruption permutations (a build before the Feistel
    /// permutation drew them by Fisher–Yates) cannot continue its run exactly: refused, saying so.
    func testCheckpointOfAnotherPermutationSchemeIsRefused() throws {
        let dir = root + "/scheme"
        try succeed(config(dir, epochs: 2, every: 2), ranks: 1)
        var c = try Checkpoint.read(path: ckpt(dir, 2))
        c.metadata.rng = "corruption permutation of epoch e = corruptionPermutation(seed, e): (seed, epoch) is the whole state"
        try c.encoded().write(to: URL(fileURLWithPath: ckpt(dir, 2)))
        let msg = refuse(config(dir, epochs: 4, resume: "latest"), ranks: 1)
        XCTAssertTrue(msg.contains("corruption permutations are not this build's") && msg.contains(ckpt(dir, 2)), msg)
    }

    func testCheckpointOfOtherDataIsRefused() throws {
        let dir = root + "/data"
        try succeed(config(dir, epochs: 2, every: 2), ranks: 1)
        // Same configuration (the synthetic slide's seed is not a model option), other counts.
        let msg = refuse(config(dir, epochs: 4, resume: "latest"), ranks: 2, slideSeed: 7)
        XCTAssertTrue(msg.contains("different data") && msg.contains("raw counts checksum"), msg)
        XCTAssertTrue(msg.contains(ckpt(dir, 2)), msg)
    }

    func testMissingCheckpointIsRefused() throws {
        let msg = refuse(config(root + "/none", epochs: 2, resume: "latest"), ranks: 2)
        XCTAssertTrue(msg.contains("checkpoints/latest") && msg.contains("no checkpoint has been written"), msg)
        XCTAssertTrue(refuse(config(root + "/none", epochs: 2, resume: root + "/nope.ckpt"), ranks: 1).contains("nope.ckpt"))
    }

    func testTruncatedCheckpointIsRefused() throws {
        let dir = root + "/trunc"
        try succeed(config(dir, epochs: 2, every: 2), ranks: 1)
        let good = try Data(contentsOf: URL(fileURLWithPath: ckpt(dir, 2)))
        let bad = root + "/bad.ckpt"
        for length in [0, 5, 31, 32, 33, 200, good.count / 2, good.count - 1] {
            try good.prefix(length).write(to: URL(fileURLWithPath: bad))
            XCTAssertThrowsError(try Checkpoint.read(path: bad), "\(length) bytes") { e in
                let s = String(describing: e)
                XCTAssertTrue(s.hasPrefix(bad + ": ") && s.contains("truncated"), "\(length) bytes: \(s)")
            }
        }
        // Through the run, on 3 ranks: refused, rank 0 reports it.
        let msg = refuse(config(root + "/t2", epochs: 4, resume: bad), ranks: 3)
        XCTAssertTrue(msg.contains("truncated checkpoint"), msg)
    }

    /// A flipped bit or byte anywhere (header or payload) is refused.
    func testCorruptedCheckpointIsRefused() throws {
        let dir = root + "/flip"
        try succeed(config(dir, epochs: 2, every: 2), ranks: 1)
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: ckpt(dir, 2))))
        let bad = root + "/bad.ckpt"
        var rng = Xoshiro256(seed: 2024)
        let positions = [0, 7, 8, 12, 16, 23, 24, 31, 32, 40, 100, good.count / 2, good.count - 1]
            + (0..<20).map { _ in Int(rng.below(UInt64(good.count))) }
        for pos in positions {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var b = good
                b[pos] ^= mask
                try Data(b).write(to: URL(fileURLWithPath: bad))
                XCTAssertThrowsError(try Checkpoint.read(path: bad), "byte \(pos) ^ \(mask) (seed 2024)") { e in
                    let s = String(describing: e)
                    XCTAssertTrue(s.hasPrefix(bad + ": "), s)
                    if pos >= Checkpoint.headerSize {
                        XCTAssertTrue(s.contains("checksum mismatch"), "payload byte \(pos): \(s)")
                    }
                }
            }
        }
        var b = good
        b[0] = UInt8(ascii: "X")
        try Data(b).write(to: URL(fileURLWithPath: bad))
        let msg = refuse(config(root + "/f2", epochs: 4, resume: bad), ranks: 2)
        XCTAssertTrue(msg.contains("not a stgnn-dist checkpoint"), msg)
    }

    // MARK: faults while writing

    /// A checkpoint that cannot be written (here: its temporary file cannot be created; as root,
    /// permissions do not stop writes) fails the job on every rank with an error naming the file,
    /// and leaves the previous checkpoint and `latest` valid. The same for `latest` itself.
    func testUnwritableCheckpointLosesNothing() throws {
        let dir = root + "/full"
        try succeed(config(dir, epochs: 3, every: 3), ranks: 1)
        let before = try Data(contentsOf: URL(fileURLWithPath: ckpt(dir, 3)))
        // The checkpoint of epoch 6 cannot be created.
        let blocker = dir + "/checkpoints/.epoch-000006.ckpt.tmp"
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
        var msg = refuse(config(dir, epochs: 9, every: 3, resume: "latest"), ranks: 3)
        XCTAssertTrue(msg.hasPrefix(ckpt(dir, 6) + ": cannot write"), msg)
        XCTAssertTrue(msg.contains("nothing was replaced"), msg)
        XCTAssertEqual(try latestName(dir), "epoch-000003.ckpt")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: ckpt(dir, 3))), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: ckpt(dir, 6)))
        try FileManager.default.removeItem(atPath: blocker)

        // The checkpoint is written but `latest` cannot be replaced: the old pointer stays, names a
        // checkpoint that is still there (nothing is pruned before `latest` moves).
        let latestBlocker = dir + "/checkpoints/.latest.tmp"
        try FileManager.default.createDirectory(atPath: latestBlocker, withIntermediateDirectories: false)
        msg = refuse(config(dir, epochs: 9, every: 3, keep: 1, resume: "latest"), ranks: 2)
        XCTAssertTrue(msg.hasPrefix(dir + "/checkpoints/latest: cannot write"), msg)
        XCTAssertEqual(try latestName(dir), "epoch-000003.ckpt")
        XCTAssertEqual(try Checkpoint.read(path: ckpt(dir, 3)).metadata.epoch, 3)
        try FileManager.default.removeItem(atPath: latestBlocker)

        // Permissions, when they apply (not as root).
        if geteuid() != 0 {
            chmod(dir + "/checkpoints", 0o555)
            defer { chmod(dir + "/checkpoints", 0o755) }
            msg = refuse(config(dir, epochs: 9, every: 3, resume: "latest"), ranks: 2)
            XCTAssertTrue(msg.contains("epoch-000006.ckpt") && msg.contains("Permission denied"), msg)
            XCTAssertEqual(try latestName(dir), "epoch-000003.ckpt")
        }
        // And the run continues from the intact checkpoint.
        XCTAssertEqual(try succeed(config(dir, epochs: 6, every: 3, resume: "latest"), ranks: 2).epochs, 6)
    }

    func testKeepsNewestCheckpoints() throws {
        let dir = root + "/keep"
        try succeed(config(dir, epochs: 4, every: 2, keep: 3), ranks: 1)
        // A file of a later epoch (left by a run that got further) is not this run's history: a
        // resumed run leaves it alone while pruning its own.
        XCTAssertTrue(FileManager.default.createFile(atPath: ckpt(dir, 50), contents: Data([1, 2, 3])))
        try succeed(config(dir, epochs: 10, every: 2, keep: 3, resume: "latest"), ranks: 2)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/checkpoints").sorted()
        XCTAssertEqual(names, ["epoch-000006.ckpt", "epoch-000008.ckpt", "epoch-000010.ckpt", "epoch-000050.ckpt", "latest"])
        XCTAssertEqual(try latestName(dir), "epoch-000010.ckpt")
    }

    // MARK: stop requests and metrics

    /// A stop request seen by one rank only stops every rank after the same epoch, with a
    /// checkpoint and without result.h5ad; resuming finishes the run exactly as a straight one.
    func testStopRequestOnOneRankStopsAllRanks() throws {
        let dir = root + "/stop", straight = root + "/stop-straight"
        let results = job(config(dir, epochs: 10), ranks: 3) { rank, epoch in rank == 2 && epoch >= 4 ? SIGTERM : nil }
        for (r, res) in results.enumerated() {
            let s = try res.get()
            XCTAssertTrue(s.stopped_early, "rank \(r)")
            XCTAssertEqual(s.epochs, 4, "rank \(r) stopped after epoch 4")
            XCTAssertEqual(s.stop_signal, "SIGTERM")
            XCTAssertEqual(s.checkpoints.map(\.epoch), [4])
        }
        XCTAssertEqual(try latestName(dir), "epoch-000004.ckpt")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/result.h5ad"))
        XCTAssertEqual(try metrics(dir).count, 4)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
        XCTAssertEqual(summary["stopped_early"] as? Bool, true)

        // Resumed (and stopped once more, by SIGUSR1 on rank 0 this time), then finished: the same
        // numbers as a straight run.
        let again = try succeed(config(dir, epochs: 10, resume: "latest"), ranks: 3) { rank, epoch in rank == 0 && epoch >= 7 ? SIGUSR1 : nil }
        XCTAssertEqual(again.stop_signal, "SIGUSR1")
        XCTAssertEqual(again.epochs, 7)
        XCTAssertEqual(try succeed(config(dir, epochs: 10, resume: "latest"), ranks: 3).resumed_from?.epoch, 7)
        try succeed(config(straight, epochs: 10), ranks: 3)
        let a = try metrics(straight), b = try metrics(dir)
        XCTAssertEqual(b.map(\.epoch), Array(1...10))
        XCTAssertEqual(a.map(\.loss), b.map(\.loss), "stopped at 4 and 7, resumed: the straight run's losses, bitwise")
        XCTAssertEqual(try latent(straight), try latent(dir))
        // A request during the last epoch changes nothing: the run is complete.
        let last = try succeed(config(root + "/stop-last", epochs: 3), ranks: 2) { _, epoch in epoch >= 3 ? SIGTERM : nil }
        XCTAssertFalse(last.stopped_early)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/stop-last/result.h5ad"))
    }

    /// A run killed after its last checkpoint leaves metrics of later epochs (and maybe a partial
    /// line): resuming drops them, so each epoch appears once, with the resumed run's values.
    func testResumeDropsMetricsPastTheCheckpoint() throws {
        let dir = root + "/killed", straight = root + "/killed-straight"
        try succeed(config(dir, epochs: 6, every: 3, keep: 5), ranks: 2)
        let h = try XCTUnwrap(FileHandle(forWritingAtPath: dir + "/metrics.jsonl"))
        h.seekToEndOfFile()
        h.write(Data("{\"epoch\":7,\"loss\":1,\"loss_feat\":1,\"loss_sl_1\":1,\"loss_sl_2\":1,\"seconds\":1}\n{\"epoch\":8,\"lo".utf8))
        try h.close()
        try succeed(config(dir, epochs: 9, resume: "latest"), ranks: 1)
        try succeed(config(straight, epochs: 9), ranks: 2)
        var a = try metrics(straight), b = try metrics(dir)
        XCTAssertEqual(b.map(\.epoch), Array(1...9))
        for (x, y) in zip(a, b) { XCTAssertEqual(x.loss, y.loss, accuracy: 1e-5 * abs(x.loss), "epoch \(x.epoch)") }
        // Resuming from an older checkpoint (a path) rewinds the metrics to it.
        try succeed(config(dir, epochs: 9, resume: ckpt(dir, 3)), ranks: 2)
        a = try metrics(straight); b = try metrics(dir)
        XCTAssertEqual(b.map(\.epoch), Array(1...9))
        XCTAssertEqual(a.map(\.loss), b.map(\.loss), "2 ranks → resume at 3 on 2 ranks = straight on 2 ranks, bitwise")
    }
}
