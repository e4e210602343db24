import XCTest
import Foundation
import STCore
@testable import STData
import STTestSupport

/// `SyntheticSlide.write`: the streamed file holds the in-memory slide, rows in the chosen order.
final class SyntheticSlideFileTests: XCTestCase {
    static let p = SyntheticSlide.Parameters(spots: 2000, genes: 150, domains: 4, markersPerDomain: 10, seed: 5)

    /// Streamed in small blocks (several per chunk, a chunk split over blocks), read back with
    /// AnnDataReader: the same values, names, coordinates and truth as the in-memory slide,
    /// permuted by the returned order.
    func testStreamedFileEqualsTheInMemorySlide() throws {
        let t = try TempDir()
        let slide = try SyntheticSlide(Self.p)
        for order in SyntheticSlide.FileOrder.allCases {
            let path = t.file("\(order).h5ad")
            let rows = try SyntheticSlide.write(Self.p, to: path, order: order, blockRows: 333)
            XCTAssertEqual(rows.sorted(), Array(0..<Self.p.spots))
            if order == .lattice { XCTAssertEqual(rows, Array(0..<Self.p.spots)) }
            let expected = slide.annDataForTest.selecting(rows: rows)
            let read = try AnnDataReader.read(path: path)
            XCTAssertEqual(read.X, expected.X, "\(order)")
            XCTAssertEqual(read.obsNames, expected.obsNames)
            XCTAssertEqual(read.varNames, expected.varNames)
            XCTAssertEqual(read.spatial, expected.spatial)
            XCTAssertEqual(read.obs["ground_truth"], expected.obs["ground_truth"])
            XCTAssertTrue(read.xIsInteger)
            // The in-memory writer's file, permuted the same way, reads back identical.
            let mem = t.file("mem-\(order).h5ad")
            try AnnDataWriter.write(expected, to: mem)
            XCTAssertEqual(try AnnDataReader.read(path: mem), read)
            // X/data and X/indices grow in chunks; counts are int32, so is indptr (nnz < 2³¹).
            let f = try HDF5File(path: path)
            XCTAssertTrue(try f.isExtendable("X/data"))
            XCTAssertTrue(try f.isExtendable("X/indices"))
            XCTAssertEqual(try f.elementClass("X/data"), .integer(bytes: 4, signed: true))
            XCTAssertEqual(try f.elementClass("X/indptr"), .integer(bytes: 4, signed: true))
            XCTAssertEqual(try f.shape("X/data"), [slide.counts.nnz])
        }
        XCTAssertEqual(t.contents(), ["lattice.h5ad", "mem-lattice.h5ad", "mem-spatial.h5ad", "spatial.h5ad"])
    }

    /// Spatial order: the file's coordinates are non-decreasing along the Hilbert curve, and an
    /// RCB-like quadrant of the slide is a few runs of rows (one per lattice row in lattice order).
    func testRowsAreInCurveOrder() throws {
        let t = try TempDir()
        let path = t.file("s.h5ad")
        let rows = try SyntheticSlide.write(Self.p, to: path)
        let read = try AnnDataReader.read(path: path, includeX: false)
        let keys = SpaceFillingCurve.hilbertIndices(coordinates: read.spatial)
        XCTAssertEqual(keys, keys.sorted())
        XCTAssertEqual(rows, try SyntheticSlide.Layout(Self.p).spatialOrder())
        // Names keep the spot's identity: row i is spot rows[i] ("spot_NNNN" is 1-based).
        XCTAssertEqual(read.obsNames[0], SyntheticSlide.names("spot", Self.p.spots)[rows[0]])
        // A quadrant (x and y below their medians), what an RCB tile of 4 ranks is: its rows are
        // few ranges once gaps of < 8 rows (a fraction of a chunk) are bridged in spatial order;
        // in lattice order every lattice row of the quadrant is its own range (gaps of ~20 rows).
        // (Raw run counts are similar in both orders: the curve crosses the tile's border often.)
        func ranges(_ xy: [Double]) -> Int {
            let xs = stride(from: 0, to: xy.count, by: 2).map { xy[$0] }.sorted()
            let ys = stride(from: 1, to: xy.count, by: 2).map { xy[$0] }.sorted()
            let mx = xs[xs.count / 2], my = ys[ys.count / 2]
            let inside = (0..<(xy.count / 2)).filter { xy[2 * $0] < mx && xy[2 * $0 + 1] < my }
            return inside.indices.filter { $0 == 0 || inside[$0] - inside[$0 - 1] > 8 }.count
        }
        let layout = try SyntheticSlide.Layout(Self.p)
        let spatialRanges = ranges(read.spatial), latticeRanges = ranges(layout.coordinates)
        XCTAssertLessThanOrEqual(spatialRanges, 3, "spatial order: \(spatialRanges) ranges")
        XCTAssertGreaterThanOrEqual(latticeRanges, 20, "lattice order: \(latticeRanges) ranges")
    }

