import STCore

/// A sparse matrix in coordinate form as the reference fixtures store graphs (row-major sorted).
public struct FixtureCOO: Equatable, Sendable {
    /// Row index of each entry.
    public var row: [Int]
    /// Column index of each entry.
    public var col: [Int]
    /// Value of each entry (1 for unweighted graphs such as the kNN and mask edges).
    public var val: [Float]

    /// The number of entries.
    public var count: Int { row.count }

    /// The n × n CSR matrix of these entries (duplicates summed, rows sorted).
    public func csr(size n: Int) -> CSRMatrix {
        CSRMatrix(rows: n, cols: n, row: row, col: col, val: val)
    }
}

/// The GraphST parameters as the fixtures store them: W1 (G×d), W2 (d×G), Wb (d×d), b.
public struct FixtureParameters: Equatable, Sendable {
    /// Encoder weight (G×d).
    public var W1: Matrix
    /// Decoder weight (d×G).
    public var W2: Matrix
    /// Bilinear discriminator weight (d×d).
    public var Wb: Matrix
    /// Bilinear discriminator bias.
    public var b: Float
}

/// Per-epoch losses recorded by a model fixture (each computed before that epoch's step).
public struct FixtureLosses: Equatable, Sendable {
    /// alpha·feat + beta·(sl1 + sl2).
    public var total: [Double]
    /// Mean squared reconstruction error over N·G.
    public var feat: [Double]
    /// BCE-with-logits of `ret`, mean over 2N.
    public var sl1: [Double]
    /// BCE-with-logits of `ret_a`, mean over 2N.
    public var sl2: [Double]
}

/// A `model` reference fixture: GraphST run on one dataset (see shared/reference/README.md).
public struct ModelFixture: Sendable {
    /// The fixture file.
    public var path: String
    /// The dataset file it was made from (in shared/data).
    public var dataset: String
    /// The producing software and versions.
    public var source: String
    /// "10x" or "kipf".
    public var normalisation: String
    /// Weight of the reconstruction loss.
    public var alpha: Double
    /// Weight of the contrastive losses.
    public var beta: Double
    /// Adam learning rate.
    public var lr: Double
    /// Number of epochs E.
    public var epochs: Int
    /// GraphST's seed.
    public var seed: Int
    /// Spots N.
    public var nSpots: Int
    /// Genes G (HVGs).
    public var nGenes: Int
    /// Latent width d.
    public var dim: Int
    /// Nearest neighbours per spot.
    public var k: Int
    /// N×2 row-major coordinates.
    public var spatial: [Double]
    /// The G HVGs in column order.
    public var geneNames: [String]
    /// The preprocessed N×G features GraphST trained on.
    public var X: CSRMatrix
    /// Directed kNN edges (i → its k nearest), value 1.
    public var knn: FixtureCOO
    /// The normalised adjacency Â.
    public var adj: FixtureCOO
    /// The readout mask M = kNN + I, value 1.
    public var mask: FixtureCOO
    /// Initial parameters.
    public var initial: FixtureParameters
    /// `perm[e][i]`: row i of epoch e's corrupted features is row `perm[e][i]` of X.
    public var perm: [[Int32]]
    /// Gradients of the total loss at epoch 0.
    public var grad0: FixtureParameters
    /// Losses per epoch.
    public var loss: FixtureLosses
    /// Parameters after `epochs` Adam steps.
    public var after: FixtureParameters
    /// Spots whose final Z and H rows are recorded.
    public var afterRows: [Int]
    /// Z of `afterRows` (rows × d) from a final forward pass with `after`.
    public var afterZRows: Matrix
    /// H of `afterRows` (rows × G).
    public var afterHRows: Matrix

