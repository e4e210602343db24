import STCore

/// Writes the trainer's output, `result.h5ad`, readable by `anndata.read_h5ad` / scanpy.
///
/// Contents: the input's `obs` (every column; categoricals stay categorical) and obs names, plus
/// `obs["domain"]` (categorical) when clustering ran; `obsm["spatial"]`, `obsm["latent"]` (Z,
/// N×d float32) and any further `obsm` arrays (e.g. `emb_pca`, or GraphST's N×G `emb` streamed
/// block by block); `uns` values (the run's parameters and scores). There is no X and `var` is
/// empty (N × 0), which anndata accepts.
public enum ResultWriter {
    /// Writes `result.h5ad` at `path` atomically (temporary file, then rename).
    ///
    /// - `domains`: one cluster label per spot (1…K as mclust numbers them; negative = unassigned),
    ///   stored as `obs["domain"]` with the distinct labels as categories in increasing order.
    /// - `extraObsm`: further N-row arrays to store (e.g. "emb_pca").
    /// - `streamed`: N-row arrays too large to hold, written block by block (e.g. "emb" = H).
    public static func write(to path: String, obs: DataFrame, spatial: [Double], latent: Matrix,
                             embedding: Matrix? = nil, domains: [Int]? = nil,
                             extraObsm: [String: ObsmArray] = [:], streamed: [AnnDataWriter.StreamedObsm] = [],
                             uns: [String: UnsValue] = [:], compression: Int? = 4) throws {
        guard latent.rows == obs.count else {
            throw InputError(file: path, field: "obsm/latent", "has \(latent.rows) rows, expected \(obs.count)")
        }
        if let e = embedding, e.rows != obs.count {
            throw InputError(file: path, field: "obsm/emb", "has \(e.rows) rows, expected \(obs.count)")
        }
        var obsm = extraObsm
        obsm["latent"] = .float32(latent)
        if let e = embedding { obsm["emb"] = .float32(e) }
        try write(to: path, obs: obs, spatial: spatial, domains: domains, obsm: obsm, streamed: streamed,
                  uns: uns, compression: compression)
    }

    /// `write`, with any of the N-row arrays (Z among them, as `latent`) held (`obsm`) or produced
    /// block of rows by block (`streamed`), so that a distributed run's rank 0 never holds them.
    public static func write(to path: String, obs: DataFrame, spatial: [Double], domains: [Int]?,
                             obsm: [String: ObsmArray], streamed: [AnnDataWriter.StreamedObsm],
                             uns: [String: UnsValue] = [:], compression: Int? = 4) throws {
        let frame = try resultObs(obs, domains: domains, path: path)
        guard obsm["latent"] != nil || streamed.contains(where: { $0.key == "latent" }) else {
            throw InputError(file: path, field: "obsm/latent", "is missing (Z is the run's output)")
        }
        let a = AnnData(obs: frame, vars: DataFrame(index: []), spatial: spatial, X: nil, obsm: obsm)
        try AnnDataWriter.write(a, to: path, uns: uns, streamed: streamed, compression: compression)
    }

    /// The result's `obs`: the input's columns, then `domain` (replacing an input column of that
    /// name, which the caller is told about by `domainColumnCollides`).
    public static func resultObs(_ obs: DataFrame, domains: [Int]?, path: String) throws -> DataFrame {
        var frame = obs
        if let domains {
            guard domains.count == obs.count else {
                throw InputError(file: path, field: "obs/domain", "has \(domains.count) labels, expected \(obs.count)")
            }
            frame.set("domain", domainColumn(domains))
        }
        return frame
    }

    /// A categorical column of integer cluster labels (negative = missing), categories sorted.
    public static func domainColumn(_ labels: [Int]) -> ObsColumn {
        let cats = Array(Set(labels.filter { $0 >= 0 })).sorted()
        var code: [Int: Int32] = [:]
        for (k, c) in cats.enumerated() { code[c] = Int32(k) }
        return .categorical(codes: labels.map { $0 >= 0 ? code[$0]! : -1 },
                            categories: cats.map { String($0) }, ordered: false)
    }
}

/// A `result.h5ad` read back (by the CLI's evaluation, tests, or a later run).
public struct ResultFile: Sendable {
    /// The input's obs columns plus `domain` when clustering ran.
    public var obs: DataFrame
    /// N×2 row-major coordinates.
    public var spatial: [Double]
    /// Z (N×d).
    public var latent: Matrix
    /// GraphST's output embedding H (N×G), when stored (`--write-reconstruction`).
    public var embedding: Matrix?
    /// PCA of the clustered embedding (N×pcs), when clustering ran.
    public var embeddingPCA: Matrix?
    /// `uns`, as written (nested dictionaries of scalars and arrays).
    public var uns: [String: UnsValue]

    /// Reads a result file written by `ResultWriter`.
    public init(path: String) throws {
        let f = try HDF5File(path: path)
        obs = try f.readDataFrame("obs")
        let n = obs.count
        func dense(_ name: String) throws -> Matrix {
            let s = try f.shape(name)
            guard s.count == 2, s[0] == n else {
                throw InputError(file: path, field: name, "has shape \(s), expected \(n) rows")
            }
            return Matrix(rows: s[0], cols: s[1], data: try f.read(name))
        }
        latent = try dense("obsm/latent")
        embedding = f.exists("obsm/emb") ? try dense("obsm/emb") : nil
        embeddingPCA = f.exists("obsm/emb_pca") ? try dense("obsm/emb_pca") : nil
        if f.exists("obsm/spatial") {
            let s = try f.shape("obsm/spatial")
            guard s == [n, 2] else { throw InputError(file: path, field: "obsm/spatial", "has shape \(s), expected [\(n), 2]") }
            spatial = try f.read("obsm/spatial")
        } else {
            spatial = []
        }
        uns = [:]
        if f.isGroup("uns"), case .dict(let d)? = try Self.readUns(f, "uns") { uns = d }
    }

    /// Reads an `uns` entry written in anndata's encodings (unknown kinds are skipped).
    static func readUns(_ f: HDF5File, _ name: String) throws -> UnsValue? {
        if f.isGroup(name) {
            var d = [String: UnsValue]()
            for k in try f.members(name) { if let v = try readUns(f, name + "/" + k) { d[k] = v } }
            return .dict(d)
        }
        guard f.isDataset(name) else { return nil }
        let shape = try f.shape(name)
        switch try f.elementClass(name) {
        case .string:
            let s = try f.readStrings(name)
            return shape.isEmpty ? s.first.map(UnsValue.string) : .strings(s)
        case .float:
            let v = try f.read(name, as: Double.self)
            return shape.isEmpty ? v.first.map(UnsValue.double) : .doubles(v)
        case .integer:
            let v = try f.read(name, as: Int64.self).map { Int($0) }
            return shape.isEmpty ? v.first.map(UnsValue.int) : .ints(v)
        case .enumeration(isBool: true):
            let v = try f.read(name, as: Int8.self)
            return shape.isEmpty ? v.first.map { .bool($0 != 0) } : nil
        default:
            return nil
        }
    }

    /// The domain label of each spot (nil where unassigned), when clustering ran.
    public var domains: [String?]? { obs["domain"]?.labels() }
}
