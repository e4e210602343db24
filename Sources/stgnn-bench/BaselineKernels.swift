import STCore

/// The sparse kernels as first committed (STCore `Sparse.spmm` and `spmmTransposedAccumulate` at
/// commit 2cd89e5), copied verbatim so that the speed-up of the current kernels is measured in the
/// same run, on the same data, interleaved, rather than against figures from another day on a
/// shared machine. Compiled with the same flags as STCore (the bench is built in release mode).
enum BaselineSparse {
    /// Seed version of `Sparse.spmm`: two nonzeros per step, the output row updated in memory.
    static func spmm(_ a: CSRMatrix, _ b: UnsafePointer<Float>, ldb: Int, width w: Int,
                     into c: UnsafeMutablePointer<Float>, ldc: Int) {
        a.indptr.withUnsafeBufferPointer { ptr in
        a.indices.withUnsafeBufferPointer { idx in
        a.values.withUnsafeBufferPointer { val in
            for i in 0..<a.rows {
                let ci = c + i &* ldc
                ci.update(repeating: 0, count: w)
                var p = ptr[i]
                let end = ptr[i &+ 1]
                while p &+ 1 < end {
                    let v0 = val[p], v1 = val[p &+ 1]
                    let b0 = b + Int(idx[p]) &* ldb, b1 = b + Int(idx[p &+ 1]) &* ldb
                    for j in 0..<w { ci[j] += v0 * b0[j] + v1 * b1[j] }
                    p &+= 2
                }
                if p < end {
                    let v0 = val[p]
                    let b0 = b + Int(idx[p]) &* ldb
                    for j in 0..<w { ci[j] += v0 * b0[j] }
                }
            }
        } } }
    }

    /// Seed version of `Sparse.spmmTransposedAccumulate`: scatter into a G×w float32 accumulator,
    /// flushed into float64 every `block` rows.
    static func spmmTransposedAccumulate(_ a: CSRMatrix, _ b: UnsafePointer<Float>, ldb: Int, width w: Int,
                                         into c: UnsafeMutablePointer<Double>, ldc: Int,
                                         scratch: inout [Float], block: Int = 4096) {
        let g = a.cols
        if scratch.count < g * w { scratch = [Float](repeating: 0, count: g * w) }
        var touched = [Bool](repeating: false, count: g)
        var touchedList = [Int32]()
        touchedList.reserveCapacity(Swift.min(g, 1 << 16))
        scratch.withUnsafeMutableBufferPointer { s in
        a.indptr.withUnsafeBufferPointer { ptr in
        a.indices.withUnsafeBufferPointer { idx in
        a.values.withUnsafeBufferPointer { val in
        touched.withUnsafeMutableBufferPointer { touched in
            let acc = s.baseAddress!
            var r0 = 0
            while r0 < a.rows {
                let r1 = Swift.min(a.rows, r0 &+ block)
                for i in r0..<r1 {
                    let bi = b + i &* ldb
                    for p in ptr[i]..<ptr[i &+ 1] {
                        let col = Int(idx[p])
                        let v = val[p]
                        let ac = acc + col &* w
                        if !touched[col] {
                            touched[col] = true
                            touchedList.append(Int32(col))
                            for j in 0..<w { ac[j] = v * bi[j] }
                        } else {
                            for j in 0..<w { ac[j] += v * bi[j] }
                        }
                    }
                }
                for col32 in touchedList {
                    let col = Int(col32)
                    let ac = acc + col &* w, cc = c + col &* ldc
                    for j in 0..<w { cc[j] += Double(ac[j]) }
                    touched[col] = false
                }
                touchedList.removeAll(keepingCapacity: true)
                r0 = r1
            }
        } } } } }
    }
}
