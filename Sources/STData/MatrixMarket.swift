import STCore

/// Reads a 10x-style MatrixMarket folder: `matrix.mtx[.gz]` (genes × barcodes, coordinate format,
/// `%%MatrixMarket matrix coordinate integer|real general`), `barcodes.tsv[.gz]` and
/// `features.tsv[.gz]` (Cell/Space Ranger ≥ 3) or `genes.tsv[.gz]` (Cell Ranger 2), as barcodes ×
/// genes, like scanpy's `read_10x_mtx`: var names are gene symbols (the features' second column),
/// and only "Gene Expression" features are kept when the features list their type.
///
/// A coordinate-format file cannot be row-sliced: entries come in whatever order the writer chose
/// (10x writes them column by column, i.e. barcode by barcode, but nothing guarantees it).
/// **Every rank scans the whole file** — once to validate it and count each barcode's entries
/// (`rowNNZ`), once more to keep only the entries of its own barcodes (`readX(rows:)`) — streaming
/// (one buffer, never the whole text) and holding only its own rows. That is fine for the sizes
/// MatrixMarket is used for (one Visium slide: a few thousand barcodes, 10⁷ entries, seconds per
/// scan); big slides should be given as `.h5` / `.h5ad`, whose rows are read by hyperslab.
///
/// Validation: the header line, the size line against the barcode and feature lists (a barcodes ×
/// genes file is recognised and refused with a hint), every entry's indices (1-based, in range),
/// its value (finite, ≥ 0, an integer in an `integer` matrix), and the number of entries against
/// the size line. Each problem is one `InputError` naming the file and the line. Duplicate
/// (gene, barcode) entries are summed, as scipy's `mmread` → CSR does.
public final class MatrixMarketReader {
    /// The matrix file (`…/matrix.mtx` or `…/matrix.mtx.gz`).
    public let matrixPath: String
    /// The barcodes file.
    public let barcodesPath: String
    /// The features (or genes) file.
    public let featuresPath: String
    /// Whether the header declares `integer` values.
    public let isInteger: Bool
    /// Barcodes (columns of the file, rows here).
    public let barcodes: [String]
    /// Feature ids, symbols and types (types empty for a two-column genes.tsv), all features.
    public let featureIDs: [String]
    public let featureNames: [String]
    public let featureTypes: [String]
    /// Entries declared on the size line.
    public let declaredEntries: Int
    /// Kept feature indices (nil = all).
    let kept: [Int]?
    /// Feature index → kept column (-1 = dropped).
    let featureColumn: [Int32]
    /// 1-based line of the size line (for messages).
    let sizeLine: Int
    var entryCounts: [Int]?

    /// The three files of a MatrixMarket folder, or nil with what is missing.
    public struct Files: Sendable {
        public var matrix: String?
        public var barcodes: String?
        public var features: String?
        /// The names of the missing files (e.g. "barcodes.tsv[.gz]").
        public var missing: [String] {
            var m: [String] = []
            if matrix == nil { m.append("matrix.mtx[.gz]") }
            if barcodes == nil { m.append("barcodes.tsv[.gz]") }
            if features == nil { m.append("features.tsv[.gz] (or genes.tsv[.gz])") }
            return m
        }
    }

    /// Looks for `matrix.mtx[.gz]`, `barcodes.tsv[.gz]` and `features.tsv[.gz]`/`genes.tsv[.gz]`
    /// in `directory`.
    public static func files(in directory: String) -> Files {
        func find(_ names: [String]) -> String? {
            for n in names {
                for p in [directory + "/" + n, directory + "/" + n + ".gz"] where FileManagerShim.isRegularFile(p) { return p }
            }
            return nil
        }
        return Files(matrix: find(["matrix.mtx"]), barcodes: find(["barcodes.tsv"]),
                     features: find(["features.tsv", "genes.tsv"]))
    }

    /// Opens the MatrixMarket folder `directory` (reads the header, barcodes and features; the
    /// entries are scanned on demand).
    public convenience init(directory: String, geneExpressionOnly: Bool = true) throws {
        let f = Self.files(in: directory)
        guard let m = f.matrix, let b = f.barcodes, let g = f.features else {
            throw InputError(file: directory, "a MatrixMarket folder needs matrix.mtx[.gz], barcodes.tsv[.gz] and features.tsv[.gz] (or genes.tsv[.gz]); missing \(f.missing.joined(separator: ", "))")
        }
        try self.init(matrix: m, barcodes: b, features: g, geneExpressionOnly: geneExpressionOnly)
    }

