import XCTest
import STCore
import STComm
import STPartition
@testable import STCluster

final class SpatialDomainsTests: XCTestCase {
    /// Rows A (n×d float32) whose projection through W carries three spatially contiguous groups.
    func slide(n: Int = 600, d: Int = 6, g: Int = 30) -> (a: Matrix, w: Matrix, coords: [Double], truth: [Int]) {
        var gen = Normal(seed: 31)
        var a = Matrix(zeros: n, d)
        var coords = [Double](), truth = [Int]()
        for i in 0..<n {
            let x = Double(i % 30), y = Double(i / 30)
            coords += [x, y]
            let t = x < 10 ? 0 : (x < 20 ? 1 : 2)
            truth.append(t)
            for j in 0..<d { a[i, j] = Float(gen.next() * 0.6 + (j == t ? 3.0 : 0.0)) }
        }
        return (a, randomMatrix(d, g, seed: 32, scale: 0.5), coords, truth)
    }

    func testPipelineOneVersusThreeRanks() throws {
        let s = slide()
        let n = s.a.rows
        for method in ClusterMethod.allCases {
            let config = ClusteringConfig(method: method, clusters: 3, pcs: 4, restarts: 3, seed: 5, refine: true)
            let one = try SpatialDomains.run(config: config, rows: s.a, projection: s.w, globalIndex: Array(0..<n),
                                             spatial: SpatialContext(coordinates: s.coords, partition: .single(count: n)),
                                             comm: SingleProcessCommunicator())
            XCTAssertGreaterThan(ClusterScores.adjustedRandIndex(s.truth, one.unrefinedLabels), 0.9, "\(method)")
            XCTAssertGreaterThanOrEqual(ClusterScores.adjustedRandIndex(s.truth, one.labels),
                                        ClusterScores.adjustedRandIndex(s.truth, one.unrefinedLabels), "\(method) refined")
            XCTAssertEqual(one.summary.refineRadius, RefinementRadius.auto(spots: n, clusters: 3))
            XCTAssertEqual(one.summary.components, 4)
            XCTAssertEqual(one.summary.loglik == nil, method == .kmeans)

            let split = randomSplit(n, parts: 3, seed: 9)
            var owner = [Int32](repeating: 0, count: n)
            for (rank, sp) in split.enumerated() { for gi in sp { owner[gi] = Int32(rank) } }
            let parts = try ThreadGroupCommunicator.run(ranks: 3) { comm in
                try SpatialDomains.run(config: config, rows: selectRows(s.a, split[comm.rank]), projection: s.w,
                                       globalIndex: split[comm.rank],
                                       spatial: SpatialContext(coordinates: s.coords, partition: Partition(owner: owner, parts: 3)),
                                       comm: comm)
            }
            for (rank, p) in parts.enumerated() {
                XCTAssertEqual(p.labels, split[rank].map { one.labels[$0] }, "\(method) rank \(rank)")
                XCTAssertEqual(p.summary.refinedChanged, one.summary.refinedChanged)
                if let l = one.summary.loglik { XCTAssertEqual(p.summary.loglik!, l, accuracy: 1e-9 * abs(l)) }
            }
        }
    }

    func testConfigDecodesWithDefaultsAndValidates() throws {
        let c = try JSONDecoder().decode(ClusteringConfig.self, from: Data(#"{"method":"kmeans","clusters":5}"#.utf8))
        XCTAssertEqual(c, ClusteringConfig(method: .kmeans, clusters: 5))
        XCTAssertThrowsError(try ClusteringConfig(pcs: 0).validate())
        XCTAssertThrowsError(try SpatialDomains.cluster(config: ClusteringConfig(refine: true), features: Matrix64(zeros: 10, 2),
                                                        globalIndex: Array(0..<10), comm: SingleProcessCommunicator()))
    }
}
