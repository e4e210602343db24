import ArgumentParser
import Foundation
import STComm
import STCommMPI
import STCore
import STData
import STTrain
import STCluster

@main
struct StgnnDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stgnn-dist",
        abstract: "GraphST spatial-domain representation learning, distributed over MPI ranks.",
        discussion: """
        Trains GraphST (Long et al., Nat. Commun. 2023) on a spatial-transcriptomics
        slide: a GCN encoder/decoder with a local contrastive loss, full-batch, the
        slide split into spatial tiles over MPI ranks. Run under mpirun (or
        launch/stgnn-run) for several ranks; without mpirun it runs as one process.
        """,
        version: stgnnVersion,
        subcommands: [Run.self, Verify.self, Synth.self, Partition.self, Compare.self, ScalingReportCommand.self, ProbeInput.self],
        defaultSubcommand: Run.self)
}

let stgnnVersion = "0.1.0"

import STPrep
import STModel

/// Runs `body` with the job's communicator; any error ends the whole job with one clear line.
func withJob(_ body: (Communicator) throws -> Int32) -> Never {
    let comm: Communicator
    do { comm = try makeCommunicator() } catch { failJob(error) }
    configureBLASThreads(comm: comm)
    // A crash inside libhdf5 while this rank reads the input is one line naming file, field and
    // rank (HDF5CrashGuard), not a raw signal.
    HDF5CrashGuard.rankSuffix = comm.size > 1 ? " [rank \(comm.rank) of \(comm.size)]" : ""
    HDF5CrashGuard.install()
    do {
        let code = try body(comm)
        comm.barrier()
        try MPIEnvironment.finalize()
        exit(code)
    } catch let e as RankLocalError {
        failJob(e.underlying, comm: comm, seenByAllRanks: false)
    } catch {
        failJob(error, comm: comm, seenByAllRanks: comm.size > 1)
    }
}

