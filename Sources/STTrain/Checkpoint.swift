import Foundation
import STCore
import STData
import STModel

// Checkpoints: everything needed to continue a run exactly, in one small binary file.
//
// File layout (little-endian), format version 1:
//
//   offset  size  field
//        0     8  magic "STGNNCKP"
//        8     4  format version (UInt32) = 1
//       12     4  header size (UInt32) = 32
//       16     8  payload size in bytes (UInt64)
//       24     8  CRC-64/XZ of the payload (UInt64)
//       32        payload:
//                   8  metadata size L (UInt64)
//                   L  metadata, UTF-8 JSON (`CheckpointMetadata`)
//                 4·P  parameters (float32), P = metadata.parameter_count, GraphST's order
//                      (W1 G×d, W2 d×G, Wb, b: `ParameterLayout.canonical`)
//                 4·P  Adam first moment m (float32)
//                 4·P  Adam second moment v (float32)
//
// Parameters and Adam state are replicated on every rank, so a checkpoint is independent of the
// rank count. The corruption permutation is a pure function of (seed, epoch), so the RNG state is
// the seed and the epoch. A flipped byte anywhere is caught: in the header by the magic, version
// and size checks, in the payload by the CRC (which detects every burst of up to 64 bits).

/// CRC-64/XZ (ECMA-182 polynomial, reflected, init and xor-out all ones): the payload checksum.
/// Check value: CRC-64/XZ("123456789") = 0x995DC9BBDF1939FA.
public enum CRC64 {
    static let table: [UInt64] = (0..<256).map { i -> UInt64 in
        var c = UInt64(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xC96C_5795_D787_0F42 : c >> 1 }
        return c
    }

    /// CRC-64/XZ of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var crc: UInt64 = ~0
        table.withUnsafeBufferPointer { t in
            for b in bytes { crc = t[Int((crc ^ UInt64(b)) & 0xFF)] ^ (crc >> 8) }
        }
        return ~crc
    }

    /// CRC-64/XZ of `data`.
    public static func checksum(_ data: Data) -> UInt64 { data.withUnsafeBytes { checksum($0) } }
}

/// Adam's state apart from the moments: the step count and the hyper-parameters.
public struct AdamState: Codable, Sendable, Equatable {
    /// Steps taken (t of the next step is step + 1).
    public var step: Int
    public var lr: Double
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
}

/// The JSON part of a checkpoint: what it continues and what it must match.
public struct CheckpointMetadata: Codable, Sendable, Equatable {
    /// Always "stgnn-dist checkpoint".
    public var format: String
    /// Format version (the header's).
    public var version: Int
    /// Epochs completed: training resumes with 0-based epoch `epoch`.
    public var epoch: Int
    /// The run's seed. The corruption permutation of an epoch is `FeistelPermutation(seed:epoch:)`,
    /// so (seed, epoch) is the whole RNG state.
    public var seed: UInt64
    /// How the RNG state is represented (for a reader of the file).
    public var rng: String
    /// `RunConfiguration.configurationHash` of the run that wrote it.
    public var configuration_hash: String
    /// `RunConfiguration.modelDefinition` of that run (to name the field that differs).
    public var configuration: [String: String]
    /// The data the run trained on.
    public var data: DataFingerprint
    /// G and d of the parameter layout.
    public var genes: Int
    public var dim: Int
    /// P: floats in each of the parameter, m and v arrays.
    public var parameter_count: Int
    public var adam: AdamState
    /// Ranks of the run that wrote it (informative: checkpoints do not depend on it).
    public var ranks: Int
    /// The last epoch's losses (so a resumed run with nothing left to do still reports them).
    public var last_epoch: EpochRecord?
    /// UTC time of writing, ISO 8601.
    public var written_at: String
}

/// A training state on disk: `CheckpointMetadata` plus the parameters and Adam moments.
public struct Checkpoint: Sendable, Equatable {
    public var metadata: CheckpointMetadata
    /// Parameters, Adam's m and v: P floats each, in the file's order, GraphST's (W1, W2, Wb, b:
    /// `ParameterLayout.canonical`), not the model's in memory; `parameters(layout:)` and
    /// `optimiser(layout:)` give the model's.
    public var params: [Float]
    public var m: [Float]
    public var v: [Float]

