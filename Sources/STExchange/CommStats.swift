import STCore

/// Per-kind accounting of a rank's communication: wall seconds, bytes this rank sent to other
/// ranks, messages (non-empty sends to another rank) and calls. Cheap: two clock reads and a few
/// additions per call, no synchronisation; nil (the default everywhere) costs one branch.
///
/// Kinds:
/// - `halo`: `HaloExchanger.exchange` and `.reverseAdd` (packing, the exchange, the reverse add);
/// - `corruption`: `CorruptionExchange.forward` and `.backwardAdd` (gather, all-to-all, scatter);
/// - `corruptionPlan`: `CorruptionExchange.setPermutation`, the exchange's plan each epoch (π and
///   π⁻¹ of the rank's own rows and a radix sort, O(n log n); local work, no message);
/// - `allreduce`: the model's allreduces (the packed buffer; the global readout's two of 2d);
///   bytes are the payload S of each call (what a ring allreduce sends is 2·(p−1)/p·S).
///
/// Time in a kind includes waiting for the slowest partner: on one rank it is "time not computing".
public final class CommStats {
    public enum Kind: Int, CaseIterable, Sendable {
        case halo, corruption, corruptionPlan, allreduce
        public var name: String {
            switch self {
            case .halo: return "halo"
            case .corruption: return "corruption"
            case .corruptionPlan: return "corruption_plan"
            case .allreduce: return "allreduce"
            }
        }
    }

    public private(set) var seconds = [Double](repeating: 0, count: Kind.allCases.count)
    public private(set) var bytes = [Int](repeating: 0, count: Kind.allCases.count)
    public private(set) var messages = [Int](repeating: 0, count: Kind.allCases.count)
    public private(set) var calls = [Int](repeating: 0, count: Kind.allCases.count)

    public init() {}

    /// The clock to pass to `record` (monotonic nanoseconds).
    @inline(__always) public func start() -> UInt64 { PhaseTimer.now() }

    /// Adds the time since `t0` and the volume of one call of `kind`.
    @inline(__always)
    public func record(_ kind: Kind, since t0: UInt64, bytes b: Int = 0, messages m: Int = 0) {
        let k = kind.rawValue
        seconds[k] += Double(PhaseTimer.now() &- t0) * 1e-9
        bytes[k] &+= b
        messages[k] &+= m
        calls[k] &+= 1
    }

    /// Forgets everything recorded.
    public func reset() {
        for k in seconds.indices { seconds[k] = 0; bytes[k] = 0; messages[k] = 0; calls[k] = 0 }
    }

    /// Sum of the seconds of every kind.
    public var totalSeconds: Double { seconds.reduce(0, +) }
}

/// Bytes and messages this rank sends to other ranks in an exchange with `counts` rows per
/// destination of `rowBytes` each (the entry for `me`, a local copy, is not communication).
@inline(__always)
func volume(_ counts: [Int], me: Int, rowBytes: Int) -> (bytes: Int, messages: Int) {
    var rows = 0, m = 0
    for (q, c) in counts.enumerated() where q != me && c > 0 { rows &+= c; m &+= 1 }
    return (rows &* rowBytes, m)
}