/// OpenBLAS threads per rank: OPENBLAS_NUM_THREADS if set; else the cores shared by the ranks on
/// this node (several ranks each spawning a thread per core would oversubscribe the node).
func configureBLASThreads(comm: Communicator) {
    let env = ProcessInfo.processInfo.environment
    if env["OPENBLAS_NUM_THREADS"] != nil || env["OMP_NUM_THREADS"] != nil { return }
    let local = Int(env["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? comm.size
    if local > 1 { BLAS.setThreads(max(1, ProcessInfo.processInfo.activeProcessorCount / local)) }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train GraphST on a slide, find its spatial domains, write them (the default subcommand).",
        discussion: """
        Trains, then finds spatial domains as GraphST does: PCA of the reconstruction H
        (never formed), a Gaussian mixture with one shared covariance (mclust EEE, no
        R), optionally refined by a neighbourhood vote, scored against --label. Writes
        into DIR:
          result.h5ad    the input's obs plus obs["domain"]; obsm["spatial"],
                         obsm["latent"] (Z), obsm["emb_pca"]; uns["stgnn_dist"]
                         (parameters, scores)
          domains.csv    spot, x, y, domain
          domains.png    the domains at the spots' coordinates (beside the --label
                         truth)
          loss.png       the four loss curves
          metrics.jsonl  one JSON object per epoch
          summary.json   configuration, sizes, timings, memory, partition, clustering,
                         scores

        Checkpoints (DIR/checkpoints/epoch-NNNNNN.ckpt and a 'latest' pointer) hold
        everything needed to continue exactly, on any number of ranks. SIGTERM or
        SIGUSR1 (SLURM preemption) makes every rank stop after the current epoch: a
        checkpoint is written, no result.h5ad, and the exit status is 75; continue with
        --resume latest.
        """)

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Model and optimiser") var model: ModelOptions
    @OptionGroup(title: "Spatial domains") var domains: DomainOptions
    @OptionGroup var output: OutputOptions

    /// The command line is the configuration: its option groups are the sections.
    func configuration() -> RunConfiguration {
        RunConfiguration(data: data, model: model, domains: domains, output: output)
    }

    func run() throws {
        let config = configuration()
        withJob { comm in
            StopSignal.install()
            armOutsideDeadline(comm: comm, spots: 0)
            try InputProbe.check(data, comm: comm)
            let source = try data.source()
            armOutsideDeadline(comm: comm, spots: source.spotCount)
            let pipeline = RunPipeline(config: config, source: source, comm: comm)
            let progress = comm.isRoot ? Progress(every: config.output.progressEvery) : nil
            if comm.isRoot {
                progress?.note("stgnn-dist \(stgnnVersion): \(source.label), \(source.spotCount) spots × \(source.geneCount) genes, \(comm.size) rank\(comm.size == 1 ? "" : "s")")
            }
            pipeline.onEpoch = { r, total in progress?.epoch(r, of: total) }
            pipeline.onNote = { progress?.note($0) }
            let s = try pipeline.run()
            progress?.finish()
            if s.stopped_early {
                progress?.note("stopped by \(s.stop_signal ?? "a signal") after epoch \(s.epochs) of \(s.epochs_target): wrote \(s.checkpoints.last?.path ?? "a checkpoint"); continue with --resume latest (exit status \(StopSignal.exitCode))")
                return StopSignal.exitCode
            }
            if comm.isRoot {
                progress?.note(String(format: "trained %d epochs in %.2f s (%.2f ms/epoch), final loss %.6f; wrote %@/",
                                      s.epochs_this_run, s.train_seconds, 1000 * s.seconds_per_epoch, s.final_loss, config.output.output))
            }
            return 0
        }
    }
}

extension Run {
    /// The stall watchdog's deadline outside the training loop (`--setup-timeout`, by default
    /// scaled to the input: `StallWatchdog.outsideTrainingTimeout`), for a slide of `spots` spots
    /// (0 before the input is opened: the files' sizes alone); on one process, the deadline of
    /// each HDF5 read call instead (`HDF5CrashGuard.readDeadline`).
    func armOutsideDeadline(comm: Communicator, spots: Int) {
        let bytes = data.input.reduce(0) { sum, path in
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            return sum + (size ?? 0)
        }
        let deadline = StallWatchdog.outsideTimeout(stallOption: output.stallTimeout, setupOption: output.setupTimeout,
                                                    spots: spots, inputBytes: bytes)
        // One process: no other rank's watchdog would notice a read that never returns.
        HDF5CrashGuard.readDeadline = comm.size == 1 ? deadline : nil
        guard let w = comm.watchdog else { return }
        w.outsideTimeout = deadline
        w.enterPhase(spots == 0 ? "setup: checking the input (rank 0's input probe)" : "setup")
    }
}

/// Progress on stderr (rank 0): a line every `every` epochs, or a bar on a terminal.
final class Progress {
    let every: Int
    let tty = isatty(2) != 0
    var lastDraw = 0.0
    init(every: Int) { self.every = every }

    func note(_ s: String) { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) }

    func epoch(_ r: EpochRecord, of total: Int) {
        if tty {
            let now = Date().timeIntervalSince1970
            if now - lastDraw < 0.1 && r.epoch != total { return }
            lastDraw = now
            let width = 30, filled = total > 0 ? width * r.epoch / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(String(format: "\r%@ %d/%d  loss %.5f  %.1f ms/epoch ", bar, r.epoch, total, r.loss, 1000 * r.seconds).data(using: .utf8)!)
        } else if (every > 0 && r.epoch % every == 0) || r.epoch == total || r.epoch == 1 {
            note(String(format: "epoch %5d/%d  loss %.6f  (feat %.6f  sl_1 %.6f  sl_2 %.6f)  %.1f ms",
                        r.epoch, total, r.loss, r.loss_feat, r.loss_sl_1, r.loss_sl_2, 1000 * r.seconds))
        }
    }

    func finish() { if tty { FileHandle.standardError.write("\n".data(using: .utf8)!) } }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reproduce reference fixtures (kind model, prep or gmm) and check the errors against their tolerances.",
        discussion: """
        A model fixture is reproduced from its X, graph, initial weights and
        permutations; a prep fixture from its raw counts; a gmm fixture (R mclust,
        model EEE) by fitting the same mixture to its PCs: our log-likelihood must be
        at least mclust's (less 1e-4 relative), and the ARI against mclust's labels and
        the truth is reported. Prints each compared quantity with its error; exits 0
        only when every quantity is within tolerance. Runs on any number of ranks.
        """)

    @Argument(help: ArgumentHelp("Fixture files (.h5).", valueName: "fixture"))
    var fixtures: [String]

    @Option(name: .long, help: ArgumentHelp("Also write the reports as JSON to this file (rank 0).", valueName: "file"))
    var json: String?

    func run() throws {
        withJob { comm in
            var all = [VerificationReport]()
            for path in fixtures {
                // Every wait has the watchdog's default deadline (StallWatchdog.outsideFloorSeconds).
                comm.watchdog?.enterPhase("verify \(path)")
                let r = try Verification.run(path: path, comm: comm)
                if comm.isRoot { print(r.description); print("") }
                all.append(r)
            }
            if comm.isRoot, let json { try AtomicFile.write(jsonData(all), to: json) }
            return all.allSatisfy(\.passed) ? 0 : 1
        }
    }
}

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a synthetic slide (hexagonal lattice, layered domains, overdispersed counts) as .h5ad.",
        discussion: """
        The true domain of each spot is in obs["ground_truth"]; X holds integer counts;
        coordinates in obsm["spatial"].

        The file is written in one streaming pass: counts are generated a block of
        spots at a time and appended to X (chunked, gzip), so memory stays O(block ×
        genes + spots) whatever the size (334 MiB peak at 1 000 000 spots × 3000
        genes). Written through a temporary file renamed into place: a failed or
        interrupted synth leaves nothing.

        Row order (--order): 'spatial' (default) stores the spots along a Hilbert curve
        of their coordinates, so a compact region (the RCB tile one rank reads) lies in
        a few contiguous stretches of the file, not one short run per lattice row
        ('stgnn-dist partition' counts them); 'lattice' stores them in the array's
        order (row by row: spot_0001, spot_0002, ...). Names, coordinates and
        ground_truth go with their spot in either order.
        """)

    @Option(name: .long, help: "Number of spots.") var spots: Int = 3000
    @Option(name: .long, help: "Number of genes.") var genes: Int = 400
    @Option(name: .long, help: "Number of layered domains.") var domains: Int = 5
    @Option(name: .long, help: "Seed.") var seed: UInt64 = 41
    @Option(name: .long, help: ArgumentHelp("Row order of the file: spatial (Hilbert curve) or lattice.", valueName: "order"))
    var order: String = "spatial"
    @Option(name: .long, help: ArgumentHelp("gzip level of the arrays, 1-9, or 0 for none.", valueName: "level"))
    var compression: Int = 4
    @Option(name: .long, help: ArgumentHelp("Output .h5ad file.", valueName: "file")) var output: String

    func run() throws {
        do {
            guard let fileOrder = SyntheticSlide.FileOrder(rawValue: order) else {
                throw InputError(field: "--order", "must be spatial or lattice, got '\(order)'")
            }
            guard (0...9).contains(compression) else {
                throw InputError(field: "--compression", "must be 0 (none) to 9, got \(compression)")
            }
            var p = SyntheticSlide.Parameters(spots: spots, genes: genes, domains: domains)
            p.seed = seed
            try SyntheticSlide.write(p, to: output, order: fileOrder, compression: compression == 0 ? nil : compression,
                                     uns: ["source": "stgnn-dist synth \(stgnnVersion)"])
            print("wrote \(output): \(spots) spots × \(genes) genes, \(domains) domains, \(order) row order")
        } catch {
            failJob(error)
        }
    }
}

