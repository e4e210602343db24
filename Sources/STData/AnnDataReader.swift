import STCore

/// Reads an `.h5ad` file as anndata 0.7 – 0.12 writes it, piece by piece.
///
/// Opening reads only the header of X (layout, shape, nnz), so a rank can learn the shape, the
/// names and the coordinates without touching the expression values, then read just its own rows
/// with `readX(rows:)`. Everything read is validated; problems are `InputError`s naming the file
/// and the field.
///
/// Supported layouts: X as a CSR group (`encoding-type` csr_matrix, or anndata 0.7's
/// `h5sparse_format` "csr"), a CSC group (converted to CSR; row subsets then read the whole
/// matrix), or a dense 2-D dataset; integer, float or boolean values. `obs`/`var` dataframes with
/// categorical (anndata ≥ 0.8 groups, or 0.7 code datasets with a `categories` object reference),
/// string, numeric, boolean and nullable integer/boolean/string columns. `obsm["spatial"]` must be
/// a numeric N×k array with k ≥ 2; the first two columns are used (x, y), a third (z) is ignored.
/// anndata < 0.7 files (compound `obs` datasets) are rejected with a message to re-save them.
public final class AnnDataReader {
    /// The file's path.
    public let path: String
    /// The open HDF5 file.
    public let file: HDF5File
    /// Layout, shape and nnz of X.
    public let header: XHeader
    let sparse: CompressedSparseSource?

    /// Opens `path` and reads the header of X. Throws if the file is missing, not HDF5, has no
    /// `X`, an X of zero rows, or a malformed sparse structure (lengths, first/last indptr).
    public init(path: String) throws {
        self.path = path
        file = try HDF5File(path: path)
        let xName = "X"
        guard let kind = file.kind(xName) else {
            throw InputError(file: path, field: "X", "missing: the file has no expression matrix X")
        }
        var shapeField: String? = nil
        switch kind {
        case .dataset:
            // Opening the dataset checks its storage against its extent (a dense X of fill values
            // is refused here, before a row of it is read).
            let shape = try file.shape(xName)
            guard shape.count == 2 else {
                throw InputError(file: path, field: "X", "expected a 2-D matrix, found shape \(HDF5File.formatShape(shape))")
            }
            let cls = try file.elementClass(xName)
            let isInt: Bool
            switch cls {
            case .integer, .enumeration: isInt = true
            case .float: isInt = false
            default: throw InputError(file: path, field: "X", "must be numeric, found \(HDF5File.describe(cls))")
            }
            guard shape[1] <= Int(Int32.max) else {
                throw InputError(file: path, field: "X", "has \(shape[1]) columns; at most 2^31-1 are supported")
            }
            header = XHeader(layout: .dense, rows: shape[0], cols: shape[1], nnz: try file.elementCount(shape, field: "X"),
                             isInteger: isInt, path: xName)
            sparse = nil
        case .group:
            var format: String? = nil
            if file.hasAttribute(xName, "encoding-type") { format = try file.stringAttribute(xName, "encoding-type") }
            else if file.hasAttribute(xName, "h5sparse_format") {
                format = try file.stringAttribute(xName, "h5sparse_format") + "_matrix"
            }
            guard let format, format == "csr_matrix" || format == "csc_matrix" else {
                throw InputError(file: path, field: "X",
                                 "is a group of encoding '\(format ?? "none")', expected csr_matrix or csc_matrix")
            }
            let shapeAttr = file.hasAttribute(xName, "shape") ? "shape" : "h5sparse_shape"
            shapeField = "X.attrs[\(shapeAttr)]"
            try file.requireIntegerAttribute(xName, shapeAttr)
            let shape: [Int64] = try file.attribute(xName, shapeAttr)
            guard shape.count == 2, shape[0] >= 0, shape[1] >= 0, shape[0] < Int64.max, shape[1] < Int64.max else {
                throw InputError(file: path, field: "X.attrs[\(shapeAttr)]", "expected two non-negative sizes, found \(shape)")
            }
            let rows = Int(shape[0]), cols = Int(shape[1])
            let isCSR = format == "csr_matrix"
            let src = try CompressedSparseSource(file: file, group: xName, major: isCSR ? rows : cols,
                                                 minor: isCSR ? cols : rows, majorName: isCSR ? "rows" : "columns", minorName: isCSR ? "columns" : "rows",
                                                 shapeField: shapeField!)
            header = XHeader(layout: isCSR ? .csr : .csc, rows: rows, cols: cols, nnz: src.nnz,
                             isInteger: try src.valuesAreInteger(), path: xName)
            sparse = src
        case .other:
            throw InputError(file: path, field: "X", "is neither a dataset nor a group")
        }
        // The names must number the rows and columns X declares: checked from their shapes, before
        // anything is allocated by either count.
        let declared = shapeField.map { " (\($0))" } ?? ""
        for (group, count, unit) in [("obs", header.rows, "rows"), ("var", header.cols, "columns")] {
            try file.checkDataFrameGroup(group)
            let index = file.dataFrameIndexPath(group)
            guard file.isDataset(index) else {
                throw InputError(file: path, field: index, "missing: the \(group) index (names) is required")
            }
            try file.checkLength(index, expected: count, what: "names", owner: "X has", unit: unit + declared)
        }
        if header.rows == 0 {
            throw InputError(file: path, field: "X", "has zero rows (no spots); nothing to train on")
        }
    }

