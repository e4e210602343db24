import XCTest
import Foundation
@testable import STTrain

/// `domains.csv` is written in pieces of ~1 MB: the file equals the text built whole, across piece
/// boundaries, with RFC 4180 quoting and empty domains for unassigned spots.
final class DomainsCSVTests: XCTestCase {
    func testPiecewiseFileEqualsTheWholeText() throws {
        let n = 40_000                     // ~1.9 MB: the text crosses the 1 MB piece boundary
        let names = (0..<n).map { i in i % 997 == 0 ? "spot \"\(i)\", edge" : "AAACAAGTATCTCCCA-1-spot-\(i)" }
        let spatial: [Double] = (0..<2 * n).map { (i: Int) -> Double in i % 3 == 0 ? Double(i) : Double(i) / 7 }
        let domains = (0..<n).map { i in i % 11 == 0 ? -1 : i % 5 + 1 }
        var expected = "spot,x,y,domain\n"
        for i in 0..<n {
            let name = names[i].contains(",") ? "\"" + names[i].replacingOccurrences(of: "\"", with: "\"\"") + "\"" : names[i]
            expected += "\(name),\(OutputFiles.shortest(spatial[2 * i])),\(OutputFiles.shortest(spatial[2 * i + 1])),"
            expected += domains[i] >= 0 ? "\(domains[i])\n" : "\n"
        }
        XCTAssertGreaterThan(expected.utf8.count, 1 << 20)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("domains.csv").path
        try OutputFiles.writeDomainsCSV(to: path, names: names, spatial: spatial, domains: domains)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), expected)
        XCTAssertEqual(OutputFiles.shortest(3), "3")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["domains.csv"], "no temporary file left")
    }
}
