import XCTest
@testable import STModel
import STCore
import STComm
import STPartition
import STExchange

/// The distributed code path (partitions, halo and corruption exchanges, allreduce) run in-process
/// with one thread per rank, against the single-process result.
final class DistributedTests: XCTestCase {
    /// Builds rank `rank`'s model for `parts` ranks (RCB on the coordinates).
    func localModel(_ prob: TinyProblem, parts: Int, comm: Communicator, readout: Readout = .local,
                    curveOrder: Bool = false) throws -> GraphSTModel {
        let rcb = try RCB.partition(coordinates: prob.coords, parts: parts)
        let partition = Partition(owner: rcb.owner, parts: parts)
        var order = partition.owned(by: comm.rank)
        if curveOrder { order = spaceFillingOrder(order, coordinates: prob.coords) }
        let owned = order.map(\.int)
        let graph = LocalGraph(rank: comm.rank, partition: partition, adjRows: prob.adj.selectingRows(owned),
                               maskRows: prob.mask.selectingRows(owned), ownedOrder: order)
        return GraphSTModel(x: prob.x.selectingRows(owned), graph: graph, dim: prob.d, readout: readout, comm: comm)
    }

    /// `epochs` full-batch Adam steps (seeded corruption permutations) on every rank: the model's
    /// own loss, gradient and optimiser, without STTrain's loop.
    func train(_ prob: TinyProblem, parts: Int, epochs: Int, readout: Readout,
               curveOrder: Bool = false) throws -> [(records: [(epoch: Int, loss: Double)], params: [Float])] {
        try ThreadGroupCommunicator.run(ranks: parts) { comm in
            let model = try self.localModel(prob, parts: parts, comm: comm, readout: readout, curveOrder: curveOrder)
            var params = model.layout.initialise(seed: 5), grad = [Float]()
            var adam = Adam(count: params.count, lr: 1e-2)
            var records = [(epoch: Int, loss: Double)]()
            for e in 0..<epochs {
                let perm = corruptionPermutation(seed: 5, epoch: e, count: model.globalCount)
                let l = model.lossAndGradient(params: params, perm: perm, grad: &grad)
                adam.update(&params, grad: grad)
                records.append((e + 1, l.total))
            }
            return (records, params)
        }
    }

    /// The corruption plan built from π and π⁻¹ of a rank's own rows (`FeistelPermutation`, the
    /// run's path) moves exactly the rows the permutation given whole does: bit-identical losses and
    /// gradients on 1–4 ranks, both plans computed on the same ranks.
    func testComputedPermutationPlanEqualsTheWholePermutation() throws {
        let prob = TinyProblem(n: 97, g: 13, d: 8, seed: 21)
        for parts in [1, 2, 3, 4] {
            let agree = try ThreadGroupCommunicator.run(ranks: parts) { comm -> Bool in
                let model = try self.localModel(prob, parts: parts, comm: comm, curveOrder: true)
                let params = model.layout.initialise(seed: 5)
                var ok = true
                for e in 0..<3 {
                    let f = FeistelPermutation(seed: 5, epoch: e, count: model.globalCount)
                    var g1 = [Float](), g2 = [Float]()
                    let a = model.lossAndGradient(params: params, perm: .feistel(f), grad: &g1)
                    let b = model.lossAndGradient(params: params, perm: (0..<model.globalCount).map { Int32(f.source(of: $0)) }, grad: &g2)
                    ok = ok && a.total == b.total && a.sl1 == b.sl1 && g1 == g2
                }
                return ok
            }
            XCTAssertEqual(agree, [Bool](repeating: true, count: parts), "\(parts) ranks")
        }
    }

    /// W2W2ᵀ by parts (`splitsGram`: each rank the part of its genes, summed in rank order) against
    /// the one sgemm every rank repeats otherwise, on 2, 3 and 5 ranks (3 genes on 5 ranks: some
    /// ranks have none): the gradient and loss agree to float32 rounding, every rank holds the same
    /// bits, and the parts form is the one that runs by default.
    func testGramByPartsEqualsTheWholeProduct() throws {
        for (g, parts) in [(37, 2), (37, 3), (3, 5)] {
            let prob = TinyProblem(n: 150, g: g, d: 8, seed: 6)
            let results = try ThreadGroupCommunicator.run(ranks: parts) { comm -> [(grad: [Float], loss: Double)] in
                let model = try self.localModel(prob, parts: parts, comm: comm)
                XCTAssertTrue(model.splitsGram)
                let params = model.layout.initialise(seed: 5).map { $0 * 3 }
                let perm = RowPermutation(corruptionPermutation(seed: 2, epoch: 0, count: model.globalCount))
                return [true, false].map { byParts in
                    model.splitsGram = byParts
                    var grad = [Float]()
                    let l = model.lossAndGradient(params: params, perm: perm, grad: &grad)
                    return (grad, l.total)
                }
            }
            for r in 0..<parts {
                XCTAssertEqual(results[r][0].grad.map(\.bitPattern), results[0][0].grad.map(\.bitPattern), "rank \(r) of \(parts)")
            }
            let byParts = results[0][0], whole = results[0][1]
            let scale = whole.grad.map { abs($0) }.max()!
            let err = zip(byParts.grad, whole.grad).map { abs($0 - $1) }.max()!
            XCTAssertGreaterThan(scale, 0)
            XCTAssertLessThanOrEqual(err, 1e-5 * scale, "\(parts) ranks, \(g) genes: gradient")
            XCTAssertEqual(byParts.loss, whole.loss, accuracy: 1e-6 * abs(whole.loss), "\(parts) ranks: loss")
        }
    }

