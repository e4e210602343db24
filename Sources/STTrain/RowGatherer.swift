import STCore
import STComm

/// Gathers the owned rows of a distributed N-row table onto rank 0, in global row order.
///
/// Outputs of size N×d or smaller may be gathered (DESIGN §3); X and H never are.
public struct RowGatherer {
    public let comm: Communicator
    /// This rank's spots (local row order) and, on rank 0, every rank's: gathered once, so each
    /// table costs one gather of its values only.
    let owned: [Int]
    let ids: [[Int64]]
    let total: Int

    /// Collective: gathers the owned spots of every rank on rank 0.
    public init(comm: Communicator, owned: [Int], total: Int) {
        self.comm = comm
        self.owned = owned
        self.total = total
        ids = comm.gatherv(owned.map { Int64($0) }, root: 0)
    }

    /// The N × `width` table on rank 0 (nil elsewhere) from each rank's rows: `rows` holds
    /// `owned.count` rows of `width` values, row r belonging to global spot `owned[r]`.
    public func gather<T: BitwiseCopyable>(_ rows: [T], width: Int) -> [T]? {
        precondition(rows.count == owned.count * width, "rows do not match the owned spots")
        let values = comm.gatherv(rows, root: 0)
        guard comm.isRoot, let first = values.lazy.flatMap({ $0 }).first ?? rows.first else {
            return comm.isRoot ? [] : nil
        }
        var all = [T](repeating: first, count: total * width)
        all.withUnsafeMutableBufferPointer { dst in
            for (part, v) in zip(ids, values) {
                for (r, g) in part.enumerated() {
                    for c in 0..<width { dst[Int(g) * width + c] = v[r * width + c] }
                }
            }
        }
        return all
    }

    /// The N × d matrix on rank 0 (nil elsewhere) from each rank's (nOwned × d) rows.
    public func gather(_ m: Matrix) -> Matrix? {
        gather(m.data, width: m.cols).map { Matrix(rows: total, cols: m.cols, data: $0) }
    }

    /// One value per spot on rank 0 (nil elsewhere).
    public func gather<T: BitwiseCopyable>(_ values: [T]) -> [T]? {
        gather(values, width: 1)
    }
}
