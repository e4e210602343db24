import Foundation
import STCore
import STPartition

/// An estimate of a rank's peak resident memory, made from the slide's header before X is read,
/// so that a run too big for its ranks is refused with the figures instead of being killed by the
/// kernel half-way through reading (issue: "memory preflight").
///
/// The model (bytes; n spots and z raw stored counts on the rank, N and Z on the slide, d the
/// latent width, G genes, k neighbours):
/// - process baseline (runtime, MPI, BLAS): 96 MiB;
/// - arrays every rank holds for the whole slide: coordinates 16N, stored counts per spot and RCB
///   weights 16N, RCB work 24N, kNN lists (12 + 4k)N, owner and local maps 8N, the epoch's
///   corruption permutation and plan 12N: (88 + 4k)·N;
/// - X: 6z or 8z per copy: the counts are preprocessed in place, so a rank holds one copy of its
///   rows once read, two while reading when the source reads, then reorders (10x, MatrixMarket, a
///   CSC or dense `.h5ad`: `SlideSource.countsReadCopies`); one copy is a float32 value and a column index per entry, the index
///   16-bit when the source reads straight into 16 bits and the genes fit (≤ 65 536, `GeneMatrix`,
///   `SlideSource.countsIndexBits`), else 32-bit. The two extra layouts
///   for speed, transposed (the gather form of Xᵀ·[Y|∂U]) and column-blocked (X·[W1|W2ᵀ] with
///   its operand in L2), 6z or 8z each, are built only when the rank then still stays under half
///   its memory (`RunPipeline.fastLayoutsFit`), so they are not part of the bound;
/// - the graph and the activation arena: ≈ 76·d·n (arena 64·d·n: eight buffers of width 2d, the
///   backward ones living in dead forward ones; plus Â, M and Mᵀ rows);
/// - parameters, gradient and Adam moments 16·(2Gd + d²), the float64 G×2d accumulators and the
///   epilogue's W2 and K·W2 scratch 32·G·d, and the split epilogue's buffers (2–16 ranks: the rows
///   of [Cᵀ | ∂W1] sent, float32, and received, float32 or float64) at most 16·G·d;
/// - rank 0 also gathers the N-row results (Z, the PCs, labels: 4·(d + 24)·N) and holds obs (≈ 64N).
public struct MemoryEstimate: Codable, Sendable, Equatable {
    public var bytes: Int
    public var slideWideBytes: Int
    public var countsBytes: Int
    public var modelBytes: Int
    /// Bits per column index of the counts as read (16 or 32).
    public var indexBits: Int

    /// - indexBits: of the counts as read: 16 when the input's genes fit (`GeneMatrix.usesNarrowIndices`).
    public init(spots N: Int, storedCounts Z: Int, rankSpots n: Int, rankStoredCounts z: Int, genes: Int,
                dim d: Int, neighbours k: Int, isRoot: Bool, indexBits: Int = 32, readCopies: Int = 1) {
        let base = 96 << 20
        slideWideBytes = (88 + 4 * k) * N + (isRoot ? (4 * (d + 24) + 64) * N : 0)
        self.indexBits = indexBits
        countsBytes = readCopies * GeneMatrix.bytesPerEntry(indexBits: indexBits) * z
        let g = min(genes, 3000)   // HVGs kept (seurat_v3 n_top_genes, GraphST's 3000)
        modelBytes = 76 * d * n + 16 * (2 * g * d + d * d) + 48 * g * d
        bytes = base + slideWideBytes + countsBytes + modelBytes
        _ = Z
    }

    /// The largest estimate over `ranks` ranks of an RCB partition with `counts[r]` spots and
    /// `stored[r]` stored counts on rank r (rank 0 carries the gathered results).
    public static func largest(spots: Int, storedCounts: Int, counts: [Int], stored: [Int], genes: Int,
                               dim: Int, neighbours: Int, indexBits: Int = 32, readCopies: Int = 1) -> MemoryEstimate {
        var best: MemoryEstimate?
        for r in counts.indices {
            let e = MemoryEstimate(spots: spots, storedCounts: storedCounts, rankSpots: counts[r], rankStoredCounts: stored[r],
                                   genes: genes, dim: dim, neighbours: neighbours, isRoot: r == 0, indexBits: indexBits,
                                   readCopies: readCopies)
            if best == nil || e.bytes > best!.bytes { best = e }
        }
        return best!
    }

    /// The memory one rank of this job may use: `--max-memory` if given, else the smaller of the
    /// node's available memory (MemAvailable) and the cgroup limit, shared by the ranks on the node.
    public static func available(ranksPerNode: Int) -> Int? {
        var limits = [Int]()
        if let kib = procKiB("/proc/meminfo", "MemAvailable:") { limits.append(kib * 1024) }
        for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
               let v = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), v < (1 << 60) {
                limits.append(v)
            }
        }
        guard let m = limits.min() else { return nil }
        return m / max(1, ranksPerNode)
    }

    /// "312 MiB", "1.4 GiB": a size for people (messages, notes).
    public static func format(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(bytes), u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(bytes) B" : String(format: v < 10 ? "%.1f %@" : "%.0f %@", v, units[u])
    }

    /// Parses `--max-memory`: bytes, or a number with K, M, G or T (binary units).
    public static func parse(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased().replacingOccurrences(of: "IB", with: "")
            .replacingOccurrences(of: "B", with: "")
        let scale: [Character: Double] = ["K": 1024, "M": 1_048_576, "G": 1_073_741_824, "T": 1_099_511_627_776]
        if let last = t.last, let s = scale[last], let v = Double(t.dropLast()), v > 0, v.isFinite { return Int(v * s) }
        if let v = Int(t), v > 0 { return v }
        return nil
    }
}

