import STCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `AnnData` values as `.h5ad` files in anndata's ≥ 0.8 on-disk layout (what
/// `anndata.read_h5ad` 0.8 – 0.12 reads): X as a `csr_matrix` group, `obs`/`var` as dataframes with
/// categorical columns kept categorical, `obsm` arrays, `uns` strings.
///
/// Files are written through `AtomicFile` (a temporary file, synced, renamed over `path`), so a
/// failure never leaves a partial file behind.
public enum AnnDataWriter {
    /// Writes `adata` to `path`.
    ///
    /// - X (when present) is written as float32, or as int32 counts when `adata.xIsInteger` and
    ///   every value is an integer that fits. Without X the file has no `X` (anndata reads X=None).
    /// - `obsm["spatial"]` is written (float64 N×2) when `adata.spatial` holds 2·nObs values, then
    ///   every entry of `adata.obsm`.
    /// - `uns` entries are written in anndata's encodings (nested dicts, scalars, 1-D arrays).
    /// - `streamed`: further `obsm` arrays too large to hold, written block of rows by block.
    /// - `streamedX`: X written block of rows by block (then `adata.X` must be nil), so that a
    ///   matrix larger than memory is never held whole.
    /// - `compression`: gzip level for arrays (nil = uncompressed).
    public static func write(_ adata: AnnData, to path: String, uns: [String: UnsValue] = [:],
                             streamed: [StreamedObsm] = [], streamedX: StreamedCSR? = nil,
                             compression: Int? = 4) throws {
        try validate(adata, path: path)
        if let sx = streamedX, adata.X != nil || sx.rows != adata.nObs || sx.cols != adata.nVars || sx.blockRows < 1 {
            throw InputError(file: path, field: "X", "streamed X is \(sx.rows)×\(sx.cols) (blocks of \(sx.blockRows) rows) but obs has \(adata.nObs) rows and var \(adata.nVars), or X is also given")
        }
        for k in uns.keys { try checkUnsKey(k, under: "uns", path: path) }
        for s in streamed where s.rows != adata.nObs || s.key.isEmpty || s.key.contains("/") || adata.obsm[s.key] != nil {
            throw InputError(file: path, field: "obsm/" + s.key, "streamed array has \(s.rows) rows (expected \(adata.nObs)) or a bad or duplicate key")
        }
        try writeAtomically(to: path) { w in
            try w.setAttribute("/", "encoding-type", "anndata")
            try w.setAttribute("/", "encoding-version", "0.1.0")
            if let x = adata.X { try writeCSR(w, "X", x, integer: adata.xIsInteger, compression: compression) }
            if let sx = streamedX { try writeCSR(w, "X", sx, compression: compression) }
            try writeDataFrame(w, "obs", adata.obs, compression: compression)
            try writeDataFrame(w, "var", adata.vars, compression: compression)
            try writeDict(w, "obsm")
            if adata.spatial.count == 2 * adata.nObs && adata.nObs > 0 {
                try writeArray(w, "obsm/spatial", .float64(Matrix64(rows: adata.nObs, cols: 2, data: adata.spatial)),
                               compression: compression)
            }
            for key in adata.obsm.keys.sorted() where key != "spatial" || adata.spatial.isEmpty {
                try writeArray(w, "obsm/" + key, adata.obsm[key]!, compression: compression)
            }
            for s in streamed {
                try w.writeRows("obsm/" + s.key, rows: s.rows, cols: s.cols, compression: compression, s.block)
                try setArrayEncoding(w, "obsm/" + s.key)
            }
            for g in ["layers", "obsp", "varm", "varp"] { try writeDict(w, g) }
            try writeUns(w, "uns", .dict(uns))
        }
    }

    /// Creates `path` through `AtomicFile`: `body` fills an `HDF5Writer` on the temporary file,
    /// which is then closed, synced and renamed into place; on any error nothing is replaced.
    public static func writeAtomically(to path: String, _ body: (HDF5Writer) throws -> Void) throws {
        try AtomicFile.write(to: path) { tmp in
            let w = try HDF5Writer(path: tmp)
            try body(w)
            try w.close()
        }
    }

    /// An `obsm` array written block of rows by block (float32): `block(lo, hi)` returns rows
    /// lo..<hi row-major, so an N×G matrix is never held whole.
    public struct StreamedObsm {
        public var key: String
        public var rows: Int
        public var cols: Int
        public var block: (_ lo: Int, _ hi: Int) throws -> [Float]
        public init(key: String, rows: Int, cols: Int, block: @escaping (_ lo: Int, _ hi: Int) throws -> [Float]) {
            self.key = key; self.rows = rows; self.cols = cols; self.block = block
        }
    }

