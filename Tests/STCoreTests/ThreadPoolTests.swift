import XCTest
import Foundation
import STCore

/// `ThreadPool` and the threaded kernels: every result bitwise equal to the single-thread one.
final class ThreadPoolTests: XCTestCase {
    func testPoolRunsEveryTaskOnce() {
        for threads in [1, 2, 3, 4] {
            let pool = ThreadPool(threads: threads)
            for tasks in [0, 1, 2, 7, 1000] {
                var hits = [Int](repeating: 0, count: tasks)
                hits.withUnsafeMutableBufferPointer { h in
                    let hp = h.baseAddress
                    pool.run(tasks: tasks) { t in hp![t] += 1 }
                }
                XCTAssertEqual(hits, [Int](repeating: 1, count: tasks), "\(threads) threads, \(tasks) tasks")
            }
            var covered = [Int](repeating: 0, count: 1001)
            covered.withUnsafeMutableBufferPointer { c in
                let cp = c.baseAddress!
                pool.forEachBlock(count: 1001, block: 64) { r in for i in r { cp[i] += 1 } }
            }
            XCTAssertEqual(covered, [Int](repeating: 1, count: 1001))
        }
    }

    /// Many short jobs back to back, on more threads than this machine has cores (so workers are
    /// descheduled, join late, or miss whole jobs): every task of every job runs exactly once, its
    /// writes are visible when `run` returns, and a task running long on a worker holds the job
    /// until it ends (the caller never returns before every task has finished).
    func testPoolUnderContentionRunsEveryTaskOnceAndWaitsForRunningTasks() {
        for threads in [2, 3, 8] {
            let pool = ThreadPool(threads: threads)
            var hits = [Int](repeating: 0, count: 64)
            var bad = 0
            hits.withUnsafeMutableBufferPointer { h in
                let hp = h.baseAddress!
                for job in 0..<20_000 {
                    let tasks = 2 + job % 63
                    pool.run(tasks: tasks) { t in hp[t] &+= 1 }
                    for t in 0..<tasks where hp[t] != 1 { bad += 1 }
                    for t in 0..<tasks { hp[t] = 0 }
                }
                // A slow task (on whichever thread takes it): its write must be there on return.
                for _ in 0..<20 {
                    pool.run(tasks: 4) { t in
                        if t == 3 { usleep(2000) }
                        hp[t] = 7
                    }
                    for t in 0..<4 where hp[t] != 7 { bad += 1 }
                    for t in 0..<4 { hp[t] = 0 }
                }
            }
            XCTAssertEqual(bad, 0, "\(threads) threads")
        }
    }

    func testThreadedSpmmBitwiseEqualSerial() {
        let a = raggedCSR(rows: 1100, cols: 300, seed: 3)
        let w = 70, ldb = 80
        let b = randomDense(300 * ldb, seed: 4)
        let ref = Sparse.spmm_ref(a, b, ldb: ldb, width: w)
        for threads in [1, 2, 3, 4] {
            let pool = ThreadPool(threads: threads)
            for path in Sparse.Path.allCases where path.rawValue <= Sparse.supportedPath.rawValue {
                var c = [Float](repeating: .nan, count: a.rows * w)
                c.withUnsafeMutableBufferPointer { cp in
                    Sparse.spmm(a, b, ldb: ldb, width: w, into: cp.baseAddress!, ldc: w, path: path, pool: pool)
                }
                XCTAssertEqual(c.map(\.bitPattern), ref.map(\.bitPattern), "\(threads) threads, \(path)")
            }
        }
    }