    public static let magic: [UInt8] = Array("STGNNCKP".utf8)
    public static let formatVersion: UInt32 = 1
    public static let headerSize = 32
    /// What `rng` says: a stable tag naming the permutation scheme, then its description. A
    /// checkpoint whose `rng` lacks the tag was written by a build that drew other permutations
    /// (Fisher–Yates before the Feistel permutation): it could not continue exactly.
    static let rngScheme = "feistel-v1"
    static let rngDescription = rngScheme + ": corruption permutation of epoch e = FeistelPermutation(seed, e) (mixed-radix, 8 rounds, cycle walking): (seed, epoch) is the whole state"

    /// The state of `trainer` after `trainer.epochsDone` epochs of the run `config` on `data`.
    public init(trainer: Trainer, config: RunConfiguration, data: DataFingerprint, ranks: Int, lastEpoch: EpochRecord?) {
        let o = trainer.optimiser
        let layout = trainer.model.layout
        metadata = CheckpointMetadata(
            format: "stgnn-dist checkpoint", version: Int(Self.formatVersion), epoch: trainer.epochsDone,
            seed: config.model.seed, rng: Self.rngDescription, configuration_hash: config.configurationHash,
            configuration: config.modelDefinition, data: data, genes: layout.genes, dim: layout.dim,
            parameter_count: layout.count,
            adam: AdamState(step: o.step, lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps),
            ranks: ranks, last_epoch: lastEpoch, written_at: ISO8601DateFormatter().string(from: Date()))
        params = layout.canonical(trainer.params)
        m = layout.canonical(o.m)
        v = layout.canonical(o.v)
    }

    /// A checkpoint from its parts (e.g. decoded, or broadcast).
    public init(metadata: CheckpointMetadata, params: [Float], m: [Float], v: [Float]) {
        self.metadata = metadata
        self.params = params
        self.m = m
        self.v = v
    }

    /// The parameters in the model's order for `layout` (the one `checkData` accepted).
    public func parameters(layout: ParameterLayout) -> [Float] { layout.fromCanonical(params) }

    /// The Adam optimiser this checkpoint continues with, its moments in the model's order for
    /// `layout` (the one `checkData` accepted).
    public func optimiser(layout: ParameterLayout) -> Adam {
        var a = Adam(count: params.count, lr: metadata.adam.lr)
        a.beta1 = metadata.adam.beta1
        a.beta2 = metadata.adam.beta2
        a.eps = metadata.adam.eps
        a.step = metadata.adam.step
        a.m = layout.fromCanonical(m)
        a.v = layout.fromCanonical(v)
        return a
    }

    // MARK: encoding

    /// The file's bytes (header + payload).
    public func encoded() throws -> Data {
        let meta = try jsonData(metadata, pretty: false)
        let p = params.count
        precondition(m.count == p && v.count == p && metadata.parameter_count == p)
        var payload = Data(capacity: 8 + meta.count + 12 * p)
        append(UInt64(meta.count), to: &payload)
        payload.append(meta)
        for a in [params, m, v] {
            a.map { $0.bitPattern.littleEndian }.withUnsafeBytes { payload.append(contentsOf: $0) }
        }
        var file = Data(capacity: Self.headerSize + payload.count)
        file.append(contentsOf: Self.magic)
        append(Self.formatVersion, to: &file)
        append(UInt32(Self.headerSize), to: &file)
        append(UInt64(payload.count), to: &file)
        append(CRC64.checksum(payload), to: &file)
        file.append(payload)
        return file
    }

    func append<T: FixedWidthInteger>(_ x: T, to d: inout Data) {
        withUnsafeBytes(of: x.littleEndian) { d.append(contentsOf: $0) }
    }