    /// Opens the three files.
    public init(matrix: String, barcodes barcodesFile: String, features featuresFile: String,
                geneExpressionOnly: Bool = true) throws {
        matrixPath = matrix
        barcodesPath = barcodesFile
        featuresPath = featuresFile

        // Both lists are streamed and blank lines dropped as they come: collected first, a gzip file
        // of blank lines (60 KB inflating to 60 million) cost a gigabyte (found with Tests/fuzz).
        // Barcodes: first tab-separated field of each non-empty line.
        var bc: [String] = []
        let barcodeLines = try GzipLineReader(path: barcodesFile)
        while let line = try barcodeLines.nextLineString() {
            if line.isEmpty { continue }
            bc.append(String(line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)[0]))
        }
        guard !bc.isEmpty else { throw InputError(file: barcodesFile, "lists no barcodes") }
        barcodes = bc

        // Features: id, name[, type]; a one-column list is taken as names.
        var ids: [String] = [], names: [String] = [], types: [String] = []
        let featureLines = try GzipLineReader(path: featuresFile)
        while let line = try featureLines.nextLineString() {
            let n = featureLines.lineNumber
            if line.isEmpty { continue }
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            ids.append(f[0])
            names.append(f.count > 1 ? f[1] : f[0])
            if f.count > 2 { types.append(f[2]) }
            if !types.isEmpty && types.count != ids.count {
                throw InputError(file: featuresFile, field: "line \(n)",
                                 "has \(f.count) tab-separated fields; earlier lines have 3 (id, name, type)")
            }
        }
        guard !ids.isEmpty else { throw InputError(file: featuresFile, "lists no features") }
        featureIDs = ids; featureNames = names; featureTypes = types

        if geneExpressionOnly && !types.isEmpty {
            let gex = types.indices.filter { types[$0] == "Gene Expression" }
            kept = (gex.count == types.count || gex.isEmpty) ? nil : gex
        } else {
            kept = nil
        }
        var fc = [Int32](repeating: -1, count: ids.count)
        if let kept { for (k, i) in kept.enumerated() { fc[i] = Int32(k) } } else { for i in fc.indices { fc[i] = Int32(i) } }
        featureColumn = fc