    /// The number of observations (rows of X).
    public var nObs: Int { header.rows }
    /// The number of variables (columns of X).
    public var nVars: Int { header.cols }

    // MARK: - Metadata

    /// The observation names (obs index); checked to number `nObs`.
    public func obsNames() throws -> [String] { try file.dataFrameIndex("obs", expected: nObs) }

    /// The variable names (var index); checked to number `nVars`.
    public func varNames() throws -> [String] { try file.dataFrameIndex("var", expected: nVars) }

    /// The whole `obs` dataframe (index and every readable column).
    public func obs() throws -> DataFrame { try file.readDataFrame("obs", rows: nObs) }

    /// The whole `var` dataframe.
    public func vars() throws -> DataFrame { try file.readDataFrame("var", rows: nVars) }

    /// `obsm["spatial"]` as N×2 row-major float64 (first two columns), checked finite and N = nObs.
    public func spatial() throws -> [Double] {
        let name = "obsm/spatial"
        guard let kind = file.kind(name) else {
            throw InputError(file: path, field: name, "missing: spot coordinates (an N×2 array) are required")
        }
        guard kind == .dataset else {
            throw InputError(file: path, field: name, "is a group (e.g. a dataframe); expected an N×2 numeric array")
        }
        let shape = try file.shape(name)
        guard shape.count == 2, shape[1] >= 2 else {
            throw InputError(file: path, field: name, "has shape \(shape), expected N×2 (or N×3; z is ignored)")
        }
        guard shape[0] == nObs else {
            throw InputError(file: path, field: name, "has \(shape[0]) rows but X has \(nObs)")
        }
        // Only x and y are read (a hyperslab of two columns), however many columns are declared.
        let out: [Double] = try file.readColumns(name, 0..<2)
        let bad: Int? = out.withUnsafeBufferPointer { o in
            for i in 0..<nObs where !(o[2 &* i].isFinite && o[2 &* i &+ 1].isFinite) { return i }
            return nil
        }
        if let i = bad {
            let nm = (try? file.readStrings(file.dataFrameIndexPath("obs"), range: i..<(i + 1)).first) ?? nil
            throw InputError(file: path, field: name,
                             "row \(i)\(nm.map { " ('\($0)')" } ?? "") is (\(out[2 * i]), \(out[2 * i + 1])); coordinates must be finite")
        }
        return out
    }

    // MARK: - X

    /// Stored entries per row, from indptr alone for CSR (what a partitioner weights rows by).
    public func rowNNZ() throws -> [Int] {
        switch header.layout {
        case .csr: return try sparse!.majorCounts()
        case .csc:
            let idx: [Int32] = try file.read("X/indices")
            var counts = [Int](repeating: 0, count: nObs)
            for r in idx {
                guard r >= 0 && Int(r) < nObs else {
                    throw InputError(file: path, field: "X/indices", "index \(r) out of range 0..<\(nObs)")
                }
                counts[Int(r)] += 1
            }
            return counts
        case .dense:
            var counts = [Int](repeating: 0, count: nObs)
            try forEachDenseBlock(rows: [0..<nObs]) { row, nRows, columns, v in
                for i in 0..<nRows {
                    var c = 0
                    for j in 0..<columns.count where v[i &* columns.count &+ j] != 0 { c &+= 1 }
                    counts[row &+ i] &+= c
                }
            }
            return counts
        }
    }

