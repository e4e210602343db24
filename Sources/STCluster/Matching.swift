/// Maximum-weight matching of predicted clusters to truth classes, for display: a domain map
/// beside its ground truth is read fastest when each domain wears the colour of the class it
/// overlaps most. (Scores never depend on it: ARI and NMI are invariant to relabelling.)
public enum LabelMatching {
    /// For each predicted cluster 0..<k, the truth class 0..<c it is matched to, or nil when
    /// k > c leaves it unmatched; maximises the total overlap `counts[i][j]` (spots of cluster i in
    /// class j) over one-to-one assignments.
    ///
    /// The Hungarian algorithm (Kuhn–Munkres with potentials, O(n³) on the padded n×n square,
    /// n = max(k, c) ≤ a few dozen): written here because no Swift package we may depend on
    /// provides an assignment solver, and scipy's `linear_sum_assignment` is what it replaces.
    public static func match(_ counts: [[Int]]) -> [Int?] {
        let k = counts.count
        let c = counts.first?.count ?? 0
        let n = max(k, c)
        guard n > 0 else { return [] }
        let big = counts.lazy.flatMap { $0 }.max() ?? 0
        // Cost of assigning row i to column j: minimising big − overlap maximises the overlap.
        func cost(_ i: Int, _ j: Int) -> Int { i < k && j < c ? big - counts[i][j] : big }
        var u = [Int](repeating: 0, count: n + 1), v = [Int](repeating: 0, count: n + 1)
        var p = [Int](repeating: 0, count: n + 1), way = [Int](repeating: 0, count: n + 1)
        for i in 1...n {
            p[0] = i
            var j0 = 0
            var minv = [Int](repeating: Int.max, count: n + 1)
            var used = [Bool](repeating: false, count: n + 1)
            repeat {
                used[j0] = true
                let i0 = p[j0]
                var delta = Int.max, j1 = 0
                for j in 1...n where !used[j] {
                    let cur = cost(i0 - 1, j - 1) - u[i0] - v[j]
                    if cur < minv[j] { minv[j] = cur; way[j] = j0 }
                    if minv[j] < delta { delta = minv[j]; j1 = j }
                }
                for j in 0...n {
                    if used[j] { u[p[j]] += delta; v[j] -= delta } else { minv[j] -= delta }
                }
                j0 = j1
            } while p[j0] != 0
            repeat {
                let j1 = way[j0]
                p[j0] = p[j1]
                j0 = j1
            } while j0 != 0
        }
        var result = [Int?](repeating: nil, count: k)
        for j in 1...n where p[j] >= 1 && p[j] <= k && j <= c { result[p[j] - 1] = j - 1 }
        return result
    }
}
