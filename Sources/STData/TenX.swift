import STCore

/// A readable spatial expression dataset: the calls a (possibly distributed) trainer makes,
/// whatever the file format. Shape and names come without reading X; each rank then reads only
/// its own rows with `readX(rows:)`.
public protocol SpatialExpressionSource: AnyObject {
    /// The file the data come from (for messages).
    var path: String { get }
    /// Layout, shape and nnz of the stored matrix.
    var header: XHeader { get }
    /// Number of observations (spots/cells): rows of X.
    var nObs: Int { get }
    /// Number of variables (genes): columns of X.
    var nVars: Int { get }
    /// Observation names.
    func obsNames() throws -> [String]
    /// Variable names.
    func varNames() throws -> [String]
    /// The obs dataframe.
    func obs() throws -> DataFrame
    /// N×2 row-major coordinates, validated finite.
    func spatial() throws -> [Double]
    /// Stored entries per row.
    func rowNNZ() throws -> [Int]
    /// All of X.
    func readX() throws -> CSRMatrix
    /// Rows lo..<hi of X.
    func readX(rows: Range<Int>) throws -> CSRMatrix
    /// The given strictly increasing rows of X.
    func readX(rows: [Int]) throws -> CSRMatrix
    /// Everything (X optional) as an `AnnData`.
    func read(includeX: Bool) throws -> AnnData
}

extension AnnDataReader: SpatialExpressionSource {}

/// Opens an expression dataset by content: an `.h5ad`, a 10x `filtered_feature_bc_matrix.h5`
/// (coordinates from `positions`, a Space Ranger tissue-positions CSV), or a Space Ranger output
/// directory (`filtered_feature_bc_matrix.h5` + `spatial/tissue_positions[_list].csv`).
public func openExpressionSource(path: String, positions: String? = nil) throws -> any SpatialExpressionSource {
    if FileManagerShim.isDirectory(path) {
        return try TenXMatrixReader(spaceRangerDirectory: path)
    }
    let f = try HDF5File(path: path)
    if f.exists("X") || !(f.isGroup("matrix") || TenXMatrixReader.legacyGenomeGroup(f) != nil) {
        if positions != nil {
            throw InputError(file: path, field: "positions", "a positions CSV is only used with a 10x .h5 matrix; an .h5ad carries obsm['spatial']")
        }
        return try AnnDataReader(path: path)
    }
    return try TenXMatrixReader(path: path, positions: positions)
}

/// Reads a 10x Genomics feature-barcode matrix (`filtered_feature_bc_matrix.h5`, Cell/Space Ranger
/// ≥ 3, group `matrix`; or the Cell Ranger 2 layout with one group per genome) as barcodes × genes.
///
/// The file stores genes × barcodes in CSC, whose arrays are exactly CSR of barcodes × genes, so
/// row (barcode) ranges are read with hyperslabs as for an `.h5ad`. Like scanpy's `read_10x_h5`,
/// only "Gene Expression" features are kept by default; var names are gene symbols
/// (`features/name`), with `gene_ids`, `feature_types` and `genome` as var columns.
/// Coordinates come from a Space Ranger tissue-positions CSV (see `TissuePositions`).
public final class TenXMatrixReader: SpatialExpressionSource {
    /// The matrix file's path.
    public let path: String
    /// The open HDF5 file.
    public let file: HDF5File
    /// The matrix group ("matrix", or the genome's group in the Cell Ranger 2 layout).
    public let group: String
    /// Layout (always `.csr` here), rows = barcodes, cols = all stored features.
    public let header: XHeader
    /// Coordinates joined to the barcodes, when a positions file was given.
    public let positions: TissuePositions?
    let source: CompressedSparseSource
    /// Kept feature indices (nil = all).
    let kept: [Int]?
    let legacy: Bool