    /// Values per read of a dense X: rows are read in blocks of at most this many values, and a
    /// row wider than that in pieces of columns, so no read is sized by the declared width alone.
    /// (Settable for tests of the block logic on small files.)
    public var denseBlockElements = 1 << 22

    /// Calls `body(firstRow, rowCount, columns, values)` over the rows `runs` (sorted, disjoint
    /// ranges) of a dense X, in order: several whole rows per read (one union selection) while
    /// they fit `denseBlockElements`, else one row in column pieces. `values` is row-major
    /// rowCount × columns.count; consecutive calls cover the rows in order.
    func forEachDenseBlock(rows runs: [Range<Int>],
                           _ body: (_ firstRow: Int, _ rowCount: Int, _ columns: Range<Int>, _ values: [Float]) throws -> Void) throws {
        let cols = nVars, budget = denseBlockElements
        guard cols > 0 else { return }
        if cols > budget {
            for run in runs {
                for r in run {
                    var c = 0
                    while c < cols {
                        let e = min(cols, c + budget)
                        let v: [Float] = try file.readColumns("X", c..<e, rows: r..<(r + 1))
                        try body(r, 1, c..<e, v)
                        c = e
                    }
                }
            }
            return
        }
        let perRead = budget / cols
        var group: [Range<Int>] = [], inGroup = 0
        func flush() throws {
            guard !group.isEmpty else { return }
            let v: [Float] = try file.readRows("X", ranges: group)
            var offset = 0
            for g in group {
                try body(g.lowerBound, g.count, 0..<cols, Array(v[(offset * cols)..<((offset + g.count) * cols)]))
                offset += g.count
            }
            group = []; inGroup = 0
        }
        for run in runs {
            var lo = run.lowerBound
            while lo < run.upperBound {
                let hi = min(run.upperBound, lo + (perRead - inGroup))
                group.append(lo..<hi); inGroup += hi - lo
                if inGroup == perRead { try flush() }
                lo = hi
            }
        }
        try flush()
    }

    /// The whole of X as CSR (float32 values), validated.
    public func readX() throws -> CSRMatrix {
        switch header.layout {
        case .csr:
            let (p, i, v) = try sparse!.readAll()
            return makeCSR(rows: nObs, cols: nVars, indptr: p, indices: i, values: v)
        case .csc:
            let (p, i, v) = try sparse!.readAll()
            // The CSC arrays are the CSR arrays of Xᵀ; transposing yields sorted CSR rows of X.
            let t = makeCSR(rows: nVars, cols: nObs, indptr: p, indices: i, values: v)
            return t.transposed()
        case .dense:
            return try readX(rows: 0..<nObs)
        }
    }

    /// Rows `rows` of X (only those rows are read for CSR and dense X; CSC reads all of X).
    public func readX(rows: Range<Int>) throws -> CSRMatrix {
        guard rows.lowerBound >= 0 && rows.upperBound <= nObs else {
            throw InputError(file: path, field: "X", "row range \(rows) outside 0..<\(nObs)")
        }
        switch header.layout {
        case .csr:
            let (p, i, v) = try sparse!.readMajorRange(rows)
            return makeCSR(rows: rows.count, cols: nVars, indptr: p, indices: i, values: v)
        case .csc:
            return try readX().selectingRows(Array(rows))
        case .dense:
            return try denseToCSR(runs: [rows], rows: rows.count)
        }
    }

    /// The rows of X in `rows` (strictly increasing), in that order. CSR reads coalesce runs of
    /// consecutive rows and nearby ranges; CSC reads all of X.
    public func readX(rows: [Int]) throws -> CSRMatrix {
        for k in 0..<rows.count where rows[k] < 0 || rows[k] >= nObs || (k > 0 && rows[k] <= rows[k - 1]) {
            throw InputError(file: path, field: "X",
                             "row list must be strictly increasing within 0..<\(nObs) (entry \(k) is \(rows[k]))")
        }
        switch header.layout {
        case .csr:
            let (p, i, v) = try sparse!.readMajorList(rows)
            return makeCSR(rows: rows.count, cols: nVars, indptr: p, indices: i, values: v)
        case .csc:
            return try readX().selectingRows(rows)
        case .dense:
            var runs: [Range<Int>] = []
            for r in rows {
                if let last = runs.last, last.upperBound == r { runs[runs.count - 1] = last.lowerBound..<(r + 1) }
                else { runs.append(r..<(r + 1)) }
            }
            return try denseToCSR(runs: runs, rows: rows.count)
        }
    }