    /// Decodes and validates a checkpoint file's bytes: magic, version, sizes, checksum, metadata.
    /// Errors name `path` and say what is wrong (truncated, not a checkpoint, corrupted).
    public static func decode(_ data: Data, path: String) throws -> Checkpoint {
        func fail(_ s: String) -> InputError { InputError(file: path, s) }
        let bytes = [UInt8](data)
        func word<T: FixedWidthInteger>(_ off: Int, _: T.Type) -> T {
            var x: T = 0
            withUnsafeMutableBytes(of: &x) { $0.copyBytes(from: bytes[off..<(off + MemoryLayout<T>.size)]) }
            return T(littleEndian: x)
        }
        guard bytes.count >= headerSize else {
            if bytes.count >= 8 && Array(bytes[0..<8]) != magic { throw fail("not a stgnn-dist checkpoint (bad magic bytes)") }
            throw fail("truncated checkpoint: \(bytes.count) bytes, shorter than the \(headerSize)-byte header")
        }
        guard Array(bytes[0..<8]) == magic else { throw fail("not a stgnn-dist checkpoint (bad magic bytes)") }
        let version = word(8, UInt32.self)
        guard version == formatVersion else {
            throw fail("checkpoint format version \(version) is not supported (this build reads version \(formatVersion))")
        }
        let hsize = word(12, UInt32.self)
        guard hsize == UInt32(headerSize) else { throw fail("corrupted checkpoint: header size \(hsize), expected \(headerSize)") }
        let payloadSize = word(16, UInt64.self)
        let available = UInt64(bytes.count - headerSize)
        guard payloadSize <= available else {
            throw fail("truncated checkpoint: the header announces \(payloadSize) payload bytes, the file holds \(available)")
        }
        guard payloadSize == available else {
            throw fail("corrupted checkpoint: \(available - payloadSize) bytes after the \(payloadSize)-byte payload")
        }
        let stored = word(24, UInt64.self)
        let computed = bytes.withUnsafeBytes { CRC64.checksum(UnsafeRawBufferPointer(rebasing: $0[headerSize...])) }
        guard stored == computed else {
            throw fail("corrupted checkpoint: payload checksum mismatch (CRC-64 stored \(Hash64.hex(stored)), computed \(Hash64.hex(computed)))")
        }
        // The checksum matched: what follows can only fail for a file written by a broken writer.
        // Sizes are compared before any conversion or product that could trap (found by fuzzing).
        var off = headerSize
        guard bytes.count - off >= 8 else { throw fail("corrupted checkpoint: no metadata") }
        let declaredMetaSize = word(off, UInt64.self)
        off += 8
        guard declaredMetaSize <= UInt64(bytes.count - off) else {
            throw fail("corrupted checkpoint: metadata size \(declaredMetaSize) beyond the file")
        }
        let metaSize = Int(declaredMetaSize)
        let metadata: CheckpointMetadata
        do {
            metadata = try JSONDecoder().decode(CheckpointMetadata.self, from: Data(bytes[off..<(off + metaSize)]))
        } catch {
            throw fail("corrupted checkpoint: unreadable metadata (\(error))")
        }
        off += metaSize
        let p = metadata.parameter_count
        guard p >= 0, p <= (bytes.count - off) / 12, bytes.count - off == 12 * p else {
            throw fail("corrupted checkpoint: \(bytes.count - off) bytes of arrays for \(p) parameters (expected 12 bytes per parameter)")
        }
        guard metadata.version == Int(formatVersion), metadata.genes >= 1, metadata.dim >= 1,
              p == parameterCount(genes: metadata.genes, dim: metadata.dim) else {
            throw fail("corrupted checkpoint: metadata inconsistent with the header (version \(metadata.version), \(p) parameters for G=\(metadata.genes), d=\(metadata.dim))")
        }
        guard metadata.epoch >= 0, metadata.adam.step >= 0 else {
            throw fail("corrupted checkpoint: negative epoch (\(metadata.epoch)) or Adam step (\(metadata.adam.step))")
        }
        func floats(_ k: Int) -> [Float] {
            let start = off + 4 * p * k
            return [Float](unsafeUninitializedCapacity: p) { buf, n in
                bytes.withUnsafeBytes { raw in
                    for i in 0..<p { buf[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4 * i, as: UInt32.self))) }
                }
                n = p
            }
        }
        return Checkpoint(metadata: metadata, params: floats(0), m: floats(1), v: floats(2))
    }

    /// `ParameterLayout(genes:dim:).count` (2·G·d + d² + 1), or nil when it overflows `Int`.
    static func parameterCount(genes: Int, dim: Int) -> Int? {
        let (gd, o1) = genes.multipliedReportingOverflow(by: dim)
        let (w12, o2) = gd.multipliedReportingOverflow(by: 2)
        let (dd, o3) = dim.multipliedReportingOverflow(by: dim)
        let (sum, o4) = w12.addingReportingOverflow(dd)
        guard !(o1 || o2 || o3 || o4), sum < Int.max else { return nil }
        let count = sum + 1
        assert(count == ParameterLayout(genes: genes, dim: dim).count)
        return count
    }

    /// Reads and validates the checkpoint file at `path`.
    public static func read(path: String) throws -> Checkpoint {
        try decode(try readFile(path, what: "the checkpoint"), path: path)
    }

    // MARK: compatibility with a run

    /// Throws unless this checkpoint was written by a run with the same model definition as
    /// `config`; the message names each field that differs.
    public func checkConfiguration(_ config: RunConfiguration, path: String) throws {
        guard metadata.rng.hasPrefix(Self.rngScheme + ":") else {
            throw InputError(file: path, "checkpoint refused: its epochs' corruption permutations are not this build's (it says: \(metadata.rng)); resuming would not continue that run exactly: start afresh (--overwrite)")
        }
        guard metadata.configuration_hash != config.configurationHash else { return }
        let mine = metadata.configuration, theirs = config.modelDefinition
        let keys = Set(mine.keys).union(theirs.keys).sorted()
        let diffs = keys.filter { mine[$0] != theirs[$0] }.map {
            "\($0) is \(mine[$0] ?? "absent") in the checkpoint, \(theirs[$0] ?? "absent") in this run"
        }
        let what = diffs.isEmpty ? "the configuration hash differs" : diffs.joined(separator: "; ")
        throw InputError(file: path, "checkpoint refused: written by a different configuration: \(what) (configuration hash \(metadata.configuration_hash) in the checkpoint, \(config.configurationHash) in this run)")
    }

    /// Throws unless this checkpoint was written for the same data (`fingerprint`) and parameter
    /// layout; the message names each fingerprint field that differs.
    public func checkData(_ fingerprint: DataFingerprint, layout: ParameterLayout, path: String) throws {
        let diffs = metadata.data.differences(from: fingerprint)
        if !diffs.isEmpty {
            throw InputError(file: path, "checkpoint refused: written for different data: \(diffs.joined(separator: "; "))")
        }
        guard metadata.genes == layout.genes, metadata.dim == layout.dim, metadata.parameter_count == layout.count else {
            throw InputError(file: path, "checkpoint refused: parameter layout G=\(metadata.genes), d=\(metadata.dim) in the checkpoint, G=\(layout.genes), d=\(layout.dim) in this run")
        }
    }
}