    /// Any failure leaves nothing: an unwritable directory, and a failure half-way through X.
    func testFailedWriteLeavesNoFile() throws {
        let t = try TempDir()
        let bad = t.file("missing-dir/s.h5ad")
        assertInputError(bad, nil, contains: "cannot create") { try SyntheticSlide.write(Self.p, to: bad) }
        XCTAssertEqual(t.contents(), [])
        struct Boom: Error {}
        let slide = try SyntheticSlide(Self.p)
        var a = slide.annDataForTest
        a.X = nil
        let x = AnnDataWriter.StreamedCSR(rows: Self.p.spots, cols: Self.p.genes, integer: true, blockRows: 500) { lo, hi in
            if lo >= 1000 { throw Boom() }
            return slide.counts.selectingRows(Array(lo..<hi))
        }
        XCTAssertThrowsError(try AnnDataWriter.write(a, to: t.file("half.h5ad"), streamedX: x)) { XCTAssertTrue($0 is Boom) }
        XCTAssertEqual(t.contents(), [])
        // Non-integer values cannot go into int32 counts: refused, nothing written.
        let y = AnnDataWriter.StreamedCSR(rows: Self.p.spots, cols: Self.p.genes, integer: true) { lo, hi in
            var m = slide.counts.selectingRows(Array(lo..<hi)); m.values[0] = 0.5; return m
        }
        assertInputError(t.file("frac.h5ad"), "X/data", contains: "not an int32 count") {
            try AnnDataWriter.write(a, to: t.file("frac.h5ad"), streamedX: y)
        }
        XCTAssertEqual(t.contents(), [])
    }

    /// Float X streamed, block boundaries on and off the chunk size, an appendable dataset's
    /// buffering: the values come back in order.
    func testAppendableDataset() throws {
        let t = try TempDir()
        let path = t.file("a.h5")
        let w = try HDF5Writer(path: path)
        let d = try w.appendableDataset("v", of: Float.self, compression: 1, chunkElements: 7)
        var all = [Float]()
        for n in [0, 3, 4, 7, 15, 1, 0, 20] {
            let part = (0..<n).map { Float(all.count + $0) }
            try d.append(contentsOf: part); all += part
        }
        try d.finish()
        let e = try w.appendableDataset("empty", of: Int32.self, compression: nil)
        try e.finish()
        try w.close()
        let f = try HDF5File(path: path)
        XCTAssertEqual(try f.read("v", as: Float.self), all)
        XCTAssertEqual(try f.shape("empty"), [0])
    }
}

extension SyntheticSlide {
    /// What `stgnn-dist synth` wrote before streaming (STTrain's `annData`, rebuilt here).
    var annDataForTest: AnnData {
        var obs = DataFrame(index: spotNames)
        obs.set("ground_truth", .categorical(labels: domains.map { domainNames[Int($0)] }, categories: domainNames))
        return AnnData(obs: obs, vars: DataFrame(index: geneNames), spatial: coordinates, X: counts, xIsInteger: true)
    }
}
