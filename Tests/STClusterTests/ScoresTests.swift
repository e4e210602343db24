import XCTest
import STComm
@testable import STCluster

final class ScoresTests: XCTestCase {
    func ari(_ a: [Int], _ b: [Int]) -> Double { ClusterScores.adjustedRandIndex(a, b) }
    func nmi(_ a: [Int], _ b: [Int]) -> Double { ClusterScores.normalizedMutualInformation(a, b) }

    func testAdjustedRandIndexByHand() {
        // sklearn's examples.
        XCTAssertEqual(ari([0, 0, 1, 1], [0, 0, 1, 1]), 1)
        XCTAssertEqual(ari([0, 0, 1, 1], [1, 1, 0, 0]), 1)
        // truth [0,0,1,2] vs [0,0,1,1]: n_ij = {2, 1, 1}; index = C(2,2) = 1;
        // a = Σ C(row sums 2,1,1) = 1; b = Σ C(col sums 2,2) = 2; C(4,2) = 6;
        // expected = a·b/6 = 1/3; max = (1 + 2)/2 = 3/2; ARI = (1 − 1/3)/(3/2 − 1/3) = 4/7.
        XCTAssertEqual(ari([0, 0, 1, 2], [0, 0, 1, 1]), 4.0 / 7.0, accuracy: 1e-15)   // sklearn: 0.5714285714285715
        // One class vs all singletons: a = C(4,2) = 6, b = 0, index = 0 → (0 − 0)/(3 − 0) = 0.
        XCTAssertEqual(ari([0, 0, 0, 0], [0, 1, 2, 3]), 0)
        // All singletons in both: a = b = index = 0, max = expected → 1 (sklearn's special case).
        XCTAssertEqual(ari([0, 1, 2, 3], [5, 6, 7, 8]), 1)
    }

    func testMissingLabelsAreLeftOut() {
        // Spot 6 has no truth (−1) and is excluded. Table: t0 → {c0: 2}, t1 → {c1: 1, c2: 1}, t2 → {c2: 2}.
        // index = C(2)+C(2) = 2; a = 3·C(2) = 3; col sums 2, 1, 3 → b = 1 + 0 + 3 = 4; C(6,2) = 15;
        // expected = 12/15 = 0.8; max = 3.5; ARI = 1.2/2.7 = 4/9.
        let truth = [0, 0, 1, 1, 2, 2, -1], pred = [0, 0, 1, 2, 2, 2, 0]
        XCTAssertEqual(ari(truth, pred), 4.0 / 9.0, accuracy: 1e-15)
        // MI = (1/3)ln(6·2/(2·2)) + (1/6)ln(6/(2·1)) + (1/6)ln(6/(2·3)) + (1/3)ln(6·2/(2·3))
        //    = ½ ln 3 + ⅓ ln 2;  H(truth) = ln 3;  H(pred) = ⅓ln3 + ⅙ln6 + ½ln2 = ½ ln 3 + ⅔ ln 2.
        // NMI = MI / ((H(truth) + H(pred))/2) = (½ln3 + ⅓ln2) / (¾ln3 + ⅓ln2).
        let l2 = log(2.0), l3 = log(3.0)
        XCTAssertEqual(nmi(truth, pred), (0.5 * l3 + l2 / 3) / (0.75 * l3 + l2 / 3), accuracy: 1e-15)
        XCTAssertEqual(ClusterScores.mutualInformation(ContingencyTable(truth: truth, predicted: pred)), 0.5 * l3 + l2 / 3,
                       accuracy: 1e-15)
        // A missing prediction is left out as well.
        XCTAssertEqual(ari([0, 0, 1, 1, 1], [0, 0, 1, 1, -1]), 1)
    }

    func testNormalizedMutualInformationByHand() {
        XCTAssertEqual(nmi([0, 0, 1, 1], [0, 0, 1, 1]), 1, accuracy: 1e-15)
        XCTAssertEqual(nmi([0, 0, 1, 1], [1, 1, 0, 0]), 1, accuracy: 1e-15)
        XCTAssertEqual(nmi([0, 0, 0, 0], [0, 1, 2, 3]), 0)
        XCTAssertEqual(nmi([3, 3, 3], [1, 1, 1]), 1)   // both a single class
        // [0,0,1,1] vs [0,0,1,2]: MI = ½ln(4·2/4) + 2·¼ln(4/2) = ln 2; H(t) = ln 2;
        // H(p) = ½ln2 + 2·¼ln4 = 1.5 ln 2; NMI = ln2 / (2.5 ln2 / 2) = 0.8.
        XCTAssertEqual(nmi([0, 0, 1, 1], [0, 0, 1, 2]), 0.8, accuracy: 1e-15)
    }

    func testPermutationInvariance() {
        var rng = Xoshiro(seed: 3)
        let truth = (0..<200).map { _ in rng.below(5) }, pred = (0..<200).map { _ in rng.below(6) }
        let relabel = [4, 0, 5, 2, 1, 3]
        let shuffled = Array((0..<200).reversed())
        let a = ari(truth, pred), n = nmi(truth, pred)
        XCTAssertEqual(ari(truth, pred.map { relabel[$0] }), a, accuracy: 1e-14)
        XCTAssertEqual(nmi(truth, pred.map { relabel[$0] + 10 }), n, accuracy: 1e-14)
        XCTAssertEqual(ari(shuffled.map { truth[$0] }, shuffled.map { pred[$0] }), a, accuracy: 1e-14)
        XCTAssertEqual(ari(pred, truth), a, accuracy: 1e-14)       // ARI is symmetric
        XCTAssertEqual(nmi(pred, truth), n, accuracy: 1e-14)       // so is NMI (arithmetic mean)
    }

    func testDistributedTableEqualsWhole() {
        var rng = Xoshiro(seed: 4)
        let truth = (0..<300).map { _ in rng.below(4) }, pred = (0..<300).map { _ in rng.below(3) }
        let whole = ContingencyTable(truthCodes: truth, predictedCodes: pred, rows: 4, cols: 3)
        let parts = ThreadGroupCommunicator.run(ranks: 3) { comm -> ContingencyTable in
            let lo = comm.rank * 100, hi = lo + 100
            return ContingencyTable(truthCodes: Array(truth[lo..<hi]), predictedCodes: Array(pred[lo..<hi]), rows: 4, cols: 3)
                .reduced(comm: comm)
        }
        for p in parts { XCTAssertEqual(p, whole) }
        XCTAssertEqual(ClusterScores.adjustedRandIndex(whole), ari(truth, pred), accuracy: 1e-15)
    }
}

/// A tiny deterministic generator for label arrays.
struct Xoshiro {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func below(_ n: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % UInt64(n))
    }
}
