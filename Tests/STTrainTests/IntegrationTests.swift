import XCTest
import Foundation
import STCore
import STData
import STPrep
@testable import STTrain
import STTestSupport

/// Several `--input` slides integrated into one (GraphST's multi-slice integration).
final class IntegrationTests: XCTestCase {
    /// Slide A: 120 spots × 50 genes. Slide B: 90 spots × 50 genes, stored in reversed gene order,
    /// its first five genes renamed (so the slides share 45 genes). Same spot names (they collide).
    static let a = try! SyntheticSlide(SyntheticSlide.Parameters(spots: 120, genes: 50, domains: 3, markersPerDomain: 8, seed: 1))
    static let b = try! SyntheticSlide(SyntheticSlide.Parameters(spots: 90, genes: 50, domains: 2, markersPerDomain: 8, seed: 2))

    /// Writes A as given, with an extra obs column only A has.
    func writeA(_ path: String, coordinates: [Double]? = nil) throws {
        var a = Self.a.annData
        a.obs.set("only_a", .numeric((0..<a.nObs).map(Double.init)))
        if let coordinates { a.spatial = coordinates }
        try AnnDataWriter.write(a, to: path)
    }

    /// Writes B with reversed genes, the first `renamed` (original order) given other names.
    func writeB(_ path: String, renamed: Int = 5) throws {
        let x = Self.b.counts
        var r: [Int] = [], c: [Int] = [], v: [Float] = []
        for i in 0..<x.rows { for p in x.indptr[i]..<x.indptr[i + 1] { r.append(i); c.append(x.cols - 1 - Int(x.indices[p])); v.append(x.values[p]) } }
        let names = Self.b.geneNames.enumerated().map { $0.offset < renamed ? "other\($0.offset)" : $0.element }
        var obs = Self.b.obs
        obs.set("only_b", .integer((0..<Self.b.parameters.spots).map(Int64.init)))
        let a = AnnData(obs: obs, vars: DataFrame(index: names.reversed()), spatial: Self.b.coordinates,
                        X: CSRMatrix(rows: x.rows, cols: x.cols, row: r, col: c, val: v), xIsInteger: true)
        try AnnDataWriter.write(a, to: path)
    }

    /// Rows of `m` stacked under those of `top`.
    func stack(_ top: CSRMatrix, _ m: CSRMatrix) -> CSRMatrix {
        CSRMatrix(rows: top.rows + m.rows, cols: top.cols, indptr: top.indptr + m.indptr.dropFirst().map { $0 + top.nnz },
                  indices: top.indices + m.indices, values: top.values + m.values)
    }

    func crossSliceEdges(_ coordinates: [Double], k: Int, boundary: Int) throws -> Int {
        let knn = try KNNGraph(coordinates: coordinates, k: k)
        var n = 0
        for i in 0..<knn.count { for j in knn.neighbours(of: i) where (i < boundary) != (Int(j) < boundary) { n += 1 } }
        return n
    }

