import XCTest
@testable import STModel
import STCore
import STComm
import STPartition

/// Threads within a rank (`GraphSTModel.pool`): losses, gradients, parameters after Adam steps and
/// the embedding Z must be bitwise identical for 1, 2, 3 and 4 threads (fixed blocks, block-order
/// sums), and equal to the model without a pool.
final class ThreadTests: XCTestCase {
    /// n = 2200 spots: 9 row blocks of 256, two 2048-row blocks of K = YᵀY, three of ∂Wb (2n
    /// half-rows); G = 150: two 128-gene blocks of the gather form of Xᵀ·[Y|∂U].
    static let prob = TinyProblem(n: 2200, g: 150, d: 16, seed: 33)

    struct Run: Equatable {
        var losses: [Losses] = []
        var grads: [[Float]] = []
        var params: [Float] = []
        var z: [Float] = []
        var y: [Float] = []
    }

    func run(threads: Int?, readout: Readout, epochs: Int = 3) -> Run {
        let p = Self.prob
        let comm = SingleProcessCommunicator()
        let graph = LocalGraph(rank: 0, partition: .single(count: p.n), adjRows: p.adj, maskRows: p.mask)
        let model = GraphSTModel(x: p.x, graph: graph, dim: p.d, readout: readout, comm: comm)
        if let threads { model.pool = ThreadPool(threads: threads) }
        var params = model.layout.initialise(seed: 9), grad = [Float]()
        var adam = Adam(count: params.count, lr: 1e-2)
        var r = Run()
        for e in 0..<epochs {
            let perm = corruptionPermutation(seed: 9, epoch: e, count: model.globalCount)
            r.losses.append(model.lossAndGradient(params: params, perm: perm, grad: &grad))
            r.grads.append(grad)
            adam.update(&params, grad: grad, pool: model.pool)
        }
        r.params = params
        let (z, y) = model.embed(params: params)
        r.z = z.data; r.y = y.data
        return r
    }

    func testThreadCountDoesNotChangeTheNumbers() {
        for readout in Readout.allCases {
            let serial = run(threads: nil, readout: readout)
            XCTAssertTrue(serial.losses.allSatisfy { $0.total.isFinite })
            for t in [1, 2, 3, 4] {
                let r = run(threads: t, readout: readout)
                // Bitwise: compare bit patterns so that a NaN would not pass and −0 ≠ +0.
                XCTAssertEqual(r.losses.map { [$0.total.bitPattern, $0.feat.bitPattern, $0.sl1.bitPattern, $0.sl2.bitPattern] },
                               serial.losses.map { [$0.total.bitPattern, $0.feat.bitPattern, $0.sl1.bitPattern, $0.sl2.bitPattern] },
                               "losses, \(t) threads, \(readout)")
                XCTAssertEqual(r.grads.map { $0.map(\.bitPattern) }, serial.grads.map { $0.map(\.bitPattern) },
                               "gradients, \(t) threads, \(readout)")
                XCTAssertEqual(r.params.map(\.bitPattern), serial.params.map(\.bitPattern), "parameters, \(t) threads, \(readout)")
                XCTAssertEqual(r.z.map(\.bitPattern), serial.z.map(\.bitPattern), "Z, \(t) threads, \(readout)")
                XCTAssertEqual(r.y.map(\.bitPattern), serial.y.map(\.bitPattern), "Y, \(t) threads, \(readout)")
            }
        }
    }
}
