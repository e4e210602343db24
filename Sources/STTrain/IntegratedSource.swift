import STCore
import STData
import STPrep

/// Several slides trained as one, as GraphST integrates slices (its multi-slice / vertical
/// integration: one graph over all spots, one model, one embedding).
///
/// * **Spots** are the slices' spots concatenated in input order (global row r of slice s is row
///   r − offsets[s] of that slice).
/// * **Genes** are those present in every slice, matched by name (each slice's names first made
///   unique as anndata's `var_names_make_unique` does), in the first slice's order. An empty
///   intersection, or one holding fewer than 10% of the smallest slice's genes (slices named with
///   different conventions, e.g. symbols against Ensembl ids), is refused with one line.
/// * **obs** keeps the columns present in every slice (anndata `concat(join="inner")`; a column
///   whose type differs between slices becomes categorical labels) plus a categorical `slice`
///   column of the slice names (replacing any `slice` column of the inputs). When spot names
///   collide across slices, every name gets the suffix `-<slice index>` (anndata's
///   `index_unique="-"` with keys 0, 1, …); otherwise names are kept.
/// * **Coordinates**: unless `aligned`, slices are placed side by side: slice 0 as given, each
///   next slice shifted in x so that its bounding box starts `gap` to the right of the previous
///   one's right edge (y unchanged). The kNN graph, built afterwards by the pipeline over the
///   combined coordinates, then never links two slices: with D the largest distance from any spot
///   to its k-th nearest neighbour *within its own slice*, every spot has k neighbours of its own
///   slice within D, while any spot of another slice is at least `gap` away in x alone, so
///   `gap > D` suffices. We take `gap = max(10 m, 1.5 D)` with m the larger of the slices' median
///   nearest-neighbour distances (the spot spacing): ten spot spacings keep the slices visibly apart
///   in plots, and the `1.5 D` term covers slices with isolated spots (a tissue fragment far from
///   the rest), for which ten spacings would not be enough. (A slice with ≤ k spots cannot keep its
///   spots' neighbours to itself.) With `aligned` the coordinates are used as given (after PASTE
///   alignment, or consecutive sections stacked in one frame): neighbours may then cross slices,
///   which is what GraphST's vertical integration wants.
///
/// Each rank reads only its own rows of each slice, and of those only the shared genes are kept.
public final class IntegratedSource: SlideSource {
    public let slices: [SlideSource]
    public let sliceNames: [String]
    public let aligned: Bool
    /// k the side-by-side gap is computed for.
    public let neighbours: Int
    /// offsets[s] = first global row of slice s; offsets[slices.count] = spotCount.
    public let offsets: [Int]
    /// The shared genes, in the first slice's order.
    public let genes: [String]
    /// For each slice, its column of each shared gene.
    public let geneColumns: [[Int]]
    var coordinates: [Double]?
    /// The x shift applied to each slice (0 when aligned); known after `spatial()`.
    public private(set) var xShifts: [Double] = []
    /// The gap between neighbouring slices' bounding boxes (0 when aligned); known after `spatial()`.
    public private(set) var gap: Double = 0

    public init(slices: [SlideSource], names: [String], aligned: Bool, neighbours: Int = 3) throws {
        precondition(slices.count == names.count && !slices.isEmpty)
        self.slices = slices
        self.sliceNames = names
        self.aligned = aligned
        self.neighbours = max(1, neighbours)
        var off = [0]
        for s in slices { off.append(off.last! + s.spotCount) }
        offsets = off

        let geneLists = try slices.map { Self.makeUnique(try $0.geneNames()) }
        for (s, g) in geneLists.enumerated() where g.count != slices[s].geneCount {
            throw InputError(file: slices[s].label, "lists \(g.count) gene names for \(slices[s].geneCount) genes")
        }
        let lookups = geneLists.map { list -> [String: Int] in
            var d: [String: Int] = [:]
            d.reserveCapacity(list.count)
            for (i, n) in list.enumerated() { d[n] = i }
            return d
        }
        var shared: [String] = []
        var columns = [[Int]](repeating: [], count: slices.count)
        for (i, name) in geneLists[0].enumerated() {
            let idx = lookups.dropFirst().map { $0[name] }
            if idx.contains(where: { $0 == nil }) { continue }
            shared.append(name)
            columns[0].append(i)
            for (s, j) in idx.enumerated() { columns[s + 1].append(j!) }
        }
        let smallest = geneLists.map(\.count).min()!
        if shared.isEmpty || shared.count * 10 < smallest {
            let examples = zip(names, geneLists).map { n, g in "'\(n)' \(g.count) genes, e.g. \(g.prefix(3).joined(separator: ", "))" }
            throw InputError(file: slices.map(\.label).joined(separator: ", "),
                             "the slices share \(shared.isEmpty ? "no" : "only \(shared.count) of \(smallest)") genes (\(examples.joined(separator: "; "))): integration intersects genes by name, so slices need the same gene panel and naming")
        }
        genes = shared
        geneColumns = columns
    }

