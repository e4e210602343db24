import STComm
import STCore
@testable import STPrep
import XCTest

/// The synthetic 60 × 40 count matrix of `HVGTests` and `NormalisationTests`:
/// c[i, j] = ((7i² + 13j + 5ij) mod 23) div (1 + j mod 7) where (3i + 5j) mod 4 ≠ 0, else 0;
/// gene 0 all zero, gene 1 constant 2.
func syntheticCounts() -> CSRMatrix {
    let n = 60, g = 40
    var row = [Int](), col = [Int](), val = [Float]()
    for i in 0..<n {
        for j in 0..<g {
            var c = (i * 3 + j * 5) % 4 != 0 ? ((i * i * 7 + j * 13 + i * j * 5) % 23) / (1 + j % 7) : 0
            if j == 0 { c = 0 }
            if j == 1 { c = 2 }
            if c != 0 { row.append(i); col.append(j); val.append(Float(c)) }
        }
    }
    return CSRMatrix(rows: n, cols: g, row: row, col: col, val: val)
}

/// seurat_v3 HVGs against scanpy 1.11.5. Expected values from (numpy 2.4.6, scikit-misc 0.5.3):
///
/// ```python
/// import numpy as np, scipy.sparse as sp, anndata as ad, scanpy as sc
/// N, G = 60, 40
/// C = np.zeros((N, G), dtype=np.int32)
/// for i in range(N):
///     for j in range(G):
///         C[i, j] = ((i*i*7 + j*13 + i*j*5) % 23) // (1 + j % 7) if ((i*3 + j*5) % 4) else 0
/// C[:, 0] = 0; C[:, 1] = 2
/// a = ad.AnnData(sp.csr_matrix(C))
/// sc.pp.highly_variable_genes(a, flavor="seurat_v3", n_top_genes=10)
/// print(a.var[["means", "variances", "variances_norm", "highly_variable_rank"]])
/// sc.pp.normalize_total(a, target_sum=1e4); sc.pp.log1p(a); sc.pp.scale(a, zero_center=False, max_value=10)
/// X = a[:, a.var["highly_variable"].to_numpy()].X.toarray(); print(X[[0, 1, 59]])
/// ```
final class HVGTests: XCTestCase {
    static let means: [Double] = [0.0, 2.0, 2.3666666666666667, 1.7833333333333334, 1.3333333333333333, 0.8833333333333333, 0.65, 8.25,
                        3.816666666666667, 2.466666666666667, 2.05, 1.6166666666666667, 1.0166666666666666,
                        0.6333333333333333, 9.033333333333333, 3.0, 1.95, 1.7, 1.3166666666666667, 0.9, 0.7833333333333333,
                        10.4, 4.016666666666667, 3.1, 1.5666666666666667, 1.1833333333333333, 0.9666666666666667, 0.75,
                        6.983333333333333, 3.3333333333333335, 2.3333333333333335, 1.7166666666666666, 1.4166666666666667,
                        1.3, 1.0833333333333333, 8.116666666666667, 3.35, 2.816666666666667, 1.3, 1.1]
    static let variances: [Double] = [0.0, 0.0, 6.405649717514125, 2.2742937853107343, 1.4124293785310733, 1.18954802259887,
                            0.5703389830508474, 63.343220338983045, 10.796327683615818, 6.3548022598870055,
                            3.3025423728813563, 2.003107344632768, 1.304802259887006, 0.6768361581920904,
                            68.37175141242939, 10.203389830508476, 4.726271186440677, 2.450847457627119,
                            1.7793785310734465, 1.2779661016949153, 1.0539548022598868, 69.32881355932203,
                            16.118361581920905, 6.769491525423726, 3.0293785310734465, 2.2878531073446324,
                            0.9480225988700565, 0.7330508474576272, 50.016666666666666, 11.34463276836158,
                            6.158192090395479, 2.6810734463276833, 2.0776836158192085, 1.4677966101694913,
                            0.9251412429378534, 56.443785310734455, 10.366949152542373, 7.270903954802259,
                            2.0101694915254233, 1.7186440677966097]
    static let variancesNorm: [Double] = [0.0, 0.0, 1.0642491204369668, 0.8338854957436278, 0.8049617488242039, 1.0620024528498089,
                                0.89475152246299, 1.0401529500460533, 0.834385302476492, 0.9669459122486099,
                                0.830857516731988, 0.8026430813294887, 1.2016477416154296, 1.132870303181223,
                                1.0408384774277124, 1.2204470351460917, 1.376165282598877, 0.9760515976943213,
                                1.0177653614129103, 1.1288028554617389, 1.1127894902002315, 0.981954617078606,
                                1.111718253262975, 0.7690192739049735, 1.2114043929366898, 1.3787423949460114,
                                0.8420584346527894, 0.8362745075708327, 1.0047579993131213, 1.1451805260320316,
                                1.0553806789575824, 1.051073603235752, 1.0473332757887062, 0.8430778503394589,
                                0.6579232388700531, 0.9419122461026077, 1.0372604842000843, 0.9568995704019243,
                                1.1546077719429544, 1.1577711561048094]
    static let selected = [12, 13, 15, 16, 19, 24, 25, 29, 38, 39]
    static let ranks: [Int: Int] = [12: 4, 13: 8, 15: 2, 16: 1, 19: 9, 24: 3, 25: 0, 29: 7, 38: 6, 39: 5]

