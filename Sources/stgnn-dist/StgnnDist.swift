import ArgumentParser
import Foundation
import STComm
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
        Trains GraphST (Long et al., Nat. Commun. 2023) on a spatial-transcriptomics slide: a GCN
        encoder/decoder with a local contrastive loss, full-batch, the slide split into spatial tiles
        over MPI ranks. Run under mpirun (or launch/stgnn-run) for several ranks; without mpirun it
        runs as one process.
        """,
        version: stgnnVersion,
        subcommands: [Run.self, Verify.self, Synth.self, Partition.self, Compare.self],
        defaultSubcommand: Run.self)
}

let stgnnVersion = "0.1.0"

/// Options that choose the data and how it is preprocessed (scanpy/GraphST names).
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A slide: an .h5ad (X raw counts, obsm[\"spatial\"]), a 10x .h5 (positions from spatial/ beside it or --positions), a Space Ranger outs/ folder, or a MatrixMarket folder (matrix.mtx[.gz], barcodes.tsv[.gz], features.tsv[.gz]). Repeat to integrate several slides into one (genes intersected, obs[\"slice\"] added). Absent: the built-in synthetic slide.", valueName: "path"))
    var input: [String] = []

    @Option(name: .long, help: ArgumentHelp("Spot positions for a single 10x .h5 or MatrixMarket input: a Space Ranger tissue_positions[_list].csv, or a CSV with a header naming a barcode column (barcode, spot, cell, cell_id, …) and x,y (or x_centroid,y_centroid; imagecol,imagerow).", valueName: "file"))
    var positions: String?

    @Flag(name: .long, help: "Several --input slides: use their coordinates as given (already aligned, or consecutive sections; the graph may link slices). Default: slides side by side, the graph never links them.")
    var aligned: Bool = false

    @Option(name: .long, help: "highly_variable_genes(flavor=\"seurat_v3\", n_top_genes=…); slides with fewer genes keep all.")
    var nTopGenes: Int = 3000

    @Option(name: .long, help: "k of the spatial k-nearest-neighbour graph.")
    var neighbors: Int = 3

    @Option(name: .long, help: "Adjacency normalisation: 10x (D^-1/2 A D^-1/2 + I, GraphST's Visium default) or kipf (D̃^-1/2 (A+I) D̃^-1/2).")
    var normalisation: String = "10x"

    @Option(name: .long, help: "normalize_total(target_sum=…).")
    var targetSum: Double = 1e4

    @Option(name: .long, help: "Spots of the built-in synthetic slide (when --input is absent).")
    var syntheticSpots: Int = 3000

    @Option(name: .long, help: "Genes of the built-in synthetic slide.")
    var syntheticGenes: Int = 400

    @Option(name: .long, help: "Domains of the built-in synthetic slide.")
    var syntheticDomains: Int = 5

    /// The slide these options name: the `--input` paths (`SlideSources.open`), else the
    /// built-in synthetic slide.
    func source() throws -> SlideSource {
        if !input.isEmpty {
            return try SlideSources.open(paths: input, positions: positions, aligned: aligned, neighbors: neighbors)
        }
        return try SyntheticSource(SyntheticSlide.Parameters(spots: syntheticSpots, genes: syntheticGenes,
                                                             domains: syntheticDomains))
    }

    func validate() throws {
        guard AdjacencyNormalisationName(normalisation) != nil else {
            throw ValidationError("--normalisation must be 10x or kipf, not '\(normalisation)'")
        }
        guard nTopGenes >= 1 else { throw ValidationError("--n-top-genes must be at least 1") }
        guard neighbors >= 1 else { throw ValidationError("--neighbors must be at least 1") }
        guard targetSum > 0 else { throw ValidationError("--target-sum must be positive") }
        if positions != nil && input.count != 1 {
            throw ValidationError(input.isEmpty ? "--positions needs an --input (a 10x .h5 or MatrixMarket folder)"
                                  : "--positions applies to a single --input; with several, give each 10x matrix a spatial/tissue_positions.csv beside it")
        }
        if aligned && input.count < 2 { throw ValidationError("--aligned applies to two or more --input slides") }
    }
}

/// Options of the model and the optimiser.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Training epochs (full-batch).")
    var epochs: Int = 600

    @Option(name: .long, help: "Seed of the initialisation and of the corruption permutations.")
    var seed: UInt64 = 41

    @Option(name: .long, help: "Adam learning rate.")
    var lr: Double = 1e-3

    @Option(name: .long, help: "Latent width d (a positive multiple of 8).")
    var dim: Int = 64

    @Option(name: .long, help: "Weight α of the reconstruction loss.")
    var alpha: Double = 10

    @Option(name: .long, help: "Weight β of the contrastive losses.")
    var beta: Double = 1

    @Option(name: .long, help: "Discriminator summary: local (GraphST: each spot's neighbourhood) or global (DGI: slide mean).")
    var readout: String = "local"

    func validate() throws {
        guard epochs >= 0 else { throw ValidationError("--epochs must be non-negative") }
        guard dim >= 1, dim % 8 == 0 else { throw ValidationError("--dim must be a positive multiple of 8") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive") }
        guard ["local", "global"].contains(readout) else { throw ValidationError("--readout must be local or global") }
    }
}

import STPrep
import STModel

extension ClusterMethod: ExpressibleByArgument {}
extension DomainConfiguration.Embedding: ExpressibleByArgument {}

/// Options of the step after training: spatial domains, scores, pictures.
struct DomainOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Number of spatial domains K. Default: the built-in slide's domain count; else the number of classes of --label; else chosen by BIC over 2…10 (mclust's criterion).", valueName: "K"))
    var clusters: Int?

    @Option(name: .long, help: "gmm (Gaussian mixture with one shared full covariance, mclust model EEE, as GraphST) or kmeans.")
    var clusterMethod: ClusterMethod = .gmm

    @Option(name: .long, help: "Embedding clustered: emb (PCA of the reconstruction H, GraphST's obsm[\"emb\"]) or latent (PCA of Z).")
    var clusterOn: DomainConfiguration.Embedding = .emb

    @Option(name: .long, help: "Principal components of the clustered embedding (GraphST: 20).")
    var pcs: Int = 20

    @Option(name: .long, help: "k-means++ seedings, each followed by EM; the best log-likelihood is kept.")
    var restarts: Int = 10

    @Flag(name: .long, help: "Refine domains: each spot takes the majority domain of its nearest other spots (GraphST's refine_label).")
    var refine = false

    @Option(name: .long, help: ArgumentHelp("Spots in the refinement vote; auto = min(50, ⌊N / (8·K)⌋): GraphST's 50 on Visium-sized sections, at most 1/8 of an average domain on small slides, and no vote when that leaves fewer than 6 voters (one lattice ring).", valueName: "n|auto"))
    var refineNeighbours: String = "auto"

    @Option(name: .long, help: ArgumentHelp("obs column to score the domains against (ARI, NMI); unlabelled spots (NaN, empty) are left out. The built-in slide is scored against its ground_truth.", valueName: "column"))
    var label: String?

    @Flag(name: .long, help: "Also write H = Y·W2 (N × genes, float32) as obsm[\"emb\"], as GraphST does (its size is printed first).")
    var writeReconstruction = false

    @Flag(name: .long, help: "Do not draw domains.png and loss.png.")
    var noPictures = false

    @Flag(name: .long, help: "Stop after the embedding: no clustering, scores or domain picture.")
    var noDomains = false

    func validate() throws {
        if let clusters, clusters < 1 { throw ValidationError("--clusters must be at least 1") }
        guard pcs >= 1 else { throw ValidationError("--pcs must be at least 1") }
        guard restarts >= 1 else { throw ValidationError("--restarts must be at least 1") }
        if refineNeighbours != "auto" {
            guard let r = Int(refineNeighbours), r >= 1 else {
                throw ValidationError("--refine-neighbours must be a positive number or auto, not '\(refineNeighbours)'")
            }
        }
        if let label, label.isEmpty { throw ValidationError("--label needs an obs column name") }
    }

    var configuration: DomainConfiguration {
        var c = DomainConfiguration()
        c.clusters = clusters
        c.method = clusterMethod
        c.clusterOn = clusterOn
        c.pcs = pcs
        c.restarts = restarts
        c.refine = refine
        c.refineNeighbours = Int(refineNeighbours)
        c.label = label
        c.writeReconstruction = writeReconstruction
        c.pictures = !noPictures
        c.skip = noDomains
        return c
    }
}

func AdjacencyNormalisationName(_ s: String) -> AdjacencyNormalisation? {
    AdjacencyNormalisation(rawValue: s.lowercased() == "10x" ? "10x" : s.lowercased())
}

/// Runs `body` with the job's communicator; any error ends the whole job with one clear line.
func withJob(_ body: (Communicator) throws -> Int32) -> Never {
    let comm = makeCommunicator()
    configureBLASThreads(comm: comm)
    do {
        let code = try body(comm)
        comm.barrier()
        MPIEnvironment.finalize()
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
        Trains, then finds spatial domains as GraphST does: PCA of the reconstruction H (never
        formed), a Gaussian mixture with one shared covariance (mclust EEE, no R), optionally
        refined by a neighbourhood vote, scored against --label. Writes into DIR:
          result.h5ad    the input's obs plus obs["domain"]; obsm["spatial"], obsm["latent"] (Z),
                         obsm["emb_pca"]; uns["stgnn_dist"] (parameters, scores)
          domains.csv    spot, x, y, domain
          domains.png    the domains at the spots' coordinates (beside the --label truth)
          loss.png       the four loss curves
          metrics.jsonl  one JSON object per epoch
          summary.json   configuration, sizes, timings, memory, partition, clustering, scores

        Checkpoints (DIR/checkpoints/epoch-NNNNNN.ckpt and a 'latest' pointer) hold everything
        needed to continue exactly, on any number of ranks. SIGTERM or SIGUSR1 (SLURM preemption)
        makes every rank stop after the current epoch: a checkpoint is written, no result.h5ad, and
        the exit status is 75; continue with --resume latest.
        """)

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Model and optimiser") var model: ModelOptions
    @OptionGroup(title: "Spatial domains") var domains: DomainOptions

    @Option(name: .long, help: ArgumentHelp("Output directory.", valueName: "dir"))
    var output: String = "stgnn-out"

    @Option(name: .long, help: "A progress line every N epochs (rank 0, stderr); a bar when stderr is a terminal.")
    var progressEvery: Int = 50

    @Option(name: .long, help: "Write a checkpoint every N epochs and at the last one (0: only when stopped by a signal).")
    var checkpointEvery: Int = 0

    @Option(name: .long, help: "Checkpoints to keep in DIR/checkpoints (the newest).")
    var keepCheckpoints: Int = 2

    @Option(name: .long, help: ArgumentHelp("Continue from a checkpoint: 'latest' (DIR/checkpoints/latest), a .ckpt file, or a directory with a 'latest' pointer. --epochs stays the total.", valueName: "latest|path"))
    var resume: String?

    func validate() throws {
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every must be non-negative (0: only when stopped by a signal)") }
        guard keepCheckpoints >= 1 else { throw ValidationError("--keep-checkpoints must be at least 1") }
        if let resume, resume.isEmpty { throw ValidationError("--resume needs 'latest' or a checkpoint path") }
    }

    func configuration() -> RunConfiguration {
        var c = RunConfiguration()
        c.input = data.input
        c.positions = data.positions
        c.aligned = data.aligned
        c.output = output
        c.epochs = model.epochs
        c.seed = model.seed
        c.lr = model.lr
        c.dim = model.dim
        c.alpha = model.alpha
        c.beta = model.beta
        c.readout = Readout(rawValue: model.readout)!
        c.normalisation = AdjacencyNormalisationName(data.normalisation)!
        c.nTopGenes = data.nTopGenes
        c.neighbors = data.neighbors
        c.targetSum = data.targetSum
        c.syntheticSpots = data.syntheticSpots
        c.syntheticGenes = data.syntheticGenes
        c.syntheticDomains = data.syntheticDomains
        c.progressEvery = progressEvery
        c.checkpointEvery = checkpointEvery
        c.keepCheckpoints = keepCheckpoints
        c.resume = resume
        c.domains = domains.configuration
        return c
    }

    func run() throws {
        let config = configuration()
        withJob { comm in
            StopSignal.install()
            let source = try data.source()
            let pipeline = RunPipeline(config: config, source: source, comm: comm)
            let progress = comm.isRoot ? Progress(every: config.progressEvery) : nil
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
                                      s.epochs_this_run, s.train_seconds, 1000 * s.seconds_per_epoch, s.final_loss, config.output))
            }
            return 0
        }
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
        A model fixture is reproduced from its X, graph, initial weights and permutations; a prep
        fixture from its raw counts; a gmm fixture (R mclust, model EEE) by fitting the same
        mixture to its PCs: our log-likelihood must be at least mclust's (less 1e-4 relative),
        and the ARI against mclust's labels and the truth is reported. Prints each compared
        quantity with its error; exits 0 only when every quantity is within tolerance. Runs on
        any number of ranks.
        """)

    @Argument(help: ArgumentHelp("Fixture files (.h5).", valueName: "fixture"))
    var fixtures: [String]

    @Option(name: .long, help: ArgumentHelp("Also write the reports as JSON to this file (rank 0).", valueName: "file"))
    var json: String?

    func run() throws {
        withJob { comm in
            var all = [VerificationReport]()
            for path in fixtures {
                let r = try Verification.run(path: path, comm: comm)
                if comm.isRoot { print(r.description); print("") }
                all.append(r)
            }
            if comm.isRoot, let json { try writeAtomically(jsonData(all), to: json) }
            return all.allSatisfy(\.passed) ? 0 : 1
        }
    }
}

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a synthetic slide (hexagonal lattice, layered domains, overdispersed counts) as .h5ad.",
        discussion: "The true domain of each spot is in obs[\"ground_truth\"]; X holds integer counts; coordinates in obsm[\"spatial\"].")

    @Option(name: .long, help: "Number of spots.") var spots: Int = 3000
    @Option(name: .long, help: "Number of genes.") var genes: Int = 400
    @Option(name: .long, help: "Number of layered domains.") var domains: Int = 5
    @Option(name: .long, help: "Seed.") var seed: UInt64 = 41
    @Option(name: .long, help: ArgumentHelp("Output .h5ad file.", valueName: "file")) var output: String

    func run() throws {
        do {
            var p = SyntheticSlide.Parameters(spots: spots, genes: genes, domains: domains)
            p.seed = seed
            let slide = try SyntheticSlide(p)
            try AnnDataWriter.write(slide.annData, to: output, uns: ["source": "stgnn-dist synth \(stgnnVersion)"])
            print("wrote \(output): \(spots) spots × \(genes) genes, \(domains) domains")
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

    func run() throws {
        do {
            let source = try data.source()
            let report = try PartitionPlanner.report(source: source, ranks: ranks, neighbors: data.neighbors,
                                                     normalisation: AdjacencyNormalisationName(data.normalisation)!)
            print("\(source.label): \(source.spotCount) spots over \(ranks) ranks (RCB, weighted by nnz)")
            print(report.table, terminator: "")
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