    /// Opens the matrix and, when given, reads the positions CSV.
    /// - `geneExpressionOnly`: keep only features of type "Gene Expression" (scanpy's `gex_only`).
    public init(path: String, positions positionsPath: String? = nil, geneExpressionOnly: Bool = true) throws {
        self.path = path
        file = try HDF5File(path: path)
        if file.isGroup("matrix") {
            group = "matrix"
            legacy = false
        } else if let g = Self.legacyGenomeGroup(file) {
            group = g
            legacy = true
        } else {
            throw InputError(file: path, field: "matrix", "missing: not a 10x feature-barcode matrix (.h5) nor an .h5ad")
        }
        let shapeName = group + "/shape"
        guard file.isDataset(shapeName) else { throw InputError(file: path, field: shapeName, "missing") }
        try file.requireIntegers(shapeName)
        let shape: [Int64] = try file.read(shapeName)
        guard shape.count == 2, shape[0] >= 0, shape[1] >= 0, shape[0] < Int64.max, shape[1] < Int64.max else {
            throw InputError(file: path, field: shapeName, "expected [features, barcodes], found \(shape)")
        }
        let nFeatures = Int(shape[0]), nBarcodes = Int(shape[1])
        source = try CompressedSparseSource(file: file, group: group, major: nBarcodes, minor: nFeatures,
                                            majorName: "barcodes", minorName: "features", shapeField: shapeName)
        header = XHeader(layout: .csr, rows: nBarcodes, cols: nFeatures, nnz: source.nnz,
                         isInteger: try source.valuesAreInteger(), path: group)
        if nBarcodes == 0 {
            throw InputError(file: path, field: group, "has zero barcodes; nothing to train on")
        }
        // Names must number what the shape declares: checked from their shapes, before any read.
        try file.checkLength(group + "/barcodes", expected: nBarcodes, what: "entries", owner: shapeName + " declares", unit: "barcodes")
        for name in legacy ? ["gene_names", "genes"] : ["features/name", "features/id", "features/feature_type", "features/genome"]
        where file.isDataset(group + "/" + name) {
            try file.checkLength(group + "/" + name, expected: nFeatures, what: "entries", owner: shapeName + " declares", unit: "features")
        }
        if geneExpressionOnly && !legacy && file.isDataset(group + "/features/feature_type") {
            let types = try file.readStrings(group + "/features/feature_type")
            let gex = types.indices.filter { types[$0] == "Gene Expression" }
            kept = gex.count == nFeatures ? nil : gex
        } else {
            kept = nil
        }
        if let p = positionsPath {
            positions = try TissuePositions(path: p)
        } else {
            positions = nil
        }
    }

    /// Opens a Space Ranger output directory: `filtered_feature_bc_matrix.h5` with
    /// `spatial/tissue_positions.csv` (Space Ranger ≥ 2) or `spatial/tissue_positions_list.csv`.
    public convenience init(spaceRangerDirectory dir: String, geneExpressionOnly: Bool = true) throws {
        let h5 = dir + "/filtered_feature_bc_matrix.h5"
        guard FileManagerShim.isReadableFile(h5) else {
            throw InputError(file: h5, "missing: a Space Ranger output directory holds filtered_feature_bc_matrix.h5")
        }
        let candidates = [dir + "/spatial/tissue_positions.csv", dir + "/spatial/tissue_positions_list.csv"]
        guard let pos = candidates.first(where: { FileManagerShim.isReadableFile($0) }) else {
            let parquet = dir + "/spatial/tissue_positions.parquet"
            throw InputError(file: candidates[0], FileManagerShim.isReadableFile(parquet)
                             ? "missing (only tissue_positions.parquet found; convert it to CSV)"
                             : "missing: neither tissue_positions.csv nor tissue_positions_list.csv exists")
        }
        try self.init(path: h5, positions: pos, geneExpressionOnly: geneExpressionOnly)
    }

    /// The Cell Ranger 2 genome group (the single root group holding `indptr`), if any.
    public static func legacyGenomeGroup(_ f: HDF5File) -> String? {
        guard let members = try? f.members("") else { return nil }
        return members.first { f.isGroup($0) && f.isDataset($0 + "/indptr") && f.isDataset($0 + "/barcodes") }
    }

    /// Number of barcodes.
    public var nObs: Int { header.rows }
    /// Number of kept features.
    public var nVars: Int { kept?.count ?? header.cols }

    /// The barcodes (obs names).
    public func obsNames() throws -> [String] {
        let b = try file.readStrings(group + "/barcodes")
        guard b.count == nObs else {
            throw InputError(file: path, field: group + "/barcodes", "has \(b.count) entries, expected \(nObs)")
        }
        return b
    }

    /// Gene symbols of the kept features (scanpy's default var names).
    public func varNames() throws -> [String] {
        try featureColumn(legacy ? "gene_names" : "features/name")
    }