    /// The split epilogue (2…16 ranks: [Cᵀ | ∂W1] reduce-scattered by genes, each rank its genes'
    /// K·W2, ∂W2, ∂W1 and trace partials, then all-gathered) against the replicated one (one
    /// allreduce, every rank the whole epilogue), on 2, 3, 4 and 5 ranks, with genes not divisible
    /// by the rank count, fewer genes than ranks, and the stop-vote slots: ∂W1, ∂Wb, ∂b and the extra slots bitwise equal
    /// (both sum the ranks' float64 partials in rank order), ∂W2 within float32 rounding (the
    /// dgemm's column blocks differ), the loss within 1e-12; every rank holds the same bits.
    func testSplitEpilogueEqualsReplicated() throws {
        // 37 genes; and 3 genes on 4 and 5 ranks, where some ranks have no genes of their own: the
        // ranks' partials travel as float32 (every rank ≤ 4096 spots). Then 9000 spots on 2 ranks:
        // more than one block of float32 partials per rank, so they travel as float64.
        for (g, partsList) in [(37, [2, 3, 4, 5]), (3, [4, 5])] {
            try checkSplitEpilogue(TinyProblem(n: 150, g: g, d: 8, seed: 4), parts: partsList, float32: true)
        }
        try checkSplitEpilogue(TinyProblem(n: 9000, g: 37, d: 8, seed: 4), parts: [2], float32: false)
    }

    func checkSplitEpilogue(_ prob: TinyProblem, parts partsList: [Int], float32: Bool) throws {
        let L = ParameterLayout(genes: prob.g, dim: prob.d)
        typealias Result = (grad: [Float], loss: Double, extra: [Double])
        for parts in partsList {
            let results = try ThreadGroupCommunicator.run(ranks: parts) { comm -> [Result] in
                let model = try self.localModel(prob, parts: parts, comm: comm)
                XCTAssertTrue(model.splitsEpilogue)
                XCTAssertEqual(model.splitSendsFloat32, float32, "\(prob.n) spots on \(parts) ranks")
                let params = model.layout.initialise(seed: 9)
                let perm = RowPermutation(corruptionPermutation(seed: 3, epoch: 1, count: model.globalCount))
                var out = [Result]()
                // The split epilogue with [Cᵀ | ∂W1] sent as float32 where it may be: the bits of float64.
                if float32 {
                    var grads = [[Float]](), losses = [UInt64]()
                    for narrow in [true, false] {
                        model.splitSendsFloat32 = narrow
                        var grad = [Float](), extra: [Double] = [Double(comm.rank + 1), 0.25]
                        losses.append(model.lossAndGradient(params: params, perm: perm, grad: &grad, extra: &extra).total.bitPattern)
                        grads.append(grad)
                    }
                    XCTAssertEqual(grads[0].map(\.bitPattern), grads[1].map(\.bitPattern), "float32 rows: \(parts) ranks")
                    XCTAssertEqual(losses[0], losses[1])
                    model.splitSendsFloat32 = true
                }
                for split in [true, false] {
                    model.splitsEpilogue = split
                    let stats = CommStats()
                    model.commStats = stats
                    var grad = [Float](), extra: [Double] = [Double(comm.rank + 1), 0.25]
                    let l = model.lossAndGradient(params: params, perm: perm, grad: &grad, extra: &extra)
                    out.append((grad: grad, loss: l.total, extra: extra))
                    // Which form ran: the split one sends a block to every other rank twice (rows of
                    // [Cᵀ | ∂W1], then of the gradient) and its two trace partial sums; both send
                    // their part of W2W2ᵀ to every other rank (`splitsGram`).
                    let messages = stats.messages[CommStats.Kind.allreduce.rawValue]
                    XCTAssertEqual(messages, (split ? 1 + 3 * (parts - 1) : 1) + (parts - 1), "split \(split), \(parts) ranks")
                }
                return out
            }
            for r in 0..<parts {
                for k in 0..<2 {
                    XCTAssertEqual(results[r][k].grad.map { $0.bitPattern }, results[0][k].grad.map { $0.bitPattern },
                                   "\(k == 0 ? "split" : "replicated"): rank \(r) of \(parts) differs from rank 0")
                    XCTAssertEqual(results[r][k].loss.bitPattern, results[0][k].loss.bitPattern)
                }
            }
            let split = results[0][0], full = results[0][1]
            for block in [ParameterLayout.Block.w1, .wb, .b] {
                XCTAssertEqual(L.values(of: block, in: split.grad).map { $0.bitPattern },
                               L.values(of: block, in: full.grad).map { $0.bitPattern }, "\(parts) ranks: \(block)")
            }
            XCTAssertEqual(split.extra, full.extra, "\(parts) ranks: the extra slots")
            XCTAssertEqual(split.extra, [Double(parts * (parts + 1) / 2), Double(parts) * 0.25])
            let scale = L.values(of: .w2, in: full.grad).map { abs($0) }.max()!
            let err = zip(L.values(of: .w2, in: split.grad), L.values(of: .w2, in: full.grad)).map { abs($0 - $1) }.max()!
            XCTAssertGreaterThan(scale, 0)
            XCTAssertLessThanOrEqual(err, 1e-6 * scale, "\(parts) ranks: ∂W2")
            XCTAssertEqual(split.loss, full.loss, accuracy: 1e-12 * abs(full.loss), "\(parts) ranks: loss")
        }
    }

