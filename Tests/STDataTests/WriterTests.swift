import XCTest
import Foundation
import STCore
@testable import STData
import STTestSupport

/// `AnnDataWriter` and `ResultWriter` round trips, and their atomic replacement of the target.
final class WriterTests: XCTestCase {
    func sample() -> AnnData {
        var obs = DataFrame(index: ["a", "b", "c", "d"])
        obs.set("cat", .categorical(codes: [0, 1, -1, 0], categories: ["x", "y"], ordered: false))
        obs.set("ocat", .categorical(codes: [1, 0, 1, 0], categories: ["lo", "hi"], ordered: true))
        obs.set("str", .string(["s1", "s2", "ü", ""]))
        obs.set("num", .numeric([1.5, -2, 3, -4]))
        obs.set("int", .integer([1, 2, 3, -4]))
        obs.set("bool", .boolean([true, false, true, true]))
        obs.set("nint", .nullableInteger(values: [1, 0, 3, 4], missing: [false, true, false, false]))
        obs.set("nbool", .nullableBoolean(values: [true, false, false, true], missing: [false, false, true, false]))
        var vars = DataFrame(index: ["g0", "g1", "g2"])
        vars.set("gene_ids", .string(["E0", "E1", "E2"]))
        let x = CSRMatrix(rows: 4, cols: 3, indptr: [0, 2, 2, 3, 5], indices: [0, 2, 1, 0, 1], values: [1, 2, 3, 4, 5])
        return AnnData(obs: obs, vars: vars, spatial: [0, 1, 2, 3, 4, 5, 6, 7], X: x, xIsInteger: true,
                       obsm: ["latent": .float32(Matrix(rows: 4, cols: 2, data: [1, 2, 3, 4, 5, 6, 7, 8]))])
    }

    func testAnnDataRoundTrip() throws {
        let t = try TempDir()
        let a = sample()
        for (name, integer, compression) in [("int.h5ad", true, Optional(4)), ("float.h5ad", false, nil)] {
            var b = a
            b.xIsInteger = integer
            let p = t.file(name)
            try AnnDataWriter.write(b, to: p, uns: ["note": "hello"], compression: compression)
            let r = try AnnDataReader(path: p)
            XCTAssertEqual(r.header.isInteger, integer)
            var back = try r.read()
            XCTAssertEqual(back.obsm, [:])   // the reader reads only spatial
            back.obsm = b.obsm
            XCTAssertEqual(back, b)
            let f = try HDF5File(path: p)
            XCTAssertEqual(try f.read("obsm/latent", as: Float.self), [1, 2, 3, 4, 5, 6, 7, 8])
            XCTAssertEqual(try f.readStrings("uns/note"), ["hello"])
            XCTAssertEqual(try f.stringAttribute("", "encoding-type"), "anndata")
            XCTAssertEqual(try f.stringAttribute("obs/cat", "encoding-type"), "categorical")
            XCTAssertEqual(try f.elementClass("obs/cat/codes"), .integer(bytes: 1, signed: true))
        }
        XCTAssertEqual(t.contents(), ["float.h5ad", "int.h5ad"])
    }

    func testRealFileRoundTrip() throws {
        let src = try SharedData.path("data/osmFISH_valid_cells.h5ad")
        let a = try AnnDataReader.read(path: src)
        let t = try TempDir()
        let p = t.file("osm.h5ad")
        try AnnDataWriter.write(a, to: p)
        XCTAssertEqual(try AnnDataReader.read(path: p), a)
    }

