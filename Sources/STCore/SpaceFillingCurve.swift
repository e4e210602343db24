/// Orders of points along a space-filling curve, for storing spatially close rows close together.
///
/// Coordinates are quantised onto a 2¹⁶ × 2¹⁶ grid spanning the points' bounding box with one scale
/// for both axes (square cells), then sorted by the curve's index, ties by point index. Pure and
/// deterministic: the same coordinates give the same order on every machine.
public enum SpaceFillingCurve {
    /// Bits per axis of the grid.
    public static let bits = 16

    /// Index of grid cell (x, y), both < 2^bits, along the Hilbert curve of order `bits`
    /// (starts at (0, 0), ends at (2^bits − 1, 0); consecutive indices are edge-adjacent cells).
    @inline(__always)
    public static func hilbertIndex(x: UInt32, y: UInt32) -> UInt64 {
        var x = x, y = y
        var d: UInt64 = 0
        var s: UInt32 = 1 << UInt32(bits - 1)
        while s > 0 {
            let rx: UInt32 = (x & s) != 0 ? 1 : 0
            let ry: UInt32 = (y & s) != 0 ? 1 : 0
            d += UInt64(s) * UInt64(s) * UInt64((3 * rx) ^ ry)
            // Rotate the quadrant so that the sub-curve has the standard orientation.
            if ry == 0 {
                if rx == 1 { x = s &- 1 &- (x & (s &- 1)); y = s &- 1 &- (y & (s &- 1)) }
                swap(&x, &y)
            }
            x &= s &- 1; y &= s &- 1
            s >>= 1
        }
        return d
    }

    /// Hilbert indices of N points (`coordinates` N×2 row-major (x, y)) on the grid over their
    /// bounding box. (N)
    public static func hilbertIndices(coordinates: [Double]) -> [UInt64] {
        let n = coordinates.count / 2
        guard n > 0 else { return [] }
        var lo = (Double.infinity, Double.infinity), hi = (-Double.infinity, -Double.infinity)
        for i in 0..<n {
            let x = coordinates[2 * i], y = coordinates[2 * i + 1]
            lo = (min(lo.0, x), min(lo.1, y)); hi = (max(hi.0, x), max(hi.1, y))
        }
        let side = Double((1 << bits) - 1)
        let span = max(hi.0 - lo.0, hi.1 - lo.1)
        let scale = span > 0 && span.isFinite ? side / span : 0
        func cell(_ v: Double, _ l: Double) -> UInt32 {
            let c = ((v - l) * scale).rounded(.down)
            return c.isFinite ? UInt32(min(max(c, 0), side)) : 0
        }
        return (0..<n).map { i in hilbertIndex(x: cell(coordinates[2 * i], lo.0), y: cell(coordinates[2 * i + 1], lo.1)) }
    }

    /// The points' indices 0..<N sorted along the Hilbert curve (ties by index). O(N log N).
    public static func hilbertOrder(coordinates: [Double]) -> [Int] {
        let keys = hilbertIndices(coordinates: coordinates)
        return keys.indices.sorted { keys[$0] != keys[$1] ? keys[$0] < keys[$1] : $0 < $1 }
    }
}
