import STData
import STTestSupport
import XCTest
@testable import STPrep

/// The emulation of numpy's float64 `np.argsort` (x86-simd-sort on AVX-512) against numpy itself:
/// Tests/reference/argsort_numpy.h5 holds keys with many ties and numpy 2.4's argsort of them
/// (made by make_small_fixtures.py on an AVX-512 CPU). Sizes 100 (sorting networks only), 257,
/// 1000 and 5000 (the vectorised quicksort's partitions above 256 keys), a dominant minimum (the
/// pivot never shrinks the range: std::sort takes over when the depth runs out), NaN keys
/// (std::sort with NaN last) and already sorted keys.
final class NumpyArgsortTests: XCTestCase {
    func testMatchesNumpyOnTies() throws {
        let f = try HDF5File(path: try SmallFixtures.path(SmallFixtures.argsort))
        let names = try f.members("/")
        XCTAssertEqual(names.count, 14, "\(names)")
        var paths = [String: NumpyArgsortPath]()
        for name in names {
            let keys: [Double] = try f.read(name + "/keys")
            let expected = (try f.read(name + "/expected", as: Int32.self)).map(Int.init)
            guard expected.sorted() == Array(0..<keys.count) else { XCTFail("\(name): the fixture holds no permutation"); continue }
            let (order, path) = numpyArgsortAVX512Traced(keys)
            paths[name] = path
            if let i = order.indices.first(where: { order[$0] != expected[$0] }) {
                XCTFail("\(name) (n \(keys.count), \(path)): first difference at position \(i): ours \(order[i]) (key \(keys[order[i]])), numpy \(expected[i]) (key \(keys[expected[i]]))")
            }
            // numpy's order among ties is not the stable one: the fixture tells the emulation apart
            // from any stable sort wherever there are ties and the keys are not already sorted.
            if path != .identity {
                let stable = keys.indices.sorted { a, b in
                    let x = keys[a], y = keys[b]
                    if x.isNaN || y.isNaN { return !x.isNaN && y.isNaN || (x.isNaN && y.isNaN && a < b) }
                    return x != y ? x < y : a < b
                }
                XCTAssertNotEqual(stable, expected, "\(name): numpy's tie order happens to be stable here")
            }
        }
        // Every path of the emulation was compared with numpy.
        for n in [1000, 5000] {
            guard case .quicksort(let fallbacks)? = paths["few-distinct-\(n)"] else { return XCTFail("few-distinct-\(n): \(paths)") }
            XCTAssertEqual(fallbacks, 0, "few-distinct-\(n): partitions and networks only")
        }
        for n in [257, 1000, 5000] {
            guard case .quicksort(let fallbacks)? = paths["dominant-minimum-\(n)"] else { return XCTFail("\(paths)") }
            XCTAssertGreaterThan(fallbacks, 0, "dominant-minimum-\(n) reaches the std::sort fallback")
        }
        XCTAssertEqual(paths["nan-1000"], .nan)
        XCTAssertEqual(paths["sorted-600"], .identity)
    }
}
