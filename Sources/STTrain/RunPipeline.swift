import Foundation
import STCore
import STComm
import STData
import STPrep
import STPartition
import STModel
import STExchange

/// The `run` job: read → partition → preprocess → graph → train → write, on every rank.
///
/// Phases are timed (rank 0's clock, after a barrier, so each phase's time is the slowest rank's).
public final class RunPipeline {
    public let config: RunConfiguration
    public let comm: Communicator
    public let source: SlideSource
    /// Called on rank 0 for each finished epoch (progress display).
    public var onEpoch: ((EpochRecord, Int) -> Void)?
    /// Called on rank 0 with one-line notes: checkpoint written, resuming from a checkpoint.
    public var onNote: ((String) -> Void)?
    /// Polled on every rank before each epoch's allreduce (with that epoch's 1-based number): a
    /// signal number asks the job to stop after this epoch with a checkpoint; the votes travel in the
    /// model's packed allreduce, so every rank decides alike at no extra collective. Default: the
    /// signal `StopSignal` received.
    public var stopRequested: (Int) -> Int32? = { _ in StopSignal.received }
    var phases: [(String, Double)] = []
    /// This rank's peak RSS at the end of each phase (bytes), in phase order: where memory grows.
    var phasePeaks: [(String, Int)] = []
    /// The memory preflight's estimate of the largest rank's peak (bytes), recorded in the summary.
    var memoryEstimate: Int?
    /// The memory one rank may use (`--max-memory`, else its share of the node), when known.
    var memoryLimit: Int?
    /// Whether the ranks hold the extra layouts of X (`fastLayoutsFit`), for the summary.
    var fastLayouts = true
    /// Bits per column index of this run's X (16 or 32, `GeneMatrix`), for the summary.
    var xIndexBits = 32
    /// The output folder's lock (rank 0; held until the process exits).
    var outputLock: Int32 = -1
    var clock = DispatchTime.now().uptimeNanoseconds

    public init(config: RunConfiguration, source: SlideSource, comm: Communicator) {
        self.config = config
        self.source = source
        self.comm = comm
    }

    /// Fault injection for the fault tests: `STGNN_STOP_AT="PHASE@RANK"` (e.g. "reading X@2") makes
    /// that rank stop itself with SIGSTOP as the set-up phase begins, or as rank 0 begins a step of
    /// its own (`onRoot`, e.g. "writing the results@0"), as a rank stuck on a hung file system would
    /// stop answering, so the tests can check the deadlines of the waits outside training.
    static func stopForTests(at phase: String, rank: Int) {
        guard let spec = ProcessInfo.processInfo.environment["STGNN_STOP_AT"], spec == "\(phase)@\(rank)" else { return }
        kill(getpid(), SIGSTOP)
    }

    /// The end of set-up phase `name` (timed after a barrier); `next` names the following one for
    /// the stall watchdog's line.
    func phase(_ name: String, next: String? = nil) {
        comm.barrier()
        if let next {
            comm.watchdog?.enterPhase("setup: " + next)
            Self.stopForTests(at: next, rank: comm.rank)
        }
        let now = DispatchTime.now().uptimeNanoseconds
        phases.append((name, Double(now - clock) / 1e9))
        phasePeaks.append((name, peakRSSBytes()))
        clock = now
    }

    /// Everything after the partition, for one rank: its rows of X (preprocessed), its share of the
    /// graph, and the model on them.
    public struct Setup {
        /// The partition, this rank's spots in local row order and its local graph.
        public let layout: RankLayout
        public var prep: PreprocessResult
        public let model: GraphSTModel
        /// What the data is (identical on every rank): recorded in checkpoints and `summary.json`.
        public let fingerprint: DataFingerprint

        public var partition: RCBPartition { layout.partition }
        public var graph: LocalGraph { layout.graph }
        /// This rank's spots in local row order (global indices).
        public var owned: [Int] { layout.ownedInts }
    }

