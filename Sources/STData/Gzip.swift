import CZlib
import STCore

/// Reads a text file line by line through zlib's `gzread`, which inflates gzip files and passes
/// plain files through unchanged: `matrix.mtx` and `matrix.mtx.gz` take the same path. Only one
/// 256 KiB buffer is held, never the whole text.
///
/// Lines are handed out as byte buffers without the line terminator (`\n`, `\r\n`); a final line
/// without a terminator is still a line. Errors (a truncated or corrupt gzip stream) are
/// `InputError`s naming the file and the line reached.
public final class GzipLineReader {
    /// The file's path.
    public let path: String
    /// The 1-based number of the line last returned (0 before the first).
    public private(set) var lineNumber = 0
    let file: gzFile
    var buffer: [UInt8]
    var start = 0, end = 0
    var eof = false
    var line: [UInt8] = []

    /// Opens `path` (plain or gzip).
    public init(path: String) throws {
        self.path = path
        guard let f = gzopen(path, "rb") else {
            throw InputError(file: path, "cannot open: no such file or not readable")
        }
        file = f
        gzbuffer(f, 1 << 17)
        buffer = [UInt8](repeating: 0, count: 1 << 18)
    }

    deinit { gzclose(file) }

    /// Calls `body` with the next line's bytes (valid only during the call); false at the end.
    public func nextLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool {
        line.removeAll(keepingCapacity: true)
        var haveAny = false
        while true {
            if start == end {
                if eof { break }
                try refill()
                if start == end { eof = true; break }
            }
            haveAny = true
            // Look for the newline in the buffered bytes.
            let found: Int? = buffer.withUnsafeBufferPointer { b in
                var p = start
                while p < end { if b[p] == 10 { return p }; p &+= 1 }
                return nil
            }
            if let nl = found {
                lineNumber += 1
                if line.isEmpty {
                    // Common case: the whole line is in the buffer.
                    var hi = nl
                    if hi > start && buffer[hi - 1] == 13 { hi -= 1 }
                    let lo = start
                    start = nl + 1
                    try buffer.withUnsafeBufferPointer { b in
                        try body(UnsafeBufferPointer(rebasing: b[lo..<hi]))
                    }
                    return true
                }
                line.append(contentsOf: buffer[start..<nl])
                start = nl + 1
                if line.last == 13 { line.removeLast() }
                try line.withUnsafeBufferPointer { try body($0) }
                return true
            }
            line.append(contentsOf: buffer[start..<end])
            start = end
        }
        guard haveAny else { return false }
        lineNumber += 1
        if line.last == 13 { line.removeLast() }
        try line.withUnsafeBufferPointer { try body($0) }
        return true
    }

    /// The next line as a String (nil at the end).
    public func nextLineString() throws -> String? {
        var s: String? = nil
        let more = try nextLine { s = String(decoding: $0, as: UTF8.self) }
        return more ? s : nil
    }

    func refill() throws {
        let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
        if n < 0 {
            var code: Int32 = 0
            let msg = gzerror(file, &code).map { String(cString: $0) } ?? "read error"
            throw InputError(file: path, "could not be read after line \(lineNumber): \(msg) (truncated or corrupt gzip file?)")
        }
        start = 0
        end = Int(n)
        if n == 0 {
            // gzread returns 0 at the end; a gzip stream cut short also ends here but sets an error.
            var code: Int32 = 0
            let msg = gzerror(file, &code).map { String(cString: $0) } ?? ""
            if code != Z_OK && code != Z_STREAM_END {
                throw InputError(file: path, "could not be read after line \(lineNumber): \(msg) (truncated or corrupt gzip file?)")
            }
        }
    }

    /// Every line of a (small) file as Strings, e.g. `barcodes.tsv.gz`.
    public static func readLines(_ path: String) throws -> [String] {
        let r = try GzipLineReader(path: path)
        var out: [String] = []
        while let l = try r.nextLineString() { out.append(l) }
        return out
    }
}

/// Writes gzip files through zlib (tests and tools that produce 10x-style MatrixMarket folders).
public enum Gzip {
    /// Writes `bytes` to `path` gzip-compressed.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        guard let f = gzopen(path, "wb6") else { throw InputError(file: path, "cannot be created") }
        var off = 0
        while off < bytes.count {
            let n = min(bytes.count - off, 1 << 20)
            let w = bytes.withUnsafeBytes { gzwrite(f, $0.baseAddress! + off, UInt32(n)) }
            if w <= 0 { gzclose(f); throw InputError(file: path, "write failed") }
            off += Int(w)
        }
        guard gzclose(f) == Z_OK else { throw InputError(file: path, "could not be completed (gzclose failed)") }
    }

    /// Writes `text` to `path` gzip-compressed.
    public static func write(_ text: String, to path: String) throws { try write(Array(text.utf8), to: path) }
}
