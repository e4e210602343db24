import XCTest
import STCore
import STComm
import STData
import STTestSupport
@testable import STCluster

final class MixtureTests: XCTestCase {
    /// Three components in 3-D sharing Σ = B Bᵀ, well separated.
    static let wellSeparated = Blobs(n: 3000, means: [[0, 0, 0], [6, 1, -2], [-3, 7, 4]], proportions: [0.5, 0.3, 0.2],
                                     factor: [1.0, 0, 0, 0.5, 1.2, 0, -0.3, 0.4, 0.8], seed: 21)
    /// Four overlapping components in 4-D: EM needs many iterations.
    static let overlapping = Blobs(n: 2000, means: [[0, 0, 0, 0], [1.5, 0.5, 0, 0], [0, 1.8, 0.6, 0], [1, 1, 1.5, 1]],
                                   proportions: [0.4, 0.3, 0.2, 0.1],
                                   factor: [1, 0, 0, 0, 0.3, 0.9, 0, 0, 0.1, -0.2, 1.1, 0, 0.2, 0.1, 0.3, 0.7], seed: 22)

    func testRecoversKnownParameters() throws {
        let b = Self.wellSeparated
        let fit = try GaussianMixture.fit(rows: b.x, globalIndex: Array(0..<b.x.rows), clusters: 3,
                                          options: MixtureOptions(restarts: 3, seed: 1), comm: SingleProcessCommunicator())
        XCTAssertTrue(fit.converged)
        // Canonical order is by the first mean coordinate: truth components −3, 0, 6 → 2, 0, 1.
        let order = [2, 0, 1]
        for (c, t) in order.enumerated() {
            XCTAssertEqual(fit.model.proportions[c], b.proportions[t], accuracy: 0.01)
            for j in 0..<3 { XCTAssertEqual(fit.model.means[c * 3 + j], b.means[t][j], accuracy: 0.1) }
        }
        XCTAssertLessThan(maxRelErr(fit.model.covariance, b.covariance), 0.08)
        let truthCanonical = b.truth.map { order.firstIndex(of: $0)! }
        XCTAssertGreaterThan(ClusterScores.adjustedRandIndex(truthCanonical, fit.labels), 0.99)
        XCTAssertEqual(fit.bic, 2 * fit.loglik - Double(2 + 9 + 6) * log(3000.0), accuracy: 1e-9 * abs(fit.bic))
    }

    func testLogLikelihoodNeverDecreases() throws {
        let b = Self.overlapping
        // A poor start (round-robin labels) so that EM climbs for many iterations.
        let start = (0..<b.x.rows).map { $0 % 4 }
        let run = GaussianMixture.em(rows: b.x, initialLabels: start, clusters: 4, maxIterations: 500, tolerance: 1e-10,
                                     comm: SingleProcessCommunicator())
        XCTAssertNil(run.failure)
        XCTAssertGreaterThan(run.trace.count, 20)
        for i in 1..<run.trace.count {
            XCTAssertGreaterThanOrEqual(run.trace[i], run.trace[i - 1] - 1e-9 * abs(run.trace[i - 1]), "iteration \(i + 1)")
        }
        // The reported loglik is that of the reported parameters.
        let ll = GaussianMixture.logLikelihood(run.model, rows: b.x, comm: SingleProcessCommunicator())!
        XCTAssertEqual(ll, run.loglik, accuracy: 1e-12 * abs(ll))
    }

    /// The E-step's log-likelihood against a naive evaluation (explicit inverse and determinant
    /// of Σ by Gauss–Jordan, densities summed without log-sum-exp).
    func testLogLikelihoodMatchesNaiveDensity() throws {
        let b = Self.overlapping
        let run = GaussianMixture.em(rows: b.x, initialLabels: b.truth, clusters: 4, maxIterations: 3,
                                     comm: SingleProcessCommunicator())
        let m = run.model, p = 4
        var inv = [Double](repeating: 0, count: p * p), a = m.covariance, det = 1.0
        for i in 0..<p { inv[i * p + i] = 1 }
        for c in 0..<p {   // Gauss–Jordan with partial pivoting
            let piv = (c..<p).max { abs(a[$0 * p + c]) < abs(a[$1 * p + c]) }!
            if piv != c {
                for j in 0..<p { a.swapAt(c * p + j, piv * p + j); inv.swapAt(c * p + j, piv * p + j) }
                det = -det
            }
            let d = a[c * p + c]; det *= d
            for j in 0..<p { a[c * p + j] /= d; inv[c * p + j] /= d }
            for r in 0..<p where r != c {
                let f = a[r * p + c]
                for j in 0..<p { a[r * p + j] -= f * a[c * p + j]; inv[r * p + j] -= f * inv[c * p + j] }
            }
        }
        var ll = 0.0
        for i in 0..<b.x.rows {
            var f = 0.0
            for k in 0..<4 {
                var q = 0.0
                for r in 0..<p { for c in 0..<p { q += (b.x[i, r] - m.means[k * p + r]) * inv[r * p + c] * (b.x[i, c] - m.means[k * p + c]) } }
                f += m.proportions[k] * exp(-0.5 * q) / ((2 * Double.pi) ** Double(p) * det).squareRoot()
            }
            ll += log(f)
        }
        XCTAssertEqual(run.loglik, ll, accuracy: 1e-10 * abs(ll))
    }