    /// X·B over column blocks (each row's sum continued block after block) against `spmm_ref`,
    /// bitwise: blocks of 1 column to more than A has, widths with every tail (128-, 64-, 32-,
    /// 16-column chunks, single columns), strided operands, rows empty in some blocks, 1–4 threads, every path.
    func testColumnBlocksBitwiseEqualSpmm() {
        let a = raggedCSR(rows: 700, cols: 290, seed: 11)
        for (w, ldb, ldc) in [(128, 128, 128), (64, 128, 128), (70, 80, 75), (16, 16, 16), (5, 9, 7), (247, 250, 251)] {
            let b = randomDense(a.cols * ldb, seed: 12)
            let ref = Sparse.spmm_ref(a, b, ldb: ldb, width: w)
            for block in [1, 7, 64, 100, 290, 1000] {
                let blocks = ColumnBlocks(a, block: block)
                XCTAssertEqual(blocks.blocks.count, (a.cols + block - 1) / block)
                XCTAssertEqual(blocks.blocks.map(\.part.nnz).reduce(0, +), a.nnz)
                for threads in [1, 2, 3, 4] {
                    let pool = ThreadPool(threads: threads)
                    for path in Sparse.Path.allCases where path.rawValue <= Sparse.supportedPath.rawValue {
                        var c = [Float](repeating: .nan, count: a.rows * ldc)
                        var besideRuns = 0
                        c.withUnsafeMutableBufferPointer { cp in
                            blocks.multiply(b, ldb: ldb, width: w, into: cp.baseAddress!, ldc: ldc, path: path, pool: pool) {
                                besideRuns += 1
                            }
                        }
                        XCTAssertEqual(besideRuns, 1)
                        let got = (0..<a.rows).flatMap { i in c[(i * ldc)..<(i * ldc + w)] }
                        XCTAssertEqual(got.map(\.bitPattern), ref.map(\.bitPattern),
                                       "w \(w), block \(block), \(threads) threads, \(path)")
                    }
                }
            }
        }
        XCTAssertEqual(ColumnBlockSize.columns(width: 128), 192)   // DLPFC: 3000 genes in 16 blocks
    }

    /// The gather form over X in CSC (per row block, in sub-blocks of rows) against the scatter
    /// form, bitwise, with blocks and sub-blocks small enough that there are several, and empty columns.
    func testTransposedBlocksBitwiseEqualScatter() {
        var a = randomCSR(rows: 700, cols: 290, density: 0.08, seed: 5)
        a = a.selectingColumns(Array(0..<290).filter { $0 % 17 != 3 })   // (no empty columns yet)
        let cols = a.cols
        a = CSRMatrix(rows: a.rows, cols: cols + 5, indptr: a.indptr, indices: a.indices, values: a.values)  // 5 empty
        for (w, ldb) in [(128, 128), (40, 48), (16, 16), (247, 250)] {
            let b = randomDense(a.rows * ldb, seed: 6)
            for block in [100, 256, 4096] {
                var scatter = [Double](repeating: 0.5, count: a.cols * w), s32 = [Float]()
                scatter.withUnsafeMutableBufferPointer { c in
                    Sparse.spmmTransposedAccumulate(a, b, ldb: ldb, width: w, into: c.baseAddress!, ldc: w,
                                                    scratch: &s32, block: block)
                }
                var fromZero = [Double](repeating: 0, count: a.cols * w), z32 = [Float]()
                fromZero.withUnsafeMutableBufferPointer { c in
                    Sparse.spmmTransposedAccumulate(a, b, ldb: ldb, width: w, into: c.baseAddress!, ldc: w,
                                                    scratch: &z32, block: block)
                }
                for subBlock in [1, 37, 256, 5000] {
                    let blocks = TransposedBlocks(a, block: block, subBlock: subBlock)
                    for threads in [1, 2, 3, 4] {
                        let pool = ThreadPool(threads: threads)
                        for path in Sparse.Path.allCases where path.rawValue <= Sparse.supportedPath.rawValue {
                            var gather = [Double](repeating: 0.5, count: a.cols * w), g32 = [Float]()
                            gather.withUnsafeMutableBufferPointer { c in
                                blocks.accumulate(b, ldb: ldb, width: w, into: c.baseAddress!, ldc: w, scratch: &g32,
                                                  path: path, pool: pool)
                            }
                            XCTAssertEqual(gather.map(\.bitPattern), scatter.map(\.bitPattern),
                                           "w \(w), block \(block), sub-block \(subBlock), \(threads) threads, \(path)")
                            // overwrite: c = Aᵀ·B whatever c held, the bits of the sum from +0
                            // (empty columns included: they become 0).
                            var fresh = [Double](repeating: .nan, count: a.cols * w)
                            fresh.withUnsafeMutableBufferPointer { c in
                                blocks.accumulate(b, ldb: ldb, width: w, into: c.baseAddress!, ldc: w, scratch: &g32,
                                                  overwrite: true, path: path, pool: pool)
                            }
                            XCTAssertEqual(fresh.map(\.bitPattern), fromZero.map(\.bitPattern),
                                           "overwrite: w \(w), block \(block), sub-block \(subBlock), \(threads) threads, \(path)")
                        }
                    }
                }
            }
        }
    }

