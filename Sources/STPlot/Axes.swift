import CCairo
import Foundation

/// One plotting area of a `Figure`: scales, limits, ticks, labels, title, series and a legend.
///
/// Add series with `plot`, `scatter`, `bar`/`stackedBars`; the figure lays the axes out (measuring
/// every label so nothing overlaps or is clipped) when it renders. Series colours default to
/// scanpy's colour cycle (`Palette.cycle`).
public final class Axes {
    public var title: String?
    public var xLabel: String?
    public var yLabel: String?
    public var xScale: AxisScale = .linear
    public var yScale: AxisScale = .linear
    /// Fixed limits; nil = the data's range plus `xMargin`/`yMargin` (fractions of the span, in
    /// log space on log axes).
    public var xLimits: ClosedRange<Double>?
    public var yLimits: ClosedRange<Double>?
    public var xMargin = 0.05
    public var yMargin = 0.05
    /// y grows downwards (image / pixel coordinates, as `sc.pl.spatial` shows Visium slides).
    public var yInverted = false
    /// One data unit is as long on x as on y; the plotting area shrinks to the data's aspect.
    public var equalAspect = false
    public var showTicks = true
    public var showGrid = true
    public var showFrame = true
    public var legend: LegendPlacement = .best
    public var legendTitle: String?
    /// Rows appended after the series' own legend entries.
    public var extraLegendEntries: [LegendEntry] = []
    /// Legend columns; nil = scanpy's rule (1 up to 14 entries, 2 up to 30, else 3).
    public var legendColumns: Int?
    /// Replaces the x tick positions and labels (e.g. categorical bars).
    public var xTickLabels: [(value: Double, label: String)]?

    var series: [Series] = []
    private var nextColor = 0
    /// Width kept for an outside legend, when wider than its own (panels side by side keep
    /// equal map sizes by reserving the widest legend of all).
    var legendReserve: Double = 0

    init() {}

    private func autoColor(_ c: Color?) -> Color {
        if let c { return c }
        defer { nextColor += 1 }
        return Palette.cycle(nextColor)
    }

    /// A polyline through (x[i], y[i]); non-finite points (and non-positive ones on a log axis)
    /// break the line rather than being joined over.
    public func plot(x: [Double], y: [Double], color: Color? = nil, width: Double = 1.8,
                     dash: [Double] = [], label: String? = nil) {
        precondition(x.count == y.count, "plot: x and y differ in length")
        series.append(.line(x: x, y: y, color: autoColor(color), width: width, dash: dash, label: label))
    }

    /// Filled circles of one colour (drawn as one batched Cairo path).
    public func scatter(x: [Double], y: [Double], color: Color? = nil, radius: MarkerSize = .pixels(3),
                        label: String? = nil) {
        precondition(x.count == y.count, "scatter: x and y differ in length")
        series.append(.scatter(x: x, y: y, color: autoColor(color), radius: radius, label: label))
    }

    /// Bars centred at x[i], `width` data units wide, from bottoms[i] (default 0) up by heights[i].
    public func bar(x: [Double], heights: [Double], bottoms: [Double]? = nil, width: Double = 0.8,
                    color: Color? = nil, label: String? = nil) {
        precondition(x.count == heights.count && (bottoms?.count ?? x.count) == x.count,
                     "bar: x, heights and bottoms differ in length")
        series.append(.bars(x: x, heights: heights, bottoms: bottoms ?? Array(repeating: 0, count: x.count),
                            width: width, color: autoColor(color), label: label))
    }

    /// Stacked bars: layer k sits on the sum of layers 0..<k; one legend entry per layer.
    public func stackedBars(x: [Double], layers: [(name: String, heights: [Double])], width: Double = 0.8,
                            colors: [Color]? = nil) {
        var base = Array(repeating: 0.0, count: x.count)
        for (k, layer) in layers.enumerated() {
            bar(x: x, heights: layer.heights, bottoms: base, width: width, color: colors?[k], label: layer.name)
            for i in base.indices where layer.heights[i].isFinite { base[i] += layer.heights[i] }
        }
    }

    var legendEntries: [LegendEntry] { series.compactMap(\.legendEntry) + extraLegendEntries }
}

// MARK: - Layout

/// Font sizes of one figure, in figure units.
struct Fonts {
    var base: Double
    var tick: Double { base * 0.92 }
    var label: Double { base }
    var title: Double { base * 1.12 }
    var legend: Double { base * 0.92 }
}