    /// Reads, partitions, preprocesses and builds the graph and model (collective).
    public func setUp() throws -> Setup {
        clock = DispatchTime.now().uptimeNanoseconds
        comm.watchdog?.enterPhase("setup: reading the coordinates")
        let n = source.spotCount
        let spatial = try source.spatial()
        try SpatialGraph.validateCoordinates(spatial, k: config.data.neighbours, file: source.label)
        phase("read_coordinates", next: "partitioning")

        let rowNNZ = try source.rowNNZ()
        let rowEntries = RankLayout.rowEntries(dim: config.model.dim, genes: source.geneCount, keptGenes: config.data.nTopGenes)
        let rcb = try RankLayout.partition(coordinates: spatial, rowNNZ: rowNNZ, ranks: comm.size, rowEntries: rowEntries)
        try checkMemory(rowNNZ: rowNNZ, partition: rcb)
        // X is read straight into local (space-filling) row order, from contiguous hyperslabs in
        // ascending global order, and preprocessed in place: one copy of the rank's rows.
        let ascending = rcb.partition.owned(by: comm.rank).map(\.int)
        let rowOrder = RankLayout.rowOrder(partition: rcb, rank: comm.rank, coordinates: spatial)
        let localIDs = rowOrder.owned.map(\.int)
        phase("partition", next: "reading X")

        var counts: GeneMatrix
        do { counts = try source.geneCounts(rows: ascending, order: rowOrder.ascendingPosition) } catch { throw RankLocalError(error) }
        let countsDigest = DataFingerprint.countsDigest(counts, globalRows: localIDs)
        phase("read_x", next: "preprocessing")

        let prep: PreprocessResult
        do {
            prep = try preprocess(consuming: &counts,
                                  hvg: HVGOptions(nTopGenes: config.data.nTopGenes),
                                  normalisation: NormalisationOptions(targetSum: config.data.targetSum, maxValue: config.data.maxValue),
                                  rowIDs: localIDs, comm: comm)
        } catch var e as InputError where e.file == nil {
            // STPrep knows the matrix only as "counts"; the user knows it as the source's X.
            e.file = source.label
            if e.field == "counts" { e.field = "X" }
            throw e
        }
        let fingerprint = DataFingerprint.compute(countsDigest: countsDigest, spotCount: n, spatial: spatial, prep: prep,
                                                  geneNames: (try? source.geneNames()) ?? [], genesInput: source.geneCount, comm: comm)
        phase("preprocess", next: "building the graph")

        let knn = try KNNGraph(coordinates: spatial, k: config.data.neighbours, communicator: comm, file: source.label)
        let layout = RankLayout(partition: rcb, rank: comm.rank, rowOrder: rowOrder) { rows in
            let sg = SpatialGraph(knn: knn, rows: rows.map(\.int), normalisation: config.data.normalisation)
            return (sg.adjacency, sg.mask)
        }
        phase("graph", next: "setting up the model")

        // The setup's temporaries (kNN lists, k-d tree, RCB work, read buffers) are freed by now;
        // hand their pages back to the kernel before the model's arena is allocated, or glibc
        // keeps them in its heap and they stay in the rank's resident size through training.
        releaseFreedHeapMemory()
        var largest = [Double(prep.X.nnz), Double(prep.X.rows)]   // one collective for both maxima
        largest.withUnsafeMutableBufferPointer { comm.allreduceMax($0) }
        let largestX = Int(largest[0]), largestRows = Int(largest[1])
        xIndexBits = prep.X.indexBits
        fastLayouts = fastLayoutsFit(largestStoredEntries: largestX, largestRows: largestRows, genes: prep.X.cols,
                                     indexBits: prep.X.indexBits)
        if fastLayouts, let e = memoryEstimate {   // the summary's bound includes them
            memoryEstimate = e + Self.fastLayoutBytes(storedEntries: largestX, rows: largestRows, genes: prep.X.cols,
                                                      indexBits: prep.X.indexBits, dim: config.model.dim)
        }
        let model = layout.model(x: prep.X, dim: config.model.dim, weights: config.model.lossWeights,
                                 readout: config.model.readout, fastLayouts: fastLayouts, comm: comm)
        model.pool = ThreadPool(threads: config.output.resolvedThreads)
        phase("model_setup")
        return Setup(layout: layout, prep: prep, model: model, fingerprint: fingerprint)
    }
}

