// One-predictor loess (Cleveland, Grosse & Shyu), reproducing the netlib `dloess` code that
// scikit-misc wraps (`skmisc.loess.loess`, used by scanpy's seurat_v3 HVG selection) for the
// gaussian family. Written from the algorithm as the netlib sources describe it (ehg126, ehg124,
// ehg129, ehg106, ehg125, ehg127, ehg139, ehg128, ehg136); no code is copied.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the fitted surface is evaluated.
public enum LoessSurface: String, Sendable, CaseIterable {
    /// netlib's default: local fits (value and slope) at the vertices of a k-d tree, blended by
    /// cubic Hermite interpolation within each cell. What scikit-misc and therefore scanpy use.
    case interpolate
    /// An exact local fit at every evaluation point (netlib `surface = "direct"`). The plain reference.
    case direct
}

/// A loess fit that cannot be computed (the situations in which netlib raises an error).
public struct LoessError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "loess: " + message }
}

/// Local-regression smoother of one predictor, as netlib loess computes it for `family = "gaussian"`.
///
/// For a point t, the q = min(n, ⌊n·span + 1e-5⌋) nearest observations define the radius
/// ρ = (q-th smallest (xᵢ − t)²) (netlib multiplies by max(1, span), which is 1 for span ≤ 1).
/// Weights are tricube: wᵢ = √(priorᵢ · (1 − (|xᵢ − t|/√ρ)³)³) on the rows of the weighted design
/// [wᵢ, wᵢ(xᵢ−t), wᵢ(xᵢ−t)²] (degree 2; fewer columns for degree 0/1); observations at distance
/// √ρ or more get weight 0, so ties at the q-th distance do not matter. Columns are equilibrated to
/// unit norm, reduced by a Householder QR, and R = U Σ Vᵀ is solved through the pseudo-inverse with
/// singular values ≤ 100·ε·σ₁ dropped (netlib ehg127). The fit's constant term is the value at t,
/// its linear term the slope.
///
/// `surface = .interpolate` evaluates these fits only at the vertices of netlib's k-d tree (cells
/// are split at the median with netlib's tie rule until they hold at most fc = ⌊n·span·cell⌋
/// points) and interpolates value and slope between a cell's two vertices by cubic Hermite
/// polynomials (ehg128). `surface = .direct` fits at every point.
///
/// Statistics (trace of the hat matrix, equivalent number of parameters, residual scale) and the
/// robust `symmetric` family are not implemented: they do not change the gaussian fitted values.
public struct Loess: Sendable {
    /// Fraction of the points in each neighbourhood, 0 < span ≤ 1.
    public var span: Double
    /// Degree of the local polynomial: 0, 1 or 2.
    public var degree: Int
    public var surface: LoessSurface
    /// Maximum fraction of points per k-d tree cell, relative to the span (netlib `cell`).
    public var cell: Double

    /// Defaults are scikit-misc's: span 0.75, degree 2, interpolating surface, cell 0.2.
    public init(span: Double = 0.75, degree: Int = 2, surface: LoessSurface = .interpolate, cell: Double = 0.2) {
        self.span = span
        self.degree = degree
        self.surface = surface
        self.cell = cell
    }

