import Foundation
import STCore
import STComm
import STData
import STPartition
import STModel
import STTrain

/// `--key value` options and bare flags after the mode word.
struct Options {
    var values: [String: String] = [:]
    var flags: Set<String> = []

    init(_ args: ArraySlice<String>) throws {
        var it = args.makeIterator()
        while let a = it.next() {
            guard a.hasPrefix("--") else { throw BenchError("unexpected argument '\(a)' (options are --key value)") }
            let key = String(a.dropFirst(2))
            if let eq = key.firstIndex(of: "=") {
                values[String(key[..<eq])] = String(key[key.index(after: eq)...])
            } else if Options.flagNames.contains(key) {
                flags.insert(key)
            } else {
                guard let v = it.next() else { throw BenchError("option --\(key) needs a value") }
                values[key] = v
            }
        }
    }

    static let flagNames: Set<String> = ["no-baseline", "no-real", "quick"]

    func string(_ key: String, _ fallback: String) -> String { values[key] ?? fallback }
    func int(_ key: String, _ fallback: Int) throws -> Int {
        guard let s = values[key] else { return fallback }
        guard let v = Int(s.replacingOccurrences(of: "_", with: "")) else { throw BenchError("--\(key) must be an integer, not '\(s)'") }
        return v
    }
    func double(_ key: String, _ fallback: Double) throws -> Double {
        guard let s = values[key] else { return fallback }
        guard let v = Double(s) else { throw BenchError("--\(key) must be a number, not '\(s)'") }
        return v
    }
    func has(_ flag: String) -> Bool { flags.contains(flag) }
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
    var x: CSRMatrix { setup.prep.X }
    var graph: LocalGraph { setup.graph }
    var model: GraphSTModel { setup.model }
    /// Spots in the whole slide.
    var spots: Int { graph.globalCount }
    var genes: Int { x.cols }
    let setupSeconds: Double

    /// The DLPFC slide (or any .h5ad) through `RunPipeline.setUp`.
    static func real(path: String, nTopGenes: Int = 3000, dim: Int = 64, comm: Communicator) throws -> Workload {
        var cfg = RunConfiguration()
        cfg.input = [path]
        cfg.nTopGenes = nTopGenes
        cfg.dim = dim
        let t0 = PhaseTimer.now()
        let src = try H5ADSource(path: path)
        let setup = try RunPipeline(config: cfg, source: src, comm: comm).setUp()
        let label = (path as NSString).lastPathComponent
        return Workload(label: label, setup: setup, comm: comm, setupSeconds: Double(PhaseTimer.now() - t0) * 1e-9)
    }

    /// A built-in synthetic slide through `RunPipeline.setUp` (all genes kept when G ≤ 3000).
    static func synthetic(spots: Int, genes: Int, library: Double, dim: Int = 64, comm: Communicator) throws -> Workload {
        var cfg = RunConfiguration()
        cfg.input = []
        cfg.dim = dim
        cfg.syntheticSpots = spots
        cfg.syntheticGenes = genes
        let t0 = PhaseTimer.now()
        let src = try SyntheticSource(SyntheticSlide.Parameters(spots: spots, genes: genes, meanLibrarySize: library))
        let setup = try RunPipeline(config: cfg, source: src, comm: comm).setUp()
        let label = "synthetic \(spots)×\(genes) (library \(Int(library)))"
        return Workload(label: label, setup: setup, comm: comm, setupSeconds: Double(PhaseTimer.now() - t0) * 1e-9)
    }

    /// Chooses the workload from the options: `--input file.h5ad` or `--spots N --genes G --library L`.
    static func from(_ o: Options, comm: Communicator) throws -> Workload {
        let dim = try o.int("dim", 64)
        guard dim >= 1, dim % 8 == 0 else { throw BenchError("--dim must be a positive multiple of 8, not \(dim)") }
        if o.values["spots"] != nil {
            return try synthetic(spots: o.int("spots", 10_000), genes: o.int("genes", 300),
                                 library: o.double("library", 2000), dim: dim, comm: comm)
        }
        return try real(path: o.string("input", defaultInput), nTopGenes: o.int("n-top-genes", 3000), dim: dim, comm: comm)
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