/// The `summary.json` of a run.
public struct RunSummary: Encodable {
    public var configuration: RunConfiguration
    public var input: String
    public var n_spots: Int
    public var n_genes: Int
    public var n_genes_input: Int
    public var epochs: Int
    public var ranks: Int
    /// The training loop alone.
    public var train_seconds: Double
    public var seconds_per_epoch: Double
    /// Wall-clock seconds of each phase, in order.
    public var phase_seconds: [String: Double]
    public var phase_order: [String]
    public var peak_rss_bytes_per_rank: [Int]
    /// Each rank's peak RSS at the end of each setup phase and of training (phase → bytes per rank):
    /// which step raised the peak.
    public var peak_rss_bytes_by_phase: [String: [Int]]
    /// The preflight's estimate of the largest rank's peak, made before X was read.
    public var memory_estimate_bytes: Int?
    /// Whether the ranks held the transposed and column-blocked copies of X that speed up the two
    /// X passes (only when memory is plentiful; the numbers are the same either way).
    public var x_fast_layouts: Bool
    /// Bits per column index of X (16 when its genes fit: 6 bytes per stored entry; else 32: 8).
    public var x_index_bits: Int
    public var final_loss: Double
    public var final_loss_feat: Double
    public var final_loss_sl_1: Double
    public var final_loss_sl_2: Double
    public var blas_threads: Int
    public var partition: PartitionReport
    /// `--epochs`: the total the run trains to.
    public var epochs_target: Int
    /// Epochs trained by this invocation (after the checkpoint it resumed from, if any).
    public var epochs_this_run: Int
    /// What the data is (see `DataFingerprint`; checkpoints record the same).
    public var data_fingerprint: DataFingerprint
    /// The checkpoint this invocation continued from; absent for a fresh start.
    public var resumed_from: ResumeRecord?
    /// Checkpoints written by this invocation, in order.
    public var checkpoints: [CheckpointRecord]
    /// True when a stop signal ended the run before `epochs_target`: a checkpoint was written,
    /// `result.h5ad` was not, and the exit status is `StopSignal.exitCode`.
    public var stopped_early: Bool
    /// The signal that stopped the run ("SIGTERM"), absent otherwise.
    public var stop_signal: String?
    /// The spatial domains: embedding, clustering, refinement, scores, phase times.
    public var domains: DomainSummary?
    /// Scores of the final domains against `--label` (after refinement when `--refine`).
    public var ari: Double?
    public var nmi: Double?
    /// The same before refinement (with `--refine`).
    public var ari_unrefined: Double?
    public var nmi_unrefined: Double?
    /// The training loop's time split (compute, halo, corruption all-to-all, allreduce) and the
    /// bytes each moved, per rank (`CommSummary`).
    public var comm: CommSummary?
}