/// Where everything of one axes goes, and the numbers it shows.
struct AxesLayout {
    var cell: Rect
    var plot: Rect
    var x: AxisLayout
    var y: AxisLayout
    var legend: LegendBox?
    var legendOrigin = Point(0, 0)
    var titleFont: Double
    /// Height the axes needs for this width (for figures sized from their content).
    var neededHeight: Double
}

struct AxisLayout {
    var lo: Double, hi: Double
    var scale: AxisScale
    var ticks: [Double] = []
    var labels: [String] = []
    var minor: [Double] = []

    func fraction(_ v: Double) -> Double {
        switch scale {
        case .linear: return (v - lo) / (hi - lo)
        case .log10: return (log10(v) - log10(lo)) / (log10(hi) - log10(lo))
        }
    }
}

extension Axes {
    static let tickLength = 4.0
    static let pad = 5.0

    /// Data range of the finite values that the axis scale can show.
    private func dataRange(_ values: (Series) -> [[Double]], scale: AxisScale) -> (Double, Double)? {
        var lo = Double.infinity, hi = -Double.infinity
        for s in series { for arr in values(s) { for v in arr where v.isFinite && (scale == .linear || v > 0) {
            if v < lo { lo = v }
            if v > hi { hi = v }
        } } }
        return lo <= hi ? (lo, hi) : nil
    }

    private func limits(fixed: ClosedRange<Double>?, range: (Double, Double)?, margin: Double,
                        scale: AxisScale, stickyZero: Bool) -> (Double, Double) {
        if let f = fixed { return (f.lowerBound, f.upperBound) }
        guard var (lo, hi) = range else { return scale == .log10 ? (1, 10) : (0, 1) }
        if scale == .log10 {
            var a = log10(lo), b = log10(hi)
            if a == b { a -= 0.5; b += 0.5 }
            let m = (b - a) * margin
            return (pow(10, a - m), pow(10, b + m))
        }
        if lo == hi { let d = lo == 0 ? 0.5 : abs(lo) * 0.1; lo -= d; hi += d }
        let m = (hi - lo) * margin
        return (stickyZero && lo == 0 ? 0 : lo - m, hi + m)
    }

    private func xValues(_ s: Series) -> [[Double]] {
        switch s {
        case let .line(x, _, _, _, _, _), let .scatter(x, _, _, _, _): return [x]
        case let .bars(x, _, _, w, _, _): return [x.map { $0 - w / 2 }, x.map { $0 + w / 2 }]
        }
    }

    private func yValues(_ s: Series) -> [[Double]] {
        switch s {
        case let .line(_, y, _, _, _, _), let .scatter(_, y, _, _, _): return [y]
        case let .bars(_, h, b, _, _, _): return [b, zip(b, h).map { $0 + $1 }]
        }
    }

    func axisTicks(_ a: inout AxisLayout, maxTicks: Int, custom: [(value: Double, label: String)]?) {
        if let custom {
            let keep = custom.filter { $0.value >= min(a.lo, a.hi) && $0.value <= max(a.lo, a.hi) }
            a.ticks = keep.map(\.value); a.labels = keep.map(\.label); a.minor = []
            return
        }
        switch a.scale {
        case .linear:
            a.ticks = Ticks.linear(lo: a.lo, hi: a.hi, maxTicks: maxTicks)
            let step = a.ticks.count > 1 ? a.ticks[1] - a.ticks[0] : max(abs(a.ticks.first ?? 1), 1e-300)
            a.labels = Ticks.linearLabels(a.ticks, step: step)
            a.minor = []
        case .log10:
            let t = Ticks.logarithmic(lo: a.lo, hi: a.hi, maxMajor: maxTicks)
            a.ticks = t.major; a.minor = t.minor
            a.labels = Ticks.logLabels(t.major)
        }
    }

