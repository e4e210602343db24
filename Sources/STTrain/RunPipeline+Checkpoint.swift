import Foundation
import STCore
import STData
import STComm
import STModel

/// An error raised on rank 0 during a step only rank 0 performs (reading or writing a checkpoint),
/// as seen by the other ranks: rank 0 reports the real error, the others leave quietly with this.
public struct RootFailure: Error, CustomStringConvertible {
    /// What rank 0 was doing ("writing a checkpoint").
    public let what: String
    public var description: String { "\(what) failed on rank 0 (its message says why)" }
}

extension RunPipeline {
    /// Runs `body` on rank 0 only, then tells every rank whether it succeeded (one broadcast).
    /// On failure rank 0 rethrows its error and every other rank throws `RootFailure`, so all
    /// ranks leave at the same point: no rank waits in a collective for a rank that has left, and
    /// the message is printed once, by rank 0. Returns rank 0's value there, nil elsewhere.
    func onRoot<T>(_ what: String, _ body: () throws -> T) throws -> T? {
        // The waits of this step are rank 0's; the caller's phase resumes after it.
        let outer = comm.watchdog?.phase
        comm.watchdog?.enterPhase(what + " (rank 0)")
        defer { if let outer { comm.watchdog?.enterPhase(outer) } }
        var value: T?
        var failure: Error?
        if comm.isRoot {
            Self.stopForTests(at: what, rank: comm.rank)
            do { value = try body() } catch { failure = error }
        }
        let succeeded: Bool = try comm.broadcast(comm.isRoot ? failure == nil : nil, root: 0)
        if !succeeded { throw failure ?? RootFailure(what: what) }
        return value
    }

    /// `onRoot`, with rank 0's value then broadcast to every rank (Codable broadcast). Two
    /// broadcasts, the outcome then the value: a value that is itself optional arrives intact.
    func onRootShared<T: Codable>(_ what: String, _ body: () throws -> T) throws -> T {
        try comm.broadcast(onRoot(what, body), root: 0)
    }

    /// Reads the checkpoint `config.output.resume` names and checks its format and configuration
    /// (rank 0 only, before the setup, so that a wrong checkpoint is refused in seconds).
    ///
    /// `auto` (for requeued batch jobs): the newest checkpoint of this output directory that reads
    /// back intact, skipping corrupt ones with a note; none → nil (a fresh start). A readable
    /// checkpoint of another configuration is still refused: the folder holds another run.
    func readResumeCheckpoint(_ spec: String, store: CheckpointStore) throws -> (path: String, checkpoint: Checkpoint)? {
        if spec == "auto" {
            let found: (path: String, checkpoint: Checkpoint)?? = try onRoot("looking for a checkpoint") {
                for path in store.checkpointFiles() {
                    let c: Checkpoint
                    do { c = try Checkpoint.read(path: path) } catch {
                        onNote?("--resume auto: skipping \(path): \(error)")
                        continue
                    }
                    try c.checkConfiguration(config, path: path)
                    return (path, c)
                }
                onNote?("--resume auto: no usable checkpoint in \(store.directory); starting from the initialisation")
                return nil
            }
            return found ?? nil
        }
        return try onRoot("reading the checkpoint") {
            let path = try store.resolve(spec)
            let c = try Checkpoint.read(path: path)
            try c.checkConfiguration(config, path: path)
            return (path, c)
        }
    }

    /// Checks rank 0's checkpoint against this run's data and layout, then broadcasts it: rank 0
    /// reads the file, every rank gets the same bytes (parameters and moments are replicated, so
    /// the checkpoint serves any rank count, and only rank 0 needs to see the file).
    func distributeCheckpoint(_ loaded: (path: String, checkpoint: Checkpoint)?, setup: Setup) throws -> (ResumeRecord, Checkpoint) {
        let layout = setup.model.layout
        let record: ResumeRecord = try onRootShared("checking the checkpoint") {
            let (path, c) = loaded!
            try c.checkData(setup.fingerprint, layout: layout, path: path)
            return ResumeRecord(path: path, epoch: c.metadata.epoch, ranks: c.metadata.ranks)
        }
        let metadata: CheckpointMetadata = try comm.broadcast(comm.isRoot ? loaded!.checkpoint.metadata : nil, root: 0)
        let p = layout.count
        var state = [Float](repeating: 0, count: 3 * p)
        if comm.isRoot {
            let c = loaded!.checkpoint
            state.replaceSubrange(0..<p, with: c.params)
            state.replaceSubrange(p..<(2 * p), with: c.m)
            state.replaceSubrange((2 * p)..<(3 * p), with: c.v)
        }
        comm.broadcast(&state, root: 0)
        let c = Checkpoint(metadata: metadata, params: Array(state[0..<p]), m: Array(state[p..<(2 * p)]),
                           v: Array(state[(2 * p)...]))
        return (record, c)
    }

    /// Writes a checkpoint of `trainer` (collective: rank 0 writes, every rank learns the outcome).
    func writeCheckpoint(_ trainer: Trainer, store: CheckpointStore, fingerprint: DataFingerprint,
                         last: EpochRecord?) throws -> CheckpointRecord {
        let record: CheckpointRecord = try onRootShared("writing a checkpoint") {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let c = Checkpoint(trainer: trainer, config: config, data: fingerprint, ranks: comm.size, lastEpoch: last)
            let (path, bytes) = try store.save(c)
            return CheckpointRecord(epoch: trainer.epochsDone, path: path, bytes: bytes,
                                    seconds: Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        if comm.isRoot {
            onNote?(String(format: "checkpoint: wrote %@ (epoch %d, %d bytes, %.3f s)", record.path, record.epoch, record.bytes, record.seconds))
        }
        return record
    }

    /// The metrics file of a run resumed after `epoch` epochs: lines of later epochs (written by
    /// a run killed after its last checkpoint) and any unreadable partial last line are removed,
    /// so appending gives each epoch exactly once. Rank 0 only.
    static func truncateMetrics(at path: String, after epoch: Int) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        let text = String(decoding: try readFile(path, what: "the metrics file"), as: UTF8.self)
        let dec = JSONDecoder()
        var kept = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let r = try? dec.decode(EpochRecord.self, from: Data(line.utf8)), r.epoch <= epoch else { continue }
            kept += line + "\n"
        }
        try AtomicFile.write(Data(kept.utf8), to: path)
    }
}