    func testOneAndThreeRanksGiveTheSameLabels() throws {
        let b = Self.overlapping
        let n = b.x.rows
        let opts = MixtureOptions(restarts: 4, seed: 9)
        let one = try GaussianMixture.fit(rows: b.x, globalIndex: Array(0..<n), clusters: 4, options: opts,
                                          comm: SingleProcessCommunicator())
        let split = randomSplit(n, parts: 3, seed: 3)
        let parts = try ThreadGroupCommunicator.run(ranks: 3) { comm in
            try GaussianMixture.fit(rows: selectRows(b.x, split[comm.rank]), globalIndex: split[comm.rank], clusters: 4,
                                    options: opts, comm: comm)
        }
        for (rank, p) in parts.enumerated() {
            XCTAssertEqual(p.labels, split[rank].map { one.labels[$0] }, "rank \(rank)")
            XCTAssertEqual(p.loglik, one.loglik, accuracy: 1e-10 * abs(one.loglik))
            XCTAssertEqual(p.iterations, one.iterations)
            XCTAssertEqual(p.bestRestart, one.bestRestart)
            XCTAssertEqual(p.restartLogliks.count, 4)
        }
    }

    func testSingularCovarianceIsReportedNotFatal() throws {
        // Points on a line in 2-D: Σ is singular from the first M-step.
        var x = Matrix64(zeros: 50, 2)
        for i in 0..<50 { x[i, 0] = Double(i); x[i, 1] = 2 * Double(i) }
        let run = GaussianMixture.em(rows: x, initialLabels: (0..<50).map { $0 < 25 ? 0 : 1 }, clusters: 2,
                                     comm: SingleProcessCommunicator())
        XCTAssertNotNil(run.failure)
        XCTAssertTrue(run.failure!.contains("singular") || run.failure!.contains("positive definite"), run.failure!)
        XCTAssertThrowsError(try GaussianMixture.fit(rows: x, globalIndex: Array(0..<50), clusters: 2,
                                                     options: MixtureOptions(restarts: 2), comm: SingleProcessCommunicator())) { e in
            guard case .allRestartsFailed(let why)? = e as? ClusteringError else { return XCTFail("\(e)") }
            XCTAssertEqual(why.count, 2)
        }
    }

    func testEmptyComponentIsReported() {
        let b = Self.wellSeparated
        // Component 2 starts empty.
        let run = GaussianMixture.em(rows: b.x, initialLabels: b.truth.map { $0 == 2 ? 0 : $0 }, clusters: 3,
                                     comm: SingleProcessCommunicator())
        XCTAssertNotNil(run.failure)
        XCTAssertTrue(run.failure!.contains("component 2 emptied"), run.failure!)
    }

    /// The small mclust fixture (Tests/reference: 300 spots, 7 components on 4 domains): always run.
    func testSmallMclustFixture() throws { try checkMclustFixture(try SmallFixtures.path(SmallFixtures.gmm)) }

    /// The shared mclust fixture (DLPFC 151676; skips without ../shared).
    func testMclustFixture() throws { try checkMclustFixture(try SharedData.path("reference/gmm_dlpfc151676_eee7.h5")) }

    /// An mclust fixture: our E-step agrees with mclust's parameters and our best restart reaches
    /// mclust's log-likelihood (within 1e-4 relative).
    func checkMclustFixture(_ path: String) throws {
        let f = try GMMFixture(path: path)
        let n = f.pcs.rows, p = f.pcs.cols, k = f.clusters
        // Our E-step on mclust's own parameters. mclust reports the log-likelihood of the last
        // E-step and the parameters of the M-step after it (one EM step further), so ours on its
        // parameters is not below its number and above it by at most one converged step,
        // tol·(1 + |ℓ|). Measured: −146554.42 vs −146555.45 (DLPFC), −8454.956 vs −8455.008 (small).
        let theirs = MixtureModel(proportions: f.pro, means: f.mean.data, covariance: f.sigma.data)
        let llTheirs = GaussianMixture.logLikelihood(theirs, rows: f.pcs, comm: SingleProcessCommunicator())!
        XCTAssertGreaterThanOrEqual(llTheirs, f.loglik)
        XCTAssertLessThanOrEqual(llTheirs - f.loglik, 1e-5 * (1 + abs(f.loglik)))
        // Their parameters' most probable components are their labels.
        var work = GaussianMixture.EStepWork(n: n, p: p, k: k)
        var z = [Double](repeating: 0, count: n * k), mapLabels = [Int](repeating: 0, count: n)
        _ = GaussianMixture.eStep(model: theirs, rows: f.pcs, work: &work, responsibilities: &z, labels: &mapLabels,
                                  comm: SingleProcessCommunicator())
        let agree = zip(mapLabels, f.labels).filter { $0 + 1 == $1 }.count
        // (measured 3448 of 3460: the parameters are one EM step past the labels)
        XCTAssertGreaterThanOrEqual(Double(agree), 0.99 * Double(n), "MAP labels of mclust's parameters vs its labels")
        XCTAssertEqual(GaussianMixture.bic(loglik: f.loglik, clusters: k, dimension: p, spots: n), f.bic, accuracy: 1e-8 * abs(f.bic))

        let t0 = Date()
        let fit = try GaussianMixture.fit(rows: f.pcs, globalIndex: Array(0..<n), clusters: k, comm: SingleProcessCommunicator())
        let secs = Date().timeIntervalSince(t0)
        let ari = ClusterScores.adjustedRandIndex(f.labels, fit.labels)
        print("gmm fixture: loglik ours \(fit.loglik) mclust \(f.loglik); BIC ours \(fit.bic) mclust \(f.bic); ARI vs mclust \(ari); restarts \(fit.restartLogliks.map { $0.map { String(format: "%.2f", $0) } ?? "failed" }); \(String(format: "%.2f", secs)) s")
        XCTAssertGreaterThanOrEqual(fit.loglik, f.loglik - 1e-4 * abs(f.loglik))
        XCTAssertTrue(fit.converged)
    }
}

infix operator **: MultiplicationPrecedence
func ** (a: Double, b: Double) -> Double { pow(a, b) }
