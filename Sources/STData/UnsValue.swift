import STCore

/// A value of AnnData's `uns` mapping: nested dictionaries of scalars and 1-D arrays, written in
/// anndata's ≥ 0.8 encodings so that `anndata.read_h5ad` returns plain Python values
/// (`dict`, `str`, numpy scalars, numpy arrays).
public indirect enum UnsValue: Equatable, Sendable {
    /// `encoding-type: string` (a scalar UTF-8 string dataset).
    case string(String)
    /// `encoding-type: numeric-scalar` (float64).
    case double(Double)
    /// `encoding-type: numeric-scalar` (int64).
    case int(Int)
    /// `encoding-type: numeric-scalar` (h5py's boolean enum).
    case bool(Bool)
    /// `encoding-type: array` (1-D float64).
    case doubles([Double])
    /// `encoding-type: array` (1-D int64).
    case ints([Int])
    /// `encoding-type: string-array`.
    case strings([String])
    /// `encoding-type: dict` (a group).
    case dict([String: UnsValue])
}

extension UnsValue: ExpressibleByStringLiteral, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByDictionaryLiteral, ExpressibleByStringInterpolation {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(dictionaryLiteral elements: (String, UnsValue)...) {
        self = .dict(Dictionary(elements, uniquingKeysWith: { _, b in b }))
    }
}

extension AnnDataWriter {
    /// Writes `value` at `name` (a path under `uns`) with anndata's encoding attributes.
    static func writeUns(_ w: HDF5Writer, _ name: String, _ value: UnsValue) throws {
        switch value {
        case .string(let s):
            try w.writeString(name, s)
            try setArrayEncoding(w, name, "string")
        case .double(let x):
            try w.writeScalar(name, x)
            try setArrayEncoding(w, name, "numeric-scalar")
        case .int(let x):
            try w.writeScalar(name, Int64(x))
            try setArrayEncoding(w, name, "numeric-scalar")
        case .bool(let b):
            try w.writeScalar(name, bool: b)
            try setArrayEncoding(w, name, "numeric-scalar")
        case .doubles(let v):
            try w.write(name, v)
            try setArrayEncoding(w, name)
        case .ints(let v):
            try w.write(name, v.map(Int64.init))
            try setArrayEncoding(w, name)
        case .strings(let v):
            try w.writeStrings(name, v)
            try setArrayEncoding(w, name, "string-array")
        case .dict(let d):
            try writeDict(w, name)
            for key in d.keys.sorted() {
                try checkUnsKey(key, under: name, path: w.path)
                try writeUns(w, name + "/" + key, d[key]!)
            }
        }
    }

    static func checkUnsKey(_ key: String, under parent: String, path: String) throws {
        if key.isEmpty || key.contains("/") {
            throw InputError(file: path, field: parent + "/" + key, "key is empty or contains '/', which an .h5ad cannot store")
        }
    }
}