    /// Fits y on x (n values each; optional prior weights, default 1) and returns the fitted values
    /// at the data points, in input order.
    public func fit(x: [Double], y: [Double], weights: [Double]? = nil) throws -> LoessFit {
        let n = x.count
        guard y.count == n else { throw LoessError("x has \(n) values but y has \(y.count)") }
        if let w = weights, w.count != n { throw LoessError("weights has \(w.count) values, expected \(n)") }
        guard span > 0 && span <= 1 else { throw LoessError("span must be in (0, 1], got \(span)") }
        guard (0...2).contains(degree) else { throw LoessError("degree must be 0, 1 or 2, got \(degree)") }
        guard n > 0 else { throw LoessError("no data") }
        for i in 0..<n where !x[i].isFinite || !y[i].isFinite {
            throw LoessError("non-finite value at index \(i) (x = \(x[i]), y = \(y[i]))")
        }

        // Sort the data by x once (stable); neighbourhoods are then contiguous windows.
        let order = (0..<n).sorted { x[$0] != x[$1] ? x[$0] < x[$1] : $0 < $1 }
        let xs = order.map { x[$0] }
        let ys = order.map { y[$0] }
        let ws = weights.map { w in order.map { w[$0] } } ?? [Double](repeating: 1, count: n)
        for i in 0..<n where !(ws[i] >= 0) || !ws[i].isFinite {
            throw LoessError("weights must be finite and non-negative (index \(order[i]))")
        }

        let q = Swift.min(n, Int((Double(n) * span + 1e-5).rounded(.down)))
        let k = degree + 1
        if q <= 0 { throw LoessError("span is too small") }
        if k > q - 1 {
            throw LoessError("span too small: fewer data values (\(q) per neighbourhood) than degrees of freedom (\(k))")
        }
        let fitter = LoessLocalFitter(xs: xs, ys: ys, ws: ws, q: q, degree: degree, spanFactor: Swift.max(1, span))

        var fitted = [Double](repeating: 0, count: n)
        switch surface {
        case .direct:
            var singular = 0
            try fitted.withUnsafeMutableBufferPointer { out in
                for i in 0..<n {
                    let r = try fitter.fit(at: x[i])
                    out[i] = r.value
                    if r.singular { singular += 1 }
                }
            }
            return LoessFit(fittedValues: fitted, tree: nil, pseudoinverseFits: singular)
        case .interpolate:
            let fc = Int((Double(n) * (span * cell)).rounded(.down))
            var tree = LoessKDTree(sortedX: xs, cellLimit: fc, vertexLimit: Swift.max(200, n))
            var singular = 0
            for v in 0..<tree.vertices.count {
                let r = try fitter.fit(at: tree.vertices[v])
                tree.values[v] = r.value
                tree.slopes[v] = r.slope
                if r.singular { singular += 1 }
            }
            fitted.withUnsafeMutableBufferPointer { out in
                for i in 0..<n { out[i] = tree.evaluate(x[i]) }
            }
            return LoessFit(fittedValues: fitted, tree: tree, pseudoinverseFits: singular)
        }
    }
}

/// The result of `Loess.fit`.
public struct LoessFit: Sendable {
    /// Fitted values at the data points, in input order (n).
    public var fittedValues: [Double]
    /// The k-d tree with the vertex fits (`surface == .interpolate` only).
    public var tree: LoessKDTree?
    /// Number of local fits whose design was numerically singular (σ_min ≤ 100·ε·σ₁) and were
    /// solved with the pseudo-inverse. netlib reports these as a warning, which scikit-misc turns
    /// into a `ValueError`; here they are counted and the pseudo-inverse solution is used.
    public var pseudoinverseFits: Int
}

/// netlib's k-d tree over one predictor with the loess fit (value, slope) at each vertex.
///
/// Cells are intervals [vertices[lower], vertices[upper]]; cell 0 is the bounding box of the data
/// widened by 0.5% of its range on each side (ehg126). A cell holding the order statistics l…u
/// (0-based ranks of the sorted x) becomes a leaf when u−l+1 ≤ fc, or when the tree is out of room
/// (more than max(200, n) cells or vertices); otherwise it is split at m = ⌊(l+u)/2⌋, moved to the
/// nearest m' (trying m, m+1, m−1, m+2, …) with x₍m'₎ ≠ x₍m'+1₎ so that ties stay on one side, and
/// becomes a leaf instead if x₍m₎ equals one of its bounds (ehg124). The split value x₍m₎ is a new
/// vertex; the left child holds l…m and the right m+1…u; cells are processed breadth first.
public struct LoessKDTree: Sendable {
    /// Vertex coordinates, in creation order (0 and 1 are the bounding box).
    public var vertices: [Double]
    /// Local-fit value at each vertex.
    public var values: [Double]
    /// Local-fit slope (d value / dx) at each vertex.
    public var slopes: [Double]
    /// Per cell: split value (meaningful only when `isSplit`).
    public var splitValue: [Double]
    /// Per cell: whether the cell is split (false = leaf).
    public var isSplit: [Bool]
    /// Per cell: child cells (lo, hi) when split.
    public var children: [(Int32, Int32)]
    /// Per cell: its lower and upper vertex.
    public var bounds: [(Int32, Int32)]

