import XCTest
import STCore
@testable import STData
import STTestSupport

/// The HDF5 layer: what `HDF5Writer` writes, `HDF5File` reads back (types, attributes, strings,
/// groups, hyperslabs).
final class HDF5Tests: XCTestCase {
    func testWriteAndReadBack() throws {
        let t = try TempDir()
        let p = t.file("a.h5")
        let w = try HDF5Writer(path: p)
        try w.createGroup("g/sub")
        try w.write("g/f32", (0..<1000).map { Float($0) * 0.5 }, compression: 6)
        try w.write("g/f64", [1.0, 2, 3, 4, 5, 6], shape: [3, 2])
        try w.write("g/i8", [Int8(-1), 0, 1])
        try w.write("g/i16", [Int16(-300), 300])
        try w.write("g/i64", (0..<200_000).map { Int64($0) * 3 }, compression: 1)
        try w.write("g/u8", [UInt8(250)])
        try w.write("g/b", bools: [true, false, true])
        try w.write("g/empty", [Float]())
        try w.writeStrings("g/s", ["α", "", "long string with spaces", "x"], compression: 4)
        try w.writeStrings("g/s0", [])
        try w.writeString("g/scalar", "hello")
        try w.setAttribute("/", "title", "root attr")
        try w.setAttribute("g", "names", strings: ["a", "bb", "ccc"])
        try w.setAttribute("g", "none", strings: [])
        try w.setAttribute("g", "n", Int64(42))
        try w.setAttribute("g", "x", 2.5)
        try w.setAttribute("g", "shape", [Int64(3), Int64(4)])
        try w.setAttribute("g", "flag", true)
        try w.setAttribute("g", "flag", false)      // overwrite
        try w.setAttribute("g/f32", "on-dataset", "yes")
        try w.setAttribute("g/sub", "ref", reference: "g/s")
        try w.close()
        try w.close()   // idempotent
        assertInputError(p, nil, contains: "after close()") { try w.write("g/late", [Float(1)]) }

        let f = try HDF5File(path: p)
        XCTAssertEqual(try f.members(""), ["g"])
        XCTAssertEqual(try f.members("g"), ["b", "empty", "f32", "f64", "i16", "i64", "i8", "s", "s0", "scalar", "sub", "u8"])
        XCTAssertEqual(f.kind("g"), .group)
        XCTAssertEqual(f.kind("g/f32"), .dataset)
        XCTAssertNil(f.kind("g/nope"))
        XCTAssertFalse(f.exists("g/f32/deeper"))
        XCTAssertEqual(try f.read("g/f32", as: Float.self), (0..<1000).map { Float($0) * 0.5 })
        XCTAssertEqual(try f.read("g/f32", as: Double.self).last, 499.5)
        XCTAssertEqual(try f.shape("g/f64"), [3, 2])
        XCTAssertEqual(try f.read("g/f64", as: Float.self), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try f.readRows("g/f64", 1..<3, as: Double.self), [3, 4, 5, 6])
        XCTAssertEqual(try f.readRows("g/f64", ranges: [0..<1, 2..<3], as: Double.self), [1, 2, 5, 6])
        XCTAssertEqual(try f.read("g/i8", as: Int32.self), [-1, 0, 1])
        XCTAssertEqual(try f.read("g/i16", as: Int64.self), [-300, 300])
        XCTAssertEqual(try f.read("g/u8", as: Int32.self), [250])
        XCTAssertEqual(try f.read("g/b", as: Int8.self), [1, 0, 1])
        XCTAssertEqual(try f.read("g/b", as: Float.self), [1, 0, 1])
        XCTAssertEqual(try f.elementClass("g/b"), .enumeration(isBool: true))
        XCTAssertEqual(try f.elementClass("g/i16"), .integer(bytes: 2, signed: true))
        XCTAssertEqual(try f.elementClass("g/s"), .string(variableLength: true))
        XCTAssertEqual(try f.read("g/empty", as: Float.self), [])
        XCTAssertEqual(try f.readStrings("g/s"), ["α", "", "long string with spaces", "x"])
        XCTAssertEqual(try f.readStrings("g/s", range: 1..<3), ["", "long string with spaces"])
        XCTAssertEqual(try f.readStrings("g/s0"), [])
        XCTAssertEqual(try f.readStrings("g/scalar"), ["hello"])
        XCTAssertEqual(try f.shape("g/scalar"), [])
        // Hyperslabs of a chunked, compressed array (several chunks).
        XCTAssertEqual(try f.read("g/i64", range: 65_530..<65_540, as: Int64.self), (65_530..<65_540).map { Int64($0) * 3 })
        let ranges = [3..<5, 70_000..<70_002, 199_999..<200_000]
        XCTAssertEqual(try f.readRows("g/i64", ranges: ranges, as: Int64.self),
                       ranges.flatMap { $0 }.map { Int64($0) * 3 })
        XCTAssertEqual(try f.read("g/i64", range: 7..<7, as: Int64.self), [])
        // Attributes.
        XCTAssertEqual(try f.stringAttribute("/", "title"), "root attr")
        XCTAssertEqual(try f.stringsAttribute("g", "names"), ["a", "bb", "ccc"])
        XCTAssertEqual(try f.stringsAttribute("g", "none"), [])
        XCTAssertEqual(try f.scalarAttribute("g", "n", as: Int64.self), 42)
        XCTAssertEqual(try f.scalarAttribute("g", "x", as: Double.self), 2.5)
        XCTAssertEqual(try f.attribute("g", "shape", as: Int64.self), [3, 4])
        XCTAssertEqual(try f.scalarAttribute("g", "flag", as: Int8.self), 0)
        XCTAssertEqual(try f.attributeClass("g", "flag"), .enumeration(isBool: true))
        XCTAssertEqual(try f.stringAttribute("g/f32", "on-dataset"), "yes")
        XCTAssertEqual(try f.attributeNames("g"), ["flag", "n", "names", "none", "shape", "x"])
        XCTAssertEqual(try f.referencedObject("g/sub", "ref"), "/g/s")
        XCTAssertTrue(f.hasAttribute("g", "n"))
        XCTAssertFalse(f.hasAttribute("g", "zzz"))
        XCTAssertFalse(f.hasAttribute("nothing", "n"))
    }

