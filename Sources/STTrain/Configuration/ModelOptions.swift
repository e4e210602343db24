import ArgumentParser
import STModel

extension Readout: ExpressibleByArgument {}

/// The model and the optimiser (GraphST's training defaults): the `Model and optimiser` options
/// of `run` and the `model` section of the configuration.
public struct ModelOptions: ConfigurationSection {
    @Option(name: .long, help: "Training epochs (full-batch).")
    public var epochs: Int = 600

    @Option(name: .long, help: "Seed of the initialisation and of the corruption permutations.")
    public var seed: UInt64 = 41

    @Option(name: .long, help: "Adam learning rate.")
    public var lr: Double = 1e-3

    @Option(name: .long, help: "Latent width d, a positive multiple of 8 (the per-spot loops run 8 lanes wide).")
    public var dim: Int = ModelOptions.defaultDim

    /// GraphST's latent width, `--dim`'s default (also `stgnn-dist partition`'s).
    public static let defaultDim = 64

    /// The rule for `--dim` wherever it is taken: a positive multiple of 8, at most 4096.
    public static func validateDim(_ dim: Int) throws {
        guard dim >= 8, dim % 8 == 0, dim <= 4096 else {
            throw ValidationError("--dim must be a positive multiple of 8 (at most 4096), not \(dim)")
        }
    }

    @Option(name: .long, help: "Weight α of the reconstruction loss.")
    public var alpha: Double = 10

    @Option(name: .long, help: "Weight β of the contrastive losses.")
    public var beta: Double = 1

    @Option(name: .long, help: "Discriminator summary: local (GraphST: each spot's neighbourhood) or global (DGI: slide mean).")
    public var readout: Readout = .local

    public init() {}

    /// The loss weights α, β.
    public var lossWeights: LossWeights { LossWeights(alpha: alpha, beta: beta) }

    public func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1 (0 would write an untrained embedding)") }
        try Self.validateDim(dim)
        // Adam's step is about lr per weight whatever the gradient's scale: beyond 1 it throws the
        // xavier-initialised weights (|w| < 0.1) far off in one step, and training diverges.
        guard lr.isFinite, lr > 0, lr <= 1 else { throw ValidationError("--lr must be in (0, 1] (GraphST: 0.001), not \(lr)") }
        for (name, v) in [("--alpha", alpha), ("--beta", beta)] {
            guard v.isFinite, v >= 0, v <= 1e6 else {
                throw ValidationError("\(name) must be a finite weight in [0, 10⁶] (GraphST: α = 10, β = 1), not \(v)")
            }
        }
        guard alpha > 0 || beta > 0 else { throw ValidationError("--alpha and --beta cannot both be 0: nothing would be trained") }
    }
}