    init(sortedX xs: [Double], cellLimit fc: Int, vertexLimit nvmax: Int) {
        let n = xs.count
        let lo = xs[0], hi = xs[n - 1]
        let margin = 0.005 * Swift.max(hi - lo, 1e-10 * Swift.max(abs(lo), abs(hi)) + 1e-30)
        vertices = [lo - margin, hi + margin]
        splitValue = [0]; isSplit = [false]; children = [(0, 0)]; bounds = [(0, 1)]
        var range: [(Int, Int)] = [(0, n - 1)]   // order-statistic range of each cell
        let ncmax = nvmax
        var p = 0
        while p < range.count {
            let (l, u) = range[p]
            let (bl, bu) = bounds[p]
            let diam = vertices[Int(bu)] - vertices[Int(bl)]
            var leaf = (u - l + 1 <= fc) || diam <= 0
            if !leaf { leaf = ncmax < range.count + 2 || Double(nvmax) < Double(vertices.count) + 1 }
            var m = 0
            if !leaf {
                m = (l + u) / 2
                var off = 0
                while m + off < u && m + off >= l {
                    if xs[m + off] == xs[m + off + 1] {
                        off = -off
                        if off >= 0 { off += 1 }
                    } else {
                        m += off
                        break
                    }
                }
                leaf = vertices[Int(bl)] == xs[m] || vertices[Int(bu)] == xs[m]
            }
            if !leaf {
                let t = xs[m]
                // A split value lies strictly inside its cell, so it never coincides with an
                // existing vertex in one dimension (netlib ehg125 checks for that in general).
                let newVertex = Int32(vertices.count)
                vertices.append(t)
                let left = Int32(range.count), right = left + 1
                range.append((l, m)); range.append((m + 1, u))
                bounds.append((bl, newVertex)); bounds.append((newVertex, bu))
                splitValue.append(0); splitValue.append(0)
                isSplit.append(false); isSplit.append(false)
                children.append((0, 0)); children.append((0, 0))
                isSplit[p] = true
                splitValue[p] = t
                children[p] = (left, right)
            }
            p += 1
        }
        values = [Double](repeating: 0, count: vertices.count)
        slopes = [Double](repeating: 0, count: vertices.count)
    }

    /// Number of cells (leaves and split cells).
    public var cellCount: Int { isSplit.count }

    /// The interpolated surface at z: descend to the leaf containing z (z ≤ split goes left), then
    /// cubic Hermite interpolation of (value, slope) between the leaf's two vertices (ehg128):
    /// with h = (z − v₀)/(v₁ − v₀), s = φ₀ g₀ + φ₁ g₁ + (ψ₀ g₀' + ψ₁ g₁')(v₁ − v₀),
    /// φ₀ = (1−h)²(1+2h), φ₁ = h²(3−2h), ψ₀ = h(1−h)², ψ₁ = h²(h−1).
    /// Valid for z in the bounding box (netlib refuses to extrapolate).
    public func evaluate(_ z: Double) -> Double {
        var j = 0
        while isSplit[j] { j = Int(z <= splitValue[j] ? children[j].0 : children[j].1) }
        let a = Int(bounds[j].0), b = Int(bounds[j].1)
        let v0 = vertices[a], v1 = vertices[b]
        let width = v1 - v0
        let h = (z - v0) / width
        let omh = 1 - h
        let phi0 = omh * omh * (1 + 2 * h)
        let phi1 = h * h * (3 - 2 * h)
        let psi0 = h * omh * omh
        let psi1 = h * h * (h - 1)
        return phi0 * values[a] + phi1 * values[b] + (psi0 * slopes[a] + psi1 * slopes[b]) * width
    }
}

/// The local weighted least-squares fit of netlib ehg127 on sorted data.
struct LoessLocalFitter {
    let xs: [Double], ys: [Double], ws: [Double]
    let q: Int
    let degree: Int
    let spanFactor: Double

    struct Result { var value: Double; var slope: Double; var singular: Bool }

