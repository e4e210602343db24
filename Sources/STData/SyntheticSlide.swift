import STCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A deterministic built-in spatial-transcriptomics slide: a Visium-like hexagonal array over a
/// tissue of curved, tilted layers (like cortical layers), each with its own marker genes, with
/// overdispersed UMI counts. Used when the user gives no input, and by tests and benchmarks.
///
/// Generative model (all randomness from `Xoshiro256` streams of `RandomStream.synthetic`):
/// 1. **Array.** N spots on a hexagonal lattice of pitch s = `spacing` (100 µm, the Visium
///    centre-to-centre distance): lattice row r has y = r·s·√3/2 and x = (c + ½·(r mod 2))·s, the
///    array is C = ⌈√(N·√3/2)⌉ columns wide (a roughly square section), filled row by row and cut
///    at N spots. Interior spots have six equidistant neighbours (up to float rounding).
/// 2. **Layers.** A depth t = v + a·sin(2πu/λ + φ) over coordinates (u, v) rotated by a tilt
///    θ ~ U(10°, 30°), with amplitude a = 0.12·(extent of v), wavelength λ = 1.3·(extent of u),
///    phase φ ~ U(0, 2π). Layer thicknesses w_k ~ U(0.5, 1.5) (k = 1…K), normalised; spots ranked
///    by (t, index) fill the layers in order, layer k taking the next ≈ N·w_k/Σw spots (at least
///    one, so every domain is non-empty whenever N ≥ K). Layer boundaries are thus level curves
///    of t: smooth, curved, tilted bands.
/// 3. **Genes.** Baseline abundance b_g = exp(z_g), z_g ~ N(0, 1). Each domain k owns
///    `markersPerDomain` marker genes (disjoint sets, drawn by a random permutation) with baseline
///    exp(0.5 + 0.5·z_g) and fold change f_g ~ U(3, 8) in domain k and √f_g in the adjacent layers
///    k ± 1 (expression fades across a layer boundary). Domain expression profile
///    p_kg = b_g·f_kg / Σ_g' b_g'·f_kg' (f_kg = 1 for a gene that is not marking k or a neighbour).
///    Gene dispersion φ_g ~ U(0.05, 0.5). Domain library-size factor ρ_k ~ U(0.7, 1.3).
/// 4. **Counts.** Spot i in domain k has library size L_i = L̄·ρ_k·exp(0.35·z_i − 0.35²/2),
///    z_i ~ N(0, 1) (L̄ = `meanLibrarySize`), and counts y_ig ~ NB(mean μ = L_i·p_kg,
///    dispersion φ_g), i.e. Poisson(Gamma(shape 1/φ_g, scale φ_g·μ)), variance μ + φ_g·μ²:
///    sampled by inversion of the NB distribution when μ < 10, else as the gamma–Poisson mixture
///    (Marsaglia–Tsang gamma, Hörmann's PTRS Poisson).
/// 5. A spot whose counts are all zero gets one count of its domain's most abundant gene, so
///    every spot has at least one count (as after the usual QC).
///
/// Streams: slide-level draws (tilt, layers, genes) come from stream `synthetic << 32`; spot i's
/// library size and counts from stream `(synthetic << 32) + 1 + i`. Any subset of spots (a rank's
/// owned rows) can therefore be generated alone, with the same values as in the whole slide
/// (`counts(rows:parameters:)`, or `Layout.counts(rows:)`, which keeps the slide-level state between
/// calls and never generates the other spots). Cost O(N·G) draws for the whole slide.
public struct SyntheticSlide: Sendable, Equatable {
    /// The knobs of the slide; equal parameters give a bitwise-equal slide.
    public struct Parameters: Sendable, Equatable, Hashable, Codable {
        /// Number of spots N.
        public var spots: Int
        /// Number of genes G.
        public var genes: Int
        /// Number of layered domains K.
        public var domains: Int
        /// Marker genes per domain (K·markersPerDomain ≤ G).
        public var markersPerDomain: Int
        /// Mean UMI count per spot L̄.
        public var meanLibrarySize: Double
        /// Lattice pitch (µm).
        public var spacing: Double
        /// Seed of the `RandomStream.synthetic` streams.
        public var seed: UInt64

