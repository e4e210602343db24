import Foundation
import XCTest
import STComm
import STTrain
import STTestSupport

/// Reference fixtures through `Verification`, the code path of `stgnn-dist verify`, on one rank
/// and on three (in-process ranks; the same under real mpirun is in Tests/mpi).
///
/// The small fixtures committed in Tests/reference (GraphST 1.1.1, scanpy 1.11.5 and mclust on a
/// 300-spot synthetic slide) run on every checkout; the large shared ones (real datasets) are
/// extra checks that skip without ../shared.
final class FixtureVerificationTests: XCTestCase {
    @discardableResult
    func verify(path: String, ranks: Int) throws -> VerificationReport {
        let name = (path as NSString).lastPathComponent
        let reports = try ThreadGroupCommunicator.run(ranks: ranks) { comm in try Verification.run(path: path, comm: comm) }
        let r = reports[0]
        print(r.description)
        XCTAssertNil(r.skipped)
        XCTAssertFalse(r.checks.isEmpty)
        for c in r.checks { XCTAssertTrue(c.passed, "\(name) on \(ranks) rank(s): \(c)") }
        // Every rank reaches the same verdict.
        for other in reports.dropFirst() { XCTAssertEqual(other.passed, r.passed) }
        return r
    }

    func verify(_ name: String, ranks: Int) throws { try verify(path: try SharedData.path("reference/" + name), ranks: ranks) }

    // MARK: Small fixtures (always run)

    /// A model fixture: every check within its README tolerance, and far inside it (a float32
    /// implementation of the same arithmetic lands at ~1e-6 on these 300 spots; a real slip, such
    /// as a wrong normalisation or a missed term, is orders of magnitude larger).
    func verifySmallModel(_ name: String) throws {
        for ranks in [1, 3] {
            let r = try verify(path: try SmallFixtures.path(name), ranks: ranks)
            XCTAssertEqual(r.ranks, ranks)
            XCTAssertEqual(r.checks.count, 16, "graph 2, grad0 4, loss 4, after 6")
            for c in r.checks {
                let bound = c.name.hasPrefix("graph/") ? 1e-6 : c.name.hasPrefix("grad0/") ? 1e-5 : 1e-4
                XCTAssertLessThan(c.error, bound, "\(name) on \(ranks) rank(s): \(c)")
            }
        }
    }

    func testSmallModel10x() throws { try verifySmallModel(SmallFixtures.model10x) }
    func testSmallModelKipf() throws { try verifySmallModel(SmallFixtures.modelKipf) }

    /// scanpy's seurat_v3 selection (a group of exactly tied genes straddles the cut) and
    /// preprocessing, from raw counts split over 1 and 3 ranks.
    func testSmallPrep() throws {
        for ranks in [1, 3] {
            let r = try verify(path: try SmallFixtures.path(SmallFixtures.prep), ranks: ranks)
            let e = Dictionary(uniqueKeysWithValues: r.checks.map { ($0.name, $0.error) })
            XCTAssertEqual(e["hvg/highly_variable"], 0, "the same 40 genes, the tied ones included")
            XCTAssertEqual(e["hvg/highly_variable_rank"], 0, "the same ranks, the order of tied genes included")
            XCTAssertLessThan(e["hvg/variances_norm"]!, 1e-10)
            XCTAssertLessThan(e["X"]!, 1e-6)
        }
    }

    /// mclust EEE with 7 components on 4 domains: our best restart reaches mclust's
    /// log-likelihood (less 1e-4 relative), and 1 and 3 ranks report the same numbers.
    func testSmallGMM() throws {
        let path = try SmallFixtures.path(SmallFixtures.gmm)
        let one = try verify(path: path, ranks: 1)
        let three = try ThreadGroupCommunicator.run(ranks: 3) { comm in try Verification.run(path: path, comm: comm) }
        for r in three {
            XCTAssertTrue(r.passed, r.description)
            for (a, b) in zip(r.checks, one.checks) where a.name != "gmm/fit" {
                XCTAssertEqual(a.error, b.error, accuracy: 1e-9 * max(1, abs(b.error)), a.name)
            }
        }
    }

    // MARK: Shared fixtures (real datasets; skip without ../shared)

    func testSTARmap10x() throws { try verify("model_starmap_mpfc_bz5_10x.h5", ranks: 1); try verify("model_starmap_mpfc_bz5_10x.h5", ranks: 3) }
    func testOsmFISHKipf() throws { try verify("model_osmfish_kipf.h5", ranks: 1); try verify("model_osmfish_kipf.h5", ranks: 3) }
    func testDLPFC10x() throws { try verify("model_dlpfc151676_10x.h5", ranks: 1) }
    func testPrepDLPFC() throws { try verify("prep_dlpfc151676.h5", ranks: 1); try verify("prep_dlpfc151676.h5", ranks: 2) }
}
