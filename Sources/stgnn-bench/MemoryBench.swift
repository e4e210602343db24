import Foundation
import STCore
import STComm
import STModel
import STTrain

/// Part (c): peak resident memory against slide size, to confirm that a rank needs
/// O(N·d + nnz(X)) bytes (DESIGN §2: H, N×G, is never formed).
///
/// Peak RSS only grows within a process, so each case runs in a fresh process: `memory` measures
/// one case, `memory-sweep` starts this executable once per case and tabulates the results.
enum MemoryBench {
    /// Bytes the trained state should occupy: X (and its two fast layouts' entries when built; their
    /// row pointers are left out), the local Â and M, the model's activation arena (the model's own
    /// `arenaBytes`) and G×2d blocks, parameters, gradient and Adam state.
    static func predictedBytes(_ w: Workload) -> (x: Int, graph: Int, workspaces: Int, parameters: Int) {
        let x = w.x, g = w.graph
        let n = x.rows, nL = g.nLocal, G = x.cols, d = w.model.layout.dim, d2 = 2 * d
        let xBytes = (w.model.hasFastLayouts ? 3 : 1) * x.nnz * GeneMatrix.bytesPerEntry(indexBits: x.indexBits) + (n + 1) * 8
        let graphBytes = (g.adj.nnz + g.mask.nnz) * 8 + 2 * (n + 1) * 8 + g.globalCount * 4
        let ws = GraphSTModel.arenaBytes(n: n, nLocal: nL, d: d, genes: G)   // the activation arena, [W1|W2ᵀ], W2W2ᵀ
            + G * d2 * 4 + G * d2 * 8                                          // Xᵀ scratch, packed buffer
        let params = 4 * w.model.layout.count * 4                     // params, grad, Adam m and v
        return (xBytes, graphBytes, ws, params)
    }

    /// One case in this process: set up, train `epochs` epochs, print a `RESULT` line.
    static func measure(_ o: BenchOptions) throws {
        let baseline = currentRSSBytes()
        let comm = SingleProcessCommunicator()
        let w = try Workload.from(o, comm: comm)
        let afterSetup = currentRSSBytes()
        let epochs = o.epochs ?? 3
        let trainer = Trainer(model: w.model, params: w.model.layout.initialise(seed: 41), lr: 1e-3, permutations: .seeded(41))
        let t0 = PhaseTimer.now()
        for _ in 0..<epochs { trainer.step() }
        let perEpoch = epochs > 0 ? Double(PhaseTimer.now() - t0) * 1e-9 / Double(epochs) : 0
        let afterTrain = currentRSSBytes()
        let peak = peakRSSBytes()
        let p = predictedBytes(w)
        let predicted = p.x + p.graph + p.workspaces + p.parameters
        let fields: [(String, String)] = [
            ("N", "\(w.spots)"), ("G", "\(w.genes)"),
            ("nnz", "\(w.x.nnz)"), ("baseline_rss", "\(baseline)"), ("setup_rss", "\(afterSetup)"),
            ("train_rss", "\(afterTrain)"), ("peak_rss", "\(peak)"), ("predicted", "\(predicted)"),
            ("pred_x", "\(p.x)"), ("pred_graph", "\(p.graph)"), ("pred_ws", "\(p.workspaces)"),
            ("pred_params", "\(p.parameters)"), ("setup_s", fmt(w.setupSeconds, 2)), ("epoch_s", fmt(perEpoch, 4)),
            ("label", w.label),   // last: the rest of the line, spaces included
        ]
        print("RESULT " + fields.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
    }

    /// The cases of the sweep: the real slide, Visium-like synthetic slides of growing N with a few
    /// hundred genes, and sparse Visium-HD-like slides (1000 genes, library 100: ≈ 88 stored counts
    /// per spot). Larger cases: run `memory --spots N …` directly.
    static let sweepCases: [[String]] = [
        ["--input", defaultInput],
        ["--spots", "10000", "--genes", "300", "--library", "2000"],
        ["--spots", "100000", "--genes", "300", "--library", "2000"],
        ["--spots", "500000", "--genes", "300", "--library", "2000"],
        ["--spots", "10000", "--genes", "1000", "--library", "100"],
        ["--spots", "100000", "--genes", "1000", "--library", "100"],
        ["--spots", "500000", "--genes", "1000", "--library", "100"],
    ]

    /// Runs every case in a child process and prints the table.
    static func sweep(_ o: BenchOptions) throws {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).path
        let epochs = o.epochs ?? 3
        var cases = sweepCases
        if o.noReal { cases.removeFirst() }
        if let maxSpots = o.maxSpots {
            cases = cases.filter { c in
                guard let k = c.firstIndex(of: "--spots"), let v = Int(c[k + 1]) else { return true }
                return v <= maxSpots
            }
        }
        print("## memory: peak RSS vs N (one process per case, \(epochs) epochs each)")
        print("")
        print("| case | N | G | nnz(X) | nnz/spot | predicted live MiB (X + graph + workspaces + params) | RSS after setup MiB | RSS after training MiB | peak RSS MiB | peak − baseline, bytes/spot | epoch s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in cases {
            let proc = Process()
            proc.executableURL = URL(fileURLWithPath: exe)
            proc.arguments = ["memory", "--epochs", "\(epochs)"] + c
            let pipe = Pipe()
            proc.standardOutput = pipe
            try proc.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            proc.waitUntilExit()
            let out = String(decoding: data, as: UTF8.self)
            guard proc.terminationStatus == 0,
                  let line = out.split(separator: "\n").first(where: { $0.hasPrefix("RESULT ") }) else {
                print("| \(c.joined(separator: " ")) | failed (exit \(proc.terminationStatus)) |")
                continue
            }
            var f: [String: String] = [:]
            let body = line.dropFirst(7)
            let labelStart = body.range(of: " label=")
            if let r = labelStart { f["label"] = String(body[r.upperBound...]) }
            for kv in body[..<(labelStart?.lowerBound ?? body.endIndex)].split(separator: " ") {
                if let eq = kv.firstIndex(of: "=") { f[String(kv[..<eq])] = String(kv[kv.index(after: eq)...]) }
            }
            func i(_ k: String) -> Int { Int(f[k] ?? "") ?? 0 }
            let n = i("N")
            let perSpot = Double(i("peak_rss") - i("baseline_rss")) / Double(Swift.max(n, 1))
            print("| \(f["label"] ?? "?") | \(n) | \(i("G")) | \(i("nnz")) | "
                  + "\(fmt(Double(i("nnz")) / Double(Swift.max(n, 1)), 1)) | \(mib(i("predicted"))) "
                  + "(\(mib(i("pred_x"))) + \(mib(i("pred_graph"))) + \(mib(i("pred_ws"))) + \(mib(i("pred_params")))) | "
                  + "\(mib(i("setup_rss"))) | \(mib(i("train_rss"))) | \(mib(i("peak_rss"))) | \(fmt(perSpot, 0)) | \(f["epoch_s"] ?? "") |")
            fflush(stdout)
        }
        print("")
    }
}