        // Header and size line.
        let r = try GzipLineReader(path: matrix)
        guard let head = try r.nextLineString() else { throw InputError(file: matrix, "is empty; expected a MatrixMarket header") }
        let tokens = head.lowercased().split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard tokens.count >= 5, tokens[0] == "%%matrixmarket", tokens[1] == "matrix" else {
            throw InputError(file: matrix, field: "line 1",
                             "'\(head.prefix(80))' is not a MatrixMarket header (expected '%%MatrixMarket matrix coordinate integer general')")
        }
        guard tokens[2] == "coordinate" else {
            throw InputError(file: matrix, field: "line 1", "is a '\(tokens[2])' MatrixMarket matrix; only the sparse 'coordinate' format (as 10x writes it) is read")
        }
        guard tokens[3] == "integer" || tokens[3] == "real" else {
            throw InputError(file: matrix, field: "line 1", "has '\(tokens[3])' values; expected integer or real counts")
        }
        guard tokens[4] == "general" else {
            throw InputError(file: matrix, field: "line 1", "is '\(tokens[4])'; a genes × barcodes matrix is 'general'")
        }
        isInteger = tokens[3] == "integer"
        var size: [Int]? = nil
        while size == nil, let l = try r.nextLineString() {
            let t = Self.trimmed(l)
            if t.isEmpty || t.hasPrefix("%") { continue }
            let f = t.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { Int($0) }
            guard f.count == 3, let a = f[0], let b = f[1], let c = f[2], a >= 0, b >= 0, c >= 0 else {
                throw InputError(file: matrix, field: "line \(r.lineNumber)",
                                 "'\(t.prefix(80))' is not a size line (rows columns entries)")
            }
            size = [a, b, c]
        }
        guard let size else { throw InputError(file: matrix, "has no size line (rows columns entries) after its header") }
        sizeLine = r.lineNumber
        declaredEntries = size[2]
        if size[0] != ids.count || size[1] != bc.count {
            if size[0] == bc.count && size[1] == ids.count && bc.count != ids.count {
                throw InputError(file: matrix, field: "line \(sizeLine)",
                                 "is \(size[0]) × \(size[1]) = barcodes × features; 10x writes features × barcodes (transpose it)")
            }
            throw InputError(file: matrix, field: "line \(sizeLine)",
                             "declares \(size[0]) rows × \(size[1]) columns, but \(featuresFile) lists \(ids.count) features and \(barcodesFile) \(bc.count) barcodes")
        }
    }

    /// Number of barcodes (rows of X here).
    public var nObs: Int { barcodes.count }
    /// Number of kept features (columns of X here).
    public var nVars: Int { kept?.count ?? featureIDs.count }

    /// The barcodes.
    public func obsNames() throws -> [String] { barcodes }

    /// Gene symbols of the kept features.
    public func varNames() throws -> [String] { kept.map { $0.map { featureNames[$0] } } ?? featureNames }

    /// The var dataframe: index = gene symbols; `gene_ids`, and `feature_types` when listed.
    public func vars() throws -> DataFrame {
        let sel = kept ?? Array(featureIDs.indices)
        var df = DataFrame(index: sel.map { featureNames[$0] })
        df.set("gene_ids", .string(sel.map { featureIDs[$0] }))
        if !featureTypes.isEmpty { df.set("feature_types", .categorical(labels: sel.map { Optional(featureTypes[$0]) })) }
        return df
    }

    /// Stored entries per barcode (of kept features; duplicate entries count twice): one validating
    /// scan of the file, cached.
    public func rowNNZ() throws -> [Int] {
        if let entryCounts { return entryCounts }
        var counts = [Int](repeating: 0, count: nObs)
        let fc = featureColumn
        try scan { gene, barcode, _ in
            if fc[gene] >= 0 { counts[barcode] += 1 }
        }
        entryCounts = counts
        return counts
    }

    /// All of X (barcodes × kept features).
    public func readX() throws -> CSRMatrix { try readX(rows: Array(0..<nObs)) }

    /// The given strictly increasing barcodes, in that order: scans the file (a second time if
    /// `rowNNZ` has not been called) keeping only their entries.
    public func readX(rows: [Int]) throws -> CSRMatrix {
        for k in 0..<rows.count where rows[k] < 0 || rows[k] >= nObs || (k > 0 && rows[k] <= rows[k - 1]) {
            throw InputError(file: matrixPath, "row list must be strictly increasing within 0..<\(nObs) (entry \(k) is \(rows[k]))")
        }
        let counts = try rowNNZ()
        var local = [Int32](repeating: -1, count: nObs)
        var ptr = [Int](repeating: 0, count: rows.count + 1)
        for (k, r) in rows.enumerated() {
            local[r] = Int32(k)
            ptr[k + 1] = ptr[k] + counts[r]
        }
        var next = Array(ptr.dropLast())
        var idx = [Int32](repeating: 0, count: ptr[rows.count])
        var val = [Float](repeating: 0, count: ptr[rows.count])
        let fc = featureColumn
        var changed = false
        try scan(validate: false) { gene, barcode, v in
            let l = local[barcode]
            let c = fc[gene]
            if l >= 0 && c >= 0 {
                let p = next[Int(l)]
                guard p < ptr[Int(l) + 1] else { changed = true; return }
                idx[p] = c; val[p] = Float(v)
                next[Int(l)] = p + 1
            }
        }
        if changed || zip(next, ptr.dropFirst()).contains(where: { $0 != $1 }) {
            throw InputError(file: matrixPath, "changed while being read (a barcode's entries differ between two passes)")
        }
        var m = CSRMatrix(rows: rows.count, cols: nVars, indptr: ptr, indices: idx, values: val)
        m.sortIndices()
        m.sumDuplicates()
        return m
    }

    /// `s` without leading and trailing spaces and tabs.
    static func trimmed(_ s: String) -> Substring {
        var t = Substring(s)
        while let c = t.first, c == " " || c == "\t" { t = t.dropFirst() }
        while let c = t.last, c == " " || c == "\t" { t = t.dropLast() }
        return t
    }

    /// Streams the entries (0-based gene, 0-based barcode, value) of the file. With `validate`,
    /// every line is checked (indices in range, value finite, ≥ 0, integer for `integer` files,
    /// the number of entries); without it the file is assumed to be the one already validated.
    func scan(validate: Bool = true, _ visit: (Int, Int, Double) -> Void) throws {
        let r = try GzipLineReader(path: matrixPath)
        // Skip to the size line.
        var n = 0
        while r.lineNumber < sizeLine {
            guard try r.nextLine({ _ in }) else { break }
        }
        let nGenes = featureIDs.count, nBarcodes = barcodes.count
        let declared = declaredEntries
        let integer = isInteger
        let path = matrixPath
        var failure: InputError? = nil
        while failure == nil {
            let more = try r.nextLine { line in
                var p = 0
                let end = line.count
                @inline(__always) func skipSpace() { while p < end && (line[p] == 32 || line[p] == 9) { p &+= 1 } }
                skipSpace()
                if p == end || line[p] == 37 { return }    // blank or % comment
                func fail(_ msg: String) {
                    failure = InputError(file: path, field: "line \(r.lineNumber)", msg)
                }
                func text() -> String { String(decoding: UnsafeBufferPointer(rebasing: line[0..<min(end, 80)]), as: UTF8.self) }
                @inline(__always) func parseIndex() -> Int? {
                    var v = 0, digits = 0
                    while p < end, line[p] >= 48, line[p] <= 57 {
                        v = v &* 10 &+ Int(line[p] &- 48); p &+= 1; digits &+= 1
                        if digits > 18 { return nil }
                    }
                    return digits > 0 ? v : nil
                }
                guard let i = parseIndex(), p < end, line[p] == 32 || line[p] == 9 else {
                    fail("'\(text())' is not an entry (row column value)"); return
                }
                skipSpace()
                guard let j = parseIndex() else { fail("'\(text())' is not an entry (row column value)"); return }
                let fieldsEnd = p
                skipSpace()
                if p == fieldsEnd && p < end { fail("'\(text())' is not an entry (row column value)"); return }
                // The value: digits fast path, else the full number grammar.
                var value: Double
                let vStart = p
                var intPart = 0, digits = 0
                while p < end, line[p] >= 48, line[p] <= 57, digits < 15 {
                    intPart = intPart &* 10 &+ Int(line[p] &- 48); p &+= 1; digits &+= 1
                }
                var q = p
                while q < end && (line[q] == 32 || line[q] == 9) { q &+= 1 }
                if digits > 0 && q == end {
                    value = Double(intPart)
                } else {
                    var vEnd = vStart
                    while vEnd < end && line[vEnd] != 32 && line[vEnd] != 9 { vEnd &+= 1 }
                    q = vEnd
                    while q < end && (line[q] == 32 || line[q] == 9) { q &+= 1 }
                    let s = String(decoding: UnsafeBufferPointer(rebasing: line[vStart..<vEnd]), as: UTF8.self)
                    guard vEnd > vStart, q == end, let d = Double(s) else {
                        fail(vEnd == vStart ? "'\(text())' has no value (expected row column value)"
                             : q != end ? "'\(text())' has more than three fields (row column value)"
                             : "value '\(s)' is not a number")
                        return
                    }
                    value = d
                }
                n &+= 1
                if validate {
                    if n > declared { fail("is entry \(n), but line \(self.sizeLine) declares \(declared) entries"); return }
                    guard i >= 1 && i <= nGenes else {
                        fail("row (feature) index \(i) is outside 1…\(nGenes) (\(self.featuresPath) lists \(nGenes) features)"); return
                    }
                    guard j >= 1 && j <= nBarcodes else {
                        fail("column (barcode) index \(j) is outside 1…\(nBarcodes) (\(self.barcodesPath) lists \(nBarcodes) barcodes)"); return
                    }
                    guard value.isFinite && value >= 0 else {
                        fail("value \(value) is \(value.isFinite ? "negative" : "not finite"); counts must be finite and ≥ 0"); return
                    }
                    if integer && value != value.rounded() {
                        fail("value \(value) is not an integer, but line 1 declares an integer matrix"); return
                    }
                } else if i < 1 || i > nGenes || j < 1 || j > nBarcodes {
                    fail("changed while being read (index out of range on the second pass)"); return
                }
                visit(i &- 1, j &- 1, value)
            }
            if !more { break }
        }
        if let failure { throw failure }
        if validate && n != declared {
            throw InputError(file: matrixPath, field: "line \(sizeLine)",
                             "declares \(declared) entries, but the file holds \(n) (truncated?)")
        }
    }
}
