import Foundation
import STCore

/// A valid 300-spot slide whose `X/data` is stored in small chunks (64 values) and whose chunk
/// index (a version-1 B-tree: one root over several leaves of ≤ 64 chunks) has its last leaf
/// damaged: the leaf that maps the last rows' chunks loses its signature. The first rows read
/// normally; only a read of the last rows (or a walk of the whole index) meets the damage.
public enum DamagedChunkIndex {
    /// Writes the file; returns the first chunk offset (in values) the damaged leaf maps.
    @discardableResult
    public static func write(_ path: String) throws -> Int {
        try HostileH5AD.writeValid(path)
        let s = HostileH5AD.slide
        let p = try HDF5Patch(path: path)
        try p.replaceChunked("X/data", dims: [s.counts.nnz], chunk: [64], prefix: s.counts.values)
        try p.replace("X/indices", with: s.counts.indices)   // contiguous: X/data holds the only big chunk index
        try p.close()

        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // Version-1 B-tree nodes: "TREE", type (1: chunked raw data), level (0: leaf), entries
        // (2 bytes), two 8-byte sibling addresses; then the first key: chunk size (4), filter mask
        // (4), the chunk's offset in dimension 0 (8 bytes, little-endian).
        let signature: [UInt8] = Array("TREE".utf8)
        var last: (at: Int, offset: Int)?
        var i = 0
        while i + 40 <= bytes.count {
            if bytes[i] == signature[0], Array(bytes[i..<i + 4]) == signature, bytes[i + 4] == 1, bytes[i + 5] == 0 {
                var offset = 0
                for k in (0..<8).reversed() { offset = offset << 8 | Int(bytes[i + 32 + k]) }
                if offset > (last?.offset ?? -1) { last = (i, offset) }
            }
            i += 1
        }
        guard let leaf = last, leaf.offset > 0 else {
            throw InputError(file: path, field: "X/data", "DamagedChunkIndex: no chunk B-tree leaf past the first chunk found")
        }
        bytes[leaf.at] = UInt8(ascii: "X")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return leaf.offset
    }
}