extension RunPipeline {
    /// Runs the whole job; rank 0 writes `metrics.jsonl`, `result.h5ad` and `summary.json` into
    /// `config.output.output`. Returns the summary (on every rank).
    @discardableResult
    public func run() throws -> RunSummary {
        let out = URL(fileURLWithPath: config.output.output)
        try onRoot("preparing the output folder") { try prepareOutputFolder() }
        defer { releaseOutputLock() }
        // obs is read once, by rank 0, before anything long starts: the --label column is checked
        // now, not after training, and the result carries the obs seen here.
        var obs: DataFrame?
        let labelColumn: LabelColumn? = try onRootShared("reading obs") { () -> LabelColumn? in
            let o = try source.obs()
            try OutputFiles.validateObs(o, spots: source.spotCount, file: source.label)
            obs = o
            // The built-in slide is scored against its truth unless --label names another column.
            let label = config.domains.label ?? (config.data.input.isEmpty && !config.domains.noDomains ? "ground_truth" : nil)
            return try label.map { try LabelColumn(obs: o, column: $0, file: source.label) }
        }
        // Resuming: rank 0 reads the checkpoint and checks its format and configuration before the
        // setup, so that a wrong checkpoint is refused before the slide is read.
        let store = CheckpointStore(output: config.output.output, keep: config.output.keepCheckpoints)
        let loaded = try config.output.resume.flatMap { try readResumeCheckpoint($0, store: store) }
        var setup = try setUp()
        let model = setup.model
        // Over the preprocessed X: its entries and 2d per spot are the epoch's work floor.
        let report = PartitionReport(graph: setup.graph, partition: setup.partition, nnz: setup.prep.X.nnz,
                                     rowEntries: 2 * Double(config.model.dim), comm: comm)

        // The starting state: the initialisation, or the checkpoint (checked against the data by
        // rank 0, then broadcast, so every rank holds the same bits).
        let trainer: Trainer
        var resumed: ResumeRecord?
        var last: EpochRecord?
        // Every rank learns whether rank 0 found a checkpoint (`--resume auto` may start fresh).
        let resuming: Bool = try comm.broadcast(comm.isRoot ? loaded != nil : nil, root: 0)
        if resuming {
            let (record, c) = try distributeCheckpoint(loaded, setup: setup)
            trainer = Trainer(model: model, params: c.parameters(layout: model.layout), lr: config.model.lr,
                              permutations: .seeded(config.model.seed), optimiser: c.optimiser(layout: model.layout),
                              epochsDone: c.metadata.epoch)
            resumed = record
            last = c.metadata.last_epoch
            if comm.isRoot {
                onNote?("resuming from \(record.path): epoch \(record.epoch) of \(config.model.epochs) (written on \(record.ranks) rank\(record.ranks == 1 ? "" : "s"), continuing on \(comm.size))")
            }
        } else {
            trainer = Trainer(model: model, params: model.layout.initialise(seed: config.model.seed), lr: config.model.lr,
                              permutations: .seeded(config.model.seed))
        }

        // Training. metrics.jsonl is appended to when resuming, after dropping any epochs past the
        // checkpoint (left by a run killed after its last checkpoint).
        let metricsPath = out.appendingPathComponent("metrics.jsonl").path
        let metrics: MetricsWriter? = comm.isRoot ? try {
            if let resumed { try Self.truncateMetrics(at: metricsPath, after: resumed.epoch) }
            return try MetricsWriter(path: metricsPath, append: resumed != nil)
        }() : nil
        let startEpoch = trainer.epochsDone
        var checkpoints = [CheckpointRecord]()
        var stopSignal: Int32?
        let t0 = DispatchTime.now().uptimeNanoseconds
        var votes = [Double](repeating: 0, count: StopSignal.voteSlots)
        let commStats = CommStats()
        model.commStats = commStats
        // The stall watchdog (MPI jobs; see StallWatchdog): every wait of the loop gets the
        // deadline of --stall-timeout (by default from the median epoch time); past it the ranks
        // still answering end the job, and one of them checkpoints the last completed epoch from
        // its own replicated copy of the parameters and Adam state, with no collective.
        let watchdog = comm.watchdog
        var epochSeconds = [Double]()
        watchdog?.checkpoint = { [config, comm] in
            let c = Checkpoint(trainer: trainer, config: config, data: setup.fingerprint, ranks: comm.size, lastEpoch: last)
            return try store.save(c).path
        }
        // Disarmed when the loop ends, however it ends: the steps after training (rank 0 writing a
        // large result while the others wait) have no epoch time to be measured against; they get
        // the deadline of every wait outside the loop (`--setup-timeout`).
        func disarm() {
            watchdog?.checkpoint = nil
            watchdog?.epoch = 0
            watchdog?.enterPhase("the spatial domains and outputs after training")
        }
        do {                      // the loop's scope: disarmed once, however the loop ends
        defer { disarm() }
        while trainer.epochsDone < config.model.epochs {
            watchdog?.timeout = StallWatchdog.timeout(option: config.output.stallTimeout, epochSeconds: epochSeconds)
            watchdog?.epoch = trainer.epochsDone + 1
            watchdog?.completed = trainer.epochsDone
            // Stop votes ride in the epoch's allreduce: slot s counts the ranks that saw signal s,
            // so a signal seen by any rank stops every rank after this same epoch.
            for i in votes.indices { votes[i] = 0 }
            if let s = stopRequested(trainer.epochsDone + 1), s > 0 {
                votes[min(Int(s), StopSignal.voteSlots - 1)] = 1
            }
            let r = trainer.step(extra: &votes)
            watchdog?.completed = r.epoch
            epochSeconds.append(r.seconds)
            guard r.loss.isFinite else {
                // The data were checked finite before training: a non-finite loss comes from the
                // optimisation. Name what sets its scale.
                throw InputError(file: source.label, "training diverged: loss is \(r.loss) at epoch \(r.epoch) (last finite: \(last.map { String($0.loss) } ?? "none")); the usual cause is a learning rate or loss weights too large for this slide (--lr \(config.model.lr), --alpha \(config.model.alpha), --beta \(config.model.beta)); try a smaller --lr")
            }
            try metrics?.append(r)
            onEpoch?(r, config.model.epochs)
            last = r
            let signal = Int32(votes.lastIndex { $0 > 0 } ?? 0)
            let stopping = signal > 0 && r.epoch < config.model.epochs
            let due = config.output.checkpointEvery > 0 && (r.epoch % config.output.checkpointEvery == 0 || r.epoch == config.model.epochs)
            if due || stopping {
                checkpoints.append(try writeCheckpoint(trainer, store: store, fingerprint: setup.fingerprint, last: r))
            }
            if stopping {
                stopSignal = signal
                break
            }
        }
        }
        comm.barrier()
        let trainSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let epochsThisRun = trainer.epochsDone - startEpoch
        model.commStats = nil
        let commSummary = CommSummary.gather(commStats, trainSeconds: trainSeconds, epochs: epochsThisRun, comm: comm)
        phases.append(("train", trainSeconds))
        phasePeaks.append(("train", peakRSSBytes()))
        clock = DispatchTime.now().uptimeNanoseconds
        try metrics?.close()

        // Outputs: domains found on every rank, gathered on rank 0 and written with the obs read
        // at the start. A run stopped early leaves only its checkpoint: it exits within the grace
        // period, and no half-trained result.h5ad can be mistaken for a finished one.
        // X lives on in the model alone (freed with its arena once the embedding is out).
        setup.prep.X = GeneMatrix(emptyRows: 0, cols: setup.prep.X.cols)
        // Everything below goes into a staging folder first and appears together (`OutputStaging`).
        let staging = OutputStaging(output: out)
        do {
        try onRoot("preparing the outputs") { try staging.prepare() }
        var domains: DomainSummary?
        if stopSignal == nil {
            domains = try finish(setup: setup, params: trainer.params, obs: obs, labelColumn: labelColumn,
                                 metricsPath: metricsPath, out: staging.url)
        }

        let peaks = gatherPeaks()
        let summary = RunSummary(
            configuration: config, input: source.label, n_spots: source.spotCount, n_genes: model.layout.genes,
            n_genes_input: source.geneCount, epochs: trainer.epochsDone, ranks: comm.size,
            train_seconds: trainSeconds, seconds_per_epoch: epochsThisRun > 0 ? trainSeconds / Double(epochsThisRun) : 0,
            phase_seconds: Dictionary(phases, uniquingKeysWith: +), phase_order: phases.map(\.0),
            peak_rss_bytes_per_rank: peaks.rss, peak_rss_bytes_by_phase: peaks.byPhase, memory_estimate_bytes: memoryEstimate, x_fast_layouts: fastLayouts, x_index_bits: xIndexBits, final_loss: last?.loss ?? .nan, final_loss_feat: last?.loss_feat ?? .nan,
            final_loss_sl_1: last?.loss_sl_1 ?? .nan, final_loss_sl_2: last?.loss_sl_2 ?? .nan,
            blas_threads: BLAS.threads, partition: report,
            epochs_target: config.model.epochs, epochs_this_run: epochsThisRun, data_fingerprint: setup.fingerprint,
            resumed_from: resumed, checkpoints: checkpoints, stopped_early: stopSignal != nil,
            stop_signal: stopSignal.map(StopSignal.name), domains: domains,
            ari: domains?.scores?.ari, nmi: domains?.scores?.nmi,
            ari_unrefined: domains?.scores_unrefined?.ari, nmi_unrefined: domains?.scores_unrefined?.nmi,
            comm: commSummary)
        try onRoot("writing the outputs") {
            try AtomicFile.write(jsonData(summary), to: staging.url.appendingPathComponent("summary.json").path)
            try staging.commit()
        }
        return summary
        } catch {
            if comm.isRoot { staging.discard() }
            throw staging.userFacing(error)
        }
    }

