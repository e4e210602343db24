import XCTest
import STCore
@testable import STData
import STTestSupport

/// X stored as CSC, dense (float and integer), CSR with unsorted/duplicate entries, and the
/// anndata 0.7 layout all read as the same CSR matrix.
final class LayoutTests: XCTestCase {
    let x = sampleCSR(rows: 37, cols: 11, seed: 3)

    func writeCommon(_ w: HDF5Writer, rows: Int, cols: Int) throws {
        try RawH5AD().writeFrame(w, "obs", (0..<rows).map { "o\($0)" })
        try RawH5AD().writeFrame(w, "var", (0..<cols).map { "v\($0)" })
        try w.write("obsm/spatial", (0..<(2 * rows)).map { Double($0) }, shape: [rows, 2])
    }

    func testCSC() throws {
        let t = try TempDir()
        let p = t.file("csc.h5ad")
        let c = x.transposed()   // CSR of Xᵀ = CSC of X
        let w = try HDF5Writer(path: p)
        try w.createGroup("X")
        try w.setAttribute("X", "encoding-type", "csc_matrix")
        try w.setAttribute("X", "encoding-version", "0.1.0")
        try w.setAttribute("X", "shape", [Int64(x.rows), Int64(x.cols)])
        try w.write("X/data", c.values.map { Int64($0) }, compression: 4)
        try w.write("X/indices", c.indices.map { Int64($0) })
        try w.write("X/indptr", c.indptr.map { Int64($0) })
        try writeCommon(w, rows: x.rows, cols: x.cols)
        try w.close()
        let r = try AnnDataReader(path: p)
        XCTAssertEqual(r.header.layout, .csc)
        XCTAssertTrue(r.header.isInteger)
        XCTAssertEqual(try r.readX(), x)
        XCTAssertEqual(try r.readX(rows: 5..<20), x.selectingRows(Array(5..<20)))
        XCTAssertEqual(try r.readX(rows: [0, 7, 36]), x.selectingRows([0, 7, 36]))
        XCTAssertEqual(try r.rowNNZ(), (0..<x.rows).map { x.indptr[$0 + 1] - x.indptr[$0] })
    }

    func testDense() throws {
        let t = try TempDir()
        let dense = x.toDense()
        for (name, asInt) in [("dense_f.h5ad", false), ("dense_i.h5ad", true)] {
            let p = t.file(name)
            let w = try HDF5Writer(path: p)
            if asInt { try w.write("X", dense.data.map { Int32($0) }, shape: [x.rows, x.cols], compression: 1) }
            else { try w.write("X", dense.data, shape: [x.rows, x.cols]) }
            try w.setAttribute("X", "encoding-type", "array")
            try writeCommon(w, rows: x.rows, cols: x.cols)
            try w.close()
            let r = try AnnDataReader(path: p)
            XCTAssertEqual(r.header.layout, .dense)
            XCTAssertEqual(r.header.isInteger, asInt)
            XCTAssertEqual(try r.readX(), x)
            XCTAssertEqual(try r.readX(rows: 10..<12), x.selectingRows([10, 11]))
            let list = [1, 2, 3, 9, 30, 31, 36]
            XCTAssertEqual(try r.readX(rows: list), x.selectingRows(list))
            XCTAssertEqual(try r.rowNNZ(), (0..<x.rows).map { x.indptr[$0 + 1] - x.indptr[$0] })
        }
    }

    func testUnsortedAndDuplicateEntries() throws {
        let t = try TempDir()
        var raw = RawH5AD()
        // Row 0: columns 2, 0 (unsorted); row 3: column 1 twice (summed, as scipy does).
        raw.data = [2, 1, 3, 4, 5]; raw.indices = [2, 0, 1, 1, 1]; raw.indptr = [0, 2, 2, 3, 5]
        let p = t.file("unsorted.h5ad"); try raw.write(p)
        let m = try AnnDataReader(path: p).readX()
        XCTAssertEqual(m.indptr, [0, 2, 2, 3, 4])
        XCTAssertEqual(m.indices, [0, 2, 1, 1])
        XCTAssertEqual(m.values, [1, 2, 3, 9])
    }

