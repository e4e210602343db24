import CSparseSIMD

/// Sparse × dense kernels: the only operations that touch X or Â.
///
/// Each optimised kernel has a frozen `_ref` twin (plain loops, no pointer tricks) used by the
/// tests as the oracle. All dense operands are row-major with an explicit leading dimension so
/// that column blocks of a wider buffer ([Z | Z̃], [Y | dU]) can be read or written in place.
///
/// Implementation paths (`Path`): portable Swift SIMD (SIMD16<Float>, which the compiler lowers to
/// the target's baseline vectors: SSE2 on x86-64, NEON on arm64), and on x86-64 AVX2 and AVX-512
/// instantiations of the same loops in C (`Sources/CSparseSIMD/`), chosen at run time from
/// the CPU's features. Every path performs the same float32 operations in the same order (separate
/// multiply and add, no FMA, entries in stored order, as `spmm_ref`), so results are bitwise
/// identical whichever path runs: the choice never changes a number, only the time. Since every
/// rank stores a row's entries in ascending global column order, row sums are also the same for any
/// number of ranks. docs/PERFORMANCE.md has the measurements behind each choice.
public enum Sparse {
    /// Which implementation of the kernels runs.
    public enum Path: Int, Sendable, CaseIterable, CustomStringConvertible {
        /// Swift SIMD16<Float> loops at the target's baseline vector width (4 floats on x86-64).
        case portable = 0
        /// x86-64 AVX2 (8 floats per instruction).
        case avx2 = 1
        /// x86-64 AVX-512F (16 floats per instruction).
        case avx512 = 2

        public var description: String { ["portable", "avx2", "avx512"][rawValue] }
    }

    /// The widest path this CPU (and OS) supports.
    public static let supportedPath: Path = Path(rawValue: Int(stgnn_simd_level())) ?? .portable

    /// The path used by default: `supportedPath`, or a narrower one named by the environment
    /// variable `STGNN_SIMD` (`portable`, `avx2`, `avx512`; a wider one than supported is capped),
    /// for measurements and for ruling the wide paths out when diagnosing.
    public static let defaultPath: Path = {
        guard let raw = getenv("STGNN_SIMD") else { return supportedPath }
        let name = String(cString: raw).lowercased()
        guard let wanted = Path.allCases.first(where: { $0.description == name }) else { return supportedPath }
        return Path(rawValue: Swift.min(wanted.rawValue, supportedPath.rawValue))!
    }()

    /// Bytes of float32 accumulator the transposed product keeps per column block: it is split into
    /// column blocks of at most this size so that the scatter target stays in a core's L2 cache.
    public static let transposedAccumulatorBudget = 512 * 1024

    /// C[0..<A.rows, 0..<w] = A · B[:, 0..<w] (float32; each row summed in stored entry order).
    ///
    /// - A: rows × cols CSR. B: cols × ≥w (ldb). C: rows × ≥w (ldc), overwritten.
    /// - path: the implementation (all give bitwise identical results); default `defaultPath`.
    /// - pool: threads over fixed blocks of `ThreadPool.rowBlock` rows (each row is computed by
    ///   one thread in the same order, so the result does not depend on the pool).
    // `@_specialize`: callers in other modules (the model, the bench) reach a copy compiled for
    // each index type instead of the generic body, whose per-entry loops (portable path, the
    // touched-gene scan of the transposed product) would go through protocol witnesses.
    @_specialize(where Index == Int32)
    @_specialize(where Index == UInt16)
    public static func spmm<Index: SparseIndex>(_ a: CompressedRows<Index>, _ b: UnsafePointer<Float>, ldb: Int, width w: Int,
                            into c: UnsafeMutablePointer<Float>, ldc: Int, path: Path = defaultPath,
                            pool: ThreadPool = .serial) {
        if a.rows == 0 || w <= 0 { return }
        if a.nnz == 0 {
            for i in 0..<a.rows { (c + i &* ldc).update(repeating: 0, count: w) }
            return
        }
        let p = Path(rawValue: Swift.min(path.rawValue, supportedPath.rawValue))!
        a.indptr.withUnsafeBufferPointer { ptr in
        a.indices.withUnsafeBufferPointer { idx in
        a.values.withUnsafeBufferPointer { val in
            let pp = ptr.baseAddress!, ip = idx.baseAddress!, vp = val.baseAddress!
            pool.forEachBlock(count: a.rows) { rows in
                spmmRows(rows, p, pp, ip, vp, b, ldb: ldb, width: w, into: c, ldc: ldc)
            }
        } } }
    }