    func testResultWriter() throws {
        let src = try AnnDataReader.read(path: try SharedData.path("data/STARmap_mPFC_20180417_BZ5_control.h5ad"), includeX: false)
        let n = src.nObs
        let latent = Matrix(rows: n, cols: 64, data: (0..<(n * 64)).map { Float($0 % 97) / 7 })
        let domains = (0..<n).map { $0 % 4 == 0 ? -1 : ($0 % 7) + 1 }
        let t = try TempDir()
        let p = t.file("result.h5ad")
        let emb = Matrix(rows: n, cols: 5, data: (0..<(n * 5)).map { Float($0) })
        try ResultWriter.write(to: p, obs: src.obs, spatial: src.spatial, latent: latent, embedding: emb,
                               domains: domains, uns: ["config": "{\"k\": 3}"])
        XCTAssertEqual(t.contents(), ["result.h5ad"])
        let f = try HDF5File(path: p)
        XCTAssertFalse(f.exists("X"))
        XCTAssertEqual(try f.read("obsm/latent", as: Float.self), latent.data)
        XCTAssertEqual(try f.shape("obsm/latent"), [n, 64])
        XCTAssertEqual(try f.read("obsm/spatial", as: Double.self), src.spatial)
        XCTAssertEqual(try f.readStrings("var/_index"), [])
        let result = try ResultFile(path: p)
        XCTAssertEqual(result.latent, latent)
        XCTAssertEqual(result.embedding, emb)
        XCTAssertEqual(result.spatial, src.spatial)
        XCTAssertEqual(result.uns, ["config": "{\"k\": 3}"])
        XCTAssertEqual(result.obs.index, src.obsNames)
        XCTAssertEqual(result.domains?[0], nil)
        XCTAssertEqual(result.domains?[1], "2")
        // obs: every input column, then "domain" (categorical, -1 = NaN).
        let obs = result.obs
        XCTAssertEqual(obs.columnNames, src.obs.columnNames + ["domain"])
        for c in src.obs.columnNames { XCTAssertEqual(obs[c], src.obs[c], c) }
        guard case .categorical(let codes, let cats, _)? = obs["domain"] else { return XCTFail("domain") }
        XCTAssertEqual(cats, (1...7).map { String($0) })
        XCTAssertEqual(codes.filter { $0 == -1 }.count, (n + 3) / 4)
        XCTAssertEqual(obs["domain"]!.labels()[1], "2")

        // Wrong sizes are refused before anything is written.
        assertInputError(t.file("bad.h5ad"), "obsm/latent", contains: "rows") {
            try ResultWriter.write(to: t.file("bad.h5ad"), obs: src.obs, spatial: src.spatial,
                                   latent: Matrix(zeros: 3, 2))
        }
        XCTAssertEqual(t.contents(), ["result.h5ad"])
    }

    func testAtomicReplacement() throws {
        let t = try TempDir()
        let p = t.file("out.h5ad")
        try AnnDataWriter.write(sample(), to: p)
        let before = try Data(contentsOf: URL(fileURLWithPath: p))
        struct Boom: Error {}
        XCTAssertThrowsError(try AnnDataWriter.writeAtomically(to: p) { w in
            try w.write("half", [Float](repeating: 1, count: 100))
            throw Boom()
        })
        // The old file is untouched and no temporary is left behind.
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p)), before)
        XCTAssertEqual(t.contents(), ["out.h5ad"])
        // A writer error inside the body (duplicate dataset) also cleans up.
        assertInputError(p, "a", contains: "already exists") {
            try AnnDataWriter.writeAtomically(to: p) { w in
                try w.write("a", [Float(1)]); try w.write("a", [Float(2)])
            }
        }
        XCTAssertEqual(t.contents(), ["out.h5ad"])
        // An unwritable target directory is reported with the file name.
        let bad = t.file("missing-dir/out.h5ad")
        assertInputError(bad, nil, contains: "cannot create") { try AnnDataWriter.write(sample(), to: bad) }
    }

    func testKeysAndDataFrameEditing() throws {
        let t = try TempDir()
        var a = sample()
        a.obs.set("bad/key", .integer([1, 2, 3, 4]))
        assertInputError(t.file("k.h5ad"), "obs/bad/key", contains: "contains '/'") {
            try AnnDataWriter.write(a, to: t.file("k.h5ad"))
        }
        assertInputError(t.file("k.h5ad"), "uns/a/b", contains: "contains '/'") {
            try AnnDataWriter.write(sample(), to: t.file("k.h5ad"), uns: ["a/b": "x"])
        }
        XCTAssertEqual(t.contents(), [])
        // set() replaces in place, remove() drops; a column named "_index" moves the index name.
        a.obs.remove("bad/key")
        a.obs.set("int", .integer([9, 9, 9, 9]))
        a.obs.set("_index", .string(["i", "j", "k", "l"]))
        XCTAssertEqual(a.obs.columnNames, ["cat", "ocat", "str", "num", "int", "bool", "nint", "nbool", "_index"])
        try AnnDataWriter.write(a, to: t.file("ok.h5ad"))
        let back = try AnnDataReader.read(path: t.file("ok.h5ad"))
        XCTAssertEqual(back.obs, a.obs)
        XCTAssertEqual(try HDF5File(path: t.file("ok.h5ad")).stringAttribute("obs", "_index"), "__index")
        XCTAssertEqual(a.selecting(rows: [3, 0]).obs["int"], .integer([9, 9]))
        XCTAssertEqual(a.selecting(rows: [3, 0]).spatial, [6, 7, 0, 1])
        XCTAssertEqual(a.selecting(rows: [3, 0]).X, a.X!.selectingRows([3, 0]))
    }
}
