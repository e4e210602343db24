import STCore

/// Writes the trainer's output, `result.h5ad`, readable by `anndata.read_h5ad` / scanpy.
///
/// Contents: the input's `obs` (every column; categoricals stay categorical) and obs names,
/// `obsm["spatial"]`, `obsm["latent"]` (Z, N×d float32), optionally `obsm["emb"]` (GraphST's
/// output embedding) and `obs["domain"]` (categorical), and `uns` strings (e.g. the run's
/// configuration). There is no X and `var` is empty (N × 0), which anndata accepts.
public enum ResultWriter {
    /// Writes `result.h5ad` at `path` atomically (temporary file, then rename).
    ///
    /// - `domains`: one cluster label per spot (e.g. mclust's 1…K; negative = unassigned/NaN),
    ///   stored as `obs["domain"]` with categories the distinct labels in increasing order.
    /// - `extraObsm`: further N-row arrays to store (e.g. "pca").
    public static func write(to path: String, obs: DataFrame, spatial: [Double], latent: Matrix,
                             embedding: Matrix? = nil, domains: [Int]? = nil,
                             extraObsm: [String: ObsmArray] = [:], uns: [String: String] = [:],
                             compression: Int? = 4) throws {
        let n = obs.count
        guard latent.rows == n else {
            throw InputError(file: path, field: "obsm/latent", "has \(latent.rows) rows, expected \(n)")
        }
        if let e = embedding, e.rows != n {
            throw InputError(file: path, field: "obsm/emb", "has \(e.rows) rows, expected \(n)")
        }
        var frame = obs
        if let domains {
            guard domains.count == n else {
                throw InputError(file: path, field: "obs/domain", "has \(domains.count) labels, expected \(n)")
            }
            frame.set("domain", domainColumn(domains))
        }
        var obsm = extraObsm
        obsm["latent"] = .float32(latent)
        if let e = embedding { obsm["emb"] = .float32(e) }
        let a = AnnData(obs: frame, vars: DataFrame(index: []), spatial: spatial, X: nil, obsm: obsm)
        try AnnDataWriter.write(a, to: path, uns: uns, compression: compression)
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
    /// GraphST's output embedding, when stored.
    public var embedding: Matrix?
    /// `uns` strings.
    public var uns: [String: String]

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
        if f.exists("obsm/spatial") {
            let s = try f.shape("obsm/spatial")
            guard s == [n, 2] else { throw InputError(file: path, field: "obsm/spatial", "has shape \(s), expected [\(n), 2]") }
            spatial = try f.read("obsm/spatial")
        } else {
            spatial = []
        }
        uns = [:]
        if f.isGroup("uns") {
            for k in try f.members("uns") where f.isDataset("uns/" + k) {
                if case .string = try f.elementClass("uns/" + k), try f.shape("uns/" + k) == [] {
                    uns[k] = try f.readStrings("uns/" + k).first
                }
            }
        }
    }

    /// The domain label of each spot (nil where unassigned), when clustering ran.
    public var domains: [String?]? { obs["domain"]?.labels() }
}
