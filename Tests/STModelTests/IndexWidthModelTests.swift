import XCTest
@testable import STModel
import STCore
import STComm
import STPartition

/// The model on X with 16-bit indices gives the bits of the model on X with 32-bit indices: losses,
/// gradients and the embedding, with and without the fast layouts, with and without threads.
final class IndexWidthModelTests: XCTestCase {
    func run(_ x: GeneMatrix, fastLayouts: Bool, threads: Int) -> (losses: [Losses], grads: [[Float]], z: [Float]) {
        let p = ThreadTests.prob
        let graph = LocalGraph(rank: 0, partition: .single(count: p.n), adjRows: p.adj, maskRows: p.mask)
        let model = GraphSTModel(x: x, graph: graph, dim: p.d, fastLayouts: fastLayouts, comm: SingleProcessCommunicator())
        XCTAssertEqual(model.x.indexBits, x.indexBits)
        XCTAssertEqual(model.hasFastLayouts, fastLayouts)
        model.pool = ThreadPool(threads: threads)
        var params = model.layout.initialise(seed: 3), grad = [Float]()
        var adam = Adam(count: params.count, lr: 1e-2)
        var losses = [Losses](), grads = [[Float]]()
        for e in 0..<2 {
            let perm = corruptionPermutation(seed: 3, epoch: e, count: model.globalCount)
            losses.append(model.lossAndGradient(params: params, perm: perm, grad: &grad))
            grads.append(grad)
            adam.update(&params, grad: grad, pool: model.pool)
        }
        return (losses, grads, model.embed(params: params).z.data)
    }

    func testNarrowModelBitwiseEqualWide() {
        let x = ThreadTests.prob.x
        let wide = run(.wide(x), fastLayouts: false, threads: 1)
        for fast in [false, true] {
            for threads in [1, 2] {
                let narrow = run(.narrow(x.withIndices(UInt16.self)), fastLayouts: fast, threads: threads)
                XCTAssertEqual(narrow.losses, wide.losses, "fast layouts \(fast), \(threads) threads")
                XCTAssertEqual(narrow.grads.map { $0.map(\.bitPattern) }, wide.grads.map { $0.map(\.bitPattern) },
                               "fast layouts \(fast), \(threads) threads")
                XCTAssertEqual(narrow.z.map(\.bitPattern), wide.z.map(\.bitPattern), "fast layouts \(fast), \(threads) threads")
            }
        }
    }
}
