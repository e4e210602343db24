import Foundation

/// A Visium-like hexagonal lattice (centre distance 100, rows 100·√3/2 apart, odd rows shifted
/// by 50) with five curved layers, for rendering tests and the example images.
struct HexSlide {
    var coordinates: [Double]   // N × 2 row-major
    var layer: [Int]            // 0..<5 from top to bottom

    static func lattice(rows: Int, columns: Int) -> HexSlide {
        var c = [Double](), layer = [Int]()
        let dy = 100 * 3.0.squareRoot() / 2
        let height = Double(rows - 1) * dy, width = Double(columns - 1) * 100 + 50
        for r in 0..<rows { for q in 0..<columns {
            let x = Double(q) * 100 + (r % 2 == 1 ? 50 : 0), y = Double(r) * dy
            // Keep a rounded tissue outline (an ellipse), as a capture area partly covered.
            let ex = (x - width / 2) / (width / 2), ey = (y - height / 2) / (height / 2)
            guard ex * ex + ey * ey <= 1.05 else { continue }
            c += [x + 1500, y + 1200]  // pixel-like offsets
            // Curved bands, thicker towards the bottom (like cortical layers and white matter).
            let t = (y + 0.12 * height * sin(x / width * .pi * 1.3)) / (height * 1.1)
            let bounds = [0.16, 0.34, 0.52, 0.72]
            layer.append(bounds.firstIndex { t < $0 } ?? 4)
        } }
        return HexSlide(coordinates: c, layer: layer)
    }
}

/// A small deterministic generator (splitmix64) so the synthetic labels never change.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