    /// Tasks of the pass over Aᵀ: the output block when it keeps the threads busy, narrower for a
    /// few hundred columns (a gene panel), never narrower than 16.
    func testColumnsPerTaskSpreadsAPanelOverTheThreads() {
        XCTAssertEqual(TransposedBlocks<Int32>.columnsPerTask(cols: 3000, outputBlock: 256, threads: 1), 256)
        XCTAssertEqual(TransposedBlocks<Int32>.columnsPerTask(cols: 3000, outputBlock: 256, threads: 2), 256)
        XCTAssertEqual(TransposedBlocks<Int32>.columnsPerTask(cols: 3000, outputBlock: 256, threads: 8), 128)
        XCTAssertEqual(TransposedBlocks<Int32>.columnsPerTask(cols: 161, outputBlock: 256, threads: 1), 256)
        XCTAssertEqual(TransposedBlocks<Int32>.columnsPerTask(cols: 161, outputBlock: 256, threads: 2), 16)
        XCTAssertEqual(TransposedBlocks<Int32>.columnsPerTask(cols: 33, outputBlock: 256, threads: 2), 16)
        XCTAssertEqual(TransposedBlocks<Int32>.columnsPerTask(cols: 377, outputBlock: 256, threads: 8), 16)
        XCTAssertEqual(TransposedBlocks<Int32>.columnsPerTask(cols: 20, outputBlock: 256, threads: 64), 16)
        XCTAssertEqual(TransposedBlocks<Int32>.columnsPerTask(cols: 0, outputBlock: 256, threads: 4), 256)
        // Row blocks instead: a panel on a large slide, not MERFISH's 3 blocks, not 3000 genes.
        XCTAssertTrue(TransposedBlocks<Int32>.splitsRowBlocks(rowBlocks: 49, cols: 161, width: 128, outputBlock: 256, threads: 2))
        XCTAssertFalse(TransposedBlocks<Int32>.splitsRowBlocks(rowBlocks: 49, cols: 161, width: 128, outputBlock: 256, threads: 1))
        XCTAssertFalse(TransposedBlocks<Int32>.splitsRowBlocks(rowBlocks: 3, cols: 161, width: 128, outputBlock: 256, threads: 2))
        XCTAssertFalse(TransposedBlocks<Int32>.splitsRowBlocks(rowBlocks: 1, cols: 3000, width: 128, outputBlock: 256, threads: 2))
        XCTAssertFalse(TransposedBlocks<Int32>.splitsRowBlocks(rowBlocks: 244, cols: 3000, width: 128, outputBlock: 256, threads: 8))
        XCTAssertTrue(TransposedBlocks<Int32>.splitsRowBlocks(rowBlocks: 244, cols: 377, width: 128, outputBlock: 256, threads: 8))
    }

    /// `finish` runs once per output block, with that block's range, when its rows of c are final:
    /// inside the tasks (one thread, or enough blocks) and after the pass (narrow tasks).
    func testTransposedBlocksFinishSeesCompleteRows() {
        for cols in [300, 512] { finishSeesCompleteRows(cols: cols, block: 400) }
        finishSeesCompleteRows(cols: 300, block: 100)      // 9 row blocks: 3 threads take them as tasks
        XCTAssertTrue(TransposedBlocks<Int32>.splitsRowBlocks(rowBlocks: 9, cols: 300, width: 32, outputBlock: 64, threads: 3))
        XCTAssertEqual(TransposedBlocks<Int32>.columnsPerTask(cols: 300, outputBlock: 64, threads: 3), 32,
                       "300 columns on 3 threads take the narrow path")
        XCTAssertEqual(TransposedBlocks<Int32>.columnsPerTask(cols: 300, outputBlock: 64, threads: 2), 64,
                       "300 columns on 2 threads: an eighth is not gained")
        XCTAssertEqual(TransposedBlocks<Int32>.columnsPerTask(cols: 512, outputBlock: 64, threads: 2), 64,
                       "512 columns on 2 threads finish inside the tasks")
    }

