import STCore
import XCTest

final class SpaceFillingCurveTests: XCTestCase {
    /// The first 4^k indices of the curve fill the 2^k × 2^k corner square, each cell once, and
    /// consecutive indices are edge-adjacent cells (the defining property of the Hilbert curve).
    func testHilbertCurveIsContinuousAndBijective() {
        for k in 1...4 {
            let side = 1 << k
            var cellOf = [Int: (Int, Int)]()
            for x in 0..<side { for y in 0..<side {
                let d = Int(SpaceFillingCurve.hilbertIndex(x: UInt32(x), y: UInt32(y)))
                XCTAssertLessThan(d, side * side)
                XCTAssertNil(cellOf[d]); cellOf[d] = (x, y)
            } }
            XCTAssertEqual(cellOf.count, side * side)
            for d in 1..<(side * side) {
                let a = cellOf[d - 1]!, b = cellOf[d]!
                XCTAssertEqual(abs(a.0 - b.0) + abs(a.1 - b.1), 1, "k \(k), step \(d)")
            }
        }
        XCTAssertEqual(SpaceFillingCurve.hilbertIndex(x: 0, y: 0), 0)
        XCTAssertEqual(SpaceFillingCurve.hilbertIndex(x: 65535, y: 0), (1 << 32) - 1)
    }

    func testHilbertOrderOfPoints() {
        // A 2×2 grid: (0,0) → (0,1) → (1,1) → (1,0); a duplicate point keeps index order.
        let xy: [Double] = [1, 0, 0, 0, 1, 1, 0, 1, 0, 0]
        XCTAssertEqual(SpaceFillingCurve.hilbertOrder(coordinates: xy), [1, 4, 3, 2, 0])
        XCTAssertEqual(SpaceFillingCurve.hilbertOrder(coordinates: []), [])
        XCTAssertEqual(SpaceFillingCurve.hilbertOrder(coordinates: [5, 5]), [0])
    }
}
