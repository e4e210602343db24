import Foundation

/// Spatial-domain maps: spots at their coordinates coloured by a categorical label, one panel
/// per labelling (e.g. predicted domains beside the ground-truth layers), each with its own title
/// and legend.
///
/// Like `sc.pl.spatial` on a Visium slide: equal aspect, y pointing down (image coordinates),
/// no ticks, scanpy's categorical palettes (`Palette.categorical`) in category order,
/// unlabelled spots light grey and listed last as "unlabelled". The dot radius is half the
/// median nearest-neighbour distance (touching neighbours on a regular lattice).
public enum DomainMap {
    /// One map: its title, a label per spot (nil = unlabelled) and the legend's category order.
    public struct Panel {
        public var title: String
        public var labels: [String?]
        /// Legend and palette order. Empty = the distinct labels in natural order
        /// ("2" < "10", "Layer2" < "Layer10").
        public var categories: [String]
        /// One colour per category; nil = scanpy's palette in category order.
        public var colors: [Color]?
        public init(title: String, labels: [String?], categories: [String] = [], colors: [Color]? = nil) {
            self.title = title; self.labels = labels; self.categories = categories; self.colors = colors
        }
    }

    /// Draws the panels side by side and writes a PNG.
    ///
    /// - Parameters:
    ///   - coordinates: N × 2 row-major spot coordinates (`obsm["spatial"]`).
    ///   - width: figure width in figure units; the PNG is `width·scale` pixels wide.
    ///   - height: nil = just tall enough for the slide's aspect, titles and legends.
    ///   - spotRadius: dot radius in coordinate units; nil = ½ × the median nearest-neighbour
    ///     distance. Dots are at least one device pixel across.
    public static func render(to path: String, coordinates: [Double], panels: [Panel], width: Int = 1100,
                              height: Int? = nil, title: String? = nil, scale: Double = 1,
                              spotRadius: Double? = nil) throws {
        let fig = try figure(coordinates: coordinates, panels: panels, width: width, height: height,
                             title: title, scale: scale, spotRadius: spotRadius)
        try fig.render(to: path)
    }

    /// The figure `render` writes (for callers that want to add to it or draw it differently).
    public static func figure(coordinates: [Double], panels: [Panel], width: Int = 1100, height: Int? = nil,
                              title: String? = nil, scale: Double = 1, spotRadius: Double? = nil) throws -> Figure {
        guard coordinates.count % 2 == 0 else {
            throw PlotError("domain map: coordinates hold \(coordinates.count) values, not N × 2")
        }
        let n = coordinates.count / 2
        guard !panels.isEmpty else { throw PlotError("domain map: no panels") }
        var xs = [Double](repeating: 0, count: n), ys = [Double](repeating: 0, count: n)
        for i in 0..<n { xs[i] = coordinates[2 * i]; ys[i] = coordinates[2 * i + 1] }

        let nn = SpotGeometry.medianNearestNeighbourDistance(coordinates: coordinates)
        var bx = (Double.infinity, -Double.infinity), by = (Double.infinity, -Double.infinity)
        for i in 0..<n where xs[i].isFinite && ys[i].isFinite {
            bx = (min(bx.0, xs[i]), max(bx.1, xs[i])); by = (min(by.0, ys[i]), max(by.1, ys[i]))
        }
        if bx.0 > bx.1 { bx = (0, 1); by = (0, 1) }
        // The map shows no units (no ticks), so the coordinates are drawn in units of the larger
        // side: (x − x₀)/(2h), h its half-length, in [0, 1]. A slide in units of 10⁻³⁰⁰ or 10³⁰⁰ then
        // draws like any other (a floor of 10⁻¹² on the span, or 10³⁰⁰ in the axes' transform,
        // shrank it to one pixel or overflowed). Halves first: x₁ − x₀ can overflow.
        let half = max(bx.1 / 2 - bx.0 / 2, by.1 / 2 - by.0 / 2)
        let unit = half > 0 && half.isFinite ? half : 1
        for i in 0..<n {
            xs[i] = (xs[i] / 2 - bx.0 / 2) / unit
            ys[i] = (ys[i] / 2 - by.0 / 2) / unit
        }
        bx = (0, (bx.1 / 2 - bx.0 / 2) / unit)
        by = (0, (by.1 / 2 - by.0 / 2) / unit)
        let span = max(bx.1, by.1, 1e-12)
        let drawn = (spotRadius ?? nn.map { $0 * 0.5 }).map { $0 / 2 / unit }
        let radius = drawn.flatMap { $0 > 0 && $0.isFinite ? $0 : nil } ?? span * 0.01
        let pad = radius * 1.5 + span * 0.01

        let fig = Figure(width: width, height: height ?? 100, scale: scale)
        fig.title = title
        let axes = fig.subplots(rows: 1, columns: panels.count)
        for (p, ax) in zip(panels, axes) {
            guard p.labels.count == n else {
                throw PlotError("domain map panel '\(p.title)': \(p.labels.count) labels for \(n) spots")
            }
            let categories = p.categories.isEmpty ? naturalSorted(Set(p.labels.compactMap { $0 })) : p.categories
            var index = [String: Int](minimumCapacity: categories.count)
            for (k, c) in categories.enumerated() where index[c] == nil { index[c] = k }
            // Spots grouped by category (unlabelled first, drawn underneath): one fill per colour.
            var groups = [[Int]](repeating: [], count: categories.count + 1)
            for (i, l) in p.labels.enumerated() {
                guard let l else { groups[categories.count].append(i); continue }
                guard let k = index[l] else {
                    throw PlotError("domain map panel '\(p.title)': label '\(l)' is not among its categories \(categories)")
                }
                groups[k].append(i)
            }
            ax.title = p.title
            ax.equalAspect = true
            ax.yInverted = true
            ax.showTicks = false
            ax.showGrid = false
            ax.legend = .outsideRight
            ax.xLimits = (bx.0 - pad)...(bx.1 + pad)
            ax.yLimits = (by.0 - pad)...(by.1 + pad)
            let dot = MarkerSize.data(radius)
            let unl = groups[categories.count]
            if !unl.isEmpty {
                ax.scatter(x: unl.map { xs[$0] }, y: unl.map { ys[$0] }, color: .unlabelled, radius: dot)
            }
            let colors = p.colors.flatMap { $0.count == categories.count ? $0 : nil }
                ?? Palette.categorical(categories.count)
            for (k, c) in categories.enumerated() {
                ax.scatter(x: groups[k].map { xs[$0] }, y: groups[k].map { ys[$0] }, color: colors[k],
                           radius: dot, label: c)
            }
            if !unl.isEmpty {
                ax.extraLegendEntries = [LegendEntry(label: "unlabelled", color: .unlabelled, swatch: .marker)]
            }
        }
        // Equal map sizes: every panel reserves the widest legend.
        let measure = try Canvas.measuring()
        let widest = axes.map { ax in
            LegendBox(entries: ax.legendEntries, title: nil, columns: nil, font: fig.fonts.legend,
                      canvas: measure, framed: false).size.width
        }.max() ?? 0
        for ax in axes { ax.legendReserve = widest }
        if height == nil { try fig.fitHeightToContent() }
        return fig
    }

    /// "Layer2" < "Layer10", "2" < "10": digit runs compare as numbers.
    static func naturalSorted(_ s: Set<String>) -> [String] {
        s.sorted { $0.compare($1, options: [.numeric]) == .orderedAscending }
    }
}
