import CCairo

/// A measured legend: entries in columns (filled top to bottom, then left to right).
struct LegendBox {
    let entries: [LegendEntry]
    let title: String?
    let columns: Int
    let rows: Int
    let font: Double
    let framed: Bool
    let rowHeight: Double
    let swatchWidth: Double
    let columnWidths: [Double]
    let titleHeight: Double
    let size: (width: Double, height: Double)

    static let gap = 6.0          // swatch to label
    static let columnGap = 16.0
    static let padding = 6.0      // inside a framed legend

    init(entries: [LegendEntry], title: String?, columns: Int?, font: Double, canvas: Canvas, framed: Bool) {
        self.entries = entries
        self.title = title
        self.font = font
        self.framed = framed
        let n = entries.count
        let cols = max(1, min(n, columns ?? (n <= 14 ? 1 : n <= 30 ? 2 : 3)))
        self.columns = cols
        rows = (n + cols - 1) / cols
        let textH = canvas.measure("Ag", size: font).height
        rowHeight = textH * 1.3
        swatchWidth = entries.contains { if case .line = $0.swatch { return true } else { return false } } ? font * 2 : font * 0.8
        var widths = [Double](repeating: 0, count: cols)
        for (i, e) in entries.enumerated() {
            let w = swatchWidth + LegendBox.gap + canvas.measure(e.label, size: font).width
            widths[i / rows] = max(widths[i / rows], w)
        }
        columnWidths = widths
        titleHeight = title.map { _ in canvas.measure("Ag", size: font).height + 4 } ?? 0
        let titleW = title.map { canvas.measure($0, size: font).width } ?? 0
        let pad = framed ? LegendBox.padding * 2 : 0
        let w = max(titleW, widths.reduce(0, +) + Double(cols - 1) * LegendBox.columnGap) + pad
        size = (w, titleHeight + Double(rows) * rowHeight + pad)
    }

    func draw(on c: Canvas, at origin: Point) {
        let cr = c.cr
        if framed {
            let r = Rect(x: origin.x, y: origin.y, width: size.width, height: size.height)
            c.fill(r, color: Color.white.withAlpha(0.88))
            c.strokeRect(Rect(x: c.crisp(r.x, width: 0.8), y: c.crisp(r.y, width: 0.8), width: r.width.rounded(), height: r.height.rounded()),
                         width: 0.8, color: Color(red: 0.8, green: 0.8, blue: 0.8))
        }
        let pad = framed ? LegendBox.padding : 0
        var y0 = origin.y + pad
        if let t = title {
            c.text(t, at: Point(origin.x + pad, y0), size: font, h: .left, v: .top)
            y0 += titleHeight
        }
        var x = origin.x + pad
        for col in 0..<columns {
            for row in 0..<rows {
                let i = col * rows + row
                guard i < entries.count else { break }
                let e = entries[i]
                let cy = y0 + (Double(row) + 0.5) * rowHeight
                switch e.swatch {
                case let .line(width, dash):
                    c.setColor(e.color)
                    cairo_set_line_width(cr, min(width, 3))
                    dash.withUnsafeBufferPointer { cairo_set_dash(cr, $0.baseAddress, Int32($0.count), 0) }
                    cairo_move_to(cr, x, cy); cairo_line_to(cr, x + swatchWidth, cy)
                    cairo_stroke(cr)
                    cairo_set_dash(cr, nil, 0, 0)
                case .marker:
                    c.setColor(e.color)
                    cairo_new_sub_path(cr)
                    cairo_arc(cr, x + swatchWidth / 2, cy, swatchWidth / 2, 0, 2 * Double.pi)
                    cairo_fill(cr)
                case .box:
                    c.fill(Rect(x: x, y: cy - swatchWidth / 2, width: swatchWidth, height: swatchWidth), color: e.color)
                }
                c.text(e.label, at: Point(x + swatchWidth + LegendBox.gap, cy), size: font, h: .left, v: .center)
            }
            x += columnWidths[col] + LegendBox.columnGap
        }
    }
}
