import ArgumentParser
import Foundation
import STCore
import STComm
import STData
import STPartition
import STModel
import STTrain

/// The benchmark's options (swift-argument-parser, as the main executable's).
struct BenchOptions: ParsableArguments {
    @Option(help: ArgumentHelp(".h5ad slide (default: the DLPFC section in ../shared/data).", valueName: "file"))
    var input: String = defaultInput
    @Option(help: "Use the built-in synthetic slide with N spots instead of --input.")
    var spots: Int?
    @Option(help: "Synthetic genes.")
    var genes: Int = 300
    @Option(help: "Synthetic mean library size (~100 gives a sparse HD-like slide).")
    var library: Double = 2000
    @Option(help: "HVG count for --input.")
    var nTopGenes: Int = 3000
    @Option(help: "Latent width d (a positive multiple of 8).")
    var dim: Int = 64
    @Option(help: "kernels: interleaved repetitions.")
    var reps: Int = 15
    @Option(help: "kernels: minimum milliseconds per sample.")
    var minMs: Double = 20
    @Option(help: "epoch: threads within each rank (the model's ThreadPool; OpenBLAS runs on as many for the sgemm rate).")
    var threads: Int = 1
    @Option(help: "epoch: warm-up epochs.")
    var warmup: Int = 3
    @Option(help: "epoch: epochs per round (default 10); memory: epochs (default 3).")
    var epochs: Int?
    @Option(help: "epoch: rounds, each one plain and one instrumented block.")
    var rounds: Int = 5
    @Option(help: "memory-sweep: skip synthetic cases larger than N.")
    var maxSpots: Int?
    @Flag(help: "memory-sweep: skip the real slide.")
    var noReal = false
    @Option(help: ArgumentHelp("epoch: also write the per-phase table (time, GFLOP/s, fraction of the floor) as JSON.", valueName: "file"))
    var json: String?
    @Flag(help: "kernels: skip the seed kernels.")
    var noBaseline = false

    func validate() throws {
        guard dim >= 8, dim % 8 == 0 else { throw ValidationError("--dim must be a positive multiple of 8") }
        if let spots, spots < 1 { throw ValidationError("--spots must be positive") }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// One slide set up exactly as `stgnn-dist run` sets it up (read, partition, preprocess, graph,
/// model), on this process's rank.
struct Workload {
    let label: String
    let setup: RunPipeline.Setup
    let comm: Communicator
    /// X as the run holds it (16-bit indices when its genes fit).
    var x: GeneMatrix { setup.prep.X }
    var graph: LocalGraph { setup.graph }
    var model: GraphSTModel { setup.model }
    /// Spots in the whole slide.
    var spots: Int { graph.globalCount }
    var genes: Int { x.cols }
    let setupSeconds: Double

    /// The DLPFC slide (or any .h5ad) through `RunPipeline.setUp`.
    static func real(path: String, nTopGenes: Int = 3000, dim: Int = 64, comm: Communicator) throws -> Workload {
        var cfg = RunConfiguration()
        cfg.data.input = [path]
        cfg.data.nTopGenes = nTopGenes
        cfg.model.dim = dim
        let t0 = PhaseTimer.now()
        let src = try H5ADSource(path: path)
        let setup = try RunPipeline(config: cfg, source: src, comm: comm).setUp()
        let label = (path as NSString).lastPathComponent
        return Workload(label: label, setup: setup, comm: comm, setupSeconds: Double(PhaseTimer.now() - t0) * 1e-9)
    }

    /// A built-in synthetic slide through `RunPipeline.setUp` (all genes kept when G ≤ 3000).
    static func synthetic(spots: Int, genes: Int, library: Double, dim: Int = 64, comm: Communicator) throws -> Workload {
        var cfg = RunConfiguration()
        cfg.data.input = []
        cfg.model.dim = dim
        cfg.data.syntheticSpots = spots
        cfg.data.syntheticGenes = genes
        let t0 = PhaseTimer.now()
        let src = try SyntheticSource(SyntheticSlide.Parameters(spots: spots, genes: genes, meanLibrarySize: library))
        let setup = try RunPipeline(config: cfg, source: src, comm: comm).setUp()
        let label = "synthetic \(spots)×\(genes) (library \(Int(library)))"
        return Workload(label: label, setup: setup, comm: comm, setupSeconds: Double(PhaseTimer.now() - t0) * 1e-9)
    }

    /// Chooses the workload from the options: `--input file.h5ad` or `--spots N --genes G --library L`.
    static func from(_ o: BenchOptions, comm: Communicator) throws -> Workload {
        if let spots = o.spots {
            return try synthetic(spots: spots, genes: o.genes, library: o.library, dim: o.dim, comm: comm)
        }
        return try real(path: o.input, nTopGenes: o.nTopGenes, dim: o.dim, comm: comm)
    }
}

/// The DLPFC slide next to the repository (the layout of the shared work area).
let defaultInput = "../shared/data/DLPFC_151676.h5ad"

/// Median and minimum of a sample.
struct Sample {
    var values: [Double] = []
    mutating func add(_ v: Double) { values.append(v) }
    var median: Double {
        let s = values.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    }
    var min: Double { values.min() ?? .nan }
    var max: Double { values.max() ?? .nan }
}

/// Current resident set size of this process (bytes), from /proc/self/statm.
func currentRSSBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let f = s.split(separator: " ")
    guard f.count > 1, let pages = Int(f[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func fmt(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
func mib(_ bytes: Int) -> String { fmt(Double(bytes) / 1_048_576, 1) }

/// One line describing the machine and the build (printed at the top of every report).
func machineLine() -> String {
    var model = "unknown CPU"
    if let s = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
       let line = s.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
       let colon = line.firstIndex(of: ":") {
        model = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let cores = ProcessInfo.processInfo.activeProcessorCount
    return "machine: \(model), \(cores) cores online; OpenBLAS threads \(BLAS.threads)"
}