    func testTwoSlidesSideBySide() throws {
        let t = try TempDir()
        try writeA(t.file("A.h5ad")); try writeB(t.file("B.h5ad"))
        let src = try SlideSources.open(paths: [t.file("A.h5ad"), t.file("B.h5ad")])
        let s = try XCTUnwrap(src as? IntegratedSource)
        XCTAssertEqual(s.sliceNames, ["A", "B"])
        XCTAssertEqual(src.spotCount, 210)
        XCTAssertEqual(src.label, t.file("A.h5ad") + " + " + t.file("B.h5ad"))
        // Genes: the intersection, in A's order.
        XCTAssertEqual(try src.geneNames(), Array(Self.a.geneNames[5...]))
        XCTAssertEqual(src.geneCount, 45)
        // Counts: A's rows and B's rows, on the shared genes, whatever rows a rank asks for.
        let shared = Array(5..<50)
        let expected = stack(Self.a.counts.selectingColumns(shared), Self.b.counts.selectingColumns(shared))
        for rows in [Array(0..<210), [0, 119, 120, 209], Array(120..<210), Array(stride(from: 1, to: 210, by: 4)), [7]] {
            XCTAssertEqual(try src.counts(rows: rows), expected.selectingRows(rows), "\(rows.prefix(6))")
        }
        // rowNNZ: each slice's row totals (all of its genes: a balance weight).
        XCTAssertEqual(try src.rowNNZ(), (0..<120).map { Self.a.counts.indptr[$0 + 1] - Self.a.counts.indptr[$0] }
                                          + (0..<90).map { Self.b.counts.indptr[$0 + 1] - Self.b.counts.indptr[$0] })
        // obs: inner join of columns + slice; the names collide, so all get -<slice index>.
        let obs = try src.obs()
        XCTAssertEqual(obs.columnNames, ["ground_truth", "slice"])
        XCTAssertEqual(obs.index.prefix(2), ["\(Self.a.spotNames[0])-0", "\(Self.a.spotNames[1])-0"])
        XCTAssertEqual(obs.index[120], "\(Self.b.spotNames[0])-1")
        XCTAssertEqual(Set(obs.index).count, 210)
        XCTAssertEqual(obs["slice"]!.labels(), [String](repeating: "A", count: 120) + [String](repeating: "B", count: 90))
        guard case .categorical(_, let sliceCats, _)? = obs["slice"] else { return XCTFail("slice is not categorical") }
        XCTAssertEqual(sliceCats, ["A", "B"])
        XCTAssertEqual(obs["ground_truth"]!.labels(), Self.a.obs["ground_truth"]!.labels() + Self.b.obs["ground_truth"]!.labels())

        // Coordinates: A as given; B shifted right by gap past A's right edge; y unchanged.
        let xy = try src.spatial()
        XCTAssertEqual(Array(xy[0..<240]), Self.a.coordinates)
        let ax = stride(from: 0, to: 240, by: 2).map { xy[$0] }, bx = stride(from: 240, to: 420, by: 2).map { xy[$0] }
        XCTAssertEqual(bx.min()! - ax.max()!, s.gap, accuracy: 1e-9 * s.gap)
        XCTAssertEqual(stride(from: 241, to: 420, by: 2).map { xy[$0] }, stride(from: 1, to: 180, by: 2).map { Self.b.coordinates[$0] })
        let spacing = Self.nearestDistance(Self.a.coordinates)
        XCTAssertGreaterThanOrEqual(s.gap, 10 * spacing * 0.999)
        XCTAssertEqual(s.xShifts.count, 2)
        // The default k = 3 graph has no edge between the slices.
        XCTAssertEqual(try crossSliceEdges(xy, k: 3, boundary: 120), 0)

        // Aligned: coordinates as given; the slides overlap, so the graph links them.
        let aligned = try SlideSources.open(paths: [t.file("A.h5ad"), t.file("B.h5ad")], aligned: true)
        let axy = try aligned.spatial()
        XCTAssertEqual(axy, Self.a.coordinates + Self.b.coordinates)
        XCTAssertGreaterThan(try crossSliceEdges(axy, k: 3, boundary: 120), 0)
    }

    /// An isolated spot far from its slice needs more than ten spacings: the gap covers its k-th
    /// neighbour distance too, for the k asked for.
    func testGapCoversIsolatedSpotsAndLargerK() throws {
        let t = try TempDir()
        var c = Self.a.coordinates
        let maxX = stride(from: 0, to: c.count, by: 2).map { c[$0] }.max()!
        c[2 * 17] = maxX + 400 * Self.nearestDistance(Self.a.coordinates)   // spot 17 far right of A
        try writeA(t.file("A.h5ad"), coordinates: c)
        try writeB(t.file("B.h5ad"))
        for k in [3, 8] {
            let src = try SlideSources.open(paths: [t.file("A.h5ad"), t.file("B.h5ad")], neighbours: k)
            XCTAssertEqual(try crossSliceEdges(try src.spatial(), k: k, boundary: 120), 0, "k = \(k)")
        }
    }

