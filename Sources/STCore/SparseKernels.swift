/// Sparse × dense kernels: the only operations that touch X or Â.
///
/// Each optimised kernel has a frozen `_ref` twin (plain loops, no pointer tricks) used by the
/// tests as the oracle. All dense operands are row-major with an explicit leading dimension so
/// that column blocks of a wider buffer ([Z | Z̃], [Y | dU]) can be read or written in place.
public enum Sparse {
    /// C[0..<A.rows, 0..<w] = A · B[:, 0..<w] (float32; each row summed in stored entry order).
    ///
    /// - A: rows × cols CSR. B: cols × ≥w (ldb). C: rows × ≥w (ldc), overwritten.
    public static func spmm(_ a: CSRMatrix, _ b: UnsafePointer<Float>, ldb: Int, width w: Int,
                            into c: UnsafeMutablePointer<Float>, ldc: Int) {
        a.indptr.withUnsafeBufferPointer { ptr in
        a.indices.withUnsafeBufferPointer { idx in
        a.values.withUnsafeBufferPointer { val in
            for i in 0..<a.rows {
                let ci = c + i &* ldc
                ci.update(repeating: 0, count: w)
                var p = ptr[i]
                let end = ptr[i &+ 1]
                // Two entries per step: halves the passes over the output row.
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

    /// Reference for `spmm`: plain loops, entries summed one at a time.
    public static func spmm_ref(_ a: CSRMatrix, _ b: [Float], ldb: Int, width w: Int) -> [Float] {
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
    /// - scratch: reused float32 accumulator (A.cols × w); grown as needed.
    public static func spmmTransposedAccumulate(_ a: CSRMatrix, _ b: UnsafePointer<Float>, ldb: Int, width w: Int,
                                                into c: UnsafeMutablePointer<Double>, ldc: Int,
                                                scratch: inout [Float], block: Int = 4096) {
        let g = a.cols
        if scratch.count < g * w { scratch = [Float](repeating: 0, count: g * w) }
        // Each block only touches the columns its rows use; track them to flush only those.
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

    /// Reference for `spmmTransposedAccumulate`: Aᵀ·B summed directly in float64.
    public static func spmmTransposed_ref(_ a: CSRMatrix, _ b: [Float], ldb: Int, width w: Int) -> [Double] {
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
