import STCore
import STComm
import STPrep

/// A 64-bit hash of a sequence of 64-bit words (SplitMix64's finaliser as the mixing step).
///
/// Not cryptographic: it tells a checkpoint's data and configuration apart from another run's,
/// where the differences are accidents, not attacks. Every word passes through a bijective mix, so
/// one changed bit changes the result with probability 1 − 2⁻⁶⁴.
public struct Hash64: Sendable, Equatable {
    public private(set) var value: UInt64

    public init(seed: UInt64 = 0x5354_474E_4E44_4953) { value = Hash64.mix(seed) }

    /// SplitMix64's output function: a bijection of 64-bit words with full avalanche.
    @inline(__always) public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Adds one word.
    @inline(__always) public mutating func add(_ w: UInt64) { value = Hash64.mix(value ^ w) }

    /// Adds an integer.
    public mutating func add(_ i: Int) { add(UInt64(bitPattern: Int64(i))) }

    /// Adds a string: its UTF-8 length, then its bytes in 8-byte little-endian words.
    public mutating func add(_ s: String) {
        let bytes = Array(s.utf8)
        add(bytes.count)
        var i = 0
        while i < bytes.count {
            var w: UInt64 = 0
            for k in 0..<Swift.min(8, bytes.count - i) { w |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
            add(w)
            i += 8
        }
    }

    /// The value as 16 lowercase hex digits (how hashes are stored in JSON: exact, unlike numbers
    /// above 2⁵³ in many JSON readers).
    public var hex: String { Hash64.hex(value) }

    /// `v` as 16 lowercase hex digits.
    public static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// What a run's data is, as far as the numbers depend on it: a checkpoint records it and a resumed
/// run must match it.
///
/// Every field is independent of the number of ranks. The checksum of X is taken over the raw
/// counts as read (every stored non-zero of every spot, exact 32-bit patterns), not over the
/// preprocessed X: the preprocessed values depend on per-gene statistics summed over ranks, whose
/// float64 reassociation can move a value by one float32 ulp when the rank count changes, which a
/// bitwise checksum would report as "different data" on a legitimate resume on another rank count.
/// The raw counts plus the configuration hash (n_top_genes, target_sum, max_value) determine the
/// preprocessed X; its float64 sums are recorded too and compared with a relative tolerance, which
/// catches a build whose preprocessing differs.
public struct DataFingerprint: Codable, Sendable, Equatable {
    /// N: spots in the slide.
    public var n_spots: Int
    /// Genes in the input (before HVG selection).
    public var n_genes_input: Int
    /// G: genes after HVG selection (columns of X, rows of W1).
    public var n_genes: Int
    /// Hash of `obsm["spatial"]` (N×2 float64 bit patterns, in spot order).
    public var coordinates_hash: String
    /// Hash of the selected gene indices and their names (var index).
    public var genes_hash: String
    /// Σ over spots of a per-spot hash of (spot index, column and value bits of each non-zero raw
    /// count), mod 2⁶⁴: exact and independent of how spots are split over ranks.
    public var counts_checksum: String
    /// Σ of the preprocessed X (float64; compared to a relative 1e-9).
    public var x_sum: Double
    /// Σ of the squares of the preprocessed X (float64; compared to a relative 1e-9).
    public var x_sum_squares: Double

    /// Relative tolerance of the float64 sums (reassociation over ranks is ~1e-16 per add).
    public static let sumTolerance = 1e-9

    /// The fields in which `other` differs from `self`, as "name: A in the checkpoint, B here" phrases
    /// (`self` is the checkpoint's); empty when they match.
    public func differences(from other: DataFingerprint) -> [String] {
        var d = [String]()
        func cmp<T: Equatable>(_ name: String, _ a: T, _ b: T) { if a != b { d.append("\(name) \(a) in the checkpoint, \(b) here") } }
        cmp("n_spots", n_spots, other.n_spots)
        cmp("n_genes_input", n_genes_input, other.n_genes_input)
        cmp("n_genes (after HVG)", n_genes, other.n_genes)
        cmp("coordinates hash", coordinates_hash, other.coordinates_hash)
        cmp("selected genes hash", genes_hash, other.genes_hash)
        cmp("raw counts checksum", counts_checksum, other.counts_checksum)
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= Self.sumTolerance * Swift.max(abs(a), abs(b)) }
        if !close(x_sum, other.x_sum) { d.append("sum of preprocessed X \(x_sum) in the checkpoint, \(other.x_sum) here") }
        if !close(x_sum_squares, other.x_sum_squares) {
            d.append("sum of squares of preprocessed X \(x_sum_squares) in the checkpoint, \(other.x_sum_squares) here")
        }
        return d
    }

    /// This rank's share of `counts_checksum`: the wrapping sum, over its spots, of a hash of the
    /// spot's global index and its stored non-zeros (column, float32 bits). Zeros are skipped, so
    /// explicit zeros in the file do not matter. Local, no communication.
    ///
    /// - Parameters:
    ///   - counts: this rank's raw counts, one row per spot in `globalRows` order.
    ///   - globalRows: the global index of each row.
    public static func countsDigest(_ counts: GeneMatrix, globalRows: [Int]) -> UInt64 {
        switch counts {
        case .narrow(let m): return countsDigest(m, globalRows: globalRows)
        case .wide(let m): return countsDigest(m, globalRows: globalRows)
        }
    }

    /// The digest of counts in one index width (the same value for either width of the same counts).
    public static func countsDigest<Index: SparseIndex>(_ counts: CompressedRows<Index>, globalRows: [Int]) -> UInt64 {
        precondition(globalRows.count == counts.rows)
        var total: UInt64 = 0
        counts.indptr.withUnsafeBufferPointer { P in
            counts.indices.withUnsafeBufferPointer { I in
                counts.values.withUnsafeBufferPointer { V in
                    for r in 0..<counts.rows {
                        var h = Hash64(seed: UInt64(globalRows[r]))
                        var stored = 0
                        for p in P[r]..<P[r + 1] where V[p] != 0 {
                            h.add(UInt64(UInt32(truncatingIfNeeded: I[p])) << 32 | UInt64(V[p].bitPattern))
                            stored += 1
                        }
                        h.add(stored)
                        total &+= h.value
                    }
                }
            }
        }
        return total
    }

    /// Builds the fingerprint (collective: every rank calls it; the result is the same on every rank).
    ///
    /// - Parameters:
    ///   - countsDigest: this rank's `countsDigest` of its raw counts.
    ///   - spatial: the N×2 coordinates (every rank has them).
    ///   - prep: this rank's preprocessing result.
    ///   - geneNames: the input's gene names (var index), all genes; [] when unavailable.
    ///   - genesInput: the input's number of genes.
    public static func compute(countsDigest: UInt64, spotCount: Int, spatial: [Double], prep: PreprocessResult,
                               geneNames: [String], genesInput: Int, comm: Communicator) -> DataFingerprint {
        // The digest as two 32-bit halves summed in Int64: no overflow below 2³¹ ranks, and the
        // wrapping recombination gives the mod-2⁶⁴ sum exactly.
        var halves: [Int64] = [Int64(countsDigest & 0xFFFF_FFFF), Int64(countsDigest >> 32)]
        comm.allreduceSum(&halves)
        let digest = UInt64(bitPattern: halves[0]) &+ (UInt64(bitPattern: halves[1]) &<< 32)

        var sums = [0.0, 0.0]
        prep.X.values.withUnsafeBufferPointer { for v in $0 { sums[0] += Double(v); sums[1] += Double(v) * Double(v) } }
        comm.allreduceSum(&sums)

        var c = Hash64()
        c.add(spatial.count)
        for v in spatial { c.add(v.bitPattern) }
        var g = Hash64()
        g.add(prep.selectedGenes.count)
        for i in prep.selectedGenes {
            g.add(i)
            g.add(i < geneNames.count ? geneNames[i] : "")
        }
        return DataFingerprint(n_spots: spotCount, n_genes_input: genesInput, n_genes: prep.X.cols,
                               coordinates_hash: c.hex, genes_hash: g.hex, counts_checksum: Hash64.hex(digest),
                               x_sum: sums[0], x_sum_squares: sums[1])
    }
}