    func finishSeesCompleteRows(cols: Int, block: Int) {
        let a = randomCSR(rows: 900, cols: cols, density: 0.1, seed: 12)
        let w = 32, b = randomDense(a.rows * w, seed: 13)
        let blocks = TransposedBlocks(a, block: block, subBlock: 64, outputBlock: 64)
        var expected = [Double](repeating: 0, count: a.cols * w), s = [Float]()
        expected.withUnsafeMutableBufferPointer { c in
            blocks.accumulate(b, ldb: w, width: w, into: c.baseAddress!, ldc: w, scratch: &s, overwrite: true)
        }
        for threads in [1, 2, 3, 8] {
            let pool = ThreadPool(threads: threads)
            var out = [Double](repeating: .nan, count: a.cols * w), s2 = [Float]()
            let seen = UnsafeMutablePointer<Double>.allocate(capacity: a.cols * w)
            seen.initialize(repeating: .nan, count: a.cols * w)
            defer { seen.deallocate() }
            var calls = [[Int]](repeating: [], count: pool.threads + 1)
            let lock = NSLock()
            out.withUnsafeMutableBufferPointer { c in
                let cp = c.baseAddress!
                blocks.accumulate(b, ldb: w, width: w, into: cp, ldc: w, scratch: &s2, overwrite: true, pool: pool) { t, cols in
                    XCTAssertEqual(cols, (t * 64)..<min(a.cols, (t + 1) * 64))
                    (seen + cols.lowerBound * w).update(from: cp + cols.lowerBound * w, count: cols.count * w)
                    lock.lock(); calls[0].append(t); lock.unlock()
                }
            }
            XCTAssertEqual(calls[0].sorted(), Array(0..<((cols + 63) / 64)), "\(threads) threads: one call per output block")
            XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "\(threads) threads, row blocks of \(block)")
            XCTAssertEqual(Array(UnsafeBufferPointer(start: seen, count: a.cols * w)).map(\.bitPattern),
                           expected.map(\.bitPattern), "\(threads) threads: rows final when finish saw them")
        }
    }

    func testThreadedDenseProductsBitwiseEqualSerial() {
        for (n, d) in [(2500, 64), (10000, 64), (6920, 64), (4400, 16), (4400, 8), (300, 8)] { denseProducts(n: n, d: d) }
    }

    func denseProducts(n: Int, d: Int) {
        let a = randomDense(n * d, seed: 8), b = randomDense(d * d, seed: 9)
        var one = [Float](repeating: 0, count: n * d)
        one.withUnsafeMutableBufferPointer { c in
            BLAS.sgemm(m: n, n: d, k: d, alpha: 0.7, a: a, lda: d, b: b, ldb: d, c: c.baseAddress!, ldc: d)
        }
        var gramOne = [Double](repeating: 0, count: d * d), s = [Float]()
        gramOne.withUnsafeMutableBufferPointer { c in
            BLAS.gramAccumulate(n: n, p: d, q: d, a: a, lda: d, b: a, ldb: d, into: c.baseAddress!, ldc: d,
                                scratch: &s, block: 1000)
        }
        for threads in [1, 2, 3, 4] {
            let pool = ThreadPool(threads: threads)
            for transB in [false, true] {
                var ref = [Float](repeating: 0, count: n * d), c = ref
                ref.withUnsafeMutableBufferPointer { r in
                    BLAS.sgemm(transB: transB, m: n, n: d, k: d, alpha: 0.7, a: a, lda: d, b: b, ldb: d,
                               c: r.baseAddress!, ldc: d)
                }
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.sgemmRows(transB: transB, m: n, n: d, k: d, alpha: 0.7, a: a, lda: d, b: b, ldb: d,
                                   c: cp.baseAddress!, ldc: d, pool: pool)
                }
                XCTAssertEqual(c.map(\.bitPattern), ref.map(\.bitPattern), "sgemmRows, \(threads) threads, transB \(transB), n \(n) d \(d)")
                if let i = c.indices.first(where: { c[$0].bitPattern != ref[$0].bitPattern }) { print("first differing row", i / d, "of", n) }
            }
            var gram = [Double](repeating: 0, count: d * d), s2 = [Float]()
            gram.withUnsafeMutableBufferPointer { c in
                BLAS.gramAccumulate(n: n, p: d, q: d, a: a, lda: d, b: a, ldb: d, into: c.baseAddress!, ldc: d,
                                    scratch: &s2, block: 1000, pool: pool)
            }
            XCTAssertEqual(gram.map(\.bitPattern), gramOne.map(\.bitPattern), "gramAccumulate, \(threads) threads")
        }
        _ = one
    }
}