/// The whole content of the file at `path` (POSIX reads: the error names the file and the reason).
func readFile(_ path: String, what: String) throws -> Data {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw InputError(file: path, "cannot read \(what): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw InputError(file: path, "cannot read \(what): \(String(cString: strerror(errno)))") }
    if (st.st_mode & S_IFMT) == S_IFDIR { throw InputError(file: path, "cannot read \(what): it is a directory") }
    var out = Data()
    var buf = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw InputError(file: path, "cannot read \(what): \(String(cString: strerror(errno)))")
        }
        if n == 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

/// A checkpoint written by a run, as recorded in `summary.json`.
public struct CheckpointRecord: Codable, Sendable, Equatable {
    /// Epochs completed when it was written.
    public var epoch: Int
    public var path: String
    public var bytes: Int
    /// Wall-clock seconds to encode and write it durably (rank 0).
    public var seconds: Double
}

/// Where a resumed run started, as recorded in `summary.json`.
public struct ResumeRecord: Codable, Sendable, Equatable {
    public var path: String
    /// Epochs completed in the checkpoint.
    public var epoch: Int
    /// Ranks of the run that wrote it.
    public var ranks: Int
}

/// The checkpoints of one output directory: `DIR/checkpoints/epoch-000123.ckpt` files and a
/// `latest` pointer (a one-line text file naming the newest), the newest `keep` retained.
public struct CheckpointStore: Sendable {
    /// `DIR/checkpoints`.
    public let directory: String
    /// How many checkpoints to keep (the newest; at least 1).
    public let keep: Int

    public init(directory: String, keep: Int) {
        self.directory = directory
        self.keep = Swift.max(1, keep)
    }

    /// The checkpoint directory of an output directory.
    public init(output: String, keep: Int) {
        self.init(directory: URL(fileURLWithPath: output).appendingPathComponent("checkpoints").path, keep: keep)
    }

    /// `epoch-000123.ckpt` (at least 6 digits).
    public static func fileName(epoch: Int) -> String {
        let s = String(epoch)
        return "epoch-" + String(repeating: "0", count: Swift.max(0, 6 - s.count)) + s + ".ckpt"
    }

    /// The epoch of a checkpoint file name, nil for any other name.
    public static func epoch(ofFileName name: String) -> Int? {
        guard name.hasPrefix("epoch-"), name.hasSuffix(".ckpt") else { return nil }
        let digits = name.dropFirst(6).dropLast(5)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits)
    }

    /// `DIR/checkpoints/latest`.
    public var latestPath: String { directory + "/latest" }

    /// The path of the checkpoint of `epoch`.
    public func path(epoch: Int) -> String { directory + "/" + Self.fileName(epoch: epoch) }

    /// Writes `checkpoint` durably, then points `latest` at it, then removes checkpoints beyond
    /// the newest `keep` (of epochs up to this one). A failure at any step leaves the previous
    /// checkpoint and `latest` valid; the error names the file. Returns the path and size.
    public func save(_ checkpoint: Checkpoint) throws -> (path: String, bytes: Int) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw InputError(file: directory, "cannot create the checkpoint directory (\(error.localizedDescription))")
        }
        let epoch = checkpoint.metadata.epoch
        let path = self.path(epoch: epoch)
        let data = try checkpoint.encoded()
        try AtomicFile.write(data, to: path)
        try AtomicFile.write(Data((Self.fileName(epoch: epoch) + "\n").utf8), to: latestPath)
        prune(through: epoch)
        return (path, data.count)
    }

    /// Removes all but the newest `keep` checkpoints with epoch ≤ `epoch`. Files of later epochs
    /// (left by an earlier run that got further) are not this run's history and are left alone.
    /// Failures to remove are ignored: a surplus file loses nothing.
    func prune(through epoch: Int) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let mine = names.compactMap { n in Self.epoch(ofFileName: n).map { (n, $0) } }
            .filter { $0.1 <= epoch }.sorted { $0.1 > $1.1 }
        for (name, _) in mine.dropFirst(keep) { unlink(directory + "/" + name) }
    }

    /// This store's checkpoint files, newest first.
    public func checkpointFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { n in Self.epoch(ofFileName: n).map { (n, $0) } }
            .sorted { $0.1 > $1.1 }.map { directory + "/" + $0.0 }
    }

    /// The checkpoint file a `--resume` value names: `latest` (this store's `latest` pointer), a
    /// checkpoint file, a `latest` pointer file, or a directory holding one (a checkpoint
    /// directory, or an output directory with `checkpoints/latest`).
    public func resolve(_ spec: String) throws -> String {
        if spec == "latest" { return try Self.follow(latest: latestPath) }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: spec, isDirectory: &isDir) else {
            throw InputError(file: spec, "cannot resume: no such checkpoint file or directory")
        }
        if !isDir.boolValue {
            return URL(fileURLWithPath: spec).lastPathComponent == "latest" ? try Self.follow(latest: spec) : spec
        }
        for candidate in [spec + "/latest", spec + "/checkpoints/latest"] where FileManager.default.fileExists(atPath: candidate) {
            return try Self.follow(latest: candidate)
        }
        throw InputError(file: spec, "cannot resume: a directory without a 'latest' or 'checkpoints/latest' pointer")
    }

    /// The checkpoint a `latest` pointer file names (relative to the pointer's directory).
    static func follow(latest: String) throws -> String {
        guard FileManager.default.fileExists(atPath: latest) else {
            throw InputError(file: latest, "cannot resume: no checkpoint has been written here (run with --checkpoint-every N, or stop a run with SIGTERM)")
        }
        let text = String(decoding: try readFile(latest, what: "the latest-checkpoint pointer"), as: UTF8.self)
        let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard epoch(ofFileName: name) != nil else {
            throw InputError(file: latest, "corrupted pointer: expected a checkpoint file name like epoch-000123.ckpt, found '\(name.prefix(80))'")
        }
        let path = URL(fileURLWithPath: latest).deletingLastPathComponent().appendingPathComponent(name).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw InputError(file: latest, "names \(name), which does not exist")
        }
        return path
    }
}
