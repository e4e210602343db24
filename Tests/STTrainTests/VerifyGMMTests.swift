import XCTest
import STComm
import STTestSupport
@testable import STTrain
@testable import STCluster

/// `stgnn-dist verify` on the gmm fixture: the loglik rule passes, and 1 and 3 ranks report the same.
final class VerifyGMMTests: XCTestCase {
    func testGMMFixtureThroughVerify() throws {
        let path = try SharedData.path("reference/gmm_dlpfc151676_eee7.h5")
        // Three restarts keep the debug-build test short; each of the first three already beats mclust.
        let options = MixtureOptions(restarts: 3)
        let one = try Verification.gmm(path: path, comm: SingleProcessCommunicator(), options: options)
        XCTAssertNil(one.skipped)
        XCTAssertTrue(one.passed, one.description)
        let three = try ThreadGroupCommunicator.run(ranks: 3) { comm in try Verification.gmm(path: path, comm: comm, options: options) }
        for r in three {
            XCTAssertTrue(r.passed)
            for (a, b) in zip(r.checks, one.checks) where a.name != "gmm/fit" {
                XCTAssertEqual(a.error, b.error, accuracy: 1e-9 * max(1, abs(b.error)), a.name)
            }
        }
    }
}