    /// The var dataframe: index = gene symbols; `gene_ids`, and when present `feature_types`, `genome`.
    public func vars() throws -> DataFrame {
        var df = DataFrame(index: try varNames())
        df.set("gene_ids", .string(try featureColumn(legacy ? "genes" : "features/id")))
        if !legacy {
            for (col, name) in [("feature_types", "features/feature_type"), ("genome", "features/genome")]
            where file.isDataset(group + "/" + name) {
                df.set(col, .categorical(labels: try featureColumn(name).map { Optional($0) }))
            }
        }
        return df
    }

    func featureColumn(_ name: String) throws -> [String] {
        let all = try file.readStrings(group + "/" + name)
        guard all.count == header.cols else {
            throw InputError(file: path, field: group + "/" + name, "has \(all.count) entries, expected \(header.cols)")
        }
        return kept.map { $0.map { all[$0] } } ?? all
    }

    /// The obs dataframe: barcodes, plus `in_tissue`, `array_row`, `array_col` when positions are known.
    public func obs() throws -> DataFrame {
        let names = try obsNames()
        var df = DataFrame(index: names)
        if let p = positions {
            let rows = try p.rows(for: names, matrixPath: path)
            df.set("in_tissue", .integer(rows.map { Int64(p.inTissue[$0]) }))
            df.set("array_row", .integer(rows.map { Int64(p.arrayRow[$0]) }))
            df.set("array_col", .integer(rows.map { Int64(p.arrayCol[$0]) }))
        }
        return df
    }

    /// Coordinates as scanpy's `read_visium` stores `obsm["spatial"]`: (pxl_col_in_fullres,
    /// pxl_row_in_fullres) in Space Ranger's naming, i.e. (x, y) in full-resolution image pixels.
    public func spatial() throws -> [Double] {
        guard let p = positions else {
            throw InputError(file: path, field: "spatial",
                             "a 10x matrix has no coordinates: give a tissue_positions CSV (or a Space Ranger directory)")
        }
        let rows = try p.rows(for: try obsNames(), matrixPath: path)
        var out = [Double](repeating: 0, count: 2 * rows.count)
        for (i, r) in rows.enumerated() {
            out[2 * i] = p.pxlCol[r]
            out[2 * i + 1] = p.pxlRow[r]
        }
        return out
    }

    /// Stored entries per barcode (of kept features).
    public func rowNNZ() throws -> [Int] {
        if kept == nil { return try source.majorCounts() }
        // Dropped (non-gene-expression) features do not count: read X once.
        let x = try readX()
        return (0..<x.rows).map { x.indptr[$0 + 1] - x.indptr[$0] }
    }

    /// All of X (barcodes × kept features).
    public func readX() throws -> CSRMatrix { try readX(rows: 0..<nObs) }

    /// Barcodes lo..<hi (hyperslab reads).
    public func readX(rows: Range<Int>) throws -> CSRMatrix {
        guard rows.lowerBound >= 0 && rows.upperBound <= nObs else {
            throw InputError(file: path, field: group, "row range \(rows) outside 0..<\(nObs)")
        }
        let (p, i, v) = try source.readMajorRange(rows)
        return select(makeCSR(rows: rows.count, cols: header.cols, indptr: p, indices: i, values: v))
    }

    /// The given strictly increasing barcodes (coalesced range reads).
    public func readX(rows: [Int]) throws -> CSRMatrix {
        let (p, i, v) = try source.readMajorList(rows)
        return select(makeCSR(rows: rows.count, cols: header.cols, indptr: p, indices: i, values: v))
    }

    func select(_ m: CSRMatrix) -> CSRMatrix {
        guard let kept else { return m }
        return m.selectingColumns(kept)
    }

    /// Everything as an `AnnData` (coordinates required: give positions).
    public func read(includeX: Bool = true) throws -> AnnData {
        AnnData(obs: try obs(), vars: try vars(), spatial: try spatial(),
                X: includeX ? try readX() : nil, xIsInteger: header.isInteger)
    }
}

/// A Space Ranger tissue-positions table.
///
/// Accepts `tissue_positions.csv` (Space Ranger ≥ 2, header `barcode,in_tissue,array_row,
/// array_col,pxl_row_in_fullres,pxl_col_in_fullres`; columns found by name) and
/// `tissue_positions_list.csv` (no header, the same six columns in that order).
public struct TissuePositions: Equatable, Sendable {
    /// The CSV file.
    public var path: String
    /// Spot barcodes.
    public var barcodes: [String]
    /// 1 if the spot is under tissue.
    public var inTissue: [Int]
    /// Row on the capture array.
    public var arrayRow: [Int]
    /// Column on the capture array.
    public var arrayCol: [Int]
    /// Space Ranger's `pxl_row_in_fullres` (image y).
    public var pxlRow: [Double]
    /// Space Ranger's `pxl_col_in_fullres` (image x).
    public var pxlCol: [Double]