    /// `spmm` on one range of rows with the given path. `add`: each row's sums continue from C's
    /// current values (C += A·B) instead of +0, so a row whose entries are split into column
    /// blocks, taken in order, gets exactly the operations of the whole row (`ColumnBlocks`).
    /// The AVX paths are the C instantiations for `Index` (`SparseIndex`).
    @inline(__always)
    static func spmmRows<Index: SparseIndex>(_ rows: Range<Int>, _ p: Path, _ pp: UnsafePointer<Int>,
                                             _ ip: UnsafePointer<Index>, _ vp: UnsafePointer<Float>,
                                             _ b: UnsafePointer<Float>, ldb: Int, width w: Int,
                                             into c: UnsafeMutablePointer<Float>, ldc: Int, add: Bool = false) {
        switch p {
        case .avx512, .avx2:
            Index.simdSpmmRows(rows, p, pp, ip, vp, b, ldb: ldb, width: w, into: c, ldc: ldc, add: add)
        case .portable:
            spmmPortable(rows: rows, pp, ip, vp, b, ldb: ldb, width: w, into: c, ldc: ldc, add: add)
        }
    }

    /// Unaligned load of 16 floats.
    @inline(__always) static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    /// Unaligned store of 16 floats.
    @inline(__always) static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    /// Portable `spmm` on a row range: 32 output columns at a time kept in registers (eight SSE
    /// registers on x86-64) while the row's entries stream past, then 16, then single columns.
    /// `add`: start from C's values instead of +0.
    static func spmmPortable<Index: SparseIndex>(rows: Range<Int>, _ ptr: UnsafePointer<Int>, _ idx: UnsafePointer<Index>,
                             _ val: UnsafePointer<Float>, _ b: UnsafePointer<Float>, ldb: Int, width w: Int,
                             into c: UnsafeMutablePointer<Float>, ldc: Int, add: Bool = false) {
        for i in rows {
            let ci = c + i &* ldc
            let lo = ptr[i], hi = ptr[i &+ 1]
            var j0 = 0
            while j0 &+ 32 <= w {
                var a0 = add ? load16(ci + j0) : SIMD16<Float>(), a1 = add ? load16(ci + (j0 &+ 16)) : SIMD16<Float>()
                for p in lo..<hi {
                    let v = SIMD16<Float>(repeating: val[p])
                    let bp = b + (Int(idx[p]) &* ldb &+ j0)
                    a0 = a0 + v * load16(bp)
                    a1 = a1 + v * load16(bp + 16)
                }
                store16(a0, ci + j0)
                store16(a1, ci + (j0 &+ 16))
                j0 &+= 32
            }
            if j0 &+ 16 <= w {
                var a0 = add ? load16(ci + j0) : SIMD16<Float>()
                for p in lo..<hi { a0 = a0 + SIMD16<Float>(repeating: val[p]) * load16(b + (Int(idx[p]) &* ldb &+ j0)) }
                store16(a0, ci + j0)
                j0 &+= 16
            }
            while j0 < w {
                var s: Float = add ? ci[j0] : 0
                for p in lo..<hi { s = s + val[p] * b[Int(idx[p]) &* ldb &+ j0] }
                ci[j0] = s
                j0 &+= 1
            }
        }
    }

    /// Reference for `spmm`: plain loops, entries summed one at a time.
    public static func spmm_ref<Index: SparseIndex>(_ a: CompressedRows<Index>, _ b: [Float], ldb: Int, width w: Int) -> [Float] {
        var c = [Float](repeating: 0, count: a.rows * w)
        for i in 0..<a.rows {
            for p in a.indptr[i]..<a.indptr[i + 1] {
                for j in 0..<w { c[i * w + j] += a.values[p] * b[Int(a.indices[p]) * ldb + j] }
            }
        }
        return c
    }

