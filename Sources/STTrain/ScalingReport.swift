import Foundation
import STCore
import STPlot

/// `stgnn-dist scaling-report`: reads the runs of a strong- and a weak-scaling experiment
/// (`launch/scaling` writes DIR/ranks-P/summary.json), writes one CSV and one JSON of every run,
/// the scaling figures (PNG, STPlot) and the alpha-beta projection (`ScalingProjection`).
public struct ScalingReport {
    /// What the report reads of a run's summary.json.
    public struct Run: Decodable {
        public struct Partition: Decodable {
            public struct Rank: Decodable { public var rows: Int; public var nnz: Int; public var halo_rows: Int; public var neighbour_ranks: [Int] }
            public var ranks: [Rank]
            public var max_halo_rows: Int
        }
        public struct Configuration: Decodable {
            public struct Model: Decodable { public var dim: Int }
            public var model: Model
        }
        public var ranks: Int
        public var n_spots: Int
        public var n_genes: Int
        public var epochs: Int
        public var train_seconds: Double
        public var seconds_per_epoch: Double
        public var peak_rss_bytes_per_rank: [Int]
        public var partition: Partition
        public var configuration: Configuration
        public var comm: CommSummary?

        /// Seconds per epoch of `kind`, mean over ranks (0 when absent).
        public func seconds(_ kind: String) -> Double { comm?.kinds[kind]?.seconds_per_epoch_mean ?? 0 }
        public func secondsMax(_ kind: String) -> Double { comm?.kinds[kind]?.seconds_per_epoch_max ?? 0 }
        public func bytes(_ kind: String) -> Double { comm?.kinds[kind]?.bytes_per_epoch_total ?? 0 }
        public var peakMiB: Double { Double(peak_rss_bytes_per_rank.max() ?? 0) / 1_048_576 }
        public var meanPeakMiB: Double {
            Double(peak_rss_bytes_per_rank.reduce(0, +)) / Double(max(peak_rss_bytes_per_rank.count, 1)) / 1_048_576
        }
        public var nnz: Int { partition.ranks.reduce(0) { $0 + $1.nnz } }
    }

    public var strong: [Run]
    public var weak: [Run]
    /// The communication kinds of the time split, in stacking order, with their labels.
    public static let kinds: [(key: String, label: String)] = [
        ("compute", "compute"), ("halo", "halo exchange"), ("corruption", "corruption all-to-all"),
        ("corruption_plan", "corruption plan"), ("allreduce", "allreduce")]

