import XCTest
@testable import STPlot

final class TicksTests: XCTestCase {
    func testLinearTicksAreNiceSteps() {
        XCTAssertEqual(Ticks.linear(lo: 0, hi: 600, maxTicks: 7), [0, 100, 200, 300, 400, 500, 600])
        XCTAssertEqual(Ticks.linear(lo: 0, hi: 1, maxTicks: 6), [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1])
        XCTAssertEqual(Ticks.linear(lo: -3.7, hi: 12.2, maxTicks: 6), [0, 5, 10])
        XCTAssertEqual(Ticks.linear(lo: -3.7, hi: 12.2, maxTicks: 10), [-2, 0, 2, 4, 6, 8, 10, 12])
        let small = Ticks.linear(lo: 0.0031, hi: 0.0049, maxTicks: 5)
        XCTAssertEqual(small.count, 3)
        for (a, b) in zip(small, [0.0035, 0.004, 0.0045]) { XCTAssertEqual(a, b, accuracy: 1e-15) }
        XCTAssertEqual(Ticks.linear(lo: 1e-5, hi: 9e-5, maxTicks: 3).count, 4)  // 5e-5 would leave one tick
        XCTAssertEqual(Ticks.linear(lo: 1, hi: 1), [1])
        // Every step is 1, 2 or 5 × 10^k and the count respects maxTicks.
        for (lo, hi) in [(0.0, 7.3), (-1e6, 3e6), (1e-5, 9e-5), (17.0, 19.5), (-0.9, -0.1)] {
            for m in 3...10 {
                let t = Ticks.linear(lo: lo, hi: hi, maxTicks: m)
                XCTAssertLessThanOrEqual(t.count, 2 * m, "\(lo)…\(hi) max \(m)")
                XCTAssertGreaterThanOrEqual(t.count, 2, "\(lo)…\(hi) max \(m)")
                let step = t[1] - t[0]
                let mant = step / pow(10, floor(log10(step)))
                XCTAssertTrue([1.0, 2, 5, 10].contains { abs($0 - mant) < 1e-6 }, "step \(step)")
                XCTAssertTrue(t.allSatisfy { $0 >= lo - 1e-12 && $0 <= hi + 1e-12 })
            }
        }
    }

    func testLinearLabels() {
        XCTAssertEqual(Ticks.linearLabels([0, 100, 200], step: 100), ["0", "100", "200"])
        XCTAssertEqual(Ticks.linearLabels([0, 0.2, 0.6000000000000001], step: 0.2), ["0.0", "0.2", "0.6"])
        XCTAssertEqual(Ticks.linearLabels([-0.5, 0, 0.5], step: 0.5), ["\u{2212}0.5", "0.0", "0.5"])
        XCTAssertEqual(Ticks.linearLabels([-1e-17, 1], step: 0.5), ["0.0", "1.0"])
        XCTAssertEqual(Ticks.linearLabels([0, 2e6, 4e6], step: 2e6), ["0", "2×10⁶", "4×10⁶"])
        XCTAssertEqual(Ticks.linearLabels([1e5, 1.5e5], step: 5e4), ["10⁵", "1.5×10⁵"])
        XCTAssertEqual(Ticks.linearLabels([1000, 2000], step: 1000), ["1000", "2000"])
    }

    func testLogTicksDecadesWithMinors() {
        let t = Ticks.logarithmic(lo: 0.012, hi: 35)
        XCTAssertEqual(t.major, [0.1, 1, 10])
        XCTAssertTrue(t.minor.contains(0.02) && t.minor.contains(30) && t.minor.contains(0.5))
        XCTAssertFalse(t.minor.contains(40))
        XCTAssertEqual(Ticks.logLabels(t.major), ["0.1", "1", "10"])

        let wide = Ticks.logarithmic(lo: 1e-9, hi: 1e9, maxMajor: 8)
        XCTAssertEqual(wide.major.count, 7)  // every third decade: 1e-9, 1e-6, … 1e9
        XCTAssertEqual(Ticks.logLabels(wide.major).first, "10⁻⁹")
        XCTAssertTrue(wide.minor.contains(1e-8))  // skipped decades are minors

        XCTAssertEqual(Ticks.logLabels([1e-4, 1e-3, 1e-2]), ["10⁻⁴", "10⁻³", "10⁻²"])
        XCTAssertEqual(Ticks.logLabels([1e-3, 1e3]), ["0.001", "1000"])
        XCTAssertEqual(Ticks.logLabels([1, 10, 100, 1000, 10000, 100000]).last, "10⁵")
    }

    func testLogTicksWithinOneDecade() {
        let t = Ticks.logarithmic(lo: 0.3, hi: 6)
        XCTAssertEqual(t.major, [0.5, 1, 2, 5])
        XCTAssertTrue(t.minor.contains(3) && t.minor.contains(0.4))
        XCTAssertEqual(Ticks.logLabels(t.major), ["0.5", "1", "2", "5"])
        let narrow = Ticks.logarithmic(lo: 0.31, hi: 0.48)
        XCTAssertEqual(Ticks.logLabels(narrow.major), ["0.35", "0.4", "0.45"])  // linear steps inside
        let two = Ticks.logarithmic(lo: 0.004, hi: 0.75)  // two decades: 2× and 5× labelled too
        XCTAssertEqual(Ticks.logLabels(two.major), ["0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5"])
        let tiny = Ticks.logarithmic(lo: 2e-5, hi: 6e-5)
        XCTAssertEqual(Ticks.logLabels(tiny.major), ["2×10⁻⁵", "3×10⁻⁵", "4×10⁻⁵", "5×10⁻⁵", "6×10⁻⁵"])
    }

    func testSuperscript() {
        XCTAssertEqual(Ticks.superscript(-12), "⁻¹²")
        XCTAssertEqual(Ticks.superscript(0), "⁰")
    }
}
