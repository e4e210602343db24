import XCTest
@testable import STPlot

final class PaletteTests: XCTestCase {
    func testPaletteSizesAndChoice() {
        XCTAssertEqual(Palette.default20.count, 20)
        XCTAssertEqual(Palette.default28.count, 28)
        XCTAssertEqual(Palette.default102.count, 102)
        for p in [Palette.default20, Palette.default28, Palette.default102] {
            XCTAssertEqual(Set(p.map { $0.lowercased() }).count, p.count, "distinct colours")
            XCTAssertTrue(p.allSatisfy { Color(hex: $0) != nil })
        }
        XCTAssertEqual(Palette.categorical(7).map(\.hex), Array(Palette.default20.prefix(7)))
        XCTAssertEqual(Palette.categorical(21).map(\.hex), Array(Palette.default28.prefix(21)).map { $0.lowercased() })
        XCTAssertEqual(Palette.categorical(29)[0].hex, "#ffff00")
        XCTAssertEqual(Palette.categorical(150).count, 150)
        XCTAssertEqual(Palette.categorical(0).count, 0)
        // scanpy's colour-blindness adjustments of tab20.
        XCTAssertEqual(Palette.default20[2], "#279e68")
        XCTAssertEqual(Palette.default20[4], "#aa40fc")
        XCTAssertEqual(Palette.default20[7], "#b5bd61")
    }

    func testHexRoundTrip() {
        XCTAssertEqual(Color(hex: "#1F77B4")?.hex, "#1f77b4")
        XCTAssertNil(Color(hex: "#12345"))
        XCTAssertNil(Color(hex: "zzzzzz"))
    }

    func testMedianNearestNeighbourDistance() {
        // Square lattice of spacing 2.5 with a few duplicates: median NN distance is 2.5.
        var c = [Double]()
        for i in 0..<40 { for j in 0..<30 { c += [Double(i) * 2.5, Double(j) * 2.5] } }
        c += [0, 0, 5, 5]
        XCTAssertEqual(SpotGeometry.medianNearestNeighbourDistance(coordinates: c)!, 2.5, accuracy: 1e-12)
        // Hexagonal lattice (Visium-like, centre distance 100).
        let hex = HexSlide.lattice(rows: 30, columns: 40).coordinates
        XCTAssertEqual(SpotGeometry.medianNearestNeighbourDistance(coordinates: hex)!, 100, accuracy: 1e-6)
        // Strided queries on a large jittered lattice agree with the exact answer's scale.
        XCTAssertNil(SpotGeometry.medianNearestNeighbourDistance(coordinates: [1, 1]))
        XCTAssertNil(SpotGeometry.medianNearestNeighbourDistance(coordinates: [1, 1, 1, 1]))
        XCTAssertEqual(SpotGeometry.medianNearestNeighbourDistance(coordinates: [0, 0, 3, 0, 7, 0])!, 3)
        // Units of 10⁻³⁰⁰ and 10³⁰⁰: squared distances would under- or overflow (and every ring of
        // the grid be searched for every query); the spacing scales with the units.
        for unit in [1e-300, 1e300] {
            let spacing = SpotGeometry.medianNearestNeighbourDistance(coordinates: hex.map { $0 * unit })
            XCTAssertEqual(spacing! / unit, 100, accuracy: 1e-6, "unit \(unit)")
        }
    }
}