    /// Every rank's peak RSS (in rank order) and its `phasePeaks` (the same phases on every rank,
    /// as phase → bytes per rank), on every rank: one allgather.
    func gatherPeaks() -> (rss: [Int], byPhase: [String: [Int]]) {
        let all = comm.allgatherv([Int64(peakRSSBytes())] + phasePeaks.map { Int64($0.1) })
        var byPhase = [String: [Int]]()
        for (i, p) in phasePeaks.enumerated() { byPhase[p.0] = all.map { Int($0[i + 1]) } }
        return (all.map { Int($0[0]) }, byPhase)
    }
}

/// Peak resident set size of this process, in bytes: `VmHWM` of /proc/self/status (the
/// high-water mark of this program's own address space), else getrusage's ru_maxrss.
///
/// Not ru_maxrss first: Linux carries the launching process's high-water mark into it across
/// exec when the launcher spawns with a shared address space (vfork, posix_spawn: Foundation's
/// Process, Python's subprocess). A run started from a 600 MiB Python process reported a 613 MiB
/// peak in every phase, from reading the coordinates on (its own peak is 300 MiB), and the test
/// runner's high-water mark once made the preflight test fail in CI.
public func peakRSSBytes() -> Int {
    if let kib = procKiB("/proc/self/status", "VmHWM:") { return kib * 1024 }
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Int(u.ru_maxrss) * 1024   // Linux reports KiB
}

/// JSON with sorted keys and pretty printing (stable, diff-able output files).
public func jsonData<T: Encodable>(_ value: T, pretty: Bool = true) throws -> Data {
    let e = JSONEncoder()
    e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try e.encode(value)
}

/// Appends one JSON object per line (rank 0 only), flushed per epoch so a killed job keeps its metrics.
public final class MetricsWriter {
    let handle: FileHandle
    let path: String
    public init(path: String, append: Bool) throws {
        self.path = path
        if !append || !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw InputError(file: path, "cannot create the metrics file")
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw InputError(file: path, "cannot open for writing") }
        handle = h
        if append { handle.seekToEndOfFile() }
    }
    public func append(_ r: EpochRecord) throws {
        var d = try jsonData(r, pretty: false)
        d.append(0x0A)
        do { try handle.write(contentsOf: d) } catch {
            throw InputError(file: path, "cannot write metrics: \(error.localizedDescription)")
        }
    }
    public func close() throws { try handle.close() }
}