    /// Reads a `model` fixture.
    public init(path: String) throws {
        let r = try FixtureFile(path: path, kind: .model)
        let f = r.file
        self.path = path
        dataset = try f.stringAttribute("/", "dataset")
        source = try f.stringAttribute("/", "source")
        normalisation = try f.stringAttribute("/", "normalisation")
        alpha = try f.scalarAttribute("/", "alpha")
        beta = try f.scalarAttribute("/", "beta")
        lr = try f.scalarAttribute("/", "lr")
        epochs = Int(try f.scalarAttribute("/", "epochs", as: Int64.self))
        seed = Int(try f.scalarAttribute("/", "seed", as: Int64.self))
        nSpots = Int(try f.scalarAttribute("/", "n_spots", as: Int64.self))
        nGenes = Int(try f.scalarAttribute("/", "n_genes", as: Int64.self))
        dim = Int(try f.scalarAttribute("/", "dim", as: Int64.self))
        k = Int(try f.scalarAttribute("/", "k", as: Int64.self))
        spatial = try r.matrix64("spatial", rows: nSpots, cols: 2).data
        geneNames = try f.readStrings("gene_names")
        X = try r.csr("X", rows: nSpots, cols: nGenes)
        knn = try r.coo("graph/knn", values: false, n: nSpots)
        adj = try r.coo("graph/adj", values: true, n: nSpots)
        mask = try r.coo("graph/mask", values: false, n: nSpots)
        initial = try r.parameters("init", genes: nGenes, dim: dim)
        grad0 = try r.parameters("grad0", genes: nGenes, dim: dim)
        after = try r.parameters("after", genes: nGenes, dim: dim)
        let p: [Int32] = try f.read("perm")
        guard try f.shape("perm") == [epochs, nSpots] else {
            throw InputError(file: path, field: "perm", "has shape \(try f.shape("perm")), expected [\(epochs), \(nSpots)]")
        }
        let (e, n) = (epochs, nSpots)
        perm = (0..<e).map { Array(p[($0 * n)..<(($0 + 1) * n)]) }
        loss = FixtureLosses(total: try r.vector("loss/total", count: epochs),
                             feat: try r.vector("loss/feat", count: epochs),
                             sl1: try r.vector("loss/sl_1", count: epochs),
                             sl2: try r.vector("loss/sl_2", count: epochs))
        afterRows = (try f.read("after/rows", as: Int64.self)).map { Int($0) }
        afterZRows = try r.matrix("after/Z_rows", rows: afterRows.count, cols: dim)
        afterHRows = try r.matrix("after/H_rows", rows: afterRows.count, cols: nGenes)
    }
}

/// A `prep` reference fixture: scanpy's seurat_v3 HVG selection and preprocessing.
public struct PrepFixture: Sendable {
    /// The fixture file.
    public var path: String
    /// The dataset file it was made from.
    public var dataset: String
    /// Number of HVGs selected.
    public var nTopGenes: Int
    /// normalize_total's target sum.
    public var targetSum: Double
    /// scale's clipping value.
    public var maxValue: Double
    /// Raw counts, all genes (N × G_all).
    public var counts: CSRMatrix
    /// Names of all genes.
    public var geneNames: [String]
    /// Per gene (all genes): mean of counts.
    public var means: [Double]
    /// Per gene: variance of counts (ddof 1).
    public var variances: [Double]
    /// Per gene: normalised (clipped, standardised) variance.
    public var variancesNorm: [Double]
    /// Per gene: rank among the selected genes (0-based), -1 where not ranked.
    public var highlyVariableRank: [Double]
    /// Per gene: selected.
    public var highlyVariable: [Bool]
    /// The selected genes after normalize_total, log1p and scale (N × nTopGenes).
    public var X: CSRMatrix
    /// Names of the selected genes, in X's column order.
    public var hvgNames: [String]

    /// Reads a `prep` fixture.
    public init(path: String) throws {
        let r = try FixtureFile(path: path, kind: .prep)
        let f = r.file
        self.path = path
        dataset = try f.stringAttribute("/", "dataset")
        nTopGenes = Int(try f.scalarAttribute("/", "n_top_genes", as: Int64.self))
        targetSum = try f.scalarAttribute("/", "target_sum")
        maxValue = try f.scalarAttribute("/", "max_value")
        geneNames = try f.readStrings("gene_names")
        hvgNames = try f.readStrings("hvg_names")
        let countsShape: [Int64] = try f.attribute("counts", "shape")
        guard countsShape.count == 2 else { throw InputError(file: path, field: "counts.attrs[shape]", "expected 2 sizes") }
        counts = try r.csr("counts", rows: Int(countsShape[0]), cols: Int(countsShape[1]))
        let g = counts.cols
        guard geneNames.count == g else {
            throw InputError(file: path, field: "gene_names", "has \(geneNames.count) names, counts has \(g) columns")
        }
        means = try r.vector("hvg/means", count: g)
        variances = try r.vector("hvg/variances", count: g)
        variancesNorm = try r.vector("hvg/variances_norm", count: g)
        highlyVariableRank = try r.vector("hvg/highly_variable_rank", count: g)
        highlyVariable = (try f.read("hvg/highly_variable", as: Int8.self)).map { $0 != 0 }
        guard highlyVariable.count == g else {
            throw InputError(file: path, field: "hvg/highly_variable", "has \(highlyVariable.count) values, expected \(g)")
        }
        X = try r.csr("X", rows: counts.rows, cols: hvgNames.count)
    }
}