        public init(spots: Int = 3000, genes: Int = 400, domains: Int = 5, markersPerDomain: Int = 20,
                    meanLibrarySize: Double = 2000, spacing: Double = 100, seed: UInt64 = 0) {
            self.spots = spots
            self.genes = genes
            self.domains = domains
            self.markersPerDomain = markersPerDomain
            self.meanLibrarySize = meanLibrarySize
            self.spacing = spacing
            self.seed = seed
        }

        /// Checks the parameters; the message names the offending one.
        public func validate() throws {
            func bad(_ field: String, _ message: String) -> InputError { InputError(field: field, message) }
            guard domains >= 1 else { throw bad("synthetic domains", "must be at least 1, got \(domains)") }
            guard spots >= domains else {
                throw bad("synthetic spots", "must be at least the number of domains (\(domains)), got \(spots)")
            }
            guard spots < Int(Int32.max) else { throw bad("synthetic spots", "must be below 2³¹, got \(spots)") }
            guard markersPerDomain >= 1 else {
                throw bad("synthetic markers per domain", "must be at least 1, got \(markersPerDomain)")
            }
            guard genes >= domains * markersPerDomain, genes < Int(Int32.max) else {
                throw bad("synthetic genes", "must be at least domains × markers per domain = \(domains * markersPerDomain) (and below 2³¹), got \(genes)")
            }
            guard meanLibrarySize.isFinite, meanLibrarySize > 0, meanLibrarySize < 1e7 else {
                throw bad("synthetic library size", "must be positive and below 10⁷, got \(meanLibrarySize)")
            }
            guard spacing.isFinite, spacing > 0 else { throw bad("synthetic spacing", "must be positive, got \(spacing)") }
        }
    }

    public let parameters: Parameters
    /// Raw counts (N×G), integer values stored as `Float`; every row has at least one count.
    public let counts: CSRMatrix
    /// Spot centres, N×2 row-major (x, y) in µm (`obsm["spatial"]`).
    public let coordinates: [Double]
    /// True domain (layer) of each spot, 0..<K (N).
    public let domains: [Int32]
    /// Domain labels "domain_1" … "domain_K" (K), for writing `domains` as a categorical column.
    public let domainNames: [String]
    /// Gene names "gene_0001" … (G), zero-padded to at least four digits.
    public let geneNames: [String]
    /// Spot names "spot_0001" … (N), zero-padded to at least four digits.
    public let spotNames: [String]
    /// Marker genes (column indices) of each domain (K × markersPerDomain), ascending.
    public let markerGenes: [[Int]]

    /// Generates the whole slide.
    ///
    /// - Throws: `InputError` for invalid parameters (see `Parameters.validate`).
    public init(_ parameters: Parameters = Parameters()) throws {
        let layout = try Layout(parameters)
        self.parameters = parameters
        self.coordinates = layout.coordinates
        self.domains = layout.domains
        self.markerGenes = layout.markerGenes
        self.counts = layout.model.counts(rows: Array(0..<parameters.spots))
        self.domainNames = layout.domainNames
        self.geneNames = layout.geneNames
        self.spotNames = layout.spotNames
    }

    /// The counts of the given spots only (any order, global indices 0..<N): the same rows as in
    /// `SyntheticSlide(parameters).counts`, without generating the others (a rank's owned spots).
    ///
    /// - Returns: rows.count × G counts.
    public static func counts(rows: [Int], parameters: Parameters) throws -> CSRMatrix {
        try parameters.validate()
        for r in rows where r < 0 || r >= parameters.spots {
            throw InputError(field: "synthetic spots", "row \(r) outside 0..<\(parameters.spots)")
        }
        return SyntheticModel(parameters).counts(rows: rows)
    }