    /// anndata's `make_unique`: the second occurrence of a name becomes `name-1`, the third
    /// `name-2`, …, skipping names already present.
    static func makeUnique(_ names: [String]) -> [String] {
        var seen = Set(names)
        var count: [String: Int] = [:]
        var first = Set<String>()
        var out = names
        for i in names.indices {
            let n = names[i]
            if first.insert(n).inserted { continue }
            var k = count[n, default: 0]
            var c: String
            repeat { k += 1; c = "\(n)-\(k)" } while seen.contains(c)
            count[n] = k
            seen.insert(c)
            out[i] = c
        }
        return out
    }

    public var label: String { slices.map(\.label).joined(separator: " + ") }
    public var spotCount: Int { offsets.last! }
    public var geneCount: Int { genes.count }

    public func spatial() throws -> [Double] {
        if let coordinates { return coordinates }
        let per = try slices.map { try $0.spatial() }
        var out: [Double] = []
        out.reserveCapacity(2 * spotCount)
        if aligned {
            for c in per { out.append(contentsOf: c) }
            xShifts = [Double](repeating: 0, count: slices.count)
            gap = 0
        } else {
            var m = 0.0, d = 0.0
            for c in per {
                let (median, kth) = Self.spacing(c, k: neighbours)
                m = max(m, median); d = max(d, kth)
            }
            var g = max(10 * m, 1.5 * d)
            if !(g > 0) { g = 1 }
            gap = g
            var shifts: [Double] = []
            var right = 0.0
            for (s, c) in per.enumerated() {
                var lo = Double.infinity, hi = -Double.infinity
                for i in stride(from: 0, to: c.count, by: 2) { lo = min(lo, c[i]); hi = max(hi, c[i]) }
                let dx = s == 0 ? 0 : (right + g) - lo
                shifts.append(dx)
                right = hi + dx
                for i in stride(from: 0, to: c.count, by: 2) {
                    out.append(c[i] + dx)
                    out.append(c[i + 1])
                }
            }
            xShifts = shifts
        }
        coordinates = out
        return out
    }

    /// The median nearest-neighbour distance (of the positive ones: duplicates are not the spacing)
    /// and the largest distance from a spot to its k-th nearest neighbour, within one slice.
    static func spacing(_ c: [Double], k: Int) -> (median: Double, kth: Double) {
        let n = c.count / 2
        guard n >= 2, c.allSatisfy(\.isFinite) else { return (0, 0) }
        let kk = min(k, n - 1)
        let tree = KDTree(coordinates: c)
        let (_, d2) = tree.nearestNeighbours(of: Array(0..<n), k: kk, withDistances: true)
        var nearest: [Double] = []
        nearest.reserveCapacity(n)
        var kth = 0.0
        for i in 0..<n {
            let first = d2[i * kk]
            if first > 0 { nearest.append(first.squareRoot()) }
            kth = max(kth, d2[i * kk + kk - 1].squareRoot())
        }
        nearest.sort()
        let median = nearest.isEmpty ? 0 : nearest[nearest.count / 2]
        return (median, kth)
    }