/// A `gmm` reference fixture: mclust EEE on PCA-20 of the preprocessed DLPFC matrix.
public struct GMMFixture: Sendable {
    /// The fixture file.
    public var path: String
    /// The dataset file it was made from.
    public var dataset: String
    /// Number of mixture components G.
    public var clusters: Int
    /// Final log-likelihood.
    public var loglik: Double
    /// mclust's BIC (2·loglik − params·log N).
    public var bic: Double
    /// N×20 input.
    public var pcs: Matrix64
    /// 1-based component of each spot (checked to lie in 1...clusters).
    public var labels: [Int]
    /// Mixing proportions (G).
    public var pro: [Double]
    /// Component means (G × 20).
    public var mean: Matrix64
    /// The shared covariance (20 × 20).
    public var sigma: Matrix64
    /// Ground-truth labels, nil where unlabelled ("nan" in the file).
    public var truth: [String?]

    /// Reads a `gmm` fixture.
    public init(path: String) throws {
        let r = try FixtureFile(path: path, kind: .gmm)
        let f = r.file
        self.path = path
        dataset = try f.stringAttribute("/", "dataset")
        clusters = Int(try f.scalarAttribute("/", "clusters", as: Int64.self))
        loglik = try f.scalarAttribute("/", "loglik")
        bic = try f.scalarAttribute("/", "bic")
        let ps = try f.shape("pcs")
        guard ps.count == 2 else { throw InputError(file: path, field: "pcs", "expected a 2-D array, found \(ps)") }
        pcs = try r.matrix64("pcs", rows: ps[0], cols: ps[1])
        labels = (try f.read("labels", as: Int64.self)).map { Int($0) }
        pro = try r.vector("pro", count: clusters)
        mean = try r.matrix64("mean", rows: clusters, cols: ps[1])
        sigma = try r.matrix64("sigma", rows: ps[1], cols: ps[1])
        truth = (try f.readStrings("truth")).map { $0 == "nan" ? nil : $0 }
        guard labels.count == ps[0], truth.count == ps[0] else {
            throw InputError(file: path, field: "labels", "labels/truth lengths differ from pcs rows \(ps[0])")
        }
        if let bad = labels.first(where: { $0 < 1 || $0 > clusters }) {
            throw InputError(file: path, field: "labels", "contains \(bad); expected 1-based components 1...\(clusters)")
        }
        if let bad = pro.first(where: { !($0 >= 0 && $0 <= 1) }) {
            throw InputError(file: path, field: "pro", "contains \(bad); expected proportions in [0, 1]")
        }
    }
}

/// Any reference fixture, by its `kind` attribute.
public enum ReferenceFixture: Sendable {
    case model(ModelFixture)
    case prep(PrepFixture)
    case gmm(GMMFixture)

    /// The fixture kinds.
    public enum Kind: String, Sendable { case model, prep, gmm }

    /// The `kind` attribute of a fixture file (checks `format` and `version` first).
    public static func kind(of path: String) throws -> Kind {
        let f = try HDF5File(path: path)
        return try FixtureFile.checkHeader(f)
    }

    /// Reads a fixture of any kind.
    public static func load(path: String) throws -> ReferenceFixture {
        switch try kind(of: path) {
        case .model: return .model(try ModelFixture(path: path))
        case .prep: return .prep(try PrepFixture(path: path))
        case .gmm: return .gmm(try GMMFixture(path: path))
        }
    }
}

/// Shared reading helpers for fixture files, with shape checks naming the field.
struct FixtureFile {
    let file: HDF5File
    var path: String { file.path }