    static let columnNames = ["barcode", "in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"]

    /// Reads and validates a positions CSV (numbers finite, barcodes unique).
    public init(path: String) throws {
        guard FileManagerShim.isReadableFile(path), !FileManagerShim.isDirectory(path) else {
            throw InputError(file: path, "cannot open: no such file or not readable")
        }
        guard let text = Self.readText(path) else { throw InputError(file: path, "could not be read as UTF-8 text") }
        try self.init(csv: text, path: path)
    }

    /// Parses positions CSV text (`path` names the source in errors).
    public init(csv text: String, path: String) throws {
        self.path = path
        barcodes = []; inTissue = []; arrayRow = []; arrayCol = []; pxlRow = []; pxlCol = []
        var lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        guard let first = lines.first else { throw InputError(file: path, "is empty; expected tissue positions") }
        var col = Array(0..<6)
        var lineOffset = 1
        let firstFields = first.split(separator: ",", omittingEmptySubsequences: false).map { Self.unquote($0) }
        if firstFields.contains("barcode") {
            for (k, name) in Self.columnNames.enumerated() {
                guard let j = firstFields.firstIndex(of: name) else {
                    throw InputError(file: path, field: name, "column missing from the header line")
                }
                col[k] = j
            }
            lines.removeFirst()
            lineOffset = 2
        }
        let need = col.max()! + 1
        var seen = Set<String>()
        for (n, line) in lines.enumerated() {
            let lineNo = n + lineOffset
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map { Self.unquote($0) }
            guard f.count >= need else {
                throw InputError(file: path, field: "line \(lineNo)", "has \(f.count) fields, expected \(need)")
            }
            func int(_ k: Int) throws -> Int {
                guard let v = Int(f[col[k]]) ?? Double(f[col[k]]).flatMap({ $0 == $0.rounded() ? Int(exactly: $0) : nil }) else {
                    throw InputError(file: path, field: Self.columnNames[k], "line \(lineNo): '\(f[col[k]])' is not an integer")
                }
                return v
            }
            func num(_ k: Int) throws -> Double {
                guard let v = Double(f[col[k]]), v.isFinite else {
                    throw InputError(file: path, field: Self.columnNames[k], "line \(lineNo): '\(f[col[k]])' is not a finite number")
                }
                return v
            }
            let b = f[col[0]]
            guard seen.insert(b).inserted else {
                throw InputError(file: path, field: "barcode", "line \(lineNo): barcode '\(b)' listed twice")
            }
            barcodes.append(b)
            inTissue.append(try int(1))
            arrayRow.append(try int(2))
            arrayCol.append(try int(3))
            pxlRow.append(try num(4))
            pxlCol.append(try num(5))
        }
        if barcodes.isEmpty { throw InputError(file: path, "has no positions") }
    }

    /// For each barcode, its row in this table; throws naming the first barcode not listed.
    public func rows(for names: [String], matrixPath: String) throws -> [Int] {
        var lookup: [String: Int] = [:]
        lookup.reserveCapacity(barcodes.count)
        for (k, b) in barcodes.enumerated() { lookup[b] = k }
        return try names.map { b in
            guard let r = lookup[b] else {
                throw InputError(file: path, field: "barcode",
                                 "barcode '\(b)' of \(matrixPath) has no position (wrong positions file?)")
            }
            return r
        }
    }

    /// A CSV field without surrounding spaces/tabs and double quotes.
    static func unquote(_ s: Substring) -> String {
        var t = s
        while let c = t.first, c == " " || c == "\t" { t = t.dropFirst() }
        while let c = t.last, c == " " || c == "\t" { t = t.dropLast() }
        if t.count >= 2 && t.first == "\"" && t.last == "\"" { t = t.dropFirst().dropLast() }
        return String(t)
    }

    static func readText(_ path: String) -> String? {
        guard let fp = fopen(path, "rb") else { return nil }
        defer { fclose(fp) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&buf, 1, buf.count, fp)
            if n > 0 { bytes.append(contentsOf: buf[0..<n]) }
            if n < buf.count { break }
        }
        if ferror(fp) != 0 { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
