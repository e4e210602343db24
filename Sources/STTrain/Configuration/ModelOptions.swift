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
    public var dim: Int = 64

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
        guard epochs >= 0 else { throw ValidationError("--epochs must be non-negative") }
        guard dim >= 8, dim % 8 == 0 else { throw ValidationError("--dim must be a positive multiple of 8, not \(dim)") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive") }
    }
}
