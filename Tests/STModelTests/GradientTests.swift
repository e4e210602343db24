import XCTest
@testable import STModel
import STCore
import STComm
import STPartition

/// Every backward pass against central finite differences of the float64 dense reference.
final class GradientTests: XCTestCase {
    /// Max relative error (per parameter block) of the model's gradient against central
    /// differences of the float64 dense reference, plus the model's and the reference's losses.
    func gradientErrors(prob: TinyProblem, readout: Readout, seed: UInt64, corrupt: Bool = false)
        -> (errors: [String: Double], model: Losses, ref: (total: Double, feat: Double, sl1: Double, sl2: Double)) {
        let comm = SingleProcessCommunicator()
        let graph = LocalGraph(rank: 0, partition: .single(count: prob.n), adjRows: prob.adj, maskRows: prob.mask)
        let model = GraphSTModel(x: prob.x, graph: graph, dim: prob.d, readout: readout, comm: comm)
        // Larger-than-default weights so that the ReLUs and the sigmoid are far from trivial.
        var params = model.layout.initialise(seed: seed)
        for i in params.indices { params[i] *= 3 }
        params[model.layout.bias.lowerBound] = 0.1
        let perm = corruptionPermutation(seed: seed, epoch: 0, count: prob.n)
        var grad = [Float]()
        let losses = model.lossAndGradient(params: params, perm: perm, grad: &grad)
        if corrupt { for i in grad.indices { grad[i] *= 1.01 } }

        let ref = prob.reference(readout: readout)
        let p64 = params.map(Double.init)
        let L = model.layout
        var errors = [String: Double]()
        for block in ParameterLayout.Block.allCases {
            let name = block.rawValue, indices = L.indices(of: block)
            var maxErr = 0.0, maxRef = 0.0
            let stride = max(1, indices.count / 40)   // every entry of small blocks, a sample of large ones
            for i in Swift.stride(from: 0, to: indices.count, by: stride).map({ indices[$0] }) {
                let h = 1e-6 * max(1, abs(p64[i]))
                var pp = p64; pp[i] += h
                var pm = p64; pm[i] -= h
                let fd = (ref.loss(pp, perm: perm).total - ref.loss(pm, perm: perm).total) / (2 * h)
                maxErr = max(maxErr, abs(fd - Double(grad[i])))
                maxRef = max(maxRef, abs(fd))
            }
            errors[name] = maxRef > 0 ? maxErr / maxRef : .infinity
        }
        return (errors, losses, ref.loss(p64, perm: perm))
    }

    func check(kipf: Bool, readout: Readout, seed: UInt64, d: Int = 8, file: StaticString = #filePath, line: UInt = #line) {
        let prob = TinyProblem(n: 40, g: 11, d: d, seed: seed, kipf: kipf)
        let (errors, m, r) = gradientErrors(prob: prob, readout: readout, seed: seed)
        XCTAssertEqual(m.total, r.total, accuracy: 1e-5 * abs(r.total), "total loss (seed \(seed))", file: file, line: line)
        XCTAssertEqual(m.feat, r.feat, accuracy: 1e-5 * abs(r.feat), "feat loss", file: file, line: line)
        XCTAssertEqual(m.sl1, r.sl1, accuracy: 1e-5 * abs(r.sl1), "sl1", file: file, line: line)
        XCTAssertEqual(m.sl2, r.sl2, accuracy: 1e-5 * abs(r.sl2), "sl2", file: file, line: line)
        for (name, e) in errors.sorted(by: { $0.key < $1.key }) {
            XCTAssertLessThan(e, 2e-4, "\(name) gradient vs finite differences (kipf \(kipf), readout \(readout), seed \(seed)): max rel err \(e)", file: file, line: line)
        }
    }

    func testGradient10xLocal() { check(kipf: false, readout: .local, seed: 7) }
    func testGradientKipfLocal() { check(kipf: true, readout: .local, seed: 11) }
    func testGradient10xGlobal() { check(kipf: false, readout: .global, seed: 13) }
    /// Other widths (d is always a multiple of 8: the per-spot loops are SIMD8 only): two vectors per
    /// half-row, and the global readout with Kipf's normalisation.
    func testGradientOtherWidths() {
        check(kipf: false, readout: .local, seed: 17, d: 16)
        check(kipf: true, readout: .global, seed: 19, d: 8)
    }

    /// The check must be able to fail: a gradient off by 1% is rejected.
    func testCheckDetectsWrongGradient() {
        let prob = TinyProblem(n: 30, g: 9, d: 8, seed: 3)
        let (errors, _, _) = gradientErrors(prob: prob, readout: .local, seed: 3, corrupt: true)
        for (name, e) in errors { XCTAssertGreaterThan(e, 2e-3, "\(name): a 1% error went unnoticed") }
    }
}
