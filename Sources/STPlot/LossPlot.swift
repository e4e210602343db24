import Foundation

/// Loss curves of a training run against epoch.
///
/// Layout: with the four GraphST terms (total, α·feat, sl_1, sl_2 in that order) two panels side
/// by side, "total and reconstruction" and "contrastive (BCE)", because the contrastive terms
/// are an order of magnitude below the total and would be squeezed flat beside it; otherwise one
/// panel. Each panel's y axis is log10 when its finite positive values span a factor ≥ 10 (a
/// decaying loss), linear otherwise; NaN/±inf are gaps in the line, and on a log axis so are
/// values ≤ 0 (the range ignores them too). Colours follow the series order across panels.
public enum LossPlot {
    /// One panel: its title and the names of the series it shows.
    public struct Panel {
        public var title: String?
        public var series: [String]
        public init(title: String?, series: [String]) { self.title = title; self.series = series }
    }

    public static func render(to path: String, epochs: [Int], series: [(name: String, values: [Double])],
                              title: String, panels: [Panel]? = nil, width: Int = 1000, height: Int = 400,
                              scale: Double = 1) throws {
        try figure(epochs: epochs, series: series, title: title, panels: panels, width: width, height: height,
                   scale: scale).render(to: path)
    }

    /// The figure `render` writes.
    public static func figure(epochs: [Int], series: [(name: String, values: [Double])], title: String,
                              panels: [Panel]? = nil, width: Int = 1000, height: Int = 400,
                              scale: Double = 1) throws -> Figure {
        for s in series where s.values.count != epochs.count {
            throw PlotError("loss plot: series '\(s.name)' has \(s.values.count) values for \(epochs.count) epochs")
        }
        let names = series.map(\.name)
        let layout = panels ?? (series.count == 4
            ? [Panel(title: "total and reconstruction", series: Array(names[0..<2])),
               Panel(title: "contrastive (BCE)", series: Array(names[2..<4]))]
            : [Panel(title: nil, series: names)])
        let fig = Figure(width: width, height: height, scale: scale)
        fig.title = title
        let x = epochs.map(Double.init)
        let axes = fig.subplots(rows: 1, columns: layout.count)
        for (panel, ax) in zip(layout, axes) {
            ax.title = panel.title
            ax.xLabel = "epoch"
            ax.yLabel = "loss"
            ax.xMargin = 0
            if let lo = x.min(), let hi = x.max(), lo < hi { ax.xLimits = lo...hi }
            var positive = [Double]()
            for name in panel.series {
                guard let k = names.firstIndex(of: name) else {
                    throw PlotError("loss plot: panel '\(panel.title ?? "")' names unknown series '\(name)'")
                }
                positive += series[k].values.filter { $0.isFinite && $0 > 0 }
                ax.plot(x: x, y: series[k].values, color: Palette.cycle(k), width: 1.8,
                        dash: k % 2 == 1 ? [6, 3] : [], label: name)
            }
            if let lo = positive.min(), let hi = positive.max(), hi / lo >= 10 {
                ax.yScale = .log10
            }
        }
        return fig
    }
}