    /// "prefix_0001" … "prefix_n", 1-based, zero-padded to max(4, digits of n).
    static func names(_ prefix: String, _ n: Int) -> [String] {
        let width = Swift.max(4, String(n).count)
        return (1...Swift.max(n, 1)).prefix(n).map { i in
            let s = String(i)
            return prefix + "_" + String(repeating: "0", count: width - s.count) + s
        }
    }
}

extension SyntheticSlide {
    /// A synthetic slide without its counts: the array, the domains, the names and the gene model,
    /// from which any subset of spots' counts is generated on demand (`counts(rows:)`), with the same
    /// values as in the whole `SyntheticSlide`.
    ///
    /// What a rank of a distributed run needs: every rank holds the coordinates (to partition and
    /// build the graph) but generates only its own rows of X. Cost O(N log N + K·G) time and O(N + K·G)
    /// memory, against O(N·G) draws and O(nnz) memory for the whole slide.
    public struct Layout: Sendable {
        let model: SyntheticModel

        /// Builds the layout (steps 1–3 of the generative model).
        ///
        /// - Throws: `InputError` for invalid parameters (see `Parameters.validate`).
        public init(_ parameters: Parameters) throws {
            try parameters.validate()
            model = SyntheticModel(parameters)
        }

        public var parameters: Parameters { model.p }
        /// Spot centres, N×2 row-major (x, y) in µm.
        public var coordinates: [Double] { model.coordinates }
        /// True domain of each spot, 0..<K (N).
        public var domains: [Int32] { model.domains }
        /// Marker genes of each domain (K × markersPerDomain), ascending.
        public var markerGenes: [[Int]] { model.markers }
        /// "domain_1" … "domain_K".
        public var domainNames: [String] { (1...parameters.domains).map { "domain_\($0)" } }
        /// "gene_0001" … (G).
        public var geneNames: [String] { SyntheticSlide.names("gene", parameters.genes) }
        /// "spot_0001" … (N), made on each call.
        public var spotNames: [String] { SyntheticSlide.names("spot", parameters.spots) }

        /// Counts of the given spots (any order, global indices 0..<N): rows.count × G, equal to
        /// those rows of `SyntheticSlide(parameters).counts`.
        public func counts(rows: [Int]) throws -> CSRMatrix {
            for r in rows where r < 0 || r >= parameters.spots {
                throw InputError(field: "synthetic spots", "row \(r) outside 0..<\(parameters.spots)")
            }
            return model.counts(rows: rows)
        }

        /// `counts(rows:)` with 16-bit column indices when the genes fit (`GeneMatrix`), generated
        /// straight into them.
        public func geneCounts(rows: [Int]) throws -> GeneMatrix {
            for r in rows where r < 0 || r >= parameters.spots {
                throw InputError(field: "synthetic spots", "row \(r) outside 0..<\(parameters.spots)")
            }
            return GeneMatrix.usesNarrowIndices(cols: parameters.genes)
                ? .narrow(model.counts(rows: rows, indexType: UInt16.self)) : .wide(model.counts(rows: rows))
        }

        /// The expected number of stored entries of each spot's row, without drawing its counts:
        /// for spot i in domain k with library size L_i (drawn exactly as `counts` draws it),
        /// E[nnz_i] = Σ_g P(y_ig > 0) = Σ_g 1 − (1 + L_i·p_kg/r_g)^(−r_g), at least 1 (every spot
        /// has a count). Σ_g is tabulated per domain on a grid of the library's normal deviate and
        /// interpolated, so the cost is O(N + K·G·71), not O(N·G). Realised nnz scatter around this
        /// by ±√(Σ_g P(1−P)) (on a 3000 × 200 slide: 1.5 % per row on average, 0.01 % over the
        /// slide): good enough to balance a partition by sparse work. (N)
        public func expectedRowNNZ() -> [Double] { model.expectedRowNNZ() }
    }
}

// MARK: - Model

