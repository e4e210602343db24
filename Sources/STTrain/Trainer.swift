import Foundation
import STCore
import STComm
import STModel

/// One epoch's record, as written to `metrics.jsonl`.
public struct EpochRecord: Codable, Sendable, Equatable {
    /// 1-based epoch number.
    public var epoch: Int
    public var loss: Double
    public var loss_feat: Double
    public var loss_sl_1: Double
    public var loss_sl_2: Double
    /// Wall-clock seconds of this epoch (forward, backward, allreduce, update).
    public var seconds: Double
}

/// Where the corruption permutations come from: derived from the seed (a run), or given (a fixture).
public enum PermutationSource {
    /// `FeistelPermutation(seed:epoch:count:)`: a pure function of (seed, epoch), computed where
    /// needed (nothing of size N per epoch).
    case seeded(UInt64)
    /// Recorded permutations, one per epoch (E × N), each with its inverse built once.
    case recorded([RowPermutation])

    /// The permutation of `epoch`.
    func permutation(epoch: Int, count: Int) -> RowPermutation {
        switch self {
        case .seeded(let s): return .feistel(FeistelPermutation(seed: s, epoch: epoch, count: count))
        case .recorded(let p): return p[epoch]
        }
    }
}

/// Full-batch training of a `GraphSTModel` with Adam: the same loop on every rank.
public final class Trainer {
    public let model: GraphSTModel
    /// The parameters (`model.layout`), kept on a cache line (`AlignedFloats`) so that the forward
    /// pass reads [W1 | W2ᵀ] where it is, with no copy per epoch; this property copies them.
    public var params: [Float] {
        get { store.array }
        set { store.assign(newValue) }
    }
    let store: AlignedFloats
    public var optimiser: Adam
    public let permutations: PermutationSource
    /// Epochs completed so far (the next epoch's 0-based index).
    public private(set) var epochsDone: Int
    var grad: [Float]

    public init(model: GraphSTModel, params: [Float], lr: Double, permutations: PermutationSource,
                optimiser: Adam? = nil, epochsDone: Int = 0) {
        precondition(params.count == model.layout.count)
        self.model = model
        store = AlignedFloats(params)
        self.optimiser = optimiser ?? Adam(count: params.count, lr: lr)
        precondition(self.optimiser.m.count == params.count && self.optimiser.v.count == params.count,
                     "Trainer: the optimiser's moments do not match the \(params.count) parameters")
        self.permutations = permutations
        self.epochsDone = epochsDone
        grad = [Float](repeating: 0, count: params.count)
    }

    /// Runs one epoch: loss and gradient at the current parameters, then one Adam step.
    /// Returns the losses computed before the step (as GraphST reports them).
    @discardableResult
    public func step() -> EpochRecord {
        var none = [Double]()
        return step(extra: &none)
    }

    /// `step()`, with `extra` summed over ranks in the epoch's one allreduce (see
    /// `GraphSTModel.lossAndGradient(params:perm:grad:extra:)`).
    @discardableResult
    public func step(extra: inout [Double]) -> EpochRecord {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let perm = permutations.permutation(epoch: epochsDone, count: model.globalCount)
        let l = model.lossAndGradient(params: store.pointer, perm: perm, grad: &grad, extra: &extra)
        grad.withUnsafeBufferPointer { optimiser.update(store.pointer, grad: $0.baseAddress!, pool: model.pool) }
        epochsDone += 1
        let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        return EpochRecord(epoch: epochsDone, loss: l.total, loss_feat: l.feat, loss_sl_1: l.sl1, loss_sl_2: l.sl2,
                           seconds: secs)
    }

    /// The gradient of the last `step()` (before the update was applied).
    public var lastGradient: [Float] { grad }
}
