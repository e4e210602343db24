import STComm
import STExchange

/// The `comm` section of `summary.json`: where the training loop's wall time went on each rank —
/// compute, halo exchanges, the corruption all-to-all (and its plan), allreduces — and
/// the bytes each kind sent (this rank's sends to other ranks; allreduce: the payload per call).
///
/// Recorded by `CommStats` (two clock reads per call, no synchronisation) over the epochs of this
/// invocation; `compute` is the rest of the training loop on that rank (train_seconds minus its
/// communication), so the kinds of one rank add up to train_seconds.
public struct CommSummary: Codable, Equatable, Sendable {
    public struct Kind: Codable, Equatable, Sendable {
        /// Seconds of this kind over the run, per rank.
        public var seconds_per_rank: [Double]
        /// Bytes sent to other ranks over the run, per rank (allreduce: payload of each call).
        public var bytes_per_rank: [Int]
        /// Non-empty sends to another rank over the run, per rank.
        public var messages_per_rank: [Int]
        /// Calls over the run, per rank.
        public var calls_per_rank: [Int]
        /// Mean over ranks of the seconds per epoch.
        public var seconds_per_epoch_mean: Double
        /// The largest rank's seconds per epoch.
        public var seconds_per_epoch_max: Double
        /// Bytes over the run, summed over ranks.
        public var bytes_total: Int
        /// Bytes per epoch, summed over ranks.
        public var bytes_per_epoch_total: Double
        /// The largest rank's bytes per epoch.
        public var bytes_per_epoch_max: Double
        /// The largest rank's messages per epoch.
        public var messages_per_epoch_max: Double

        init(seconds: [Double], bytes: [Int], messages: [Int], calls: [Int], epochs: Int) {
            let e = Double(max(epochs, 1))
            seconds_per_rank = seconds; bytes_per_rank = bytes; messages_per_rank = messages; calls_per_rank = calls
            seconds_per_epoch_mean = seconds.reduce(0, +) / Double(max(seconds.count, 1)) / e
            seconds_per_epoch_max = (seconds.max() ?? 0) / e
            bytes_total = bytes.reduce(0, +)
            bytes_per_epoch_total = Double(bytes_total) / e
            bytes_per_epoch_max = Double(bytes.max() ?? 0) / e
            messages_per_epoch_max = Double(messages.max() ?? 0) / e
        }
    }

    /// Epochs the figures cover (this invocation's).
    public var epochs: Int
    /// Kind names in order: compute, halo, corruption, corruption_plan, allreduce.
    public var order: [String]
    public var kinds: [String: Kind]

    /// Gathers every rank's `stats` (collective; the same summary on every rank).
    public static func gather(_ stats: CommStats, trainSeconds: Double, epochs: Int, comm: Communicator) -> CommSummary {
        let k = CommStats.Kind.allCases.count
        var mine = [Double]()
        mine += stats.seconds
        mine += stats.bytes.map(Double.init)
        mine += stats.messages.map(Double.init)
        mine += stats.calls.map(Double.init)
        let all = comm.allgatherv(mine)
        var kinds = [String: Kind]()
        var order = ["compute"]
        let commSeconds = all.map { Array($0[0..<k]).reduce(0, +) }
        kinds["compute"] = Kind(seconds: commSeconds.map { max(0, trainSeconds - $0) },
                                bytes: all.map { _ in 0 }, messages: all.map { _ in 0 },
                                calls: all.map { _ in epochs }, epochs: epochs)
        for kind in CommStats.Kind.allCases {
            let i = kind.rawValue
            kinds[kind.name] = Kind(seconds: all.map { $0[i] }, bytes: all.map { Int($0[k + i]) },
                                    messages: all.map { Int($0[2 * k + i]) }, calls: all.map { Int($0[3 * k + i]) },
                                    epochs: epochs)
            order.append(kind.name)
        }
        return CommSummary(epochs: epochs, order: order, kinds: kinds)
    }
}