/// The slide-level state of the generative model: layout, domains and per-domain gene profiles.
struct SyntheticModel {
    let p: SyntheticSlide.Parameters
    let coordinates: [Double]
    let domains: [Int32]
    let markers: [[Int]]
    /// Expression profile p_kg (K×G row-major), rows summing to 1.
    let profile: [Double]
    /// Per-gene NB shape r_g = 1/φ_g (G).
    let shape: [Double]
    /// Library factor ρ_k (K).
    let libraryFactor: [Double]
    /// Most abundant gene of each domain (K), for the at-least-one-count rule.
    let topGene: [Int]

    static func stream(_ sub: UInt64) -> UInt64 { RandomStream.synthetic.rawValue &<< 32 &+ sub }

    init(_ p: SyntheticSlide.Parameters) {
        self.p = p
        let n = p.spots, g = p.genes, k = p.domains
        var rng = Xoshiro256(seed: p.seed, stream: Self.stream(0))

        // 1. Hexagonal array.
        let cols = Swift.max(1, Int((Double(n) * 3.0.squareRoot() / 2).squareRoot().rounded(.up)))
        let rowPitch = p.spacing * 3.0.squareRoot() / 2
        var xy = [Double](repeating: 0, count: 2 * n)
        for i in 0..<n {
            let r = i / cols, c = i % cols
            xy[2 * i] = (Double(c) + (r % 2 == 1 ? 0.5 : 0)) * p.spacing
            xy[2 * i + 1] = Double(r) * rowPitch
        }
        coordinates = xy

        // 2. Layers: rank spots by depth t, cut into K bands of random thickness.
        let theta = (10 + 20 * rng.nextDouble()) * Double.pi / 180
        let phase = 2 * Double.pi * rng.nextDouble()
        var us = [Double](repeating: 0, count: n), vs = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let x = xy[2 * i], y = xy[2 * i + 1]
            us[i] = x * cos(theta) + y * sin(theta)
            vs[i] = -x * sin(theta) + y * cos(theta)
        }
        let uExtent = Swift.max((us.max() ?? 0) - (us.min() ?? 0), p.spacing)
        let vExtent = Swift.max((vs.max() ?? 0) - (vs.min() ?? 0), p.spacing)
        let amplitude = 0.12 * vExtent, wavelength = 1.3 * uExtent
        var depth = [Double](repeating: 0, count: n)
        for i in 0..<n { depth[i] = vs[i] + amplitude * sin(2 * Double.pi * us[i] / wavelength + phase) }
        let order = (0..<n).sorted { depth[$0] != depth[$1] ? depth[$0] < depth[$1] : $0 < $1 }
        var weights = (0..<k).map { _ in 0.5 + rng.nextDouble() }
        let wsum = weights.reduce(0, +)
        weights = weights.map { $0 / wsum }
        // Cut points: end[l] spots in layers 0...l, each layer ≥ 1 spot, last ends at N.
        var end = [Int](repeating: 0, count: k)
        var acc = 0.0
        for l in 0..<k {
            acc += weights[l]
            let ideal = Int((acc * Double(n)).rounded())
            let lo = (l == 0 ? 0 : end[l - 1]) + 1, hi = n - (k - 1 - l)
            end[l] = Swift.min(Swift.max(ideal, lo), hi)
        }
        end[k - 1] = n
        var dom = [Int32](repeating: 0, count: n)
        var layer = 0
        for (rank, i) in order.enumerated() {
            while rank >= end[layer] { layer += 1 }
            dom[i] = Int32(layer)
        }
        domains = dom