    /// anndata 0.7: `h5sparse_format`/`h5sparse_shape`, categorical columns as code datasets with
    /// an object reference to `__categories/<col>` (which carries `ordered`).
    func testAnnData07Layout() throws {
        let t = try TempDir()
        let p = t.file("old.h5ad")
        let w = try HDF5Writer(path: p)
        try w.createGroup("X")
        try w.setAttribute("X", "h5sparse_format", "csr")
        try w.setAttribute("X", "h5sparse_shape", [Int64(x.rows), Int64(x.cols)])
        try w.write("X/data", x.values)
        try w.write("X/indices", x.indices)
        try w.write("X/indptr", x.indptr.map { Int64($0) })
        try w.createGroup("obs")
        try w.setAttribute("obs", "_index", "index")
        try w.setAttribute("obs", "encoding-type", "dataframe")
        try w.setAttribute("obs", "column-order", strings: ["layer", "score"])
        try w.writeStrings("obs/index", (0..<x.rows).map { "o\($0)" })
        try w.writeStrings("obs/__categories/layer", ["L1", "L2", "WM"])
        try w.setAttribute("obs/__categories/layer", "ordered", true)
        try w.write("obs/layer", (0..<x.rows).map { Int8($0 % 4 == 3 ? -1 : $0 % 4) })
        try w.setAttribute("obs/layer", "categories", reference: "obs/__categories/layer")
        try w.write("obs/score", (0..<x.rows).map { Double($0) / 2 })
        try w.createGroup("var")
        try w.setAttribute("var", "_index", "index")
        try w.writeStrings("var/index", (0..<x.cols).map { "v\($0)" })
        try w.write("obsm/spatial", (0..<(2 * x.rows)).map { Float($0) }, shape: [x.rows, 2])
        try w.close()

        let a = try AnnDataReader.read(path: p)
        XCTAssertEqual(a.X, x)
        XCTAssertEqual(a.obsNames.last, "o36")
        XCTAssertEqual(a.varNames, (0..<x.cols).map { "v\($0)" })
        XCTAssertEqual(a.obs.columnNames, ["layer", "score"])
        guard case .categorical(let codes, let cats, let ordered)? = a.obs["layer"] else { return XCTFail("layer") }
        XCTAssertEqual(cats, ["L1", "L2", "WM"])
        XCTAssertTrue(ordered)
        XCTAssertEqual(Array(codes.prefix(5)), [0, 1, 2, -1, 0])
        XCTAssertEqual(a.obs["layer"]!.labels().prefix(4), ["L1", "L2", "WM", nil])
        XCTAssertEqual(a.obs["score"], .numeric((0..<x.rows).map { Double($0) / 2 }))
        XCTAssertEqual(a.spatial[3], 3)
    }

    func testCompoundObsIsRejected() throws {
        // anndata < 0.7 stored obs as a compound dataset; emulate "obs is a dataset".
        let t = try TempDir()
        let p = t.file("ancient.h5ad")
        let w = try HDF5Writer(path: p)
        try w.createGroup("X")
        try w.setAttribute("X", "encoding-type", "csr_matrix")
        try w.setAttribute("X", "shape", [Int64(1), Int64(1)])
        try w.write("X/data", [Float(1)])
        try w.write("X/indices", [Int32(0)])
        try w.write("X/indptr", [Int32(0), 1])
        try w.write("obs", [Int32(0)])
        try w.close()
        assertInputError(p, "obs", contains: "anndata < 0.7") { _ = try AnnDataReader.read(path: p) }
    }
}

/// Rows read straight into another order through small buffers (`readX(rows:order:)`, how a rank
/// reads its rows in local order) equal the rows read in file order, then reordered.
final class OrderedRowReadTests: XCTestCase {
    func testRowsInAnyOrderThroughSmallBuffers() throws {
        let x = sampleCSR(rows: 240, cols: 30, seed: 11)
        let t = try TempDir()
        let p = t.file("csr.h5ad")
        try writeCSRH5AD(x, to: p)
        let r = try AnnDataReader(path: p)
        var rng = Xoshiro256(seed: 5)
        let lists: [[Int]] = [Array(0..<x.rows), Array(stride(from: 1, to: x.rows, by: 3)), [7], [],
                              (0..<x.rows).filter { _ in rng.below(3) == 0 }]
        for list in lists {
            var order = Array(0..<list.count)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.below(UInt64(i + 1)))) }
            let expected = x.selectingRows(list).selectingRows(order)
            XCTAssertEqual(try r.readX(rows: list, order: order), expected, "list of \(list.count)")
            // Buffers smaller than one row: every row is copied in pieces.
            for buffer in [1, 5, 64, 1 << 20] {
                let (ptr, idx, val) = try r.sparse!.readMajorList(list, order: order, bufferEntries: buffer)
                XCTAssertEqual(CSRMatrix(rows: list.count, cols: x.cols, indptr: ptr, indices: idx, values: val), expected,
                               "list of \(list.count), buffer \(buffer)")
            }
        }
        assertInputError(p, "X", contains: "permutation") { _ = try r.readX(rows: [1, 2], order: [0, 0]) }
    }
}
