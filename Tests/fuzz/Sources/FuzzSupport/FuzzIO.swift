import CLibFuzzer
import Foundation
import STCore
import STData

/// What every harness shares: a private scratch folder on tmpfs where the fuzzer's bytes become the
/// files the readers open (they read paths, and HDF5 reads files), splitting one input into
/// several files, and the seed-writing mode.
///
/// The scratch folder is `$STGNN_FUZZ_TMP/<pid>` (default `/dev/shm/stgnn-fuzz-<pid>`), so the
/// processes of libFuzzer's fork mode never share files; it is removed at normal exit
/// (run-fuzzers.sh removes the whole `$STGNN_FUZZ_TMP` after a run, crashed children included).
public enum FuzzIO {
    /// This process's scratch folder (created on first use).
    public static let directory: String = {
        let base = ProcessInfo.processInfo.environment["STGNN_FUZZ_TMP"]
            ?? (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
        let dir = base + "/stgnn-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: FuzzIO.directory) }
        return dir
    }()

    /// `directory/name`.
    public static func path(_ name: String) -> String { directory + "/" + name }

    /// Writes `bytes` to `directory/name` as a new file (unlinked first: a new inode each time, so
    /// HDF5, which recognises an already open file by device and inode, never sees a stale one).
    @discardableResult
    public static func write<C: Collection>(_ bytes: C, to name: String) -> String where C.Element == UInt8 {
        let p = path(name)
        let parent = (p as NSString).deletingLastPathComponent
        if parent != directory { try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
        unlink(p)
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0, "fuzz harness: cannot create \(p)")
        let data = Array(bytes)
        var off = 0
        while off < data.count {
            let n = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            precondition(n > 0, "fuzz harness: cannot write \(p)")
            off += n
        }
        close(fd)
        return p
    }

    /// Removes `directory/name` if present.
    public static func remove(_ name: String) { unlink(path(name)) }

    /// The separator between the files of one input (harnesses that fuzz several files at once).
    public static let separator: [UInt8] = Array("\n=====\n".utf8)

    /// `data` split at each `separator`, at most `count` parts (the last keeps any further ones).
    public static func sections(_ data: UnsafeBufferPointer<UInt8>, count: Int) -> [ArraySlice<UInt8>] {
        let bytes = Array(data)
        var parts: [ArraySlice<UInt8>] = []
        var start = 0, i = 0
        let s = separator
        while i + s.count <= bytes.count && parts.count < count - 1 {
            if bytes[i] == s[0] && bytes[i..<(i + s.count)].elementsEqual(s) {
                parts.append(bytes[start..<i])
                i += s.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(bytes[start..<bytes.count])
        return parts
    }

    /// The inverse of `sections`: the parts joined with `separator` (seed writers).
    public static func joined(_ parts: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        for (k, p) in parts.enumerated() {
            if k > 0 { out += separator }
            out += p
        }
        return out
    }

    /// A harness's `main`: with `STGNN_FUZZ_SEEDS=DIR` in the environment, `seeds(DIR)` writes the
    /// harness's seed corpus and the process exits; otherwise `setUp()` prepares the fixed files and
    /// libFuzzer runs `testOneInput` with this process's arguments (its flags and corpus folders),
    /// through its documented `LLVMFuzzerRunDriver`, and the process exits with its status.
    public static func run(seeds: (String) throws -> Void, setUp: () throws -> Void = {},
                           _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
        do {
            if let dir = ProcessInfo.processInfo.environment["STGNN_FUZZ_SEEDS"] {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try seeds(dir)
                exit(0)
            }
            try setUp()
        } catch {
            fputs("fuzz harness: \(error)\n", stderr)
            exit(1)
        }
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
    }

    /// Whether `STGNN_FUZZ_VERBOSE` is set: `attempt` then prints every error (to see what a
    /// reproducer or a seed does: `STGNN_FUZZ_VERBOSE=1 fuzz-h5ad FILE`).
    public static let verbose = ProcessInfo.processInfo.environment["STGNN_FUZZ_VERBOSE"] != nil

    /// Writes a seed file.
    public static func writeSeed(_ bytes: [UInt8], _ dir: String, _ name: String) throws {
        guard FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(bytes)) else {
            throw InputError(file: dir + "/" + name, "cannot be written")
        }
    }
}

/// Small deterministic test content shared by the seed writers and the fixed files of the
/// harnesses: `spots` barcodes in Visium's style and `genes` gene names, with counts from a
/// fixed pattern (some spots and genes empty).
public struct FuzzSlide: Sendable {
    public let spots: Int
    public let genes: Int

    public init(spots: Int = 12, genes: Int = 6) { self.spots = spots; self.genes = genes }

    public var barcodes: [String] { (0..<spots).map { "AACG\(String($0, radix: 4))TT-1" } }
    public var geneNames: [String] { (0..<genes).map { "Gene\($0)" } }
    public var geneIDs: [String] { (0..<genes).map { "ENSG0000\($0)" } }

    /// Count of gene `g` in spot `s` (0 for about half the pairs; spot 3 and gene 2 all zero but
    /// for one entry, so both empty-ish rows and columns occur).
    public func count(spot s: Int, gene g: Int) -> Int {
        if s == 3 { return g == 0 ? 1 : 0 }
        if g == 2 { return s == 0 ? 2 : 0 }
        return (s * 7 + g * 3) % 5 < 2 ? 0 : 1 + (s + 2 * g) % 9
    }

    /// Pixel (row, column) of a spot on a small hexagonal lattice.
    public func pixel(_ s: Int) -> (row: Double, col: Double) {
        let r = s / 4, c = 2 * (s % 4) + r % 2
        return (Double(1000 + 150 * r), Double(2000 + 87 * c))
    }

    /// Space Ranger ≥ 2 `tissue_positions.csv` (header; spot 5 out of tissue; one extra barcode).
    public func tissuePositionsCSV(header: Bool = true) -> String {
        var lines = header ? ["barcode,in_tissue,array_row,array_col,pxl_row_in_fullres,pxl_col_in_fullres"] : []
        for s in 0..<spots {
            let p = pixel(s)
            lines.append("\(barcodes[s]),\(s == 5 ? 0 : 1),\(s / 4),\(2 * (s % 4) + (s / 4) % 2),\(Int(p.row)),\(Int(p.col))")
        }
        lines.append("GGGGTTTT-1,0,9,9,5000,5000")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The genes × barcodes MatrixMarket text (10x's layout, 1-based).
    public func matrixMarket(integer: Bool = true) -> String {
        var entries: [String] = []
        for s in 0..<spots {
            for g in 0..<genes where count(spot: s, gene: g) != 0 {
                let v = count(spot: s, gene: g)
                entries.append("\(g + 1) \(s + 1) \(integer ? "\(v)" : "\(Double(v) + 0.5)")")
            }
        }
        return "%%MatrixMarket matrix coordinate \(integer ? "integer" : "real") general\n%metadata_json: {}\n"
            + "\(genes) \(spots) \(entries.count)\n" + entries.joined(separator: "\n") + "\n"
    }

    /// Barcodes × genes CSR arrays (what a 10x .h5 stores as its CSC of genes × barcodes).
    public func csr() -> (indptr: [Int64], indices: [Int64], data: [Int32]) {
        var p: [Int64] = [0], i: [Int64] = [], d: [Int32] = []
        for s in 0..<spots {
            for g in 0..<genes where count(spot: s, gene: g) != 0 { i.append(Int64(g)); d.append(Int32(count(spot: s, gene: g))) }
            p.append(Int64(i.count))
        }
        return (p, i, d)
    }

    /// Writes a 10x feature-barcode matrix (.h5, Space Ranger ≥ 3 layout; the last feature is an
    /// antibody capture, dropped on read as scanpy's `gex_only` does).
    public func writeTenX(_ path: String) throws {
        let w = try HDF5Writer(path: path)
        let (p, i, d) = csr()
        try w.createGroup("matrix")
        try w.writeStrings("matrix/barcodes", barcodes)
        try w.write("matrix/data", d)
        try w.write("matrix/indices", i)
        try w.write("matrix/indptr", p)
        try w.write("matrix/shape", [Int32(genes), Int32(spots)])
        try w.writeStrings("matrix/features/name", geneNames)
        try w.writeStrings("matrix/features/id", geneIDs)
        try w.writeStrings("matrix/features/feature_type",
                           [String](repeating: "Gene Expression", count: genes - 1) + ["Antibody Capture"])
        try w.writeStrings("matrix/features/genome", [String](repeating: "GRCh38", count: genes))
        try w.close()
    }
}

/// `try? body()`, printing the error when `FuzzIO.verbose` (a thrown error is an accepted outcome
/// of a fuzz input; only crashes, sanitizer reports, timeouts and large allocations are findings).
@discardableResult
public func attempt<T>(_ what: String, _ body: () throws -> T) -> T? {
    do {
        let v = try body()
        if FuzzIO.verbose { fputs("\(what): ok\n", stderr) }
        return v
    } catch {
        if FuzzIO.verbose { fputs("\(what): \(error)\n", stderr) }
        return nil
    }
}