    /// The exchange moves exactly π: with U's rows holding their global index, Ũ[i] = π(i) on
    /// every rank, and the transpose adds dŨ[π⁻¹(j)] into row j (1–4 ranks, several epochs, the
    /// plan computed on 1, 2 and 3 threads, slide sizes around the radix sort's 11-bit digits).
    func testCorruptionExchangeMovesExactlyThePermutation() throws {
        for (n, parts) in [(97, 1), (97, 3), (2049, 4), (5000, 2)] {
            let prob = TinyProblem(n: n, g: 5, d: 8, seed: 3)
            let rcb = try RCB.partition(coordinates: prob.coords, parts: parts)
            let partition = Partition(owner: rcb.owner, parts: parts)
            let wrong = ThreadGroupCommunicator.run(ranks: parts) { comm -> Int in
                let order = spaceFillingOrder(partition.owned(by: comm.rank), coordinates: prob.coords)
                let owned = order.map(\.int)
                let graph = LocalGraph(rank: comm.rank, partition: partition, adjRows: prob.adj.selectingRows(owned),
                                       maskRows: prob.mask.selectingRows(owned), ownedOrder: order)
                let exchange = CorruptionExchange(graph: graph, comm: comm)
                var bad = 0
                for e in 0..<3 {
                    let f = FeistelPermutation(seed: 11, epoch: e, count: n)
                    exchange.setPermutation(.feistel(f), pool: ThreadPool(threads: e + 1))
                    let u = owned.flatMap { [Float($0), -Float($0)] }
                    var ut = [Float](repeating: .nan, count: u.count), du = [Float](repeating: 0.5, count: u.count)
                    exchange.forward(u, ldu: 2, into: &ut, ldut: 2, width: 2)
                    exchange.backwardAdd(u, lddut: 2, into: &du, lddu: 2, width: 2)
                    for (r, g) in owned.enumerated() {
                        if ut[2 * r] != Float(f.source(of: g)) || ut[2 * r + 1] != -Float(f.source(of: g)) { bad += 1 }
                        if du[2 * r] != 0.5 + Float(f.destination(of: g)) { bad += 1 }
                    }
                }
                return bad
            }
            XCTAssertEqual(wrong, [Int](repeating: 0, count: parts), "N = \(n), \(parts) ranks")
        }
    }

    func testRankCountIndependence() throws {
        let prob = TinyProblem(n: 97, g: 13, d: 8, seed: 21)
        for readout in Readout.allCases {
            let one = try train(prob, parts: 1, epochs: 15, readout: readout)[0]
            for parts in [2, 3, 4] {
                let many = try train(prob, parts: parts, epochs: 15, readout: readout)
                for r in 1..<parts { XCTAssertEqual(many[r].params, many[0].params, "ranks disagree on the parameters") }
                for (a, b) in zip(one.records, many[0].records) {
                    XCTAssertEqual(a.loss, b.loss, accuracy: 1e-5 * abs(a.loss), "epoch \(a.epoch) loss, \(parts) ranks, \(readout)")
                }
                let err = zip(one.params, many[0].params).map { abs($0 - $1) }.max()!
                let scale = one.params.map { abs($0) }.max()!
                XCTAssertLessThan(err / scale, 1e-4, "parameters after 15 epochs, \(parts) ranks, \(readout)")
            }
        }
    }