    /// Lays the axes out inside `cell` (figure units).
    func layout(in cell: Rect, canvas: Canvas, fonts: Fonts) -> AxesLayout {
        let hasBars = series.contains { if case .bars = $0 { return true } else { return false } }
        let (xlo, xhi) = limits(fixed: xLimits, range: dataRange(xValues, scale: xScale), margin: xMargin,
                                scale: xScale, stickyZero: false)
        let (ylo, yhi) = limits(fixed: yLimits, range: dataRange(yValues, scale: yScale), margin: yMargin,
                                scale: yScale, stickyZero: hasBars)
        var x = AxisLayout(lo: xlo, hi: xhi, scale: xScale), y = AxisLayout(lo: ylo, hi: yhi, scale: yScale)
        let tickH = canvas.measure("0", size: fonts.tick).height
        let labelH = canvas.measure("Ag", size: fonts.label).height

        // Title: shrink (down to 75 %) when wider than the cell.
        var titleFont = fonts.title
        if let t = title {
            while titleFont > fonts.title * 0.75 && canvas.measure(t, size: titleFont).width > cell.width - 4 {
                titleFont *= 0.95
            }
        }
        let titleH = title.map { _ in canvas.measure("Ag", size: titleFont).height + 6 } ?? 0

        // Legend box (measured before the plot area, which it may take space from).
        let entries = legendEntries
        var legendBox: LegendBox? = nil
        if legend != .none && !entries.isEmpty {
            legendBox = LegendBox(entries: entries, title: legendTitle, columns: legendColumns,
                                  font: fonts.legend, canvas: canvas, framed: legend == .best)
        }
        let outside = legend == .outsideRight && legendBox != nil
        let legendSpace = outside ? max(legendBox!.size.width, legendReserve) + 14 : 0

        // Ticks, first guess from the cell size, then the real label widths.
        let approxW = max(50, cell.width - legendSpace - 60), approxH = max(40, cell.height - titleH - 50)
        if showTicks {
            var maxX = max(2, min(11, Int(approxW / 60)))
            while true {
                axisTicks(&x, maxTicks: maxX, custom: xTickLabels)
                let widest = x.labels.map { canvas.measure($0, size: fonts.tick).width }.max() ?? 0
                if maxX <= 2 || Double(x.ticks.count) * (widest + 12) <= approxW { break }
                maxX -= 1
            }
            axisTicks(&y, maxTicks: max(2, min(9, Int(approxH / (tickH * 2.8)))), custom: nil)
        }
        let yLabelW = y.labels.map { canvas.measure($0, size: fonts.tick).width }.max() ?? 0
        let lastXW = x.labels.last.map { canvas.measure($0, size: fonts.tick).width } ?? 0

        var left = 2.0, bottom = 2.0, top = titleH + 2, right = 4.0
        if showTicks {
            left += yLabelW + Axes.tickLength + 4
            bottom += Axes.tickLength + 3 + tickH
            top = max(top, tickH / 2 + 2)
            right = max(right, lastXW / 2 + 2)
        }
        if yLabel != nil { left += labelH + 4 }
        if xLabel != nil { bottom += labelH + 4 }
        if outside { right = max(right, legendSpace) }
        var plot = cell.inset(left: left, top: top, right: right, bottom: bottom)

        if equalAspect {
            // Shrink to the data's aspect; centre the plot (and its outside legend) horizontally.
            let sx = plot.width / abs(xhi - xlo), sy = plot.height / abs(yhi - ylo)
            let s = min(sx, sy)
            let w = abs(xhi - xlo) * s, h = abs(yhi - ylo) * s
            let groupW = w + (outside ? legendSpace : 0)
            let avail = cell.width - left - (outside ? 4 : right)
            plot = Rect(x: cell.x + left + max(0, (avail - groupW) / 2), y: plot.y + max(0, (plot.height - h) / 2),
                        width: w, height: h)
        }
        var needed = top + plot.height + bottom
        if let lb = legendBox, outside { needed = max(needed, top + lb.size.height + 4) }

        var out = AxesLayout(cell: cell, plot: plot, x: x, y: y, legend: legendBox, titleFont: titleFont, neededHeight: needed)
        if let lb = legendBox {
            if outside {
                // Beside the plot: centred on a map (like scanpy's), top-aligned on a chart.
                let dy = equalAspect ? max(0, (plot.height - lb.size.height) / 2) : 0
                out.legendOrigin = Point(plot.maxX + 14, plot.y + dy)
            } else {
                out.legendOrigin = bestCorner(for: lb.size, layout: out)
            }
        }
        return out
    }