    /// Fit at t: value, slope and whether the pseudo-inverse dropped a singular value.
    func fit(at t: Double) throws -> Result {
        let n = xs.count
        let k = degree + 1
        return try xs.withUnsafeBufferPointer { X in
            try ys.withUnsafeBufferPointer { Y in
                try ws.withUnsafeBufferPointer { W in
                    // q nearest by merging the two monotone distance sequences either side of t.
                    var lo = 0, hi = n            // first index with X[i] >= t
                    while lo < hi { let mid = (lo &+ hi) >> 1; if X[mid] < t { lo = mid &+ 1 } else { hi = mid } }
                    var left = lo &- 1, right = lo
                    var rho = 0.0
                    for _ in 0..<q {
                        let dl = left >= 0 ? (X[left] - t) * (X[left] - t) : Double.infinity
                        let dr = right < n ? (X[right] - t) * (X[right] - t) : Double.infinity
                        if dl <= dr { rho = dl; left &-= 1 } else { rho = dr; right &+= 1 }
                    }
                    rho *= spanFactor
                    if !(rho > 0) {
                        throw LoessError("zero-width neighbourhood at x = \(t): more than span·n tied values; make span bigger")
                    }
                    // Points strictly inside the radius: a contiguous window [a, b).
                    var a = left &+ 1, b = right
                    while a < b && (X[a] - t) * (X[a] - t) >= rho { a &+= 1 }
                    while b > a && (X[b &- 1] - t) * (X[b &- 1] - t) >= rho { b &-= 1 }
                    let m = Swift.max(b &- a, k &+ 1)   // rows (zero rows pad a tiny window, as netlib's nf ≥ k+1 rows)
                    // Column-major design (m × k) and right-hand side.
                    var design = [Double](repeating: 0, count: m &* k)
                    var eta = [Double](repeating: 0, count: m)
                    var anyWeight = false
                    design.withUnsafeMutableBufferPointer { B in
                        eta.withUnsafeMutableBufferPointer { E in
                            var r = 0
                            var i = a
                            while i < b {
                                let d = X[i] - t
                                let s = (d * d / rho).squareRoot()
                                let c = 1 - s * s * s
                                let w = (W[i] * (c * c * c)).squareRoot()
                                if w != 0 { anyWeight = true }
                                B[r] = w
                                if k > 1 { B[m &+ r] = w * d }
                                if k > 2 { B[2 &* m &+ r] = w * (d * d) }
                                E[r] = w * Y[i]
                                r &+= 1; i &+= 1
                            }
                        }
                    }
                    if !anyWeight {
                        throw LoessError("all data on the boundary of the neighbourhood at x = \(t); make span bigger")
                    }
                    return solveLocal(design: &design, rhs: &eta, rows: m, cols: k)
                }
            }
        }
    }

    /// Equilibrate, QR, SVD of R and pseudo-inverse solve; returns coefficients 0 and 1.
    private func solveLocal(design: inout [Double], rhs: inout [Double], rows m: Int, cols k: Int) -> Result {
        var colNorm = [Double](repeating: 1, count: k)
        var R = [Double](repeating: 0, count: k * k)       // row-major k × k upper triangle
        var qty = [Double](repeating: 0, count: k)
        design.withUnsafeMutableBufferPointer { B in
            rhs.withUnsafeMutableBufferPointer { E in
                // Equilibrate columns to unit Euclidean norm.
                for j in 0..<k {
                    var s = 0.0
                    for i in 0..<m { let v = B[j &* m &+ i]; s += v * v }
                    s = s.squareRoot()
                    if s > 0 {
                        for i in 0..<m { B[j &* m &+ i] /= s }
                        colNorm[j] = s
                    }
                }
                // Householder QR without pivoting (as LINPACK dqrdc, job 0), applied to E as it goes.
                for l in 0..<Swift.min(k, m) {
                    let cl = l &* m
                    if l == m &- 1 { break }
                    var nrm = 0.0
                    for i in l..<m { let v = B[cl &+ i]; nrm += v * v }
                    nrm = nrm.squareRoot()
                    if nrm == 0 { continue }
                    if B[cl &+ l] != 0 { nrm = B[cl &+ l] < 0 ? -nrm : nrm }
                    for i in l..<m { B[cl &+ i] /= nrm }
                    B[cl &+ l] += 1
                    let pivot = B[cl &+ l]
                    for j in (l &+ 1)..<(k &+ 1) {
                        // j == k is the right-hand side.
                        var dot = 0.0
                        if j < k {
                            let cj = j &* m
                            for i in l..<m { dot += B[cl &+ i] * B[cj &+ i] }
                            let tau = -dot / pivot
                            for i in l..<m { B[cj &+ i] += tau * B[cl &+ i] }
                        } else {
                            for i in l..<m { dot += B[cl &+ i] * E[i] }
                            let tau = -dot / pivot
                            for i in l..<m { E[i] += tau * B[cl &+ i] }
                        }
                    }
                    B[cl &+ l] = -nrm
                }
                for i in 0..<k {
                    qty[i] = i < m ? E[i] : 0
                    for j in i..<k { R[i &* k &+ j] = i < m ? B[j &* m &+ i] : 0 }
                }
            }
        }
        // SVD of R (one-sided Jacobi): R V = U Σ.
        let (sigma, U, V) = loessSmallSVD(R, k)
        let tol = sigma[0] * (100 * Double.ulpOfOne)
        let singular = sigma[k - 1] <= tol
        var gamma = [Double](repeating: 0, count: k)
        for j in 0..<k where tol < sigma[j] {
            var d = 0.0
            for i in 0..<k { d += U[i * k + j] * qty[i] }
            gamma[j] = d / sigma[j]
        }
        var coef = [Double](repeating: 0, count: 2)
        for c in 0..<Swift.min(2, k) {
            var s = 0.0
            for j in 0..<k { s += (V[c * k + j] / colNorm[c]) * gamma[j] }
            coef[c] = s
        }
        return Result(value: coef[0], slope: coef[1], singular: singular)
    }
}