    /// HPCG's TestSymmetry on the partitioned operator: xᵀ(Ây) = yᵀ(Âx) summed over ranks.
    func testPartitionedOperatorIsSymmetric() throws {
        let prob = TinyProblem(n: 120, g: 4, d: 8, seed: 8)
        var rng = Xoshiro256(seed: 99)
        let xs = (0..<prob.n).map { _ in Float(rng.nextDouble() - 0.5) }
        let ys = (0..<prob.n).map { _ in Float(rng.nextDouble() - 0.5) }
        for parts in [1, 3, 4] {
            let out = try ThreadGroupCommunicator.run(ranks: parts) { comm -> (Double, Double) in
                let model = try self.localModel(prob, parts: parts, comm: comm)
                let g = model.graph, halo = HaloExchanger(plan: g.halo, comm: comm)
                var xl = [Float](repeating: 0, count: g.nLocal), yl = xl
                for (i, gi) in g.map.owned.enumerated() { xl[i] = xs[gi.int]; yl[i] = ys[gi.int] }
                xl.withUnsafeMutableBufferPointer { halo.exchange($0.baseAddress!, width: 1) }
                yl.withUnsafeMutableBufferPointer { halo.exchange($0.baseAddress!, width: 1) }
                for (k, gi) in g.map.ghosts.enumerated() {
                    XCTAssertEqual(xl[g.nOwned + k], xs[gi.int], "ghost row \(k) of rank \(comm.rank) holds the wrong spot")
                }
                let ay = Sparse.spmm_ref(g.adj, yl, ldb: 1, width: 1), ax = Sparse.spmm_ref(g.adj, xl, ldb: 1, width: 1)
                var xay = 0.0, yax = 0.0
                for i in 0..<g.nOwned { xay += Double(xl[i]) * Double(ay[i]); yax += Double(yl[i]) * Double(ax[i]) }
                return (comm.sum(xay), comm.sum(yax))
            }
            let (xay, yax) = out[0]
            XCTAssertEqual(xay, yax, accuracy: 1e-6 * max(abs(xay), 1e-3), "xᵀÂy vs yᵀÂx on \(parts) ranks")
            // and the same value as the whole operator
            let whole = Sparse.spmm_ref(prob.adj, ys, ldb: 1, width: 1)
            let ref = zip(xs, whole).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(xay, ref, accuracy: 1e-5 * max(abs(ref), 1e-3))
        }
    }

    /// The run-time symmetry check (recorded in every summary.json) passes on correct partitions
    /// and catches a broken operator.
    func testRuntimeSymmetryCheck() throws {
        let prob = TinyProblem(n: 150, g: 4, d: 8, seed: 12)
        for parts in [1, 2, 5] {
            let defects = try ThreadGroupCommunicator.run(ranks: parts) { comm -> Double in
                try self.localModel(prob, parts: parts, comm: comm).graph.symmetryDefect(comm: comm)
            }
            XCTAssertLessThan(defects[0], 1e-12, "\(parts) ranks")
            XCTAssertEqual(Set(defects).count, 1, "every rank sees the same defect")
        }
        // One off-diagonal value of Â changed: no longer symmetric.
        var broken = prob.adj
        let p = broken.indptr[7] + (broken.indices[broken.indptr[7]] == 7 ? 1 : 0)
        broken.values[p] *= 1.5
        let g = LocalGraph(rank: 0, partition: .single(count: prob.n), adjRows: broken, maskRows: prob.mask)
        XCTAssertGreaterThan(g.symmetryDefect(comm: SingleProcessCommunicator()), 1e-4)
    }

    /// Local rows in space-filling-curve order (what `run` uses) give the same training as
    /// ascending global order: the halo plans and the corruption exchange follow any local order.
    func testSpaceFillingLocalOrder() throws {
        let prob = TinyProblem(n: 97, g: 13, d: 8, seed: 23)
        let order = spaceFillingOrder((0..<prob.n).map(GlobalIndex.init), coordinates: prob.coords)
        XCTAssertNotEqual(order.map(\.int), Array(0..<prob.n), "the test needs a non-trivial order")
        XCTAssertEqual(order.sorted(), (0..<prob.n).map(GlobalIndex.init))
        let plain = try train(prob, parts: 1, epochs: 10, readout: .local)[0]
        for parts in [1, 3] {
            let curve = try train(prob, parts: parts, epochs: 10, readout: .local, curveOrder: true)[0]
            for (a, b) in zip(plain.records, curve.records) {
                XCTAssertEqual(a.loss, b.loss, accuracy: 1e-5 * abs(a.loss), "epoch \(a.epoch), \(parts) ranks")
            }
        }
    }
}