    /// Reads DIR/ranks-P/summary.json for every P, sorted by P.
    public static func readRuns(_ dir: String) throws -> [Run] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: dir) else {
            throw InputError(file: dir, "cannot list the directory (a launch/scaling --out directory?)")
        }
        var runs = [Run]()
        for name in names where name.hasPrefix("ranks-") {
            let path = "\(dir)/\(name)/summary.json"
            guard let data = fm.contents(atPath: path) else { continue }
            do { runs.append(try JSONDecoder().decode(Run.self, from: data)) } catch {
                throw InputError(file: path, "not a run summary (\(error))")
            }
        }
        if runs.isEmpty { throw InputError(file: dir, "holds no ranks-P/summary.json") }
        return runs.sorted { $0.ranks < $1.ranks }
    }

    public init(strong: [Run], weak: [Run]) { self.strong = strong; self.weak = weak }

    // MARK: projection inputs

    /// The projection's inputs from the measured runs (the fewest-ranks run sets the rate).
    public func projectionInputs(genes: Int) -> ScalingProjection? {
        guard let base = (strong + weak).min(by: { ($0.ranks, $0.n_spots) < ($1.ranks, $1.n_spots) }) else { return nil }
        let all = strong + weak
        let d = base.configuration.model.dim
        let probe = ScalingProjection(dim: d, genes: base.n_genes, nnzPerSpot: Double(base.nnz) / Double(base.n_spots),
                                      computeRate: 1, planSecondsPerOwnedSpot: 0)
        // Rate: the counted flops of the largest rank over its compute seconds per epoch.
        let nMax = Double(base.partition.ranks.map(\.rows).max() ?? base.n_spots)
        let computeSeconds = base.comm?.kinds["compute"]?.seconds_per_epoch_max ?? base.seconds_per_epoch
        let rate = probe.flops(spotsPerRank: nMax) / max(computeSeconds, 1e-12)
        // The corruption plan per owned spot (the least-disturbed run: contention only inflates it).
        let plan = all.map { $0.seconds("corruption_plan") / (Double($0.n_spots) / Double($0.ranks)) }.min() ?? 0
        // Halo rows per √(N/p): measured, but at least 4 (an interior RCB tile on the hex lattice).
        let haloCoef = all.filter { $0.ranks > 1 }
            .map { Double($0.partition.max_halo_rows) / (Double($0.n_spots) / Double($0.ranks)).squareRoot() }.max() ?? 0
        let neighbours = all.flatMap { $0.partition.ranks.map(\.neighbour_ranks.count) }.max() ?? 0
        return ScalingProjection(dim: d, genes: genes, nnzPerSpot: probe.nnzPerSpot, computeRate: rate,
                                 planSecondsPerOwnedSpot: plan,
                                 haloCoefficient: max(haloCoef, 4), maxNeighbours: max(neighbours, 6),
                                 extraSlots: StopSignal.voteSlots)
    }

    // MARK: tables

    public func csv() -> String {
        var lines = ["experiment,ranks,n_spots,spots_per_rank,n_genes,epochs,seconds_per_epoch,speedup,efficiency,"
                     + Self.kinds.map { "\($0.key)_s_per_epoch_mean,\($0.key)_s_per_epoch_max" }.joined(separator: ",")
                     + ",halo_bytes_per_epoch,corruption_bytes_per_epoch,allreduce_bytes_per_epoch,max_peak_rss_mib,mean_peak_rss_mib,max_halo_rows"]
        for (name, runs) in [("strong", strong), ("weak", weak)] {
            guard let b = runs.first else { continue }
            for r in runs {
                let speedup = b.seconds_per_epoch / r.seconds_per_epoch
                let eff = name == "strong" ? speedup * Double(b.ranks) / Double(r.ranks) : speedup
                var f = [name, "\(r.ranks)", "\(r.n_spots)", "\(r.n_spots / r.ranks)", "\(r.n_genes)", "\(r.epochs)",
                         g(r.seconds_per_epoch), g(speedup), g(eff)]
                for k in Self.kinds { f += [g(r.seconds(k.key)), g(r.secondsMax(k.key))] }
                f += [g(r.bytes("halo")), g(r.bytes("corruption")), g(r.bytes("allreduce")), g(r.peakMiB), g(r.meanPeakMiB),
                      "\(r.partition.max_halo_rows)"]
                lines.append(f.joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func g(_ v: Double) -> String { String(format: "%.6g", v) }

    // MARK: figures

    static func rankTicks(_ ranks: [Int]) -> [(value: Double, label: String)] {
        Array(Set(ranks)).sorted().map { (Double($0), "\($0)") }
    }

    /// Strong-scaling speedup against ranks, log-log, with the ideal line.
    public func strongFigure() -> Figure {
        let fig = Figure(width: 620, height: 440, scale: 1.5)
        let ax = fig.subplots(rows: 1, columns: 1)[0]
        fig.title = "Strong scaling"
        guard let b = strong.first else { return fig }
        ax.title = "\(b.n_spots) spots, \(b.n_genes) genes, d = \(b.configuration.model.dim)"
        ax.xScale = .log10; ax.yScale = .log10
        ax.xLabel = "ranks"; ax.yLabel = "speedup T(\(b.ranks))/T(p)"
        let p = strong.map { Double($0.ranks) }, s = strong.map { b.seconds_per_epoch / $0.seconds_per_epoch }
        ax.plot(x: p, y: p.map { $0 / Double(b.ranks) }, color: .grid.mixed(with: .ink, 0.35), width: 1.4, dash: [5, 4], label: "ideal")
        ax.plot(x: p, y: s, color: Palette.cycle(0), width: 2, label: "measured (s/epoch)")
        ax.scatter(x: p, y: s, color: Palette.cycle(0), radius: .pixels(4))
        ax.xTickLabels = Self.rankTicks(strong.map(\.ranks))
        ax.legend = .best
        return fig
    }

    /// Weak-scaling efficiency T(p_base)/T(p) against ranks at fixed spots per rank.
    public func weakFigure() -> Figure {
        let fig = Figure(width: 620, height: 440, scale: 1.5)
        let ax = fig.subplots(rows: 1, columns: 1)[0]
        fig.title = "Weak scaling"
        guard let b = weak.first else { return fig }
        ax.title = "\(b.n_spots / b.ranks) spots per rank, \(b.n_genes) genes"
        ax.xScale = .log10
        ax.xLabel = "ranks"; ax.yLabel = "efficiency T(\(b.ranks))/T(p)"
        let p = weak.map { Double($0.ranks) }, e = weak.map { b.seconds_per_epoch / $0.seconds_per_epoch }
        ax.plot(x: p, y: p.map { _ in 1 }, color: .grid.mixed(with: .ink, 0.35), width: 1.4, dash: [5, 4], label: "ideal")
        ax.plot(x: p, y: e, color: Palette.cycle(1), width: 2, label: "measured (s/epoch)")
        ax.scatter(x: p, y: e, color: Palette.cycle(1), radius: .pixels(4))
        ax.yLimits = 0...max(1.2, (e.max() ?? 1) * 1.1)
        ax.xTickLabels = Self.rankTicks(weak.map(\.ranks))
        ax.legend = .best
        return fig
    }

    /// Stacked bars of the time split (seconds per epoch, mean over ranks) per rank count.
    public func splitFigure() -> Figure {
        let sets = [("strong scaling", strong), ("weak scaling", weak)].filter { !$0.1.isEmpty }
        let fig = Figure(width: 460 * max(sets.count, 1) + 200, height: 440, scale: 1.5)
        fig.title = "Time split per epoch (mean over ranks)"
        let axes = fig.subplots(rows: 1, columns: max(sets.count, 1))
        let colors = [Palette.cycle(0), Palette.cycle(1), Palette.cycle(2), Palette.cycle(4), Palette.cycle(3)]
        for (k, (name, runs)) in sets.enumerated() {
            let ax = axes[k]
            ax.title = name + " (\(runs[0].n_spots == runs.last!.n_spots ? "\(runs[0].n_spots) spots" : "\(runs[0].n_spots / runs[0].ranks) spots/rank"))"
            ax.xLabel = "ranks"; ax.yLabel = "seconds per epoch"
            let x = runs.indices.map(Double.init)
            ax.stackedBars(x: x, layers: Self.kinds.map { kind in (kind.label, runs.map { $0.seconds(kind.key) }) },
                           width: 0.6, colors: colors)
            ax.xTickLabels = runs.enumerated().map { (Double($0.offset), "\($0.element.ranks)") }
            ax.xLimits = -0.6...(Double(runs.count) - 0.4)
            ax.legend = k == sets.count - 1 ? .outsideRight : .none
        }
        return fig
    }

    /// Peak RSS per rank (largest and mean over ranks) against ranks.
    public func memoryFigure() -> Figure {
        let sets = [("strong", strong, 0), ("weak", weak, 1)].filter { !$0.1.isEmpty }
        let fig = Figure(width: 620, height: 440, scale: 1.5)
        fig.title = "Peak memory per rank"
        let ax = fig.subplots(rows: 1, columns: 1)[0]
        ax.xScale = .log10; ax.xLabel = "ranks"; ax.yLabel = "peak RSS per rank (MiB)"
        for (name, runs, c) in sets {
            let p = runs.map { Double($0.ranks) }
            let label = name == "strong" ? "strong, \(runs[0].n_spots) spots" : "weak, \(runs[0].n_spots / runs[0].ranks) spots/rank"
            ax.plot(x: p, y: runs.map(\.peakMiB), color: Palette.cycle(c), width: 2, label: label + ": largest rank")
            ax.scatter(x: p, y: runs.map(\.peakMiB), color: Palette.cycle(c), radius: .pixels(4))
            ax.plot(x: p, y: runs.map(\.meanPeakMiB), color: Palette.cycle(c), width: 1.4, dash: [5, 3], label: label + ": mean")
        }
        ax.yLimits = 0...((sets.flatMap { $0.1.map(\.peakMiB) }.max() ?? 1) * 1.15)
        ax.xTickLabels = Self.rankTicks(sets.flatMap { $0.1.map(\.ranks) })
        ax.legend = .best
        return fig
    }

    /// The projection figure: seconds per epoch against ranks for each slide size, log-log.
    public static func projectionFigure(_ model: ScalingProjection, spots: [Double], ranks: [Int],
                                        networks: [ScalingProjection.Network]) -> Figure {
        let fig = Figure(width: 1180, height: 640, scale: 1.5)
        fig.title = "Projected epoch time (alpha-beta model fed by the measured run)"
        fig.fontSize = 12
        fig.footnotes = model.assumptions(networks: networks)
        let axes = fig.subplots(rows: 1, columns: spots.count)
        let x = ranks.map(Double.init)
        for (k, n) in spots.enumerated() {
            let ax = axes[k]
            ax.title = "\(Self.spotsLabel(n)) spots, G = \(model.genes)"
            ax.xScale = .log10; ax.yScale = .log10
            ax.xLabel = "ranks"; ax.yLabel = "seconds per epoch"
            for (j, net) in networks.enumerated() {
                let e = ranks.map { model.epoch(spots: n, ranks: $0, network: net) }
                ax.plot(x: x, y: e.map(\.total), color: j == 0 ? .ink : Palette.cycle(3), width: 2.2, dash: j == 0 ? [] : [7, 4],
                        label: "total, \(net.name)")
                if j == 0 {
                    ax.plot(x: x, y: e.map(\.compute), color: Palette.cycle(0), width: 1.6, label: "compute")
                    ax.plot(x: x, y: e.map(\.serial), color: Palette.cycle(4), width: 1.6, label: "corruption plan")
                }
                ax.plot(x: x, y: e.map(\.halo), color: Palette.cycle(1), width: 1.4, dash: j == 0 ? [] : [7, 4], label: "halo, \(net.name)")
                ax.plot(x: x, y: e.map(\.corruption), color: Palette.cycle(2), width: 1.4, dash: j == 0 ? [] : [7, 4],
                        label: "all-to-all, \(net.name)")
                ax.plot(x: x, y: e.map(\.allreduce), color: Palette.cycle(5), width: 1.4, dash: j == 0 ? [] : [7, 4],
                        label: "allreduce, \(net.name)")
            }
            ax.xTickLabels = rankTicks(ranks)
            ax.legend = k == spots.count - 1 ? .outsideRight : .none
        }
        return fig
    }

    static func spotsLabel(_ n: Double) -> String {
        n >= 1e6 && n.truncatingRemainder(dividingBy: 1e6) == 0 ? "\(Int(n / 1e6))M" : "\(Int(n))"
    }

    /// The projection as a Markdown table.
    public static func projectionTable(_ model: ScalingProjection, spots: [Double], ranks: [Int],
                                       networks: [ScalingProjection.Network]) -> String {
        var s = "| spots | network | ranks | compute ms | plan ms | halo ms | all-to-all ms | allreduce ms | total ms | efficiency vs \(ranks[0]) |\n"
        s += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        func ms(_ v: Double) -> String { String(format: v < 1 ? "%.3f" : "%.1f", v * 1000) }
        for n in spots {
            for net in networks {
                let base = model.epoch(spots: n, ranks: ranks[0], network: net)
                for p in ranks {
                    let e = model.epoch(spots: n, ranks: p, network: net)
                    let eff = base.total * Double(ranks[0]) / (e.total * Double(p))
                    s += "| \(spotsLabel(n)) | \(net.name) | \(p) | \(ms(e.compute)) | \(ms(e.serial)) | \(ms(e.halo)) | "
                        + "\(ms(e.corruption)) | \(ms(e.allreduce)) | \(ms(e.total)) | \(String(format: "%.2f", eff)) |\n"
                }
            }
        }
        return s
    }
}

extension Color {
    /// Linear mix towards `other` by `t` (0 = self).
    func mixed(with other: Color, _ t: Double) -> Color {
        Color(red: red + (other.red - red) * t, green: green + (other.green - green) * t,
              blue: blue + (other.blue - blue) * t, alpha: alpha)
    }
}
