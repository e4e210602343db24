import XCTest
import STTrain

/// The alpha-beta projection's formulas against values computed by hand.
final class ScalingProjectionTests: XCTestCase {
    // d = 8, G = 10, z = 10, a = m = 7, R = 1 GFLOP/s, a plan of 1 ns per owned spot, halo 4·√n,
    // up to 6 neighbours, no extra slots; network α = 1 µs, β = 1 GB/s.
    let model = ScalingProjection(dim: 8, genes: 10, nnzPerSpot: 10, adjacencyPerSpot: 7, maskPerSpot: 7,
                                  computeRate: 1e9, planSecondsPerOwnedSpot: 1e-9, haloCoefficient: 4,
                                  maxNeighbours: 6, extraSlots: 0)
    let net = ScalingProjection.Network(name: "test", alpha: 1e-6, beta: 1e9, source: "by hand")

    func testFlopsAndPackedBuffer() {
        // per spot 8·10·8 + 12·7·8 + 6·7·8 + 16·64 = 640 + 672 + 336 + 1024 = 2672; replicated 4·64·10 = 2560
        XCTAssertEqual(model.flops(spotsPerRank: 400), 400 * 2672 + 2560)
        // 8 B × (4 losses + d² + G·2d + d² + 1) = 8 × (4 + 64 + 160 + 64 + 1) = 2344
        XCTAssertEqual(model.packedBytes, 2344)
    }

    func testFourRanks() {
        let e = model.epoch(spots: 1600, ranks: 4, network: net)   // n = 400 spots per rank
        XCTAssertEqual(e.compute, 1_071_360e-9, accuracy: 1e-15)
        XCTAssertEqual(e.serial, 0.4e-6, accuracy: 1e-15)        // 400 owned spots × 1 ns
        // 4·√400 = 80 rows × 36·8 B = 23 040 B; 5 exchanges × min(3, 6) messages × 1 µs
        XCTAssertEqual(e.haloBytes, 23_040, accuracy: 1e-9)
        XCTAssertEqual(e.halo, 15e-6 + 23.04e-6, accuracy: 1e-15)
        // 2·400·8·4·(1 − 1/4) = 19 200 B; 2·3 messages
        XCTAssertEqual(e.corruptionBytes, 19_200, accuracy: 1e-9)
        XCTAssertEqual(e.corruption, 6e-6 + 19.2e-6, accuracy: 1e-15)
        // 2·log2(4)·1 µs + 2·(3/4)·2344 B / 1 GB/s
        XCTAssertEqual(e.allreduce, 4e-6 + 3.516e-6, accuracy: 1e-15)
        XCTAssertEqual(e.total, 1_071_360e-9 + 0.4e-6 + 38.04e-6 + 25.2e-6 + 7.516e-6, accuracy: 1e-14)
    }

    func testOneRankHasNoCommunication() {
        let e = model.epoch(spots: 1600, ranks: 1, network: net)
        XCTAssertEqual(e.compute, (1600 * 2672 + 2560) * 1e-9, accuracy: 1e-15)
        XCTAssertEqual(e.halo + e.corruption + e.allreduce, 0)
    }

    func testNeighboursAreCapped() {
        // 64 ranks: 5 × 6 halo messages (not 63), 2·63 all-to-all messages, 2·6 allreduce steps.
        let e = model.epoch(spots: 64 * 400, ranks: 64, network: net)
        XCTAssertEqual(e.halo, 30e-6 + 23.04e-6, accuracy: 1e-15)
        XCTAssertEqual(e.corruption, 126e-6 + 2 * 400 * 8 * 4 * (63.0 / 64) * 1e-9, accuracy: 1e-15)
        XCTAssertEqual(e.allreduce, 12e-6 + 2 * (63.0 / 64) * 2344e-9, accuracy: 1e-15)
    }
}