    init(path: String, kind: ReferenceFixture.Kind) throws {
        file = try HDF5File(path: path)
        let k = try Self.checkHeader(file)
        guard k == kind else {
            throw InputError(file: path, field: "attrs[kind]", "is '\(k.rawValue)', expected '\(kind.rawValue)'")
        }
    }

    static func checkHeader(_ f: HDF5File) throws -> ReferenceFixture.Kind {
        let format = f.hasAttribute("/", "format") ? try f.stringAttribute("/", "format") : "(none)"
        guard format == "stgnn-reference" else {
            throw InputError(file: f.path, field: "attrs[format]", "is '\(format)', expected 'stgnn-reference'")
        }
        let version = try f.scalarAttribute("/", "version", as: Int64.self)
        guard version == 1 else {
            throw InputError(file: f.path, field: "attrs[version]", "is \(version), this reader knows version 1")
        }
        let k = try f.stringAttribute("/", "kind")
        guard let kind = ReferenceFixture.Kind(rawValue: k) else {
            throw InputError(file: f.path, field: "attrs[kind]", "is '\(k)', expected model, prep or gmm")
        }
        return kind
    }

    func checkShape(_ name: String, _ expected: [Int]) throws {
        let s = try file.shape(name)
        guard s == expected else { throw InputError(file: path, field: name, "has shape \(s), expected \(expected)") }
    }

    func vector(_ name: String, count: Int) throws -> [Double] {
        try checkShape(name, [count])
        return try file.read(name)
    }

    func matrix(_ name: String, rows: Int, cols: Int) throws -> Matrix {
        try checkShape(name, [rows, cols])
        return Matrix(rows: rows, cols: cols, data: try file.read(name))
    }

    func matrix64(_ name: String, rows: Int, cols: Int) throws -> Matrix64 {
        try checkShape(name, [rows, cols])
        return Matrix64(rows: rows, cols: cols, data: try file.read(name))
    }

    func parameters(_ group: String, genes: Int, dim: Int) throws -> FixtureParameters {
        let b: [Float] = try file.read(group + "/b")
        guard b.count == 1 else { throw InputError(file: path, field: group + "/b", "expected one value") }
        return FixtureParameters(W1: try matrix(group + "/W1", rows: genes, cols: dim),
                                 W2: try matrix(group + "/W2", rows: dim, cols: genes),
                                 Wb: try matrix(group + "/Wb", rows: dim, cols: dim),
                                 b: b[0])
    }

    func coo(_ prefix: String, values: Bool, n: Int) throws -> FixtureCOO {
        let r: [Int64] = try file.read(prefix + "_row")
        let c: [Int64] = try file.read(prefix + "_col")
        guard r.count == c.count else { throw InputError(file: path, field: prefix + "_col", "length differs from \(prefix)_row") }
        if let bad = r.first(where: { $0 < 0 || $0 >= n }) ?? c.first(where: { $0 < 0 || $0 >= n }) {
            throw InputError(file: path, field: prefix + "_row/_col", "index \(bad) out of range 0..<\(n)")
        }
        var v = [Float](repeating: 1, count: r.count)
        if values {
            v = try file.read(prefix + "_val")
            guard v.count == r.count else { throw InputError(file: path, field: prefix + "_val", "length differs from \(prefix)_row") }
        }
        return FixtureCOO(row: r.map { Int($0) }, col: c.map { Int($0) }, val: v)
    }

    /// A CSR group with data/indices/indptr (attribute `shape` is checked when present).
    func csr(_ group: String, rows: Int, cols: Int) throws -> CSRMatrix {
        if file.hasAttribute(group, "shape") {
            let s: [Int64] = try file.attribute(group, "shape")
            guard s == [Int64(rows), Int64(cols)] else {
                throw InputError(file: path, field: group + ".attrs[shape]", "is \(s), expected [\(rows), \(cols)]")
            }
        }
        let src = try CompressedSparseSource(file: file, group: group, major: rows, minor: cols, majorName: "rows", minorName: "columns",
                                             shapeField: group + ".attrs[shape]")
        let (p, i, v) = try src.readAll()
        return makeCSR(rows: rows, cols: cols, indptr: p, indices: i, values: v)
    }
}
