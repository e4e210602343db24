import XCTest
import STCore
@testable import STData
import STTestSupport

/// The reference fixtures load with the shapes and values read independently with h5py.
final class FixtureTests: XCTestCase {
    func testModelFixtures() throws {
        let cases: [(String, n: Int, g: Int, e: Int, norm: String, knn: Int, adj: Int, loss0: Double)] = [
            ("model_starmap_mpfc_bz5_10x.h5", 1049, 166, 20, "10x", 3147, 4887, 149.0239563),
            ("model_osmfish_kipf.h5", 4839, 33, 20, "kipf", 13089, 22121, .nan),
            ("model_dlpfc151676_10x.h5", 3460, 3000, 10, "10x", 10380, 15568, .nan),
        ]
        for c in cases {
            let path = try SharedData.path("reference/" + c.0)
            XCTAssertEqual(try ReferenceFixture.kind(of: path), .model)
            let f = try ModelFixture(path: path)
            XCTAssertEqual(f.nSpots, c.n)
            XCTAssertEqual(f.nGenes, c.g)
            XCTAssertEqual(f.epochs, c.e)
            XCTAssertEqual(f.dim, 64)
            XCTAssertEqual(f.k, 3)
            XCTAssertEqual(f.seed, 41)
            XCTAssertEqual(f.alpha, 10)
            XCTAssertEqual(f.beta, 1)
            XCTAssertEqual(f.lr, 0.001)
            XCTAssertEqual(f.normalisation, c.norm)
            XCTAssertEqual(f.spatial.count, 2 * c.n)
            XCTAssertEqual(f.geneNames.count, c.g)
            XCTAssertEqual(f.X.rows, c.n)
            XCTAssertEqual(f.X.cols, c.g)
            XCTAssertEqual(f.knn.count, c.knn)
            XCTAssertEqual(f.adj.count, c.adj)
            XCTAssertEqual(f.mask.count, c.knn + c.n)
            XCTAssertEqual(f.initial.W1.rows, c.g)
            XCTAssertEqual(f.initial.W1.cols, 64)
            XCTAssertEqual(f.initial.W2.rows, 64)
            XCTAssertEqual(f.initial.W2.cols, c.g)
            XCTAssertEqual(f.initial.Wb.rows, 64)
            XCTAssertEqual(f.initial.b, 0)
            XCTAssertEqual(f.perm.count, c.e)
            XCTAssertEqual(f.perm[0].count, c.n)
            XCTAssertEqual(Set(f.perm[0]).count, c.n)
            XCTAssertEqual(f.loss.total.count, c.e)
            XCTAssertEqual(f.afterRows.count, 256)
            XCTAssertEqual(f.afterZRows.rows, 256)
            XCTAssertEqual(f.afterHRows.cols, c.g)
            for e in 0..<c.e {
                XCTAssertEqual(f.loss.total[e], f.alpha * f.loss.feat[e] + f.beta * (f.loss.sl1[e] + f.loss.sl2[e]),
                               accuracy: 1e-6 * f.loss.total[e])
            }
            if !c.loss0.isNaN { XCTAssertEqual(f.loss.total[0], c.loss0, accuracy: 1e-6) }
            let adj = f.adj.csr(size: c.n)
            XCTAssertEqual(adj.nnz, c.adj)
        }
        let s = try ModelFixture(path: try SharedData.path("reference/model_starmap_mpfc_bz5_10x.h5"))
        XCTAssertEqual(Array(s.afterRows.prefix(5)), [2, 4, 6, 13, 14])
        XCTAssertEqual(Array(s.perm[0].prefix(5)), [871, 397, 266, 914, 387])
        XCTAssertEqual(Array(s.adj.val.prefix(3)), [1, 0.33333334, 0.28867513])
        XCTAssertEqual(s.dataset, "STARmap_mPFC_20180417_BZ5_control.h5ad")
    }

    func testPrepFixture() throws {
        let path = try SharedData.path("reference/prep_dlpfc151676.h5")
        let f = try PrepFixture(path: path)
        XCTAssertEqual(f.counts.rows, 3460)
        XCTAssertEqual(f.counts.cols, 5000)
        XCTAssertEqual(f.counts.nnz, 2081803)
        XCTAssertEqual(f.X.rows, 3460)
        XCTAssertEqual(f.X.cols, 3000)
        XCTAssertEqual(f.X.nnz, 941709)
        XCTAssertEqual(f.hvgNames.count, 3000)
        XCTAssertEqual(Array(f.geneNames.prefix(2)), ["ENSG00000122585", "ENSG00000123560"])
        XCTAssertEqual(f.highlyVariable.filter { $0 }.count, 3000)
        XCTAssertEqual(Array(f.highlyVariableRank.prefix(4)), [0, 4, 1, 2])
        XCTAssertEqual(f.nTopGenes, 3000)
        XCTAssertEqual(f.targetSum, 1e4)
        XCTAssertEqual(f.maxValue, 10)
        // The fixture's raw counts are the dataset's X.
        let data = try AnnDataReader(path: try SharedData.path("data/DLPFC_151676.h5ad")).readX()
        XCTAssertEqual(data, f.counts)
        if case .gmm = try ReferenceFixture.load(path: path) { XCTFail("wrong kind") }
        XCTAssertThrowsError(try GMMFixture(path: path)) { err in
            XCTAssertTrue("\(err)".contains("attrs[kind]"), "\(err)")
        }
    }

    func testGMMFixture() throws {
        let f = try GMMFixture(path: try SharedData.path("reference/gmm_dlpfc151676_eee7.h5"))
        XCTAssertEqual(f.clusters, 7)
        XCTAssertEqual(f.pcs.rows, 3460)
        XCTAssertEqual(f.pcs.cols, 20)
        XCTAssertEqual(f.mean.rows, 7)
        XCTAssertEqual(f.sigma.rows, 20)
        XCTAssertEqual(f.pro.count, 7)
        XCTAssertEqual(f.pro[0], 0.07790155, accuracy: 1e-8)
        XCTAssertEqual(f.loglik, -146555.44619616272)
        XCTAssertEqual(f.bic, -296011.9448893519)
        XCTAssertEqual(Array(f.labels.prefix(5)), [2, 5, 4, 7, 2])
        XCTAssertEqual(Array(f.truth.prefix(3)), ["L3", "L1", "WM"])
        XCTAssertEqual(f.truth.filter { $0 == nil }.count, 29)
    }
}