    /// X as a CSR matrix produced block of rows by block: `block(lo, hi)` returns rows lo..<hi
    /// (hi − lo ≤ `blockRows`, `cols` columns), called once per block in row order. With
    /// `integer`, every value must be an integer that fits int32 (written as int32 counts, as
    /// the in-memory writer does for integer X); otherwise float32.
    public struct StreamedCSR {
        public var rows: Int
        public var cols: Int
        public var integer: Bool
        public var blockRows: Int
        public var block: (_ lo: Int, _ hi: Int) throws -> CSRMatrix
        public init(rows: Int, cols: Int, integer: Bool, blockRows: Int = 4096,
                    block: @escaping (_ lo: Int, _ hi: Int) throws -> CSRMatrix) {
            self.rows = rows; self.cols = cols; self.integer = integer; self.blockRows = blockRows; self.block = block
        }
    }

    // MARK: - Pieces

    /// Writes a streamed CSR matrix group: `data` and `indices` are extendable chunked datasets
    /// that grow block by block; `indptr` (N + 1 offsets, held) is written at the end, int32 when
    /// nnz fits, else int64 (as `writeCSR` of an in-memory matrix). Memory: one block plus indptr.
    static func writeCSR(_ w: HDF5Writer, _ name: String, _ x: StreamedCSR, compression: Int?) throws {
        try w.createGroup(name)
        try w.setAttribute(name, "encoding-type", "csr_matrix")
        try w.setAttribute(name, "encoding-version", "0.1.0")
        try w.setAttribute(name, "shape", [Int64(x.rows), Int64(x.cols)])
        let ints = x.integer ? try w.appendableDataset(name + "/data", of: Int32.self, compression: compression) : nil
        let floats = x.integer ? nil : try w.appendableDataset(name + "/data", of: Float.self, compression: compression)
        let indices = try w.appendableDataset(name + "/indices", of: Int32.self, compression: compression)
        var indptr = [Int](repeating: 0, count: x.rows + 1)
        var lo = 0, nnz = 0
        var converted = [Int32]()
        while lo < x.rows {
            let hi = min(x.rows, lo + x.blockRows)
            let b = try x.block(lo, hi)
            guard b.rows == hi - lo, b.cols == x.cols, b.indptr.count == b.rows + 1, b.indptr[0] == 0,
                  b.indptr[b.rows] == b.nnz, b.values.count == b.nnz else {
                throw InputError(file: w.path, field: HDF5File.fieldName(name), "block of rows \(lo)..<\(hi) is \(b.rows)×\(b.cols)")
            }
            if let ints {
                converted.removeAll(keepingCapacity: true)
                converted.reserveCapacity(b.nnz)
                for f in b.values {
                    guard f == f.rounded(), abs(f) < 2_147_483_648 else {
                        throw InputError(file: w.path, field: HDF5File.fieldName(name + "/data"),
                                         "value \(f) in rows \(lo)..<\(hi) is not an int32 count")
                    }
                    converted.append(Int32(f))
                }
                try ints.append(contentsOf: converted)
            } else {
                try floats!.append(contentsOf: b.values)
            }
            try indices.append(contentsOf: b.indices)
            for r in 0..<b.rows { indptr[lo + r + 1] = nnz + b.indptr[r + 1] }
            nnz += b.nnz
            lo = hi
        }
        try ints?.finish(); try floats?.finish(); try indices.finish()
        if nnz <= Int(Int32.max) {
            try w.write(name + "/indptr", indptr.map { Int32($0) }, compression: compression)
        } else {
            try w.write(name + "/indptr", indptr.map { Int64($0) }, compression: compression)
        }
    }

    static func validate(_ a: AnnData, path: String) throws {
        if let x = a.X, x.rows != a.nObs || x.cols != a.nVars {
            throw InputError(file: path, field: "X", "is \(x.rows)×\(x.cols) but obs has \(a.nObs) rows and var \(a.nVars)")
        }
        if !a.spatial.isEmpty && a.spatial.count != 2 * a.nObs {
            throw InputError(file: path, field: "obsm/spatial", "holds \(a.spatial.count) values, expected 2×\(a.nObs)")
        }
        for (k, v) in a.obsm where v.rows != a.nObs {
            throw InputError(file: path, field: "obsm/" + k, "has \(v.rows) rows, expected \(a.nObs)")
        }
        // Keys become HDF5 names: '/' would nest groups (anndata refuses such keys too).
        let keys = a.obs.columnNames.map { "obs/" + $0 } + a.vars.columnNames.map { "var/" + $0 }
            + a.obsm.keys.map { "obsm/" + $0 }
        for k in keys where k.split(separator: "/", omittingEmptySubsequences: false).count != 2 || k.hasSuffix("/") {
            throw InputError(file: path, field: k, "key is empty or contains '/', which an .h5ad cannot store")
        }
    }

    static func writeDict(_ w: HDF5Writer, _ name: String) throws {
        try w.createGroup(name)
        try w.setAttribute(name, "encoding-type", "dict")
        try w.setAttribute(name, "encoding-version", "0.1.0")
    }

    static func setArrayEncoding(_ w: HDF5Writer, _ name: String, _ type: String = "array") throws {
        try w.setAttribute(name, "encoding-type", type)
        try w.setAttribute(name, "encoding-version", "0.2.0")
    }