    func testReadErrorsNameTheField() throws {
        let t = try TempDir()
        let p = t.file("b.h5")
        let w = try HDF5Writer(path: p)
        try w.writeStrings("s", ["a"])
        try w.write("m", [Float(1), 2, 3, 4], shape: [2, 2])
        try w.close()
        let f = try HDF5File(path: p)
        assertInputError(p, "s", contains: "holds strings") { _ = try f.read("s", as: Float.self) }
        assertInputError(p, "m", contains: "does not hold strings") { _ = try f.readStrings("m") }
        assertInputError(p, "nope", contains: "missing") { _ = try f.read("nope", as: Float.self) }
        assertInputError(p, "m", contains: "1-D") { _ = try f.read("m", range: 0..<1, as: Float.self) }
        assertInputError(p, "m", contains: "outside") { _ = try f.readRows("m", 1..<3, as: Float.self) }
        assertInputError(p, "m.attrs[x]", contains: "missing") { _ = try f.stringAttribute("m", "x") }
        assertInputError(p, "m", contains: "is not a group") { _ = try f.members("m") }
        let bad = t.file("nodir/x.h5")
        assertInputError(bad, nil, contains: "cannot create") { _ = try HDF5Writer(path: bad) }
    }

    func testFixedLengthStringsInSmallFixture() throws {
        // The fixtures store names as fixed-length byte strings (h5py dtype "S"), here gzip-compressed.
        let f = try HDF5File(path: try SmallFixtures.path(SmallFixtures.gmm))
        XCTAssertEqual(try f.elementClass("truth"), .string(variableLength: false))
        XCTAssertEqual(Array(try f.readStrings("truth").prefix(2)), ["domain_1", "domain_1"])
        XCTAssertEqual(try f.readStrings("truth", range: 299..<300), ["domain_4"])
        XCTAssertEqual(try f.stringAttribute("/", "kind"), "gmm")
        XCTAssertEqual(try f.scalarAttribute("/", "clusters", as: Int64.self), 7)
    }

    func testFixedLengthStrings() throws {
        // The fixtures store names as fixed-length byte strings (h5py dtype "S").
        let f = try HDF5File(path: try SharedData.path("reference/gmm_dlpfc151676_eee7.h5"))
        XCTAssertEqual(try f.elementClass("truth"), .string(variableLength: false))
        XCTAssertEqual(Array(try f.readStrings("truth").prefix(3)), ["L3", "L1", "WM"])
        XCTAssertEqual(try f.readStrings("truth", range: 1..<2), ["L1"])
        XCTAssertEqual(try f.stringAttribute("/", "kind"), "gmm")
        XCTAssertEqual(try f.scalarAttribute("/", "clusters", as: Int64.self), 7)
    }
}
