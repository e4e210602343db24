import XCTest
import Foundation
import STModel
@testable import STTrain

/// Checkpoints whose checksum matches but whose sizes lie (a broken writer, or a crafted file) are
/// refused with one line naming the file, never a trap. Found by Tests/fuzz (fuzz-checkpoint):
/// a metadata size above Int.max trapped converting UInt64 to Int; a huge parameter count or
/// G × d overflowed.
final class CheckpointDecodeTests: XCTestCase {
    /// The metadata JSON of a G × d checkpoint with `count` parameters (other fields plausible).
    func metadata(genes: Int, dim: Int, count: Int, epoch: Int = 2, step: Int = 2) -> [UInt8] {
        Array("""
        {"format":"stgnn-dist checkpoint","version":1,"epoch":\(epoch),"seed":7,"rng":"(seed, epoch)",\
        "configuration_hash":"0123456789abcdef","configuration":{},"data":{"n_spots":12,"n_genes_input":6,\
        "n_genes":\(genes),"coordinates_hash":"00","genes_hash":"11","counts_checksum":"22","x_sum":1.5,\
        "x_sum_squares":2.25},"genes":\(genes),"dim":\(dim),"parameter_count":\(count),"adam":{"step":\(step),\
        "lr":0.001,"beta1":0.9,"beta2":0.999,"eps":1e-08},"ranks":1,"written_at":"2026-01-01T00:00:00Z"}
        """.utf8)
    }

    func le<T: FixedWidthInteger>(_ x: T) -> [UInt8] { withUnsafeBytes(of: x.littleEndian) { Array($0) } }

    /// A file of `payload` with a correct header (magic, version, sizes, CRC-64 of the payload).
    func sealed(_ payload: [UInt8]) -> Data {
        let crc = payload.withUnsafeBytes { CRC64.checksum($0) }
        return Data(Checkpoint.magic + le(Checkpoint.formatVersion) + le(UInt32(Checkpoint.headerSize))
                    + le(UInt64(payload.count)) + le(crc) + payload)
    }

    /// metadata size, metadata, then `floats` float32 zeros.
    func payload(metaSize: UInt64? = nil, _ meta: [UInt8], floats: Int) -> [UInt8] {
        le(metaSize ?? UInt64(meta.count)) + meta + [UInt8](repeating: 0, count: 4 * floats)
    }

    func assertRefused(_ data: Data, _ text: String, line: UInt = #line) {
        XCTAssertThrowsError(try Checkpoint.decode(data, path: "x.ckpt"), line: line) { e in
            let s = String(describing: e)
            XCTAssertTrue(s.hasPrefix("x.ckpt: corrupted checkpoint") && s.contains(text) && !s.contains("\n"), s, line: line)
        }
    }

    func testValidTinyCheckpointDecodes() throws {
        let p = ParameterLayout(genes: 2, dim: 8).count
        let c = try Checkpoint.decode(sealed(payload(metadata(genes: 2, dim: 8, count: p), floats: 3 * p)), path: "x.ckpt")
        XCTAssertEqual(c.params.count, p)
        XCTAssertEqual(c.metadata.epoch, 2)
    }

    func testLyingSizesAreRefused() {
        let p = ParameterLayout(genes: 2, dim: 8).count
        let meta = metadata(genes: 2, dim: 8, count: p)
        // Metadata sizes beyond the file, up to and above Int.max (the latter trapped).
        for size in [UInt64(meta.count + 1 + 12 * p), UInt64(Int.max), UInt64(Int.max) + 1, UInt64.max] {
            assertRefused(sealed(payload(metaSize: size, meta, floats: 3 * p)), "metadata size \(size) beyond the file")
        }
        // Parameter counts whose byte size overflows Int.
        for count in [Int.max / 12 + 1, Int.max / 4, Int.max] {
            assertRefused(sealed(payload(metadata(genes: 2, dim: 8, count: count), floats: 3 * p)), "bytes of arrays for \(count) parameters")
        }
        // G and d whose layout overflows Int (2·G·d + d² + 1), or are not positive.
        for (g, d) in [(Int.max / 2, 8), (1 << 32, 1 << 32), (2, Int.max), (0, 8), (2, -8), (-1, -1)] {
            assertRefused(sealed(payload(metadata(genes: g, dim: d, count: p), floats: 3 * p)), "G=\(g), d=\(d)")
        }
        // A negative epoch or Adam step (training would start before epoch 0).
        assertRefused(sealed(payload(metadata(genes: 2, dim: 8, count: p, epoch: -3), floats: 3 * p)), "negative epoch")
        assertRefused(sealed(payload(metadata(genes: 2, dim: 8, count: p, step: -1), floats: 3 * p)), "negative epoch")
    }

    func testParameterCountMatchesTheLayoutOrOverflows() {
        for (g, d) in [(1, 1), (2, 8), (3000, 64), (1 << 20, 64)] {
            XCTAssertEqual(Checkpoint.parameterCount(genes: g, dim: d), ParameterLayout(genes: g, dim: d).count)
        }
        XCTAssertNil(Checkpoint.parameterCount(genes: Int.max, dim: 2))
        XCTAssertNil(Checkpoint.parameterCount(genes: 1, dim: 1 << 32))
    }
}