    func testGeneIntersectionRefusedWhenEmptyOrTiny() throws {
        let t = try TempDir()
        try writeA(t.file("A.h5ad"))
        try writeB(t.file("B.h5ad"), renamed: 50)
        try writeB(t.file("C.h5ad"), renamed: 47)
        assertOneLine(t.file("A.h5ad"), ["share no genes", "'A' 50 genes, e.g. gene", "'B' 50 genes, e.g. other", "same gene panel"]) {
            _ = try SlideSources.open(paths: [t.file("A.h5ad"), t.file("B.h5ad")])
        }
        assertOneLine(t.file("A.h5ad"), ["share only 3 of 50 genes"]) {
            _ = try SlideSources.open(paths: [t.file("A.h5ad"), t.file("C.h5ad")])
        }
    }

    /// An h5ad, a Space Ranger folder and a MatrixMarket folder of the same slide integrate: each
    /// slice's rows come from its own file.
    func testMixedFormats() throws {
        let t = try TempDir()
        let f = try InputFolders(spots: 80, genes: 40, domains: 2, seed: 3)
        try f.writeH5AD(t.file("ref.h5ad"))
        try f.writeSpaceRanger(t.file("s1/outs"))
        try f.writeSpaceRangerMatrixMarket(t.file("s1-mtx/outs"))
        let src = try SlideSources.open(paths: [t.file("ref.h5ad"), t.file("s1/outs"), t.file("s1-mtx/outs/filtered_feature_bc_matrix")])
        let s = try XCTUnwrap(src as? IntegratedSource)
        XCTAssertEqual(s.sliceNames, ["ref", "s1", "s1-mtx"])
        XCTAssertEqual(src.spotCount, 240)
        XCTAssertEqual(try src.geneNames(), f.genes)
        let x = f.slide.counts
        let all = stack(stack(x, x), x)
        let rows = [0, 5, 79, 80, 81, 150, 159, 160, 161, 239]
        XCTAssertEqual(try src.counts(rows: rows), all.selectingRows(rows))
        XCTAssertEqual(try src.counts(rows: Array(0..<240)), all)
        let obs = try src.obs()
        XCTAssertEqual(obs.columnNames, ["in_tissue", "slice"])
        XCTAssertEqual(obs.index[80], f.barcodes[0] + "-1")
        XCTAssertEqual(try crossSliceEdges(try src.spatial(), k: 3, boundary: 80), 0)
    }

    func testSliceNames() {
        XCTAssertEqual(SlideSources.sliceNames(for: ["x/151673.h5ad", "y/151673.h5ad", "z/sample/outs", "w/sample/outs/filtered_feature_bc_matrix/",
                                                     "v/sample.h5", "151673-1.h5ad"]),
                       ["151673", "151673-2", "sample", "sample-1", "sample-2", "151673-1"])
    }

    func testObsColumnsOfDifferentKinds() {
        let a: ObsColumn = .categorical(codes: [0, 1, -1], categories: ["x", "y"], ordered: false)
        let b: ObsColumn = .categorical(codes: [1, 0], categories: ["z", "x"], ordered: false)
        XCTAssertEqual(IntegratedSource.concatenate([a, b]),
                       .categorical(codes: [0, 1, -1, 0, 2], categories: ["x", "y", "z"], ordered: false))
        XCTAssertEqual(IntegratedSource.concatenate([.integer([1, 2]), .numeric([0.5])]), .numeric([1, 2, 0.5]))
        XCTAssertEqual(IntegratedSource.concatenate([.integer([1]), .string(["a"])]).labels(), ["1", "a"])
    }

    static func nearestDistance(_ c: [Double]) -> Double {
        var best = Double.infinity
        let n = c.count / 2
        for i in 0..<n { for j in (i + 1)..<n {
            let d = ((c[2 * i] - c[2 * j]) * (c[2 * i] - c[2 * j]) + (c[2 * i + 1] - c[2 * j + 1]) * (c[2 * i + 1] - c[2 * j + 1])).squareRoot()
            if d > 0 { best = min(best, d) }
        } }
        return best
    }
}
