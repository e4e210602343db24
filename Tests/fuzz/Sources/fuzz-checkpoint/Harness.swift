import FuzzSupport
import Foundation
import STData
import STModel
import STTrain

// libFuzzer harness: the checkpoint reader. Each input is read twice: as it is, from a tmpfs file
// (`Checkpoint.read(path:)`, what `--resume` does), and with its header repaired (magic, version,
// header size, payload size and CRC-64 set to match the bytes), so that the mutations reach the
// metadata JSON and the arrays behind the checksum, which a random flip would almost never get
// past. A decoded checkpoint is then checked against a run's data and layout as `run --resume`
// does. Any thrown error is an accepted outcome; a crash, an ASan report, a timeout or a large
// allocation is a finding.

@main
enum Harness {
    static func main() { FuzzIO.run(seeds: writeSeeds, fuzzerTestOneInput) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let path = FuzzIO.write(bytes, to: "epoch-000002.ckpt")
    if let c = attempt("Checkpoint.read", { try Checkpoint.read(path: path) }) { use(c) }
    if let c = attempt("Checkpoint.decode", { try Checkpoint.decode(Data(repairedHeader(Array(bytes))), path: path) }) { use(c) }
    return 0
}

/// What a resumed run does with a checkpoint once decoded.
func use(_ c: Checkpoint) {
    var other = c.metadata.data
    other.n_spots &+= 1
    attempt("c.checkData", { try c.checkData(c.metadata.data, layout: ParameterLayout(genes: 20, dim: 64), path: "ckpt") })
    attempt("c.checkData", { try c.checkData(other, layout: ParameterLayout(genes: c.metadata.genes, dim: c.metadata.dim), path: "ckpt") })
    attempt("c.checkData", { try c.checkData(other, layout: ParameterLayout(genes: 20, dim: 64), path: "ckpt") })
    // decode checked the arrays' length against (genes, dim): this layout fits them.
    let layout = ParameterLayout(genes: c.metadata.genes, dim: c.metadata.dim)
    _ = c.optimiser(layout: layout)
    _ = c.parameters(layout: layout)
}

/// `bytes` with the 32-byte header rewritten to match the payload that follows it.
func repairedHeader(_ bytes: [UInt8]) -> [UInt8] {
    var b = bytes
    if b.count < Checkpoint.headerSize { b += [UInt8](repeating: 0, count: Checkpoint.headerSize - b.count) }
    func put<T: FixedWidthInteger>(_ x: T, at off: Int) {
        withUnsafeBytes(of: x.littleEndian) { for (k, v) in $0.enumerated() { b[off + k] = v } }
    }
    for (k, v) in Checkpoint.magic.enumerated() { b[k] = v }
    put(Checkpoint.formatVersion, at: 8)
    put(UInt32(Checkpoint.headerSize), at: 12)
    put(UInt64(b.count - Checkpoint.headerSize), at: 16)
    let crc = b.withUnsafeBytes { CRC64.checksum(UnsafeRawBufferPointer(rebasing: $0[Checkpoint.headerSize...])) }
    put(crc, at: 24)
    return b
}

/// Seeds: a tiny valid checkpoint (G = 2, d = 8) built from its documented layout; run-fuzzers.sh
/// adds real checkpoints written by `stgnn-dist run --checkpoint-every`.
func writeSeeds(_ dir: String) throws {
    let layout = ParameterLayout(genes: 2, dim: 8)
    let p = layout.count
    let meta = """
    {"format":"stgnn-dist checkpoint","version":1,"epoch":2,"seed":7,"rng":"(seed, epoch)",\
    "configuration_hash":"0123456789abcdef","configuration":{"dim":"8","epochs":"4"},\
    "data":{"n_spots":12,"n_genes_input":6,"n_genes":2,"coordinates_hash":"00","genes_hash":"11",\
    "counts_checksum":"22","x_sum":1.5,"x_sum_squares":2.25},"genes":2,"dim":8,"parameter_count":\(p),\
    "adam":{"step":2,"lr":0.001,"beta1":0.9,"beta2":0.999,"eps":1e-08},"ranks":1,\
    "written_at":"2026-01-01T00:00:00Z"}
    """
    var payload: [UInt8] = []
    withUnsafeBytes(of: UInt64(meta.utf8.count).littleEndian) { payload += $0 }
    payload += Array(meta.utf8)
    for k in 0..<(3 * p) { withUnsafeBytes(of: Float(k % 17) * 0.125) { payload += $0 } }
    let file = repairedHeader([UInt8](repeating: 0, count: Checkpoint.headerSize) + payload)
    _ = try Checkpoint.decode(Data(file), path: "seed")   // the seed must be valid
    try FuzzIO.writeSeed(file, dir, "tiny-g2-d8.ckpt")
}
