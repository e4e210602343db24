import ArgumentParser
import Foundation
import STTrain
import STCommMPI

/// `stgnn-dist scaling-report`: the tables, figures and projection of a scaling experiment
/// (run by launch/scaling, which calls this at its end).
struct ScalingReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling-report",
        abstract: "Tables (CSV, JSON), figures (PNG) and the alpha-beta projection of launch/scaling's runs.",
        discussion: """
        Reads DIR/ranks-P/summary.json of a strong- and/or a weak-scaling experiment
        and writes into --out: scaling-runs.csv, scaling.json, strong.png, weak.png,
        split.png, memory.png, projection.png and projection.md (the model's table and
        assumptions).
        """)

    @Option(help: ArgumentHelp("Strong-scaling directory (launch/scaling --out).", valueName: "dir")) var strong: String?
    @Option(help: ArgumentHelp("Weak-scaling directory.", valueName: "dir")) var weak: String?
    @Option(help: ArgumentHelp("Where the tables and figures go.", valueName: "dir")) var out: String
    @Option(help: "Genes of the projected slides.") var genes: Int = 3000
    @Option(help: ArgumentHelp("Projected slide sizes (spots, comma-separated).", valueName: "list")) var spots: String = "1000000,10000000"
    @Option(help: ArgumentHelp("Projected rank counts (comma-separated).", valueName: "list")) var ranks: String = "64,128,256,512,1024"

    func run() throws {
        do {
            guard strong != nil || weak != nil else { throw ValidationError("give --strong DIR, --weak DIR or both") }
            let report = ScalingReport(strong: try strong.map(ScalingReport.readRuns) ?? [],
                                       weak: try weak.map(ScalingReport.readRuns) ?? [])
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try Data(report.csv().utf8).write(to: URL(fileURLWithPath: "\(out)/scaling-runs.csv"))
            var written = ["scaling-runs.csv"]
            if !report.strong.isEmpty { try report.strongFigure().render(to: "\(out)/strong.png"); written.append("strong.png") }
            if !report.weak.isEmpty { try report.weakFigure().render(to: "\(out)/weak.png"); written.append("weak.png") }
            try report.splitFigure().render(to: "\(out)/split.png")
            try report.memoryFigure().render(to: "\(out)/memory.png")
            written += ["split.png", "memory.png"]

            let slideSizes = try list(spots, "--spots").map(Double.init)
            let rankCounts = try list(ranks, "--ranks")
            let networks: [ScalingProjection.Network] = [.infinibandHDR, .ethernet25G]
            var json = ReportJSON(runs_csv: "scaling-runs.csv", projection: nil, networks: networks, assumptions: [],
                                  projected: [])
            if let model = report.projectionInputs(genes: genes) {
                try ScalingReport.projectionFigure(model, spots: slideSizes, ranks: rankCounts, networks: networks)
                    .render(to: "\(out)/projection.png")
                let table = ScalingReport.projectionTable(model, spots: slideSizes, ranks: rankCounts, networks: networks)
                let notes = model.assumptions(networks: networks)
                let md = "# Projection (alpha-beta model)\n\n" + notes.map { "- \($0)\n" }.joined() + "\n" + table
                try Data(md.utf8).write(to: URL(fileURLWithPath: "\(out)/projection.md"))
                json.projection = model
                json.assumptions = notes
                for n in slideSizes { for net in networks { for p in rankCounts {
                    let e = model.epoch(spots: n, ranks: p, network: net)
                    json.projected.append(.init(network: net.name, epoch: e, total: e.total))
                } } }
                written += ["projection.png", "projection.md"]
                print(md)
            }
            try jsonData(json).write(to: URL(fileURLWithPath: "\(out)/scaling.json"))
            written.append("scaling.json")
            print("scaling-report: wrote " + written.map { "\(out)/\($0)" }.joined(separator: ", "))
        } catch let e as ValidationError { throw e } catch { failJob(error) }
    }

    func list(_ s: String, _ flag: String) throws -> [Int] {
        let v = s.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ $0 > 0 }) else { throw ValidationError("\(flag) needs positive integers, comma-separated") }
        return v
    }

    struct ReportJSON: Encodable {
        struct Projected: Encodable { var network: String; var epoch: ScalingProjection.Epoch; var total: Double }
        var runs_csv: String
        var projection: ScalingProjection?
        var networks: [ScalingProjection.Network]
        var assumptions: [String]
        var projected: [Projected]
    }
}