    /// Entries per spot over *all* of its slice's genes, not only the shared ones: a balance weight
    /// for the partition (exact when the slices share all their genes, the usual case of one gene
    /// panel). Exact counts would need every rank to read all of X, which per-rank reading avoids;
    /// the run's `summary.json` reports the realised nnz of the preprocessed rows.
    public func rowNNZ() throws -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(spotCount)
        for s in slices { out.append(contentsOf: try s.rowNNZ()) }
        return out
    }

    /// The given global rows (strictly increasing): each slice is asked only for its own rows,
    /// which are then cut to the shared genes in the integrated order.
    public func counts(rows: [Int]) throws -> CSRMatrix {
        for k in 0..<rows.count where rows[k] < 0 || rows[k] >= spotCount || (k > 0 && rows[k] <= rows[k - 1]) {
            throw InputError(file: label, "row list must be strictly increasing within 0..<\(spotCount) (entry \(k) is \(rows[k]))")
        }
        var ptr = [0]
        ptr.reserveCapacity(rows.count + 1)
        var idx: [Int32] = [], val: [Float] = []
        var k = 0
        var pairs: [(Int32, Float)] = []
        for s in slices.indices where k < rows.count {
            var local: [Int] = []
            while k < rows.count && rows[k] < offsets[s + 1] { local.append(rows[k] - offsets[s]); k += 1 }
            if local.isEmpty { continue }
            let m = try slices[s].counts(rows: local)
            var map = [Int32](repeating: -1, count: m.cols)
            for (c, j) in geneColumns[s].enumerated() where j < m.cols { map[j] = Int32(c) }
            for r in 0..<m.rows {
                pairs.removeAll(keepingCapacity: true)
                var sorted = true
                for p in m.indptr[r]..<m.indptr[r + 1] {
                    let c = map[Int(m.indices[p])]
                    if c < 0 { continue }
                    if let last = pairs.last, last.0 > c { sorted = false }
                    pairs.append((c, m.values[p]))
                }
                if !sorted { pairs.sort { $0.0 < $1.0 } }
                for (c, v) in pairs { idx.append(c); val.append(v) }
                ptr.append(idx.count)
            }
        }
        return CSRMatrix(rows: rows.count, cols: genes.count, indptr: ptr, indices: idx, values: val)
    }

    public func obs() throws -> DataFrame {
        let frames = try slices.map { try $0.obs() }
        var names: [String] = []
        names.reserveCapacity(spotCount)
        for f in frames { names.append(contentsOf: f.index) }
        if Set(names).count != names.count {
            names = []
            for (s, f) in frames.enumerated() { names.append(contentsOf: f.index.map { "\($0)-\(s)" }) }
        }
        var out = DataFrame(index: names)
        for col in frames[0].columnNames where col != "slice" {
            let parts = frames.compactMap { $0[col] }
            if parts.count == frames.count { out.set(col, Self.concatenate(parts)) }
        }
        var codes: [Int32] = []
        codes.reserveCapacity(spotCount)
        for (s, f) in frames.enumerated() { codes.append(contentsOf: repeatElement(Int32(s), count: f.count)) }
        out.set("slice", .categorical(codes: codes, categories: sliceNames, ordered: false))
        return out
    }

    /// One column from the slices' columns of that name (same kind: concatenated; integers with
    /// floats: floats; otherwise: categorical labels, missing values kept missing).
    static func concatenate(_ parts: [ObsColumn]) -> ObsColumn {
        func all<T>(_ f: (ObsColumn) -> T?) -> [T]? {
            var out: [T] = []
            for p in parts { guard let v = f(p) else { return nil }; out.append(v) }
            return out
        }
        if let cats = all({ c -> (codes: [Int32], categories: [String], ordered: Bool)? in
            if case .categorical(let a, let b, let o) = c { return (a, b, o) } else { return nil } }) {
            var categories: [String] = []
            var lookup: [String: Int32] = [:]
            var codes: [Int32] = []
            for part in cats {
                let remap = part.categories.map { name -> Int32 in
                    if let c = lookup[name] { return c }
                    let c = Int32(categories.count)
                    categories.append(name); lookup[name] = c
                    return c
                }
                codes.append(contentsOf: part.codes.map { $0 >= 0 && Int($0) < remap.count ? remap[Int($0)] : -1 })
            }
            let ordered = cats.allSatisfy { $0.ordered && $0.categories == cats[0].categories }
            return .categorical(codes: codes, categories: categories, ordered: ordered)
        }
        if let v = all({ c -> [String]? in if case .string(let a) = c { return a } else { return nil } }) {
            return .string(v.flatMap { $0 })
        }
        if let v = all({ c -> [Int64]? in if case .integer(let a) = c { return a } else { return nil } }) {
            return .integer(v.flatMap { $0 })
        }
        if let v = all({ c -> [Bool]? in if case .boolean(let a) = c { return a } else { return nil } }) {
            return .boolean(v.flatMap { $0 })
        }
        if let v = all({ c -> [Double]? in
            switch c {
            case .numeric(let a): return a
            case .integer(let a): return a.map(Double.init)
            default: return nil
            } }) {
            return .numeric(v.flatMap { $0 })
        }
        if let v = all({ c -> ([Int64], [Bool])? in
            switch c {
            case .nullableInteger(let a, let m): return (a, m)
            case .integer(let a): return (a, [Bool](repeating: false, count: a.count))
            default: return nil
            } }) {
            return .nullableInteger(values: v.flatMap { $0.0 }, missing: v.flatMap { $0.1 })
        }
        if let v = all({ c -> ([Bool], [Bool])? in
            switch c {
            case .nullableBoolean(let a, let m): return (a, m)
            case .boolean(let a): return (a, [Bool](repeating: false, count: a.count))
            default: return nil
            } }) {
            return .nullableBoolean(values: v.flatMap { $0.0 }, missing: v.flatMap { $0.1 })
        }
        return .categorical(labels: parts.flatMap { $0.labels() })
    }

    public func geneNames() throws -> [String] { genes }
}