extension RunPipeline {
    /// Whether the ranks build the two extra layouts of X for speed, transposed and column-blocked
    /// (`fastLayoutBytes`, same bits as the plain kernels): only when the largest rank's estimate
    /// plus them stays under half the memory a rank may use, so that speed never costs the
    /// headroom a large slide needs. The same answer on every rank (largest estimate, largest X).
    /// Without a known limit (no /proc/meminfo, no --max-memory) they are built.
    func fastLayoutsFit(largestStoredEntries z: Int, largestRows n: Int, genes: Int, indexBits: Int) -> Bool {
        guard let limit = memoryLimit, let estimate = memoryEstimate else { return true }
        return estimate + Self.fastLayoutBytes(storedEntries: z, rows: n, genes: genes, indexBits: indexBits,
                                               dim: config.model.dim) <= limit / 2
    }

    /// Bytes of the transposed and the column-blocked copies of a rank's X: X's bytes per entry
    /// each (6 with 16-bit indices, 8 with 32-bit: `GeneMatrix`), plus their row pointers (8
    /// bytes each): the blocked copy's n + 1 for the whole and for each block of
    /// `ColumnBlockSize.columns(width: 2d)` genes; the transposed copy's genes + 1 per 4096-row
    /// block and per gather pass of `TransposedBlocks.defaultSubBlock` rows inside it.
    static func fastLayoutBytes(storedEntries z: Int, rows n: Int, genes: Int = 3000, indexBits: Int = 32,
                                dim: Int = 64) -> Int {
        let cb = ColumnBlockSize.columns(width: 2 * dim), sub = TransposedBlocks<Int32>.defaultSubBlock
        let blocked = 8 * (n + 1) * (1 + (genes + cb - 1) / cb)
        let block = Sparse.partialRows, full = n / block, rest = n % block
        let passes = full * (1 + (block + sub - 1) / sub) + (rest > 0 ? 1 + (rest + sub - 1) / sub : 0)
        return 2 * GeneMatrix.bytesPerEntry(indexBits: indexBits) * z + blocked + 8 * (genes + 1) * passes
    }

    /// Refuses, on every rank alike and before X is read, a run whose largest rank would need more
    /// memory than a rank has (`--max-memory`, else the node's available memory shared by its ranks),
    /// naming the estimate and the rank count that would fit.
    func checkMemory(rowNNZ: [Int], partition: RCBPartition) throws {
        let P = comm.size, N = rowNNZ.count
        var spots = [Int](repeating: 0, count: P), stored = [Int](repeating: 0, count: P)
        for (i, r) in partition.owner.enumerated() { spots[Int(r)] += 1; stored[Int(r)] += rowNNZ[i] }
        let Z = stored.reduce(0, +)
        let genes = min(source.geneCount, config.data.nTopGenes), d = config.model.dim, k = config.data.neighbours
        let bits = source.countsIndexBits
        let e = MemoryEstimate.largest(spots: N, storedCounts: Z, counts: spots, stored: stored, genes: genes,
                                       dim: d, neighbours: k, indexBits: bits, readCopies: source.countsReadCopies)
        memoryEstimate = e.bytes
        let env = ProcessInfo.processInfo.environment
        let perNode = Int(env["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? P
        let limit = config.output.maxMemory.flatMap(MemoryEstimate.parse) ?? MemoryEstimate.available(ranksPerNode: perNode)
        memoryLimit = limit
        guard let limit, e.bytes > limit else { return }
        // The smallest rank count (same ranks per node) whose largest rank fits, with RCB's ~5 %
        // imbalance; none when the slide-wide arrays alone do not fit.
        var fits: Int?
        var q = P + 1
        while q <= 1 << 16 {
            let n = Int(Double(N) / Double(q) * 1.05), z = Int(Double(Z) / Double(q) * 1.05)
            let t = MemoryEstimate(spots: N, storedCounts: Z, rankSpots: n, rankStoredCounts: z, genes: genes,
                                   dim: d, neighbours: k, isRoot: true, indexBits: bits,
                                   readCopies: source.countsReadCopies)
            if t.bytes <= limit { fits = q; break }
            q = q < 64 ? q + 1 : q + q / 8
        }
        let source = config.output.maxMemory != nil ? "--max-memory" : "the memory available per rank (MemAvailable or the cgroup limit, over \(perNode) rank\(perNode == 1 ? "" : "s") per node)"
        let advice = fits.map { "about \($0) ranks (\(perNode) per node) would fit" }
            ?? "no rank count fits: the arrays every rank holds for the whole slide need \(MemoryEstimate.format(e.slideWideBytes + (96 << 20)))"
        throw InputError(file: self.source.label, "too large for \(P) rank\(P == 1 ? "" : "s"): a rank would need about \(MemoryEstimate.format(e.bytes)) (X \(MemoryEstimate.format(e.countsBytes)), model \(MemoryEstimate.format(e.modelBytes)), slide-wide arrays \(MemoryEstimate.format(e.slideWideBytes))), more than \(source) = \(MemoryEstimate.format(limit)); \(advice)")
    }
}

/// The value of a "Key:   N kB" line of a /proc file (/proc/meminfo, /proc/self/status), in KiB;
/// nil when the file or the key is missing.
func procKiB(_ path: String, _ key: String) -> Int? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return nil }
    return Int(line.dropFirst(key.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
}
