import STCore

/// One column of an AnnData `obs` or `var` dataframe, in the encodings anndata writes.
///
/// Missing values: a categorical code of -1 is NaN (pandas' convention); a `numeric` NaN is
/// missing; nullable integer/boolean columns carry an explicit `missing` mask (true = NA).
/// anndata's `nullable-string-array` (pandas `string` dtype) is read as a categorical column
/// whose missing entries have code -1, so that missing labels stay missing.
public enum ObsColumn: Equatable, Sendable {
    /// pandas `Categorical`: `codes[i]` indexes `categories`, -1 = NaN.
    case categorical(codes: [Int32], categories: [String], ordered: Bool)
    /// Strings (object dtype).
    case string([String])
    /// Floating-point numbers (NaN = missing).
    case numeric([Double])
    /// Integers (int8…int64 and unsigned types are widened to Int64).
    case integer([Int64])
    /// Booleans.
    case boolean([Bool])
    /// pandas `Int64` (nullable integer): `missing[i]` true where the value is NA.
    case nullableInteger(values: [Int64], missing: [Bool])
    /// pandas `boolean` (nullable boolean): `missing[i]` true where the value is NA.
    case nullableBoolean(values: [Bool], missing: [Bool])

    /// The number of rows.
    public var count: Int {
        switch self {
        case .categorical(let c, _, _): return c.count
        case .string(let v): return v.count
        case .numeric(let v): return v.count
        case .integer(let v): return v.count
        case .boolean(let v): return v.count
        case .nullableInteger(let v, _): return v.count
        case .nullableBoolean(let v, _): return v.count
        }
    }

    /// Each row as a label string, nil where missing (categorical -1, numeric NaN, masked NA).
    ///
    /// Numbers print as Swift does (`3`, `2.5`); use this for ground-truth labels when scoring.
    public func labels() -> [String?] {
        switch self {
        case .categorical(let codes, let cats, _):
            return codes.map { $0 >= 0 && Int($0) < cats.count ? cats[Int($0)] : nil }
        case .string(let v): return v.map { Optional($0) }
        case .numeric(let v): return v.map { $0.isNaN ? nil : Self.format($0) }
        case .integer(let v): return v.map { String($0) }
        case .boolean(let v): return v.map { $0 ? "True" : "False" }
        case .nullableInteger(let v, let m): return zip(v, m).map { $1 ? nil : String($0) }
        case .nullableBoolean(let v, let m): return zip(v, m).map { $1 ? nil : ($0 ? "True" : "False") }
        }
    }

    /// The column restricted to `rows` (in the given order).
    public func selecting(rows: [Int]) -> ObsColumn {
        switch self {
        case .categorical(let c, let cats, let o): return .categorical(codes: rows.map { c[$0] }, categories: cats, ordered: o)
        case .string(let v): return .string(rows.map { v[$0] })
        case .numeric(let v): return .numeric(rows.map { v[$0] })
        case .integer(let v): return .integer(rows.map { v[$0] })
        case .boolean(let v): return .boolean(rows.map { v[$0] })
        case .nullableInteger(let v, let m): return .nullableInteger(values: rows.map { v[$0] }, missing: rows.map { m[$0] })
        case .nullableBoolean(let v, let m): return .nullableBoolean(values: rows.map { v[$0] }, missing: rows.map { m[$0] })
        }
    }

    /// A categorical column from per-row labels (nil = missing); categories in first-seen order
    /// unless `categories` is given (labels not in it become missing).
    public static func categorical(labels: [String?], categories: [String]? = nil) -> ObsColumn {
        var cats = categories ?? []
        var lookup: [String: Int32] = [:]
        for (k, c) in cats.enumerated() { lookup[c] = Int32(k) }
        var codes = [Int32](repeating: -1, count: labels.count)
        for (i, l) in labels.enumerated() {
            guard let l else { continue }
            if let c = lookup[l] { codes[i] = c; continue }
            if categories != nil { continue }
            let c = Int32(cats.count)
            cats.append(l); lookup[l] = c; codes[i] = c
        }
        return .categorical(codes: codes, categories: cats, ordered: false)
    }

    static func format(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return String(x)
    }
}

/// An AnnData dataframe (`obs` or `var`): an index of row names and ordered, named columns.
public struct DataFrame: Equatable, Sendable {
    /// Row names (`obs_names` / `var_names`).
    public var index: [String]
    /// Column names in order (anndata's `column-order`).
    public private(set) var columnNames: [String]
    /// Columns by name.
    public private(set) var columns: [String: ObsColumn]
    /// Columns present in the file that this reader does not understand (skipped, not fatal).
    public var skippedColumns: [String]

    /// A dataframe with the given row names and no columns.
    public init(index: [String]) {
        self.index = index
        self.columnNames = []
        self.columns = [:]
        self.skippedColumns = []
    }