/// Singular value decomposition of a small square matrix A (k × k, row-major) by one-sided Jacobi
/// rotations: returns σ (descending), U and V (row-major k × k, columns are singular vectors) with
/// A = U diag(σ) Vᵀ. Columns of U for σ = 0 are zero.
func loessSmallSVD(_ a: [Double], _ k: Int) -> (sigma: [Double], U: [Double], V: [Double]) {
    var A = a
    var V = [Double](repeating: 0, count: k * k)
    for i in 0..<k { V[i * k + i] = 1 }
    for _ in 0..<80 {
        var rotated = false
        for p in 0..<k {
            for qq in (p + 1)..<Swift.max(p + 1, k) {
                var alpha = 0.0, beta = 0.0, gamma = 0.0
                for i in 0..<k {
                    let ap = A[i * k + p], aq = A[i * k + qq]
                    alpha += ap * ap; beta += aq * aq; gamma += ap * aq
                }
                if gamma == 0 || abs(gamma) <= Double.ulpOfOne * (alpha * beta).squareRoot() { continue }
                rotated = true
                let zeta = (beta - alpha) / (2 * gamma)
                let t = (zeta >= 0 ? 1.0 : -1.0) / (abs(zeta) + (1 + zeta * zeta).squareRoot())
                let c = 1 / (1 + t * t).squareRoot()
                let s = c * t
                for i in 0..<k {
                    let ap = A[i * k + p], aq = A[i * k + qq]
                    A[i * k + p] = c * ap - s * aq
                    A[i * k + qq] = s * ap + c * aq
                    let vp = V[i * k + p], vq = V[i * k + qq]
                    V[i * k + p] = c * vp - s * vq
                    V[i * k + qq] = s * vp + c * vq
                }
            }
        }
        if !rotated { break }
    }
    var sig = [Double](repeating: 0, count: k)
    for j in 0..<k {
        var s = 0.0
        for i in 0..<k { s += A[i * k + j] * A[i * k + j] }
        sig[j] = s.squareRoot()
    }
    let order = (0..<k).sorted { sig[$0] != sig[$1] ? sig[$0] > sig[$1] : $0 < $1 }
    var U = [Double](repeating: 0, count: k * k)
    var Vs = [Double](repeating: 0, count: k * k)
    var sigma = [Double](repeating: 0, count: k)
    for (jn, jo) in order.enumerated() {
        sigma[jn] = sig[jo]
        for i in 0..<k {
            U[i * k + jn] = sig[jo] > 0 ? A[i * k + jo] / sig[jo] : 0
            Vs[i * k + jn] = V[i * k + jo]
        }
    }
    return (sigma, U, Vs)
}
