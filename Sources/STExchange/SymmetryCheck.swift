import STCore
import STComm
import STPartition

extension LocalGraph {
    /// HPCG's TestSymmetry on the partitioned operator: |xᵀ(Ây) − yᵀ(Âx)| / |xᵀ(Ây)| over the
    /// whole slide, for two pseudo-random vectors that depend only on the global spot index.
    ///
    /// Â is symmetric by construction, so a correct partition, index map and halo exchange give
    /// a defect at float64 round-off (~1e-16); a wrong ghost row, a mis-mapped column or a broken
    /// exchange gives O(1). The products are accumulated in float64 from the float32 Â, so the
    /// value does not depend on the number of ranks beyond reassociation. Collective: two halo
    /// exchanges of one column and one allreduce.
    public func symmetryDefect(comm: Communicator) -> Double {
        let halo = HaloExchanger(plan: self.halo, comm: comm)
        func value(_ g: Int, _ salt: UInt64) -> Float {
            var s = UInt64(g) &* 0x9E37_79B9_7F4A_7C15 ^ salt
            return Float(Double(splitmix64(&s) >> 11) * 0x1p-53 - 0.5)
        }
        var x = [Float](repeating: 0, count: nLocal), y = x
        for (i, g) in map.owned.enumerated() { x[i] = value(g.int, 1); y[i] = value(g.int, 2) }
        x.withUnsafeMutableBufferPointer { halo.exchange($0.baseAddress!, width: 1) }
        y.withUnsafeMutableBufferPointer { halo.exchange($0.baseAddress!, width: 1) }
        var sums = [0.0, 0.0]   // xᵀÂy, yᵀÂx over owned rows
        for i in 0..<nOwned {
            var ay = 0.0, ax = 0.0
            for p in adj.indptr[i]..<adj.indptr[i + 1] {
                let j = Int(adj.indices[p]), a = Double(adj.values[p])
                ay += a * Double(y[j]); ax += a * Double(x[j])
            }
            sums[0] += Double(x[i]) * ay
            sums[1] += Double(y[i]) * ax
        }
        comm.allreduceSum(&sums)
        return abs(sums[0] - sums[1]) / max(abs(sums[0]), 1e-300)
    }
}