    /// The number of rows.
    public var count: Int { index.count }

    /// The column named `name`, if any.
    public subscript(name: String) -> ObsColumn? { columns[name] }

    /// Adds a column at the end, or replaces the column of the same name in place.
    /// The column must have one value per row.
    public mutating func set(_ name: String, _ column: ObsColumn) {
        precondition(column.count == index.count,
                     "DataFrame.set(\(name)): \(column.count) values for \(index.count) rows")
        if columns[name] == nil { columnNames.append(name) }
        columns[name] = column
    }

    /// Removes a column (no-op when absent).
    public mutating func remove(_ name: String) {
        guard columns.removeValue(forKey: name) != nil else { return }
        columnNames.removeAll { $0 == name }
    }

    /// The dataframe restricted to `rows` (in the given order).
    public func selecting(rows: [Int]) -> DataFrame {
        var out = DataFrame(index: rows.map { index[$0] })
        for n in columnNames { out.set(n, columns[n]!.selecting(rows: rows)) }
        out.skippedColumns = skippedColumns
        return out
    }
}

/// A dense array stored in `obsm` (rows = spots).
public enum ObsmArray: Equatable, Sendable {
    /// Written as float32.
    case float32(Matrix)
    /// Written as float64.
    case float64(Matrix64)

    /// The number of rows.
    public var rows: Int {
        switch self { case .float32(let m): return m.rows; case .float64(let m): return m.rows }
    }

    /// The number of columns.
    public var cols: Int {
        switch self { case .float32(let m): return m.cols; case .float64(let m): return m.cols }
    }
}

/// An in-memory AnnData: what the trainer needs from an `.h5ad` (or a 10x `.h5` plus positions).
///
/// `spatial` is `obsm["spatial"]` as N×2 row-major float64 (x, y). `X` is nil when only the
/// metadata was read. `obsm` holds further arrays to write (the reader leaves it empty).
public struct AnnData: Equatable, Sendable {
    /// The `obs` dataframe; its index holds the observation (spot/cell) names.
    public var obs: DataFrame
    /// The `var` dataframe; its index holds the variable (gene) names.
    public var vars: DataFrame
    /// N×2 row-major coordinates (`obsm["spatial"]`): x at `2i`, y at `2i+1`.
    public var spatial: [Double]
    /// The expression matrix (N × nVars), or nil when not read.
    public var X: CSRMatrix?
    /// Whether X holds integers in the file (counts); the generic writer then writes integers.
    public var xIsInteger: Bool
    /// Further `obsm` arrays (besides `spatial`), written by `AnnDataWriter`.
    public var obsm: [String: ObsmArray]

    /// An AnnData from its parts (no consistency checks; `AnnDataWriter` checks before writing).
    public init(obs: DataFrame, vars: DataFrame, spatial: [Double], X: CSRMatrix?,
                xIsInteger: Bool = false, obsm: [String: ObsmArray] = [:]) {
        self.obs = obs
        self.vars = vars
        self.spatial = spatial
        self.X = X
        self.xIsInteger = xIsInteger
        self.obsm = obsm
    }

    /// The number of observations (rows of X).
    public var nObs: Int { obs.count }
    /// The number of variables (columns of X).
    public var nVars: Int { vars.count }
    /// Observation names (`obs_names`).
    public var obsNames: [String] { obs.index }
    /// Variable names (`var_names`).
    public var varNames: [String] { vars.index }

    /// The AnnData restricted to `rows` (in the given order), X included when present.
    public func selecting(rows: [Int]) -> AnnData {
        var sp = [Double](); sp.reserveCapacity(rows.count * 2)
        if spatial.count == 2 * nObs { for r in rows { sp.append(spatial[2 * r]); sp.append(spatial[2 * r + 1]) } }
        var om: [String: ObsmArray] = [:]
        for (k, v) in obsm {
            switch v {
            case .float32(let m):
                var d = [Float](); d.reserveCapacity(rows.count * m.cols)
                for r in rows { d.append(contentsOf: m.data[(r * m.cols)..<((r + 1) * m.cols)]) }
                om[k] = .float32(Matrix(rows: rows.count, cols: m.cols, data: d))
            case .float64(let m):
                var d = [Double](); d.reserveCapacity(rows.count * m.cols)
                for r in rows { d.append(contentsOf: m.data[(r * m.cols)..<((r + 1) * m.cols)]) }
                om[k] = .float64(Matrix64(rows: rows.count, cols: m.cols, data: d))
            }
        }
        return AnnData(obs: obs.selecting(rows: rows), vars: vars, spatial: sp,
                       X: X?.selectingRows(rows), xIsInteger: xIsInteger, obsm: om)
    }
}
