import CCairo
import Foundation

/// A W × H figure (figure units = logical pixels) of one or more `Axes`, rendered with Cairo to
/// a PNG of (W·scale) × (H·scale) device pixels: scale 2 gives the same figure for print.
///
/// ```
/// let fig = Figure(width: 640, height: 400)
/// let ax = fig.subplots(rows: 1, columns: 1)[0]
/// ax.yScale = .log10; ax.plot(x: xs, y: ys, label: "total")
/// try fig.render(to: "loss.png")
/// ```
public final class Figure {
    public let width: Int
    public var height: Int
    /// Device pixels per figure unit (1 for screen, 2 for print).
    public var scale: Double
    /// A title above all axes.
    public var title: String?
    /// Base font size in figure units (tick labels are 0.92×, titles 1.12×).
    public var fontSize: Double = 13
    /// Empty border around the figure, in figure units.
    public var padding: Double = 10
    /// Lines of small text below all axes, left-aligned (captions: a model's assumptions, sources).
    public var footnotes: [String] = []

    static let gapX = 16.0, gapY = 12.0
    private var grid: (rows: Int, columns: Int)?
    private var items: [(axes: Axes, frame: Rect?)] = []

    public init(width: Int, height: Int, scale: Double = 1) {
        self.width = width; self.height = height; self.scale = scale
    }

    /// All axes, in the order added.
    public var axes: [Axes] { items.map(\.axes) }

    /// `rows × columns` axes filling the figure (row-major), replacing any grid made before.
    public func subplots(rows: Int, columns: Int) -> [Axes] {
        precondition(rows > 0 && columns > 0, "subplots: rows and columns must be positive")
        items.removeAll { $0.frame == nil }
        grid = (rows, columns)
        let new = (0..<(rows * columns)).map { _ in Axes() }
        items.append(contentsOf: new.map { ($0, nil) })
        return new
    }

    /// One axes in `frame` (figure units; the axes' labels and legend are laid out inside it).
    public func addAxes(frame: Rect) -> Axes {
        let a = Axes()
        items.append((a, frame))
        return a
    }

    var fonts: Fonts { Fonts(base: fontSize) }

    func titleHeight(_ c: Canvas) -> Double {
        title.map { _ in c.measure("Ag", size: fonts.title * 1.08).height + 8 } ?? 0
    }

    var footnoteSize: Double { fontSize * 0.8 }
    func footnoteLineHeight(_ c: Canvas) -> Double { c.measure("Ag", size: footnoteSize).height + 3 }
    func footnotesHeight(_ c: Canvas) -> Double {
        footnotes.isEmpty ? 0 : Double(footnotes.count) * footnoteLineHeight(c) + 6
    }

    /// The grid cells below the figure title (and above the footnotes).
    func cells(_ c: Canvas) -> [Rect] {
        guard let g = grid else { return [] }
        let top = padding + titleHeight(c)
        let area = Rect(x: padding, y: top, width: Double(width) - 2 * padding,
                        height: Double(height) - top - padding - footnotesHeight(c))
        let gapX = Figure.gapX, gapY = Figure.gapY
        let cw = (area.width - gapX * Double(g.columns - 1)) / Double(g.columns)
        let ch = (area.height - gapY * Double(g.rows - 1)) / Double(g.rows)
        return (0..<(g.rows * g.columns)).map { i in
            Rect(x: area.x + Double(i % g.columns) * (cw + gapX), y: area.y + Double(i / g.columns) * (ch + gapY),
                 width: cw, height: ch)
        }
    }

    /// Draws the figure; the canvas is returned for tests and for writing.
    func draw() throws -> Canvas {
        let c = try Canvas(width: width, height: height, scale: scale)
        if let t = title {
            c.text(t, at: Point(Double(width) / 2, padding), size: fonts.title * 1.08, h: .center, v: .top)
        }
        let gridCells = cells(c)
        var k = 0
        for item in items {
            let cell: Rect
            if let f = item.frame { cell = f } else { cell = gridCells[k]; k += 1 }
            let l = item.axes.layout(in: cell, canvas: c, fonts: fonts)
            item.axes.draw(on: c, layout: l, fonts: fonts)
        }
        if !footnotes.isEmpty {
            let lh = footnoteLineHeight(c)
            var y = Double(height) - padding - Double(footnotes.count) * lh
            for line in footnotes {
                c.text(line, at: Point(padding, y), size: footnoteSize, h: .left, v: .top)
                y += lh
            }
        }
        return c
    }

    /// Sets `height` to what the axes need at this width: for grids of equal-aspect axes
    /// (spatial maps), whose height follows from their width.
    public func fitHeightToContent() throws {
        guard let g = grid else { return }
        let c = try Canvas.measuring()
        let saved = height
        height = 100_000  // cells as tall as anything could need; each axes reports its need
        let cellRects = cells(c)
        height = saved
        var k = 0, rowNeeds = [Double](repeating: 0, count: g.rows)
        for item in items where item.frame == nil {
            let l = item.axes.layout(in: cellRects[k], canvas: c, fonts: fonts)
            rowNeeds[k / g.columns] = max(rowNeeds[k / g.columns], l.neededHeight)
            k += 1
        }
        let total = padding * 2 + titleHeight(c) + rowNeeds.reduce(0, +) + Figure.gapY * Double(g.rows - 1)
        height = Int(total.rounded(.up))
    }

    /// Renders and writes a PNG to `path`; throws `PlotError` naming the path when it cannot.
    public func render(to path: String) throws {
        try draw().writePNG(to: path)
    }
}