    /// C (A.cols × w, float64) += Aᵀ · B[0..<A.rows, 0..<w]: the transpose product, a reduction over
    /// A's rows (spots). Accumulates float32 partial sums over blocks of `block` rows into `c`
    /// (float64), so the error does not grow with the number of spots.
    ///
    /// Each row's entries are scattered into a float32 accumulator (A.cols × a column block of B):
    /// the columns of B are taken in blocks small enough for that accumulator to stay in cache
    /// (`transposedAccumulatorBudget`), each block a pass over A's structure. Within a float32
    /// partial, rows are added in order, so the result depends on `block`, never on `path`.
    ///
    /// - scratch: reused float32 accumulator; grown as needed.
    /// - path: the implementation (all give bitwise identical results); default `defaultPath`.
    @_specialize(where Index == Int32)
    @_specialize(where Index == UInt16)
    public static func spmmTransposedAccumulate<Index: SparseIndex>(_ a: CompressedRows<Index>, _ b: UnsafePointer<Float>, ldb: Int, width w: Int,
                                                into c: UnsafeMutablePointer<Double>, ldc: Int,
                                                scratch: inout [Float], block: Int = Sparse.partialRows,
                                                path: Path = defaultPath) {
        let g = a.cols
        if a.rows == 0 || g == 0 || w <= 0 || a.nnz == 0 { return }
        precondition(block >= 1, "spmmTransposedAccumulate: block must be positive")
        let sw = transposedColumnBlock(genes: g, width: w)
        if scratch.count < g * sw + alignmentSlack { scratch = [Float](repeating: 0, count: g * sw + alignmentSlack) }
        let p = Path(rawValue: Swift.min(path.rawValue, supportedPath.rawValue))!
        // Blocks holding fewer entries than A has columns zero and flush only the columns they
        // touch (a slide with many genes and few counts per spot); others sweep the whole block.
        var touched = [Bool]()
        var touchedList = [Int]()
        scratch.withUnsafeMutableBufferPointer { s in
        a.indptr.withUnsafeBufferPointer { ptr in
        a.indices.withUnsafeBufferPointer { idx in
        a.values.withUnsafeBufferPointer { val in
            let acc = cacheLineAligned(s.baseAddress!)
            let pp = ptr.baseAddress!, ip = idx.baseAddress!, vp = val.baseAddress!
            var s0 = 0
            while s0 < w {
                let cw = Swift.min(sw, w &- s0)
                var r0 = 0
                while r0 < a.rows {
                    let r1 = Swift.min(a.rows, r0 &+ block)
                    let sparseBlock = pp[r1] &- pp[r0] < g
                    if sparseBlock {
                        if touched.isEmpty { touched = [Bool](repeating: false, count: g) }
                        for q in pp[r0]..<pp[r1] {
                            let col = Int(ip[q])
                            if !touched[col] {
                                touched[col] = true
                                touchedList.append(col)
                                (acc + col &* cw).update(repeating: 0, count: cw)
                            }
                        }
                    } else {
                        acc.update(repeating: 0, count: g &* cw)
                    }
                    let bs = b + s0
                    switch p {
                    case .avx512, .avx2: Index.simdScatterRows(r0..<r1, p, pp, ip, vp, bs, ldb: ldb, width: cw, into: acc)
                    case .portable: scatterPortable(rows: r0..<r1, pp, ip, vp, bs, ldb: ldb, width: cw, into: acc)
                    }
                    if sparseBlock {
                        for col in touchedList {
                            addToDouble(acc + col &* cw, c + (col &* ldc &+ s0), count: cw)
                            touched[col] = false
                        }
                        touchedList.removeAll(keepingCapacity: true)
                    } else {
                        for col in 0..<g { addToDouble(acc + col &* cw, c + (col &* ldc &+ s0), count: cw) }
                    }
                    r0 = r1
                }
                s0 &+= cw
            }
        } } } }
    }

    /// Columns of B per pass of the transposed product: all of them when the G×w float32
    /// accumulator fits `transposedAccumulatorBudget`, else the widest multiple of 16 that fits
    /// (at least 16).
    public static func transposedColumnBlock(genes g: Int, width w: Int) -> Int {
        if g &* w &* 4 <= transposedAccumulatorBudget { return w }
        let fit = transposedAccumulatorBudget / Swift.max(1, g &* 4)
        return Swift.min(w, Swift.max(16, fit / 16 * 16))
    }

