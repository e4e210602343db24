/// How big a scatter marker is: a radius in figure units (logical pixels) or in data units of
/// the x axis (for spots whose size is a physical length; meaningful with equal aspect).
public enum MarkerSize: Equatable, Sendable {
    case pixels(Double)
    case data(Double)
}

/// The scale of one axis.
public enum AxisScale: Equatable, Sendable {
    case linear
    case log10
}

/// Where an axes puts its legend.
public enum LegendPlacement: Equatable, Sendable {
    /// No legend.
    case none
    /// Outside the plotting area, to its right, top-aligned (never covers data).
    case outsideRight
    /// Inside, in whichever corner covers the fewest data points (matplotlib's "best").
    case best
}

/// One legend row: a swatch and a label.
public struct LegendEntry: Equatable, Sendable {
    public enum Swatch: Equatable, Sendable { case line(width: Double, dash: [Double]), marker, box }
    public var label: String
    public var color: Color
    public var swatch: Swatch
    public init(label: String, color: Color, swatch: Swatch) {
        self.label = label; self.color = color; self.swatch = swatch
    }
}

/// A drawable data series of an `Axes`.
enum Series {
    case line(x: [Double], y: [Double], color: Color, width: Double, dash: [Double], label: String?)
    case scatter(x: [Double], y: [Double], color: Color, radius: MarkerSize, label: String?)
    case bars(x: [Double], heights: [Double], bottoms: [Double], width: Double, color: Color, label: String?)

    var legendEntry: LegendEntry? {
        switch self {
        case let .line(_, _, c, w, d, l?): return LegendEntry(label: l, color: c, swatch: .line(width: w, dash: d))
        case let .scatter(_, _, c, _, l?): return LegendEntry(label: l, color: c, swatch: .marker)
        case let .bars(_, _, _, _, c, l?): return LegendEntry(label: l, color: c, swatch: .box)
        default: return nil
        }
    }
}