    /// Writes an `obsm`-style dense array.
    static func writeArray(_ w: HDF5Writer, _ name: String, _ a: ObsmArray, compression: Int?) throws {
        switch a {
        case .float32(let m): try w.write(name, m.data, shape: [m.rows, m.cols], compression: compression)
        case .float64(let m): try w.write(name, m.data, shape: [m.rows, m.cols], compression: compression)
        }
        try setArrayEncoding(w, name)
    }

    /// Writes a CSR matrix group (anndata `csr_matrix`).
    static func writeCSR(_ w: HDF5Writer, _ name: String, _ x: CSRMatrix, integer: Bool, compression: Int?) throws {
        try w.createGroup(name)
        try w.setAttribute(name, "encoding-type", "csr_matrix")
        try w.setAttribute(name, "encoding-version", "0.1.0")
        try w.setAttribute(name, "shape", [Int64(x.rows), Int64(x.cols)])
        var wroteInt = false
        if integer {
            var ints = [Int32](repeating: 0, count: x.nnz)
            let ok = x.values.withUnsafeBufferPointer { v in
                ints.withUnsafeMutableBufferPointer { o -> Bool in
                    for p in 0..<v.count {
                        let f = v[p]
                        guard f == f.rounded(), abs(f) < 2_147_483_648 else { return false }
                        o[p] = Int32(f)
                    }
                    return true
                }
            }
            if ok { try w.write(name + "/data", ints, compression: compression); wroteInt = true }
        }
        if !wroteInt { try w.write(name + "/data", x.values, compression: compression) }
        try w.write(name + "/indices", x.indices, compression: compression)
        if x.nnz <= Int(Int32.max) {
            try w.write(name + "/indptr", x.indptr.map { Int32($0) }, compression: compression)
        } else {
            try w.write(name + "/indptr", x.indptr.map { Int64($0) }, compression: compression)
        }
    }

    /// Writes a dataframe group (anndata `dataframe` 0.2.0).
    static func writeDataFrame(_ w: HDF5Writer, _ name: String, _ df: DataFrame, compression: Int?) throws {
        // The index dataset is "_index" unless a column already has that name.
        var indexName = "_index"
        while df.columns[indexName] != nil { indexName = "_" + indexName }
        try w.createGroup(name)
        try w.setAttribute(name, "encoding-type", "dataframe")
        try w.setAttribute(name, "encoding-version", "0.2.0")
        try w.setAttribute(name, "_index", indexName)
        try w.setAttribute(name, "column-order", strings: df.columnNames)
        try w.writeStrings(name + "/" + indexName, df.index, compression: compression)
        try setArrayEncoding(w, name + "/" + indexName, "string-array")
        for col in df.columnNames {
            try writeColumn(w, name + "/" + col, df.columns[col]!, compression: compression)
        }
    }

    static func writeColumn(_ w: HDF5Writer, _ p: String, _ c: ObsColumn, compression: Int?) throws {
        switch c {
        case .categorical(let codes, let cats, let ordered):
            try w.createGroup(p)
            try w.setAttribute(p, "encoding-type", "categorical")
            try w.setAttribute(p, "encoding-version", "0.2.0")
            try w.setAttribute(p, "ordered", ordered)
            // Codes in the narrowest signed type, as pandas does.
            if cats.count < Int(Int8.max) {
                try w.write(p + "/codes", codes.map { Int8(clamping: $0) }, compression: compression)
            } else if cats.count < Int(Int16.max) {
                try w.write(p + "/codes", codes.map { Int16(clamping: $0) }, compression: compression)
            } else {
                try w.write(p + "/codes", codes, compression: compression)
            }
            try setArrayEncoding(w, p + "/codes")
            try w.writeStrings(p + "/categories", cats, compression: compression)
            try setArrayEncoding(w, p + "/categories", "string-array")
        case .string(let v):
            try w.writeStrings(p, v, compression: compression)
            try setArrayEncoding(w, p, "string-array")
        case .numeric(let v):
            try w.write(p, v, compression: compression)
            try setArrayEncoding(w, p)
        case .integer(let v):
            try w.write(p, v, compression: compression)
            try setArrayEncoding(w, p)
        case .boolean(let v):
            try w.write(p, bools: v, compression: compression)
            try setArrayEncoding(w, p)
        case .nullableInteger(let v, let m):
            try w.createGroup(p)
            try w.setAttribute(p, "encoding-type", "nullable-integer")
            try w.setAttribute(p, "encoding-version", "0.1.0")
            try w.write(p + "/values", v, compression: compression)
            try w.write(p + "/mask", bools: m, compression: compression)
        case .nullableBoolean(let v, let m):
            try w.createGroup(p)
            try w.setAttribute(p, "encoding-type", "nullable-boolean")
            try w.setAttribute(p, "encoding-version", "0.1.0")
            try w.write(p + "/values", bools: v, compression: compression)
            try w.write(p + "/mask", bools: m, compression: compression)
        }
    }
}
