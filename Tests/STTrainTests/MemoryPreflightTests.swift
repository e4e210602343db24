import XCTest
import STCore
import STData
@testable import STTrain

/// The preflight counts X at the width it will have: 6 bytes per stored entry with 16-bit column
/// indices, 8 with 32-bit ones (`GeneMatrix`), in the estimate and in the fast layouts' bytes.
final class MemoryPreflightTests: XCTestCase {
    func estimate(bits: Int, z: Int) -> MemoryEstimate {
        MemoryEstimate(spots: 1_000_000, storedCounts: 8 * z, rankSpots: 125_000, rankStoredCounts: z, genes: 3000,
                       dim: 64, neighbours: 3, isRoot: false, indexBits: bits)
    }

    func testCountsBytesFollowTheIndexWidth() {
        let z = 132_600_000
        let narrow = estimate(bits: 16, z: z), wide = estimate(bits: 32, z: z)
        XCTAssertEqual(narrow.countsBytes, 6 * z)
        XCTAssertEqual(wide.countsBytes, 8 * z)
        XCTAssertEqual(narrow.indexBits, 16)
        XCTAssertEqual(wide.bytes - narrow.bytes, 2 * z)   // nothing else depends on the width
        XCTAssertEqual(narrow.slideWideBytes, wide.slideWideBytes)
        XCTAssertEqual(narrow.modelBytes, wide.modelBytes)
        // The default is the 32-bit bound.
        XCTAssertEqual(MemoryEstimate(spots: 10, storedCounts: 7, rankSpots: 10, rankStoredCounts: 7, genes: 5, dim: 8,
                                      neighbours: 3, isRoot: true).countsBytes, 56)
        let largest = MemoryEstimate.largest(spots: 100, storedCounts: 900, counts: [50, 50], stored: [400, 500_000], genes: 20,
                                             dim: 8, neighbours: 3, indexBits: 16)
        XCTAssertEqual(largest.countsBytes, 6 * 500_000)
    }

    /// Sources that read, then reorder (10x, MatrixMarket, CSC or dense `.h5ad`) hold two copies of
    /// the rank's rows while reading; the synthetic slide reads straight into order.
    func testCountsBytesCountTheCopiesHeldWhileReading() throws {
        let z = 1_000_000
        let two = MemoryEstimate(spots: 1000, storedCounts: z, rankSpots: 1000, rankStoredCounts: z, genes: 3000,
                                 dim: 64, neighbours: 3, isRoot: false, indexBits: 32, readCopies: 2)
        XCTAssertEqual(two.countsBytes, 16 * z)
        XCTAssertEqual(two.bytes - estimate(bits: 32, z: z).bytes - (two.slideWideBytes - estimate(bits: 32, z: z).slideWideBytes)
                       - (two.modelBytes - estimate(bits: 32, z: z).modelBytes), 8 * z)
        let synthetic = try SyntheticSource(SyntheticSlide.Parameters(spots: 300, genes: 120, domains: 4))
        XCTAssertEqual(synthetic.countsReadCopies, 1)
    }

    func testFastLayoutBytesFollowTheIndexWidth() {
        // Two copies of X (transposed, column-blocked) plus their row pointers (8 bytes each): the
        // blocked copy's n + 1 for the whole and for each of 16 blocks of 192 genes (d = 64); the
        // transposed copy's 3001 for each of its 4096-row blocks (4096, 4096, 1808 rows) and for
        // each of their gather passes of 128 rows (32, 32, 15).
        let z = 1_000_000, n = 10_000
        let pointers = 8 * (n + 1) * (1 + 16) + 8 * 3001 * ((1 + 32) + (1 + 32) + (1 + 15))
        XCTAssertEqual(RunPipeline.fastLayoutBytes(storedEntries: z, rows: n, genes: 3000, indexBits: 16), 12 * z + pointers)
        XCTAssertEqual(RunPipeline.fastLayoutBytes(storedEntries: z, rows: n, genes: 3000, indexBits: 32), 16 * z + pointers)
    }
}