    /// Portable scatter on a row range: acc[idx[p], 0..<w] += val[p]·B[i, 0..<w] (acc row stride w),
    /// 32 columns of B's row held in registers while the row's entries are scattered.
    static func scatterPortable<Index: SparseIndex>(rows: Range<Int>, _ ptr: UnsafePointer<Int>, _ idx: UnsafePointer<Index>,
                                _ val: UnsafePointer<Float>, _ b: UnsafePointer<Float>, ldb: Int, width w: Int,
                                into acc: UnsafeMutablePointer<Float>) {
        for i in rows {
            let bi = b + i &* ldb
            let lo = ptr[i], hi = ptr[i &+ 1]
            var j0 = 0
            while j0 &+ 32 <= w {
                let b0 = load16(bi + j0), b1 = load16(bi + (j0 &+ 16))
                for p in lo..<hi {
                    let v = SIMD16<Float>(repeating: val[p])
                    let ap = acc + (Int(idx[p]) &* w &+ j0)
                    store16(load16(ap) + v * b0, ap)
                    store16(load16(ap + 16) + v * b1, ap + 16)
                }
                j0 &+= 32
            }
            if j0 &+ 16 <= w {
                let b0 = load16(bi + j0)
                for p in lo..<hi {
                    let ap = acc + (Int(idx[p]) &* w &+ j0)
                    store16(load16(ap) + SIMD16<Float>(repeating: val[p]) * b0, ap)
                }
                j0 &+= 16
            }
            while j0 < w {
                let bj = bi[j0]
                for p in lo..<hi { acc[Int(idx[p]) &* w &+ j0] += val[p] * bj }
                j0 &+= 1
            }
        }
    }

    /// Rows of A per float32 partial of the transposed products (`spmmTransposedAccumulate`,
    /// `TransposedBlocks`), by default: the sums over more rows are float64 (DESIGN §1).
    public static let partialRows = 4096

    /// Floats of slack a scratch array carries so that `cacheLineAligned` of its base fits.
    static let alignmentSlack = 16

    /// `p` rounded up to the next 64-byte boundary. The float32 accumulators of the transposed
    /// products live in Swift arrays, whose elements start 32 bytes (plus malloc's 16) past a
    /// boundary, so that every 64-byte row load and store of the AVX-512 kernels would straddle
    /// two cache lines; the activation arena the other operands live in is 64-byte aligned
    /// already. The numbers do not depend on where the buffer starts.
    @inline(__always)
    static func cacheLineAligned(_ p: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        let a = UInt(bitPattern: p), up = (a &+ 63) & ~UInt(63)
        return p + Int((up &- a) / 4)
    }