    func testSyntheticMatchesScanpy() throws {
        let r = try highlyVariableGenesSeuratV3(counts: syntheticCounts(), options: HVGOptions(nTopGenes: 10),
                                                comm: SingleProcessCommunicator())
        XCTAssertEqual(r.nSpots, 60)
        for j in 0..<40 {
            XCTAssertEqual(r.means[j], Self.means[j], accuracy: 1e-14 * max(1, Self.means[j]))
            XCTAssertEqual(r.variances[j], Self.variances[j], accuracy: 1e-13 * max(1, Self.variances[j]))
            XCTAssertEqual(r.variancesNorm[j], Self.variancesNorm[j], accuracy: 1e-10, "gene \(j)")
            XCTAssertEqual(r.rank[j], Self.ranks[j] ?? -1, "gene \(j)")
        }
        XCTAssertEqual(r.selected, Self.selected)
        XCTAssertEqual(r.highlyVariable.enumerated().filter { $0.element }.map(\.offset), Self.selected)
        XCTAssertFalse(r.keptAllGenes)
        XCTAssertEqual(r.loessPseudoinverseFits, 0)
    }

    /// GraphST keeps every gene when there are no more than n_top_genes.
    func testFewerGenesThanRequestedKeepsAll() throws {
        let r = try highlyVariableGenesSeuratV3(counts: syntheticCounts(), options: HVGOptions(nTopGenes: 3000),
                                                comm: SingleProcessCommunicator())
        XCTAssertTrue(r.keptAllGenes)
        XCTAssertEqual(r.selected, Array(0..<40))
        XCTAssertEqual(r.rank.filter { $0 >= 0 }.count, 40, "every gene is ranked, as scanpy does")
        // Too few genes for a loess trend: still all kept, statistics NaN.
        let tiny = syntheticCounts().selectingColumns([2, 3, 4, 5, 6])
        let t = try highlyVariableGenesSeuratV3(counts: tiny, options: HVGOptions(nTopGenes: 3000),
                                                comm: SingleProcessCommunicator())
        XCTAssertEqual(t.selected, [0, 1, 2, 3, 4])
        XCTAssertTrue(t.variancesNorm.allSatisfy(\.isNaN))
        XCTAssertEqual(t.means[0], Self.means[2], accuracy: 1e-14)
    }

    /// Exact ties in variances_norm: numpy's AVX-512 argsort order vs a stable order.
    func testTieOrders() throws {
        // numpy: np.argsort(np.array([-1., -2., -1., -1., -2., -3., -1., -1., -1., -2.])) on AVX-512
        let keys: [Double] = [-1, -2, -1, -1, -2, -3, -1, -1, -1, -2]
        XCTAssertEqual(numpyArgsortAVX512(keys), [5, 1, 4, 9, 3, 2, 6, 0, 7, 8])
        // Duplicated genes tie exactly and are ranked next to each other.
        let base = syntheticCounts()
        let dup = base.selectingColumnsAllowingRepeats(Array(0..<40) + [25, 16, 15])
        for order in HVGTieOrder.allCases {
            let r = try highlyVariableGenesSeuratV3(counts: dup, options: HVGOptions(nTopGenes: 42, tieOrder: order),
                                                    comm: SingleProcessCommunicator())
            for (orig, copy) in [(25, 40), (16, 41), (15, 42)] {
                XCTAssertEqual(r.variancesNorm[orig], r.variancesNorm[copy])
                XCTAssertEqual(abs(r.rank[orig] - r.rank[copy]), 1, "\(order): genes \(orig) and \(copy)")
                if order == .geneIndex { XCTAssertEqual(r.rank[copy], r.rank[orig] + 1) }
            }
            let top = r.rank.enumerated().filter { $0.element >= 0 }.sorted { $0.element < $1.element }.map(\.offset)
            for k in 1..<top.count { XCTAssertGreaterThanOrEqual(r.variancesNorm[top[k - 1]], r.variancesNorm[top[k]]) }
        }
    }

    func testInvalidCountsAreCollectiveErrors() throws {
        var bad = syntheticCounts()
        bad.values[bad.indptr[37]] = -1       // spot 37
        let messages = ThreadGroupCommunicator.run(ranks: 2) { comm -> String in
            let rows = comm.rank == 0 ? Array(0..<30) : Array(30..<60)
            do {
                _ = try highlyVariableGenesSeuratV3(counts: bad.selectingRows(rows), comm: comm)
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(messages[0], messages[1])
        XCTAssertTrue(messages[0].contains("spot 37"), messages[0])
    }
}

extension CSRMatrix {
    /// Columns in the given order, repeats allowed (test helper; rows are re-sorted).
    func selectingColumnsAllowingRepeats(_ list: [Int]) -> CSRMatrix {
        var row = [Int](), col = [Int](), val = [Float]()
        for i in 0..<rows {
            for p in indptr[i]..<indptr[i + 1] {
                for (k, c) in list.enumerated() where c == Int(indices[p]) { row.append(i); col.append(k); val.append(values[p]) }
            }
        }
        return CSRMatrix(rows: rows, cols: list.count, row: row, col: col, val: val)
    }
}
