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

    func run(threads: Int?, readout: Readout, epochs: Int = 3, fastLayouts: Bool = true, fusedEpilogue: Bool = true) -> Run {
        let p = Self.prob
        let comm = SingleProcessCommunicator()
        let graph = LocalGraph(rank: 0, partition: .single(count: p.n), adjRows: p.adj, maskRows: p.mask)
        let model = GraphSTModel(x: p.x, graph: graph, dim: p.d, readout: readout, fastLayouts: fastLayouts, comm: comm)
        if let threads { model.pool = ThreadPool(threads: threads) }
        XCTAssertTrue(model.fusesEpilogue, "one rank fuses the epilogue into the pass over Xᵀ by default")
        model.fusesEpilogue = fusedEpilogue
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

    /// The vectorised Adam step (every path) against the scalar reference, bitwise, over several
    /// steps: gradients of mixed signs and scales with zeros, a count with a tail of every length
    /// below 16, bias corrections of steps 1 to 5.
    func testVectorAdamBitwiseEqualReference() {
        var rng = Xoshiro256(seed: 21)
        for count in [1, 15, 16, 17, 1003] {
            let p0 = (0..<count).map { _ in Float(rng.nextDouble() * 2 - 1) }
            let grads = (0..<5).map { _ in (0..<count).map { i -> Float in
                i % 7 == 3 ? 0 : Float((rng.nextDouble() * 2 - 1) * pow(10, Double(i % 9) - 6))
            } }
            for path in Sparse.Path.allCases where path.rawValue <= Sparse.supportedPath.rawValue {
                var (pr, mr, vr) = (p0, [Float](repeating: 0, count: count), [Float](repeating: 0, count: count))
                var (pv, mv, vv) = (pr, mr, vr)
                for (t, g) in grads.enumerated() {
                    let stepSize = Float(1e-3 / (1 - pow(0.9, Double(t + 1))))
                    let bc2Sqrt = Float((1 - pow(0.999, Double(t + 1))).squareRoot())
                    adamUpdate_ref(params: &pr, grad: g, m: &mr, v: &vr, count: count, beta1: 0.9, beta2: 0.999,
                                   eps: 1e-8, stepSize: stepSize, bc2Sqrt: bc2Sqrt)
                    VectorMath.adamStep(params: &pv, grad: g, m: &mv, v: &vv, count: count, beta1: 0.9, beta2: 0.999,
                                        eps: 1e-8, stepSize: stepSize, bc2Sqrt: bc2Sqrt, path: path)
                    XCTAssertEqual(pv.map(\.bitPattern), pr.map(\.bitPattern), "params, count \(count), step \(t + 1), \(path)")
                    XCTAssertEqual(mv.map(\.bitPattern), mr.map(\.bitPattern), "m, count \(count), step \(t + 1), \(path)")
                    XCTAssertEqual(vv.map(\.bitPattern), vr.map(\.bitPattern), "v, count \(count), step \(t + 1), \(path)")
                }
                XCTAssertNotEqual(pv, p0, "the steps moved the parameters")
            }
        }
    }

    /// Without the extra layouts of X (what a memory-tight rank runs: the plain X·B and the
    /// scatter form of Xᵀ·B) the numbers are bitwise those with them, for any thread count.
    func testPlainLayoutGivesTheSameBits() {
        for readout in Readout.allCases {
            let fast = run(threads: 2, readout: readout)
            for t in [nil, 1, 3] as [Int?] {
                let plain = run(threads: t, readout: readout, fastLayouts: false)
                XCTAssertEqual(plain.losses.map { [$0.total.bitPattern, $0.feat.bitPattern, $0.sl1.bitPattern, $0.sl2.bitPattern] },
                               fast.losses.map { [$0.total.bitPattern, $0.feat.bitPattern, $0.sl1.bitPattern, $0.sl2.bitPattern] },
                               "\(readout), threads \(String(describing: t))")
                XCTAssertEqual(plain.grads.map { $0.map(\.bitPattern) }, fast.grads.map { $0.map(\.bitPattern) })
                XCTAssertEqual(plain.params.map(\.bitPattern), fast.params.map(\.bitPattern))
                XCTAssertEqual(plain.z.map(\.bitPattern), fast.z.map(\.bitPattern))
            }
        }
    }

    /// The epilogue run by the tasks of the pass over Xᵀ (one rank's default) and the separate pass
    /// after it: the same ranges, the same bits, on every pool.
    func testFusedEpilogueGivesTheSameBits() {
        for readout in Readout.allCases {
            for t in [nil, 2, 3] as [Int?] {
                let fused = run(threads: t, readout: readout), apart = run(threads: t, readout: readout, fusedEpilogue: false)
                XCTAssertEqual(fused.losses.map { $0.total.bitPattern }, apart.losses.map { $0.total.bitPattern }, "\(readout), \(String(describing: t))")
                XCTAssertEqual(fused.grads.map { $0.map(\.bitPattern) }, apart.grads.map { $0.map(\.bitPattern) })
                XCTAssertEqual(fused.params.map(\.bitPattern), apart.params.map(\.bitPattern))
            }
        }
    }

    /// [W1 | W2ᵀ] read where it is (parameters on a cache line, as the trainer keeps them) and
    /// through the aligned copy (parameters 16 bytes past one): the same bits, for a serial model
    /// and a pool, over epochs with Adam steps through the pointer form of the update.
    func testParametersReadInPlaceGiveTheSameBits() {
        let p = Self.prob
        for threads in [nil, 2] as [Int?] {
            var runs = [Run]()
            for offset in [0, 4] {      // floats past a 64-byte boundary
                let comm = SingleProcessCommunicator()
                let graph = LocalGraph(rank: 0, partition: .single(count: p.n), adjRows: p.adj, maskRows: p.mask)
                let model = GraphSTModel(x: p.x, graph: graph, dim: p.d, readout: .local, comm: comm)
                if let threads { model.pool = ThreadPool(threads: threads) }
                let initial = model.layout.initialise(seed: 9)
                let buffer = AlignedFloats(count: initial.count + offset)
                let params = buffer.pointer + offset
                params.update(from: initial, count: initial.count)
                XCTAssertEqual(GraphSTModel.isCacheLineAligned(params), offset == 0)
                var adam = Adam(count: initial.count, lr: 1e-2), grad = [Float](), none = [Double](), r = Run()
                for e in 0..<3 {
                    let perm = RowPermutation(corruptionPermutation(seed: 9, epoch: e, count: model.globalCount))
                    r.losses.append(model.lossAndGradient(params: params, perm: perm, grad: &grad, extra: &none))
                    r.grads.append(grad)
                    grad.withUnsafeBufferPointer { adam.update(params, grad: $0.baseAddress!, pool: model.pool) }
                }
                r.params = Array(UnsafeBufferPointer(start: params, count: initial.count))
                runs.append(r)
                withExtendedLifetime(buffer) {}      // `params` pointed into it until here
            }
            XCTAssertEqual(runs[0].losses.map { $0.total.bitPattern }, runs[1].losses.map { $0.total.bitPattern })
            XCTAssertEqual(runs[0].grads.map { $0.map(\.bitPattern) }, runs[1].grads.map { $0.map(\.bitPattern) })
            XCTAssertEqual(runs[0].params.map(\.bitPattern), runs[1].params.map(\.bitPattern))
            // and the array forms (lossAndGradient(params: [Float]), Adam.update(&[Float])) agree
            let arrays = run(threads: threads, readout: .local)
            XCTAssertEqual(arrays.grads.map { $0.map(\.bitPattern) }, runs[0].grads.map { $0.map(\.bitPattern) })
            XCTAssertEqual(arrays.params.map(\.bitPattern), runs[0].params.map(\.bitPattern))
        }
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