    /// The corner (upper right, upper left, lower left, lower right: matplotlib's order for ties)
    /// whose legend rectangle covers the fewest data points.
    private func bestCorner(for size: (width: Double, height: Double), layout l: AxesLayout) -> Point {
        let p = l.plot, m = 6.0
        let corners = [Point(p.maxX - m - size.width, p.y + m), Point(p.x + m, p.y + m),
                       Point(p.x + m, p.maxY - m - size.height), Point(p.maxX - m - size.width, p.maxY - m - size.height)]
        let rects = corners.map { Rect(x: $0.x, y: $0.y, width: size.width, height: size.height) }
        var score = [Int](repeating: 0, count: 4)
        for s in series {
            switch s {
            case let .line(xs, ys, _, _, _, _), let .scatter(xs, ys, _, _, _):
                // Lines: also test segment midpoints so a steep segment through the box counts.
                let stride = max(1, xs.count / 20000)
                var prev: Point? = nil
                for i in Swift.stride(from: 0, to: xs.count, by: stride) {
                    guard let q = point(xs[i], ys[i], l) else { prev = nil; continue }
                    for k in 0..<4 where rects[k].contains(q) { score[k] += 1 }
                    if case .line = s, let a = prev {
                        let mid = Point((a.x + q.x) / 2, (a.y + q.y) / 2)
                        for k in 0..<4 where rects[k].contains(mid) { score[k] += 1 }
                    }
                    prev = q
                }
            case let .bars(xs, hs, bs, w, _, _):
                for i in xs.indices {
                    guard let a = point(xs[i] - w / 2, bs[i] + hs[i], l), let b = point(xs[i] + w / 2, bs[i], l) else { continue }
                    let r = Rect(x: min(a.x, b.x), y: min(a.y, b.y), width: abs(b.x - a.x), height: abs(b.y - a.y))
                    for k in 0..<4 where rects[k].intersects(r) { score[k] += 10 }
                }
            }
        }
        return corners[score.indices.min { score[$0] < score[$1] }!]
    }

    /// Figure position of a data point; nil when not finite or not positive on a log axis.
    func point(_ xv: Double, _ yv: Double, _ l: AxesLayout) -> Point? {
        guard xv.isFinite, yv.isFinite, l.x.scale == .linear || xv > 0, l.y.scale == .linear || yv > 0 else { return nil }
        let fx = l.x.fraction(xv), fy = l.y.fraction(yv)
        return Point(l.plot.x + fx * l.plot.width, yInverted ? l.plot.y + fy * l.plot.height : l.plot.maxY - fy * l.plot.height)
    }
}

// MARK: - Drawing

extension Axes {
    func draw(on c: Canvas, layout l: AxesLayout, fonts: Fonts) {
        let p = l.plot
        let frameW = 0.8
        // Gridlines at the major ticks, under the data.
        if showGrid && showTicks {
            for t in l.x.ticks {
                let px = c.crisp(p.x + l.x.fraction(t) * p.width, width: 0.8)
                c.line(Point(px, p.y), Point(px, p.maxY), width: 0.8, color: .grid)
            }
            for t in l.y.ticks {
                let f = l.y.fraction(t)
                let py = c.crisp(yInverted ? p.y + f * p.height : p.maxY - f * p.height, width: 0.8)
                c.line(Point(p.x, py), Point(p.maxX, py), width: 0.8, color: .grid)
            }
        }
        c.save()
        c.clip(p)
        for s in series { drawSeries(s, on: c, layout: l) }
        c.restore()

        if showFrame {
            let r = Rect(x: c.crisp(p.x, width: frameW), y: c.crisp(p.y, width: frameW), width: 0, height: 0)
            let r2 = Rect(x: r.x, y: r.y, width: c.crisp(p.maxX, width: frameW) - r.x, height: c.crisp(p.maxY, width: frameW) - r.y)
            c.strokeRect(r2, width: frameW, color: .ink)
        }
        if showTicks { drawTicks(on: c, layout: l, fonts: fonts) }

        let labelH = c.measure("Ag", size: fonts.label).height
        if let xl = xLabel {
            let tickH = showTicks ? Axes.tickLength + 3 + c.measure("0", size: fonts.tick).height : 0
            c.text(xl, at: Point(p.x + p.width / 2, p.maxY + tickH + 4), size: fonts.label, h: .center, v: .top)
        }
        if let yl = yLabel {
            let yw = l.y.labels.map { c.measure($0, size: fonts.tick).width }.max() ?? 0
            let x0 = p.x - (showTicks ? yw + Axes.tickLength + 4 : 0) - 4 - labelH
            c.text(yl, at: Point(x0, p.y + p.height / 2), size: fonts.label, h: .center, v: .top, rotation: -Double.pi / 2)
        }
        if let t = title {
            // Centred over the plot, shifted to stay inside the axes' cell.
            let w = c.measure(t, size: l.titleFont).width
            let cx = min(max(p.x + p.width / 2, l.cell.x + w / 2), l.cell.maxX - w / 2)
            c.text(t, at: Point(cx, p.y - 6), size: l.titleFont, h: .center, v: .bottom)
        }
        if let lb = l.legend { lb.draw(on: c, at: l.legendOrigin) }
    }