        // 3. Genes: baselines, markers, fold changes, dispersions, library factors.
        var base = (0..<g).map { _ in exp(Self.normal(&rng)) }
        var perm = Array(0..<g)
        for i in stride(from: g - 1, to: 0, by: -1) { perm.swapAt(i, Int(rng.below(UInt64(i + 1)))) }
        var fold = [Double](repeating: 1, count: k * g)   // K×G
        var mk = [[Int]]()
        for l in 0..<k {
            let genes = Array(perm[(l * p.markersPerDomain)..<((l + 1) * p.markersPerDomain)]).sorted()
            mk.append(genes)
            for gene in genes {
                base[gene] = exp(0.5 + 0.5 * Self.normal(&rng))
                let f = 3 + 5 * rng.nextDouble()
                fold[l * g + gene] = f
                if l > 0 { fold[(l - 1) * g + gene] = f.squareRoot() }
                if l + 1 < k { fold[(l + 1) * g + gene] = f.squareRoot() }
            }
        }
        markers = mk
        shape = (0..<g).map { _ in 1 / (0.05 + 0.45 * rng.nextDouble()) }
        libraryFactor = (0..<k).map { _ in 0.7 + 0.6 * rng.nextDouble() }
        var prof = [Double](repeating: 0, count: k * g)
        var top = [Int](repeating: 0, count: k)
        for l in 0..<k {
            var s = 0.0
            for gene in 0..<g { prof[l * g + gene] = base[gene] * fold[l * g + gene]; s += prof[l * g + gene] }
            for gene in 0..<g {
                prof[l * g + gene] /= s
                if prof[l * g + gene] > prof[l * g + top[l]] { top[l] = gene }
            }
        }
        profile = prof
        topGene = top
    }

    /// 4–5. Counts of the given spots (rows.count × G), each from its own stream.
    func counts(rows: [Int]) -> CSRMatrix { counts(rows: rows, indexType: Int32.self) }

    /// The same with column indices of type `Index` (G must fit it).
    func counts<Index: SparseIndex>(rows: [Int], indexType: Index.Type) -> CompressedRows<Index> {
        let g = p.genes
        var indptr = [Int](repeating: 0, count: rows.count + 1)
        var indices = [Index]()
        var values = [Float]()
        indices.reserveCapacity(rows.count * Swift.min(g, 64))
        values.reserveCapacity(rows.count * Swift.min(g, 64))
        profile.withUnsafeBufferPointer { pb in
            shape.withUnsafeBufferPointer { sb in
                for (r, i) in rows.enumerated() {
                    var rng = spotStream(i)
                    let l = Int(domains[i])
                    let library = librarySize(domain: l, deviate: Self.normal(&rng))
                    let row = l &* g
                    let start = indices.count
                    for gene in 0..<g {
                        let y = Self.negativeBinomial(mean: library * pb[row &+ gene], shape: sb[gene], &rng)
                        if y > 0 { indices.append(Index(truncatingIfNeeded: gene)); values.append(Float(y)) }
                    }
                    if indices.count == start {
                        indices.append(Index(truncatingIfNeeded: topGene[l])); values.append(1)
                    }
                    indptr[r + 1] = indices.count
                }
            }
        }
        return CompressedRows(rows: rows.count, cols: g, indptr: indptr, indices: indices, values: values)
    }

    /// The standard deviation of a spot's log library size.
    static let librarySigma = 0.35

    /// Spot i's random stream; its first normal deviate sets the library size.
    func spotStream(_ i: Int) -> Xoshiro256 { Xoshiro256(seed: p.seed, stream: Self.stream(1 &+ UInt64(i))) }

    /// L = L̄·ρ_k·exp(σ·z − σ²/2) for a spot of domain k with normal deviate z.
    func librarySize(domain l: Int, deviate z: Double) -> Double {
        let sigma = Self.librarySigma
        return p.meanLibrarySize * libraryFactor[l] * exp(sigma * z - sigma * sigma / 2)
    }

    /// See `SyntheticSlide.Layout.expectedRowNNZ`. The grid covers z ∈ [−8.75, 8.75] in steps of
    /// 0.25 (Box–Muller deviates from 53-bit uniforms stay within ±8.6).
    func expectedRowNNZ() -> [Double] {
        let g = p.genes, k = p.domains
        let steps = 70, zMin = -8.75, dz = 0.25
        var table = [Double](repeating: 0, count: k * (steps + 1))   // K × 71
        for l in 0..<k {
            for t in 0...steps {
                let library = librarySize(domain: l, deviate: zMin + Double(t) * dz)
                var e = 0.0
                for gene in 0..<g {
                    let mu = library * profile[l * g + gene], r = shape[gene]
                    e += -expm1(-r * log1p(mu / r))
                }
                table[l * (steps + 1) + t] = e
            }
        }
        var out = [Double](repeating: 0, count: p.spots)
        for i in 0..<p.spots {
            var rng = spotStream(i)
            let z = Swift.min(Swift.max(Self.normal(&rng), zMin), -zMin)
            let u = (z - zMin) / dz
            let t = Swift.min(Int(u), steps - 1)
            let f = u - Double(t)
            let base = Int(domains[i]) * (steps + 1)
            out[i] = Swift.max(1, table[base + t] * (1 - f) + table[base + t + 1] * f)
        }
        return out
    }

    // MARK: Samplers

    /// Standard normal (Box–Muller, cosine branch).
    static func normal(_ rng: inout Xoshiro256) -> Double {
        let u1 = 1 - rng.nextDouble()          // (0, 1]
        let u2 = rng.nextDouble()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Gamma(shape a, scale 1): Marsaglia & Tsang (2000); a < 1 by the U^(1/a) boost.
    static func gamma(shape a: Double, _ rng: inout Xoshiro256) -> Double {
        if a < 1 {
            let u = 1 - rng.nextDouble()
            return gamma(shape: a + 1, &rng) * pow(u, 1 / a)
        }
        let d = a - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            let x = normal(&rng)
            var v = 1 + c * x
            if v <= 0 { continue }
            v = v * v * v
            let u = 1 - rng.nextDouble()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }

    /// Poisson(λ): inversion for λ < 10, else PTRS (Hörmann 1993, transformed rejection).
    static func poisson(_ lambda: Double, _ rng: inout Xoshiro256) -> Int {
        if lambda <= 0 { return 0 }
        if lambda < 10 {
            var x = 0
            var prob = exp(-lambda), cdf = prob
            let u = rng.nextDouble()
            while u > cdf && x < 1000 {
                x += 1
                prob *= lambda / Double(x)
                cdf += prob
            }
            return x
        }
        let slam = lambda.squareRoot(), loglam = log(lambda)
        let b = 0.931 + 2.53 * slam
        let a = -0.059 + 0.02483 * b
        let invAlpha = 1.1239 + 1.1328 / (b - 3.4)
        let vr = 0.9277 - 3.6224 / (b - 2)
        while true {
            let u = rng.nextDouble() - 0.5
            let v = rng.nextDouble()
            let us = 0.5 - abs(u)
            let kk = ((2 * a / us + b) * u + lambda + 0.43).rounded(.down)
            if us >= 0.07 && v <= vr { return Int(kk) }
            if kk < 0 || (us < 0.013 && v > us) { continue }
            if log(v) + log(invAlpha) - log(a / (us * us) + b) <= -lambda + kk * loglam - lgamma(kk + 1) {
                return Int(kk)
            }
        }
    }

    /// NB(mean μ, shape r) = Poisson(Gamma(r, μ/r)): inversion of the NB pmf for μ < 10
    /// (P(0) = (r/(r+μ))^r, P(y+1) = P(y)·(y+r)/(y+1)·μ/(r+μ)), else the gamma–Poisson mixture.
    static func negativeBinomial(mean mu: Double, shape r: Double, _ rng: inout Xoshiro256) -> Int {
        if mu <= 0 { return 0 }
        if mu < 10 {
            let q = mu / (r + mu)
            var prob = exp(r * log1p(-q)), cdf = prob
            let u = rng.nextDouble()
            var y = 0
            while u > cdf && y < 100_000 {
                prob *= (Double(y) + r) / Double(y + 1) * q
                y += 1
                cdf += prob
                if prob == 0 { break }
            }
            return y
        }
        return poisson(gamma(shape: r, &rng) * (mu / r), &rng)
    }
}
