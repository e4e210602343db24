import XCTest
import STCore
@testable import STData
import STTestSupport

/// The reference fixtures load with the shapes and values read independently with h5py: the small
/// ones committed in Tests/reference (always; written by h5py with gzip + shuffle, HDF5 1.10
/// object format) and the large shared ones (skip without ../shared).
final class FixtureTests: XCTestCase {
    func testSmallModelFixtures() throws {
        let cases: [(String, norm: String, adj: Int, loss0: Double, adj0: [Float])] = [
            (SmallFixtures.model10x, "10x", 1624, 2166.529541015625, [1, 0.28867513, 0.28867513]),
            (SmallFixtures.modelKipf, "kipf", 1438, 389.2813415527344, [0.25, 0.2236068, 0.20412415]),
        ]
        for c in cases {
            let path = try SmallFixtures.path(c.0)
            XCTAssertEqual(try ReferenceFixture.kind(of: path), .model)
            let f = try ModelFixture(path: path)
            XCTAssertEqual([f.nSpots, f.nGenes, f.epochs, f.dim, f.k, f.seed], [300, 80, 10, 16, 3, 41], c.0)
            XCTAssertEqual([f.alpha, f.beta, f.lr], [10, 1, 0.001])
            XCTAssertEqual(f.normalisation, c.norm)
            XCTAssertTrue(f.source.hasPrefix("GraphST 1.1.1, torch 2.13.0+cpu"), f.source)
            XCTAssertEqual(Array(f.geneNames.prefix(2)), ["gene_0001", "gene_0002"])
            XCTAssertEqual([f.X.rows, f.X.cols], [300, 80])
            XCTAssertEqual([f.knn.count, f.adj.count, f.mask.count], [900, c.adj, 1200])
            XCTAssertEqual(Array(f.adj.val.prefix(3)), c.adj0)
            XCTAssertEqual([f.initial.W1.rows, f.initial.W1.cols, f.initial.W2.rows, f.initial.Wb.cols], [80, 16, 16, 16])
            XCTAssertEqual(f.initial.b, 0)
            XCTAssertEqual(f.perm.count, 10)
            XCTAssertEqual(Set(f.perm[9]).count, 300)
            XCTAssertEqual(f.loss.total[0], c.loss0)
            for e in 0..<f.epochs {
                XCTAssertEqual(f.loss.total[e], f.alpha * f.loss.feat[e] + f.beta * (f.loss.sl1[e] + f.loss.sl2[e]),
                               accuracy: 1e-6 * f.loss.total[e], "the fixture's loss terms add up (epoch \(e))")
            }
            XCTAssertEqual(Array(f.afterRows.prefix(5)), [0, 4, 9, 11, 20])
            XCTAssertEqual([f.afterZRows.rows, f.afterZRows.cols, f.afterHRows.cols], [32, 16, 80])
        }
        let s = try ModelFixture(path: try SmallFixtures.path(SmallFixtures.model10x))
        XCTAssertEqual(Array(s.perm[0].prefix(5)), [168, 58, 63, 243, 65])
    }

    func testSmallPrepFixture() throws {
        let path = try SmallFixtures.path(SmallFixtures.prep)
        let f = try PrepFixture(path: path)
        XCTAssertEqual([f.counts.rows, f.counts.cols, f.counts.nnz], [300, 83, 24641])
        XCTAssertEqual([f.X.rows, f.X.cols, f.X.nnz], [300, 40, 11811])
        XCTAssertEqual(f.nTopGenes, 40)
        XCTAssertEqual(f.highlyVariable.filter { $0 }.count, 40)
        XCTAssertEqual(Array(f.highlyVariableRank.prefix(6)), [8, 19, -1, -1, -1, -1])
        XCTAssertEqual(Array(f.hvgNames.prefix(3)), ["gene_0001", "gene_0002", "gene_0008"])
        // The tied group across the cut: gene_0013 and its three copies.
        XCTAssertEqual(Array(f.geneNames.suffix(3)), ["gene_0013_copy1", "gene_0013_copy2", "gene_0013_copy3"])
        XCTAssertEqual([12, 80, 81, 82].map { f.highlyVariableRank[$0] }, [-1, 37, 39, 38])
        XCTAssertEqual(Set([12, 80, 81, 82].map { f.variancesNorm[$0] }).count, 1)
        XCTAssertEqual(f.variancesNorm[12], 1.012824378710824)
        XCTAssertThrowsError(try ModelFixture(path: path)) { err in XCTAssertTrue("\(err)".contains("attrs[kind]"), "\(err)") }
    }

    func testSmallGMMFixture() throws {
        let f = try GMMFixture(path: try SmallFixtures.path(SmallFixtures.gmm))
        XCTAssertEqual([f.clusters, f.pcs.rows, f.pcs.cols, f.mean.rows, f.mean.cols, f.sigma.rows, f.pro.count], [7, 300, 20, 7, 20, 20, 7])
        XCTAssertEqual(f.pro[0], 0.05472758592652003)
        XCTAssertEqual(f.loglik, -8455.007900499373)
        XCTAssertEqual(f.bic, -18940.562361976354)
        XCTAssertEqual(Array(f.labels.prefix(5)), [1, 1, 3, 3, 3])
        XCTAssertEqual(Array(f.truth.prefix(2)), ["domain_1", "domain_1"])
        XCTAssertEqual(Set(f.truth.compactMap { $0 }).count, 4)
        let source = try HDF5File(path: f.path).stringAttribute("/", "source")
        XCTAssertTrue(source.contains("mclust 6.0.0"), source)
    }

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
