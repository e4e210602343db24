import Foundation

/// Spot spacing of a slide, for sizing its dots.
public enum SpotGeometry {
    /// Median distance from a spot to its nearest other spot (coincident spots ignored); nil
    /// when fewer than two distinct spots.
    ///
    /// `coordinates` is N × 2 row-major. Spots are bucketed into a uniform grid of about one spot
    /// per cell (a counting sort, O(N)); each query searches rings of cells outwards until no
    /// closer spot can exist. At most `maxQueries` evenly strided spots are queried (against all
    /// spots), so 10⁶ spots cost O(N) to bucket plus a bounded number of queries. Deterministic.
    public static func medianNearestNeighbourDistance(coordinates: [Double], maxQueries: Int = 50_000) -> Double? {
        let n = coordinates.count / 2
        guard n >= 2 else { return nil }
        var x0 = Double.infinity, y0 = Double.infinity, x1 = -Double.infinity, y1 = -Double.infinity
        for i in 0..<n {
            let x = coordinates[2 * i], y = coordinates[2 * i + 1]
            guard x.isFinite, y.isFinite else { continue }
            x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y)
        }
        guard x0 <= x1 else { return nil }
        let dx = x1 - x0, dy = y1 - y0
        guard dx > 0 || dy > 0 else { return nil }
        // Cell side: about one spot per cell over the bounding box (a line of spots: span / N);
        // √dx·√dy, not √(dx·dy), which under- or overflows for units of 10∓³⁰⁰.
        var side = dx > 0 && dy > 0 ? dx.squareRoot() * dy.squareRoot() / Double(n).squareRoot() : max(dx, dy) / Double(n)
        side = max(side, max(dx, dy) / 4096)
        let nx = Int(dx / side) + 1, ny = Int(dy / side) + 1

        // Counting sort of the finite spots by cell.
        var cellOf = [Int32](repeating: -1, count: n)
        var start = [Int32](repeating: 0, count: nx * ny + 1)
        for i in 0..<n {
            let x = coordinates[2 * i], y = coordinates[2 * i + 1]
            guard x.isFinite, y.isFinite else { continue }
            let c = min(ny - 1, Int((y - y0) / side)) * nx + min(nx - 1, Int((x - x0) / side))
            cellOf[i] = Int32(c)
            start[c + 1] += 1
        }
        for c in 0..<(nx * ny) { start[c + 1] += start[c] }
        var fill = start
        var members = [Int32](repeating: 0, count: Int(start[nx * ny]))
        for i in 0..<n where cellOf[i] >= 0 {
            let c = Int(cellOf[i]); members[Int(fill[c])] = Int32(i); fill[c] += 1
        }

        let stride = max(1, n / max(1, maxQueries))
        var dists = [Double]()
        dists.reserveCapacity(n / stride + 1)
        var q = 0
        while q < n {
            defer { q += stride }
            guard cellOf[q] >= 0 else { continue }
            let qx = coordinates[2 * q], qy = coordinates[2 * q + 1]
            let cx = Int(cellOf[q]) % nx, cy = Int(cellOf[q]) / nx
            var best = Double.infinity
            var r = 0
            while r <= max(nx, ny) {
                for gy in max(0, cy - r)...min(ny - 1, cy + r) {
                    // Edge rows of the ring: every column; inner rows: its two edge columns.
                    let columns: [Int] = gy == cy - r || gy == cy + r
                        ? Array(max(0, cx - r)...min(nx - 1, cx + r))
                        : [cx - r, cx + r].filter { $0 >= 0 && $0 < nx && (r > 0 || $0 == cx) }
                    for gx in columns {
                        let c = gy * nx + gx
                        for k in Int(start[c])..<Int(start[c + 1]) {
                            let j = Int(members[k])
                            // Distances, not their squares: those would underflow to 0 (or overflow)
                            // for coordinates in units of 10∓³⁰⁰, and every ring would be searched.
                            let d = hypot(coordinates[2 * j] - qx, coordinates[2 * j + 1] - qy)
                            if d > 0 && d < best { best = d }
                        }
                    }
                }
                // Spots beyond ring r are at least r·side away.
                if best <= Double(r) * side { break }
                r += 1
            }
            if best.isFinite { dists.append(best) }
        }
        guard !dists.isEmpty else { return nil }
        dists.sort()
        return dists[dists.count / 2]
    }
}
