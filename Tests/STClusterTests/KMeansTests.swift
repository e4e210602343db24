import XCTest
import STCore
import STComm
@testable import STCluster

final class KMeansTests: XCTestCase {
    func testSeparatedBlobsAreFoundExactly() throws {
        let b = MixtureTests.wellSeparated
        let fit = try KMeans.fit(rows: b.x, globalIndex: Array(0..<b.x.rows), clusters: 3, restarts: 3, seed: 4,
                                 comm: SingleProcessCommunicator())
        XCTAssertTrue(fit.converged)
        // Σ is not spherical, so k-means is not the Bayes rule here: a few boundary spots go astray.
        XCTAssertGreaterThan(ClusterScores.adjustedRandIndex(b.truth, fit.labels), 0.97)
        // Canonical order: ascending first centre coordinate.
        XCTAssertTrue(fit.centres[0, 0] < fit.centres[1, 0] && fit.centres[1, 0] < fit.centres[2, 0])
        // Inertia and centres are those of the returned labels (brute force).
        var inertia = 0.0
        for c in 0..<3 {
            let members = (0..<b.x.rows).filter { fit.labels[$0] == c }
            for j in 0..<3 {
                let mean = members.reduce(0.0) { $0 + b.x[$1, j] } / Double(members.count)
                XCTAssertEqual(fit.centres[c, j], mean, accuracy: 1e-9)
            }
            for i in members { for j in 0..<3 { inertia += (b.x[i, j] - fit.centres[c, j]) * (b.x[i, j] - fit.centres[c, j]) } }
        }
        XCTAssertEqual(fit.inertia, inertia, accuracy: 1e-9 * inertia)
        XCTAssertEqual(fit.restartInertias.count, 3)
        XCTAssertEqual(fit.restartInertias.min()!, fit.inertia, accuracy: 1e-9 * inertia)
    }

    func testOneAndThreeRanksAgree() throws {
        let b = MixtureTests.overlapping
        let n = b.x.rows
        let one = try KMeans.fit(rows: b.x, globalIndex: Array(0..<n), clusters: 5, restarts: 3, seed: 8,
                                 comm: SingleProcessCommunicator())
        let split = randomSplit(n, parts: 3, seed: 6)
        let parts = try ThreadGroupCommunicator.run(ranks: 3) { comm in
            try KMeans.fit(rows: selectRows(b.x, split[comm.rank]), globalIndex: split[comm.rank], clusters: 5,
                           restarts: 3, seed: 8, comm: comm)
        }
        for (rank, p) in parts.enumerated() {
            XCTAssertEqual(p.labels, split[rank].map { one.labels[$0] })
            XCTAssertEqual(p.inertia, one.inertia, accuracy: 1e-10 * one.inertia)
            XCTAssertEqual(p.centres.data.count, one.centres.data.count)
            XCTAssertLessThan(maxRelErr(p.centres.data, one.centres.data), 1e-12)
        }
    }

    /// The seeding is a function of the spots' global indices, not of row order or ranks.
    func testSeedingIgnoresRowOrder() throws {
        let b = MixtureTests.overlapping
        let n = b.x.rows
        let a = try KMeans.seedPlusPlus(rows: b.x, globalIndex: Array(0..<n), clusters: 4, seed: 3, restart: 0,
                                        comm: SingleProcessCommunicator())
        let perm = Array((0..<n).reversed())
        let c = try KMeans.seedPlusPlus(rows: selectRows(b.x, perm), globalIndex: perm, clusters: 4, seed: 3, restart: 0,
                                        comm: SingleProcessCommunicator())
        XCTAssertEqual(a, c)
        let d = try KMeans.seedPlusPlus(rows: b.x, globalIndex: Array(0..<n), clusters: 4, seed: 3, restart: 1,
                                        comm: SingleProcessCommunicator())
        XCTAssertNotEqual(a, d)
    }

    func testTooFewDistinctPoints() {
        let x = Matrix64(rows: 6, cols: 1, data: [1, 1, 1, 2, 2, 2])
        XCTAssertThrowsError(try KMeans.fit(rows: x, globalIndex: Array(0..<6), clusters: 3, comm: SingleProcessCommunicator())) {
            XCTAssertEqual($0 as? ClusteringError, .tooFewDistinctPoints(clusters: 3))
        }
    }
}