    private func drawTicks(on c: Canvas, layout l: AxesLayout, fonts: Fonts) {
        let p = l.plot, tl = Axes.tickLength, w = 0.8
        for (t, s) in zip(l.x.ticks, l.x.labels) {
            let px = c.crisp(p.x + l.x.fraction(t) * p.width, width: w)
            c.line(Point(px, p.maxY), Point(px, p.maxY + tl), width: w, color: .ink)
            c.text(s, at: Point(px, p.maxY + tl + 3), size: fonts.tick, h: .center, v: .top)
        }
        for t in l.x.minor {
            let px = c.crisp(p.x + l.x.fraction(t) * p.width, width: 0.6)
            c.line(Point(px, p.maxY), Point(px, p.maxY + tl * 0.6), width: 0.6, color: .ink)
        }
        func py(_ t: Double, _ a: AxisLayout) -> Double {
            let f = a.fraction(t); return yInverted ? p.y + f * p.height : p.maxY - f * p.height
        }
        for (t, s) in zip(l.y.ticks, l.y.labels) {
            let y = c.crisp(py(t, l.y), width: w)
            c.line(Point(p.x - tl, y), Point(p.x, y), width: w, color: .ink)
            c.text(s, at: Point(p.x - tl - 3, y), size: fonts.tick, h: .right, v: .center)
        }
        for t in l.y.minor {
            let y = c.crisp(py(t, l.y), width: 0.6)
            c.line(Point(p.x - tl * 0.6, y), Point(p.x, y), width: 0.6, color: .ink)
        }
    }

    private func drawSeries(_ s: Series, on c: Canvas, layout l: AxesLayout) {
        let cr = c.cr
        switch s {
        case let .line(xs, ys, color, width, dash, _):
            c.setColor(color)
            cairo_set_line_width(cr, width)
            dash.withUnsafeBufferPointer { cairo_set_dash(cr, $0.baseAddress, Int32($0.count), 0) }
            var open = false
            for i in xs.indices {
                guard let q = point(xs[i], ys[i], l) else { open = false; continue }
                if open { cairo_line_to(cr, q.x, q.y) } else { cairo_move_to(cr, q.x, q.y); open = true }
            }
            cairo_stroke(cr)
            cairo_set_dash(cr, nil, 0, 0)
        case let .scatter(xs, ys, color, radius, _):
            let r: Double
            switch radius {
            case .pixels(let v): r = v
            case .data(let v): r = v * l.plot.width / abs(l.x.hi - l.x.lo)
            }
            fillDots(xs, ys, radius: r, color: color, on: c, layout: l)
        case let .bars(xs, hs, bs, w, color, _):
            for i in xs.indices {
                guard let a = point(xs[i] - w / 2, bs[i] + hs[i], l), let b = point(xs[i] + w / 2, bs[i], l) else { continue }
                cairo_rectangle(cr, min(a.x, b.x), min(a.y, b.y), abs(b.x - a.x), abs(b.y - a.y))
            }
            c.setColor(color)
            cairo_fill_preserve(cr)
            // A hairline of white between stacked segments and neighbouring bars.
            c.setColor(.white)
            cairo_set_line_width(cr, 0.6)
            cairo_stroke(cr)
        }
    }

    /// Filled dots of radius `r` figure units, batched into paths of ≤ 16 384 dots per fill.
    /// Below about one device pixel radius a dot is a square of whole device pixels (about the
    /// circle's area, at least one pixel): indistinguishable from a circle at that size, far
    /// cheaper than an arc's four Béziers, and with no faint seams where separately filled
    /// batches of partly covered pixels would meet.
    func fillDots(_ xs: [Double], _ ys: [Double], radius r: Double, color: Color, on c: Canvas, layout l: AxesLayout) {
        let cr = c.cr
        c.setColor(color)
        let asSquare = r * c.scale < 1.2
        c.save()
        defer { c.restore() }
        if asSquare { cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE) }
        let side = r * 1.7725  // √π · r: same area as the circle
        let pixelSide = max(1, (side * c.scale).rounded()) / c.scale
        let p = l.plot
        var pending = 0
        for i in xs.indices {
            guard let q = point(xs[i], ys[i], l) else { continue }
            if q.x < p.x - r || q.x > p.maxX + r || q.y < p.y - r || q.y > p.maxY + r { continue }
            if asSquare {
                // Whole device pixels: exact coverage, no dropped or half-lit pixels.
                let px = ((q.x - side / 2) * c.scale).rounded() / c.scale
                let py = ((q.y - side / 2) * c.scale).rounded() / c.scale
                cairo_rectangle(cr, px, py, pixelSide, pixelSide)
            } else {
                cairo_new_sub_path(cr)
                cairo_arc(cr, q.x, q.y, r, 0, 2 * Double.pi)
            }
            pending += 1
            if pending == 16384 { cairo_fill(cr); pending = 0 }
        }
        if pending > 0 { cairo_fill(cr) }
    }
}