    /// dst[0..<count] = Double(src[0..<count]), four at a time.
    @inline(__always)
    public static func storeAsDouble(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Double>, count: Int) {
        var j = 0
        while j &+ 4 <= count {
            let f = UnsafeRawPointer(src + j).loadUnaligned(as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(dst + j).storeBytes(of: SIMD4<Double>(f), as: SIMD4<Double>.self)
            j &+= 4
        }
        while j < count { dst[j] = Double(src[j]); j &+= 1 }
    }

    /// dst[0..<count] += Double(src[0..<count]), four at a time.
    @inline(__always)
    static func addToDouble(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Double>, count: Int) {
        var j = 0
        while j &+ 4 <= count {
            let f = UnsafeRawPointer(src + j).loadUnaligned(as: SIMD4<Float>.self)
            let d = UnsafeRawPointer(dst + j).loadUnaligned(as: SIMD4<Double>.self)
            UnsafeMutableRawPointer(dst + j).storeBytes(of: d + SIMD4<Double>(f), as: SIMD4<Double>.self)
            j &+= 4
        }
        while j < count { dst[j] += Double(src[j]); j &+= 1 }
    }

    /// Reference for `spmmTransposedAccumulate`: Aᵀ·B summed directly in float64.
    public static func spmmTransposed_ref<Index: SparseIndex>(_ a: CompressedRows<Index>, _ b: [Float], ldb: Int, width w: Int) -> [Double] {
        var c = [Double](repeating: 0, count: a.cols * w)
        for i in 0..<a.rows {
            for p in a.indptr[i]..<a.indptr[i + 1] {
                let col = Int(a.indices[p])
                for j in 0..<w { c[col * w + j] += Double(a.values[p]) * Double(b[i * ldb + j]) }
            }
        }
        return c
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Aᵀ·B as a gather: A's rows cut into the same fixed blocks of `block` rows as
/// `Sparse.spmmTransposedAccumulate` (4096: the float32 partials of DESIGN §1), each block stored
/// transposed (CSR of Aᵀ, i.e. A in CSC), built once when A is fixed for the run (X).
///
/// `accumulate` computes, for every column g of A and every row block in order, the float32 sum
/// over the block's rows (ascending) of A[i, g]·B[i, :], starting from +0 with separate multiplies
/// and adds (the `spmm` kernels on Aᵀ), and adds it to the float64 output: exactly the operations
/// of the scatter form, so the result is bitwise equal to `spmmTransposedAccumulate` (same block);
/// and since each output row (column g of A) is one task's, equal for any number of threads.
///
/// The blocks' indices are rows within a block (at most `block` ≤ 65 536), so they take A's own
/// index type: 16 bits for a 16-bit X.
public struct TransposedBlocks<Index: SparseIndex>: Sendable {
    /// A's shape.
    public let rows: Int, cols: Int
    /// Rows of A per float32 partial.
    public let block: Int
    /// Per block: (first row of A, Aᵀ restricted to the block: cols × rows-in-block, local row
    /// indices, itself cut into `ColumnBlocks` of `subBlock` rows of A so that the rows of B one
    /// pass gathers stay in L2; the same bits for any `subBlock`).
    public let blocks: [(start: Int, t: ColumnBlocks<Index>)]

    /// - block: rows of A per float32 partial (the numbers depend on it).
    /// - subBlock: rows of A per gather pass inside a block (only the time depends on it).
    public init(_ a: CompressedRows<Index>, block: Int = Sparse.partialRows, subBlock: Int = TransposedBlocks.defaultSubBlock,
                outputBlock: Int = TransposedBlocks.defaultOutputBlock) {
        precondition(block >= 1 && subBlock >= 1 && outputBlock >= 1, "TransposedBlocks: block sizes must be positive")
        self.outputBlock = outputBlock
        precondition(Swift.min(block, a.rows) <= Index.columnLimit, "TransposedBlocks: \(block) rows per block do not fit \(Index.self)")
        rows = a.rows; cols = a.cols; self.block = block
        var bs = [(start: Int, t: ColumnBlocks<Index>)]()
        var r0 = 0
        while r0 < a.rows {
            let r1 = Swift.min(a.rows, r0 + block)
            bs.append((r0, ColumnBlocks(a.selectingRows(Array(r0..<r1)).transposed(), block: subBlock)))
            r0 = r1
        }
        blocks = bs
    }

    /// Rows of the output (columns of A) per task.
    /// Defaults measured on DLPFC's X (3460 × 3000, w = 128, one core, operands 64-byte aligned,
    /// `stgnn-bench kernels`, same run): 256 output rows (genes) per task and gather passes over
    /// 128 rows of A (spots: 64 KB of B) ran 54.5 GFLOP/s against 50.0 for 128 and 256, the
    /// previous choice (384 genes: 53.8–55.2; sub-blocks of 64 spots: 51.4; of 256: 52.2).
    public static var defaultOutputBlock: Int { 256 }
    /// Rows of A per gather pass by default (see `defaultOutputBlock`).
    public static var defaultSubBlock: Int { 128 }
    /// Columns of A (rows of the output) per task.
    public let outputBlock: Int

    /// c (A.cols × w, float64, ldc) += Aᵀ · B[0..<A.rows, 0..<w] (ldb). scratch: float32, grown to
    /// A.cols × w. Bitwise equal to `Sparse.spmmTransposedAccumulate(…, block: block)`.
    /// `finish(task, columns)`: run once per `outputBlock` columns of A (task = their index), by
    /// the task that made their rows of c, right after, while they are in the core's cache; or,
    /// when the tasks are narrower (`columnsPerTask`: few columns for the threads) or over row
    /// blocks (`splitsRowBlocks`), on the pool after the pass.
    /// `overwrite`: c = Aᵀ · B instead (c need not be zeroed first): the first block's float32
    /// partials are stored instead of added to +0 (the same bits: a partial is never −0, since its
    /// sum starts from +0 and round-to-nearest gives +0 for exact cancellation).
    @_specialize(where Index == Int32)
    @_specialize(where Index == UInt16)
    public func accumulate(_ b: UnsafePointer<Float>, ldb: Int, width w: Int,
                           into c: UnsafeMutablePointer<Double>, ldc: Int, scratch: inout [Float],
                           overwrite: Bool = false, path: Sparse.Path = Sparse.defaultPath, pool: ThreadPool = .serial,
                           finish: ((_ task: Int, _ columns: Range<Int>) -> Void)? = nil) {
        if cols == 0 || w <= 0 { return }
        if rows == 0 {
            if overwrite { for col in 0..<cols { (c + col &* ldc).update(repeating: 0, count: w) } }
            if let finish { finishAfterPass(finish, pool: pool) }
            return
        }
        let p = Sparse.Path(rawValue: Swift.min(path.rawValue, Sparse.supportedPath.rawValue))!
        let blocks = self.blocks, g = cols, ob = outputBlock
        let perTask = Self.columnsPerTask(cols: g, outputBlock: ob, threads: pool.threads)
        if Self.splitsRowBlocks(rowBlocks: blocks.count, cols: g, width: w, outputBlock: ob, threads: pool.threads) {
            accumulateByRowBlocks(b, ldb: ldb, width: w, into: c, ldc: ldc, scratch: &scratch, overwrite: overwrite,
                                  path: p, pool: pool)
            if let finish { finishAfterPass(finish, pool: pool) }
            return
        }
        if scratch.count < cols * w + Sparse.alignmentSlack { scratch = [Float](repeating: 0, count: cols * w + Sparse.alignmentSlack) }
        scratch.withUnsafeMutableBufferPointer { s in
            let acc = Sparse.cacheLineAligned(s.baseAddress!)
            pool.forEachBlock(count: g, block: perTask) { genes in
                for (k, (start, t)) in blocks.enumerated() {
                    if t.nnz > 0 { t.multiplyRows(genes, b + start &* ldb, ldb: ldb, width: w, into: acc, ldc: w, path: p) }
                    Self.addPartials(of: t, acc, columns: genes, first: overwrite && k == 0, width: w, into: c, ldc: ldc)
                }
                if perTask == ob { finish?(genes.lowerBound / ob, genes) }
            }
            // Tasks narrower than the output blocks: each block's rows are complete only now.
            if perTask != ob, let finish { finishAfterPass(finish, pool: pool) }
        }
    }

    /// `finish` once per output block, on the pool, after the whole pass.
    func finishAfterPass(_ finish: (_ task: Int, _ columns: Range<Int>) -> Void, pool: ThreadPool) {
        let ob = outputBlock, g = cols
        pool.run(tasks: ThreadPool.blockCount(g, block: ob)) { t in finish(t, (t &* ob)..<Swift.min(g, (t &+ 1) &* ob)) }
    }

    /// Adds one row block's float32 partials (`acc`, row stride `width`, as `t.multiplyRows` left
    /// them) of `columns` to c in float64; `first`: stores them instead (c = the first block's
    /// partials, columns with no entries in the block set to 0). Columns with no entries in the
    /// block are not touched otherwise (their partial would be +0).
    @inline(__always)
    static func addPartials(of t: ColumnBlocks<Index>, _ acc: UnsafePointer<Float>, columns: Range<Int>, first: Bool,
                            width w: Int, into c: UnsafeMutablePointer<Double>, ldc: Int) {
        if t.nnz == 0 {
            if first { for col in columns { (c + col &* ldc).update(repeating: 0, count: w) } }
            return
        }
        t.indptr.withUnsafeBufferPointer { pp in
            for col in columns {
                if pp[col &+ 1] > pp[col] {
                    if first { Sparse.storeAsDouble(acc + col &* w, c + col &* ldc, count: w) }
                    else { Sparse.addToDouble(acc + col &* w, c + col &* ldc, count: w) }
                } else if first {
                    (c + col &* ldc).update(repeating: 0, count: w)
                }
            }
        }
    }

    /// Whether `accumulate` on `threads` threads takes its tasks over A's row blocks instead of its
    /// columns: when the columns are too few for the threads (`columnsPerTask` would narrow the
    /// tasks), there are row blocks enough for two per thread, and one block's float32 partials
    /// of every column (cols × width) fit half a 1 MiB L2. A gene panel on a slide of 10⁵–10⁶
    /// cells: narrow column tasks would each stream all of B through the cache, where a row block's
    /// task reads its own rows of B once.
    public static func splitsRowBlocks(rowBlocks: Int, cols: Int, width: Int, outputBlock: Int, threads: Int) -> Bool {
        threads > 1 && rowBlocks >= 2 * threads && cols * width * 4 <= 512 * 1024
            && columnsPerTask(cols: cols, outputBlock: outputBlock, threads: threads) < outputBlock
    }

    /// `accumulate` with one task per row block: waves of as many blocks as threads, each task
    /// forming its block's float32 partials of every column in a slot of its own, then every
    /// column's partials added to c in block order (tasks over the columns). The operations of the
    /// column-task form, block by block, so the same bits.
    func accumulateByRowBlocks(_ b: UnsafePointer<Float>, ldb: Int, width w: Int, into c: UnsafeMutablePointer<Double>,
                               ldc: Int, scratch: inout [Float], overwrite: Bool, path p: Sparse.Path,
                               pool: ThreadPool) {
        let g = cols, blocks = self.blocks, wave = pool.threads
        let slot = (g &* w &+ 15) / 16 &* 16          // floats per partial, whole cache lines
        if scratch.count < wave * slot + Sparse.alignmentSlack {
            scratch = [Float](repeating: 0, count: wave * slot + Sparse.alignmentSlack)
        }
        scratch.withUnsafeMutableBufferPointer { s in
            let base = Sparse.cacheLineAligned(s.baseAddress!)
            var k0 = 0
            while k0 < blocks.count {
                let k1 = Swift.min(blocks.count, k0 &+ wave)
                pool.run(tasks: k1 &- k0) { j in
                    let (start, t) = blocks[k0 &+ j]
                    if t.nnz > 0 { t.multiplyRows(0..<g, b + start &* ldb, ldb: ldb, width: w, into: base + j &* slot, ldc: w, path: p) }
                }
                pool.forEachBlock(count: g, block: 64) { genes in
                    for k in k0..<k1 {
                        Self.addPartials(of: blocks[k].t, base + (k &- k0) &* slot, columns: genes,
                                         first: overwrite && k == 0, width: w, into: c, ldc: ldc)
                    }
                }
                k0 = k1
            }
        }
    }

    /// Columns of A (rows of the output) per task of `accumulate` on `threads` threads: the output
    /// block, unless a fraction 1/2, 1/4, … of it (down to 16) makes the busiest thread's share of
    /// the columns at least an eighth smaller; then the one with the smallest share, ties to the
    /// wider. A panel of a few hundred genes is otherwise one or two tasks, and the pass over Xᵀ
    /// runs on one or two threads however many there are (MERFISH's 161 genes: one of two). Each
    /// output row is still one task's, summed the same way, so the bits do not depend on this;
    /// only `finish` moves after the pass, so an eighth must pay for losing its cache locality.
    public static func columnsPerTask(cols: Int, outputBlock: Int, threads: Int) -> Int {
        guard threads > 1, cols > 0 else { return outputBlock }
        // The busiest thread's columns when tasks of b columns (the last one shorter) are taken
        // in order by whichever thread is free: k full tasks spread ⌈k/T⌉ or ⌊k/T⌋ per thread, and
        // the short one goes to a thread with the fewer.
        func share(_ b: Int) -> Int {
            let k = cols / b, r = cols % b
            return k % threads != 0 ? (k + threads - 1) / threads * b : k / threads * b + r
        }
        let whole = share(outputBlock)
        var best = outputBlock, bestShare = whole
        var b = outputBlock / 2
        while b >= 16 {
            let s = share(b)
            if s * 8 <= whole * 7 && s < bestShare { best = b; bestShare = s }
            b /= 2
        }
        return best
    }
}

/// A·B with A's columns cut into fixed blocks, built once when A is fixed for the run: each
/// task takes its rows through the column blocks in order, so the rows of B one block reads
/// (block × w floats) stay in the core's L2 cache instead of the whole of B. X·[W1|W2ᵀ] on DLPFC:
/// B is 3000 × 128 floats = 1.5 MB against a 1 MiB L2; the gather form of Xᵀ·[Y|∂U]
/// (`TransposedBlocks`): B is 4096 spots × 128 floats = 2 MB per row block.
///
/// A row's sum continues from block to block (`Sparse.spmmRows(add:)`) over its entries in stored
/// (ascending column) order, starting from +0, with separate multiplies and adds: the same
/// operations as `Sparse.spmm` on the whole row, so the result is bitwise equal to `spmm` (and to
/// `spmm_ref`) for any block size, path and pool.
public struct ColumnBlocks<Index: SparseIndex>: Sendable {
    /// A's shape.
    public let rows: Int, cols: Int
    /// A's row pointers (rows + 1): which rows have entries at all.
    public let indptr: [Int]
    /// Per block: (first column of A, A restricted to the block's columns: rows × block, local columns).
    public let blocks: [(start: Int, part: CompressedRows<Index>)]

    /// A cut into blocks of `block` columns (the last one shorter).
    public init(_ a: CompressedRows<Index>, block: Int) {
        precondition(block >= 1, "ColumnBlocks: block must be positive")
        rows = a.rows; cols = a.cols; indptr = a.indptr
        var bs = [(start: Int, part: CompressedRows<Index>)]()
        var c0 = 0
        while c0 < a.cols {
            let c1 = Swift.min(a.cols, c0 + block)
            bs.append((c0, a.selectingColumns(Array(c0..<c1))))
            c0 = c1
        }
        blocks = bs
    }

    /// Stored entries.
    public var nnz: Int { indptr.last ?? 0 }

    /// C[0..<rows, 0..<w] (ldc) = A · B[:, 0..<w] (ldb). Bitwise equal to `Sparse.spmm`.
    /// `beside`: independent work run as one more task of the same pool job (first, so that a
    /// long serial call overlaps the product's row blocks instead of following them).
    @_specialize(where Index == Int32)
    @_specialize(where Index == UInt16)
    public func multiply(_ b: UnsafePointer<Float>, ldb: Int, width w: Int, into c: UnsafeMutablePointer<Float>,
                         ldc: Int, path: Sparse.Path = Sparse.defaultPath, pool: ThreadPool = .serial,
                         beside: (() -> Void)? = nil) {
        let p = Sparse.Path(rawValue: Swift.min(path.rawValue, Sparse.supportedPath.rawValue))!
        let block = ThreadPool.rowBlock, blocks = w > 0 ? ThreadPool.blockCount(rows) : 0
        let first = beside == nil ? 0 : 1
        pool.run(tasks: blocks &+ first) { t in
            if t < first { beside!(); return }
            let r0 = (t &- first) &* block
            multiplyRows(r0..<Swift.min(rows, r0 &+ block), b, ldb: ldb, width: w, into: c, ldc: ldc, path: p)
        }
    }

    /// `multiply` on one range of rows, on the calling thread, with a supported path.
    func multiplyRows(_ r: Range<Int>, _ b: UnsafePointer<Float>, ldb: Int, width w: Int,
                      into c: UnsafeMutablePointer<Float>, ldc: Int, path p: Sparse.Path) {
        if blocks.isEmpty {
            for i in r { (c + i &* ldc).update(repeating: 0, count: w) }
            return
        }
        for (k, (start, part)) in blocks.enumerated() {
            part.indptr.withUnsafeBufferPointer { ptr in
            part.indices.withUnsafeBufferPointer { idx in
            part.values.withUnsafeBufferPointer { val in
                Sparse.spmmRows(r, p, ptr.baseAddress!, idx.baseAddress!, val.baseAddress!, b + start &* ldb,
                                ldb: ldb, width: w, into: c, ldc: ldc, add: k > 0)
            } } }
        }
    }
}

/// The column block of `ColumnBlocks` (whatever its index type).
public enum ColumnBlockSize {
    /// Bytes of B one column block reads: 96 KiB. Measured on DLPFC's X (3460 × 3000, 272 entries
    /// a row), w = 128, one core, against one pass: blocks of 128–384 genes 1.2–1.4× faster, 1024
    /// only 1.1× (docs/PERFORMANCE.md); then, with the operands 64-byte aligned as the model's are
    /// (same run, two runs): 192 genes 67.8–68.2 GFLOP/s, 128: 64.7–65.3, 256: 60.4–63.6,
    /// 384: 58.1–58.2, 512: 54.5–54.9.
    public static let budget = 96 * 1024

    /// Columns per block for products `width` floats wide: `budget` / (4·width), at least 16.
    public static func columns(width: Int) -> Int { Swift.max(16, budget / (4 * Swift.max(1, width))) }
}