    /// The rows of X in `rows` (strictly increasing) in the order `order`: output row r is
    /// `rows[order[r]]`. A CSR X is read straight into that order through bounded buffers (peak:
    /// the result plus a few MiB, what lets a rank read 10⁸ entries in its local row order);
    /// CSC and dense X are read in `rows` order and then reordered.
    public func readX(rows: [Int], order: [Int]) throws -> CSRMatrix {
        try checkOrder(order, rows: rows.count)
        switch header.layout {
        case .csr:
            let (p, i, v) = try sparse!.readMajorList(rows, order: order)
            return makeCSR(rows: rows.count, cols: nVars, indptr: p, indices: i, values: v)
        case .csc, .dense:
            return try readX(rows: rows).selectingRows(order)
        }
    }

    /// `readX(rows:order:)` with 16-bit column indices when the genes fit
    /// (`GeneMatrix.usesNarrowIndices`): a CSR X's stored indices go straight from the bounded read
    /// buffers into 16-bit storage (no 32-bit copy of the rows at any point); CSC and dense X are
    /// read with 32-bit indices (narrowing them after reading would hold both widths at once).
    public func readGenes(rows: [Int], order: [Int]) throws -> GeneMatrix {
        guard readsNarrowIndices else { return .wide(try readX(rows: rows, order: order)) }
        try checkOrder(order, rows: rows.count)
        let (p, i, v) = try sparse!.readMajorList(rows, order: order, indexType: UInt16.self)
        return .narrow(makeCSR(rows: rows.count, cols: nVars, indptr: p, indices: i, values: v))
    }

    /// Whether `readGenes` reads 16-bit indices: a CSR X whose genes fit.
    public var readsNarrowIndices: Bool { header.layout == .csr && GeneMatrix.usesNarrowIndices(cols: nVars) }
    /// Whether `readX(rows:order:)` reads straight into the given order (a CSR X) rather than
    /// reading, then reordering (CSC or dense: two copies of the rows at once).
    public var readsRowsInOrder: Bool { header.layout == .csr }

    /// Throws unless `order` is a permutation of 0..<rows.
    func checkOrder(_ order: [Int], rows: Int) throws {
        guard order.count == rows, Set(order).count == order.count, order.allSatisfy({ $0 >= 0 && $0 < rows }) else {
            throw InputError(file: path, field: "X", "row order must be a permutation of the \(rows) rows asked for")
        }
    }

    /// The rows `runs` (sorted, disjoint; `rows` in all) of a dense X as CSR, read in blocks and
    /// checked finite and non-negative.
    func denseToCSR(runs: [Range<Int>], rows: Int) throws -> CSRMatrix {
        let cols = nVars
        var ptr = [Int](repeating: 0, count: rows + 1)
        var idx: [Int32] = [], val: [Float] = []
        var out = 0   // output rows completed
        try forEachDenseBlock(rows: runs) { row, nRows, columns, v in
            let w = columns.count
            for i in 0..<nRows {
                for j in 0..<w {
                    let x = v[i &* w &+ j]
                    if !(x >= 0 && x.isFinite) {
                        throw InputError(file: path, field: "X",
                                         "\(x.isFinite ? "negative" : "non-finite") value \(x) at row \(row + i), column \(columns.lowerBound + j); expression must be finite and ≥ 0")
                    }
                    if x != 0 { idx.append(Int32(columns.lowerBound &+ j)); val.append(x) }
                }
                if columns.upperBound == cols { out += 1; ptr[out] = idx.count }
            }
        }
        return CSRMatrix(rows: rows, cols: cols, indptr: ptr, indices: idx, values: val)
    }

    // MARK: - Whole file

    /// Reads obs, var, coordinates and (when `includeX`) X into an `AnnData`.
    public func read(includeX: Bool = true) throws -> AnnData {
        let obs = try obs()
        let vars = try vars()
        let sp = try spatial()
        let x = includeX ? try readX() : nil
        return AnnData(obs: obs, vars: vars, spatial: sp, X: x, xIsInteger: header.isInteger)
    }

    /// Reads a whole `.h5ad` file.
    public static func read(path: String, includeX: Bool = true) throws -> AnnData {
        try AnnDataReader(path: path).read(includeX: includeX)
    }
}