struct Partition: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print how a slide would be split over P ranks (rows, nnz, halo, neighbours, edge cut, imbalance), without training.")

    @OptionGroup(title: "Data") var data: DataOptions
    @Option(name: .long, help: "Number of ranks to partition for.") var ranks: Int
    @Option(name: .long, help: "Latent width the run will use (a spot weighs 2·dim·genes/kept genes stored entries).")
    var dim: Int = ModelOptions.defaultDim

    func validate() throws { try ModelOptions.validateDim(dim) }

    func run() throws {
        do {
            let source = try data.source()
            let rowEntries = RankLayout.rowEntries(dim: dim, genes: source.geneCount, keptGenes: data.nTopGenes)
            let (report, file) = try PartitionPlanner.plan(source: source, ranks: ranks, neighbours: data.neighbours,
                                                           normalisation: data.normalisation, rowEntries: rowEntries)
            print("\(source.label): \(source.spotCount) spots over \(ranks) ranks (RCB, each spot weighted by its raw nnz + "
                  + String(format: "%.0f", rowEntries) + " for its dense work)")
            print(report.table, terminator: "")
            print("file rows per rank: runs of consecutive rows " + file.map { String($0.runs) }.joined(separator: " ")
                  + "; X/data chunks (64 Ki entries) touched/fewest " + file.map { "\($0.chunks)/\($0.minimumChunks)" }.joined(separator: " ")
                  + "; runs of consecutive chunks " + file.map { String($0.chunkRuns) }.joined(separator: " "))
        } catch {
            failJob(error)
        }
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two runs' outputs (losses per epoch, obsm[\"latent\"], obs[\"domain\"]): e.g. the same slide on 1 and on P ranks.")

    @Argument(help: ArgumentHelp("Output directory of the first run.", valueName: "dir-a")) var a: String
    @Argument(help: ArgumentHelp("Output directory of the second run.", valueName: "dir-b")) var b: String
    @Option(name: .long, help: "Largest acceptable relative loss difference at any epoch.") var lossTolerance: Double = 1e-5
    @Option(name: .long, help: "Largest acceptable max|Za − Zb| / max|Zb|.") var latentTolerance: Double = 1e-3
    @Option(name: .long, help: "Smallest acceptable ARI between the runs' obs[\"domain\"] (when both have domains).") var domainAri: Double = 0.99

    func run() throws {
        do {
            let c = try RunComparison(runA: a, runB: b)
            print(c.description)
            let ok = c.maxLossRelError <= lossTolerance && c.latentRelError <= latentTolerance
                && (c.domainARI ?? 1) >= domainAri
            print(ok ? "AGREE" : "DISAGREE (tolerances: loss \(lossTolerance), latent \(latentTolerance), domains ARI ≥ \(domainAri))")
            if !ok { throw ExitCode(1) }
        } catch let e as ExitCode { throw e } catch { failJob(error) }
    }
}
