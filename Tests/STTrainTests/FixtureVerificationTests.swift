import XCTest
import STComm
import STTrain
import STTestSupport

/// Every shared fixture through `Verification`, the code path of `stgnn-dist verify`, on one rank
/// and on three (in-process ranks; the same under real mpirun is in Tests/mpi).
final class FixtureVerificationTests: XCTestCase {
    func verify(_ name: String, ranks: Int) throws {
        let path = try SharedData.path("reference/" + name)
        let reports = try ThreadGroupCommunicator.run(ranks: ranks) { comm in try Verification.run(path: path, comm: comm) }
        let r = reports[0]
        print(r.description)
        XCTAssertNil(r.skipped)
        XCTAssertFalse(r.checks.isEmpty)
        for c in r.checks { XCTAssertTrue(c.passed, "\(name) on \(ranks) rank(s): \(c)") }
        // Every rank reaches the same verdict.
        for other in reports.dropFirst() { XCTAssertEqual(other.passed, r.passed) }
    }

    func testSTARmap10x() throws { try verify("model_starmap_mpfc_bz5_10x.h5", ranks: 1); try verify("model_starmap_mpfc_bz5_10x.h5", ranks: 3) }
    func testOsmFISHKipf() throws { try verify("model_osmfish_kipf.h5", ranks: 1); try verify("model_osmfish_kipf.h5", ranks: 3) }
    func testDLPFC10x() throws { try verify("model_dlpfc151676_10x.h5", ranks: 1) }
    func testPrepDLPFC() throws { try verify("prep_dlpfc151676.h5", ranks: 1); try verify("prep_dlpfc151676.h5", ranks: 2) }
}
