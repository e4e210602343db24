import STComm
import STCore
import STData
import STPrep
import STTestSupport
import XCTest

/// The `prep` fixture as `PrepVerification` takes it.
func prepReference(_ f: PrepFixture) -> PrepReference {
    PrepReference(counts: f.counts, means: f.means, variances: f.variances, variancesNorm: f.variancesNorm,
                  highlyVariableRank: f.highlyVariableRank, highlyVariable: f.highlyVariable, X: f.X,
                  nTopGenes: f.nTopGenes, targetSum: f.targetSum, maxValue: f.maxValue)
}

func loadPrepFixture() throws -> PrepFixture {
    try PrepFixture(path: try SharedData.path("reference/prep_dlpfc151676.h5"))
}

/// Our seurat_v3 HVGs and preprocessing against a scanpy prep fixture, far inside the fixture
/// README's tolerances (1e-5, 1e-5, 2e-2, 10 genes, 1e-5): the same ranks (the order of tied genes
/// included), the same genes, the values to float32 rounding (numpy's float32 log1p, SVML on
/// AVX-512, and libm's differ by 1 ulp on ~5% of values).
func assertReproducesScanpy(_ f: PrepFixture, name: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let report = try PrepVerification.run(prepReference(f))
    print("\(name) (interpolate):\n\(report)")
    XCTAssertTrue(report.passed, "\(report)", file: file, line: line)
    let e = Dictionary(uniqueKeysWithValues: report.checks.map { ($0.name, $0.error) })
    XCTAssertLessThan(e["hvg/means"]!, 1e-12, file: file, line: line)
    XCTAssertLessThan(e["hvg/variances"]!, 1e-12, file: file, line: line)
    XCTAssertLessThan(e["hvg/variances_norm"]!, 1e-10, file: file, line: line)
    XCTAssertEqual(e["hvg/highly_variable_rank"]!, 0, "ranks, including the order of tied genes", file: file, line: line)
    XCTAssertEqual(e["hvg/highly_variable"]!, 0, file: file, line: line)
    XCTAssertLessThan(e["X"]!, 1e-6, file: file, line: line)
}

/// scanpy 1.11.5 seurat_v3 HVGs and GraphST preprocessing on DLPFC 151676 (3460 spots × 5000 genes).
final class HVGFixtureTests: XCTestCase {
    func testInterpolatingSurfaceReproducesScanpy() throws {
        try assertReproducesScanpy(try loadPrepFixture(), name: "prep_dlpfc151676")
    }

    /// The plain exact loess moves variances_norm by ~1% and changes a few selected genes, as the
    /// fixture README says: the interpolating surface matters.
    func testDirectSurfaceIsCloseButNotIdentical() throws {
        let report = try PrepVerification.run(prepReference(try loadPrepFixture()), hvg: HVGOptions(surface: .direct))
        print("prep_dlpfc151676 (direct):\n\(report)")
        XCTAssertTrue(report.passed, "\(report)")
        let e = Dictionary(uniqueKeysWithValues: report.checks.map { ($0.name, $0.error) })
        XCTAssertGreaterThan(e["hvg/variances_norm"]!, 1e-3)
    }

    /// 1 rank and 3 ranks (contiguous and interleaved rows) give the same HVGs and the same rows.
    func testDistributedMatchesSingleProcess() throws { try checkDistributedMatchesSingleProcess(try loadPrepFixture()) }
}

/// The small prep fixture committed in Tests/reference (scanpy 1.11.5 on the 300-spot synthetic
/// slide, 83 genes of which 40 are selected; gene_0013 and three copies of it tie exactly and
/// straddle the cut): always run.
final class SmallPrepFixtureTests: XCTestCase {
    func load() throws -> PrepFixture { try PrepFixture(path: try SmallFixtures.path(SmallFixtures.prep)) }

    func testReproducesScanpy() throws {
        try assertReproducesScanpy(try load(), name: "prep_synth300")
    }

    /// Which of the tied genes scanpy drops is numpy's argsort order, not the gene order: with
    /// tied genes ranked by gene index, gene_0013 would be selected and gene_0013_copy3 dropped.
    func testTieOrderDecidesTheSelection() throws {
        let f = try load()
        let numpy = try highlyVariableGenesSeuratV3(counts: f.counts, options: HVGOptions(nTopGenes: 40),
                                                    comm: SingleProcessCommunicator())
        let stable = try highlyVariableGenesSeuratV3(counts: f.counts, options: HVGOptions(nTopGenes: 40, tieOrder: .geneIndex),
                                                     comm: SingleProcessCommunicator())
        let scanpy = f.highlyVariable.enumerated().filter(\.element).map(\.offset)
        XCTAssertEqual(numpy.selected, scanpy)
        XCTAssertEqual([12, 80, 81, 82].map { numpy.rank[$0] }, [-1, 37, 39, 38])
        XCTAssertEqual(Set(stable.selected).symmetricDifference(scanpy), [12, 82])
        let report = try PrepVerification.run(prepReference(f), hvg: HVGOptions(tieOrder: .geneIndex))
        XCTAssertFalse(report.passed, "the fixture tells numpy's tie order from a stable one")
    }

    /// The plain exact loess instead of scanpy's interpolating surface: on 83 genes the k-d tree
    /// has few cells and the difference shows (measured: variances_norm off by 2.2%, one gene
    /// selected differently), so this fixture fails it, while the interpolating surface matches.
    func testDirectSurfaceIsTellable() throws {
        let report = try PrepVerification.run(prepReference(try load()), hvg: HVGOptions(surface: .direct))
        // (not printed: its FAIL lines are the expected outcome and would read as test failures)
        XCTAssertFalse(report.passed, "\(report)")
        let e = Dictionary(uniqueKeysWithValues: report.checks.map { ($0.name, $0.error) })
        XCTAssertGreaterThan(e["hvg/variances_norm"]!, 1e-2, "\(report)")
        XCTAssertGreaterThan(e["hvg/highly_variable"]!, 0, "\(report)")
    }

    func testDistributedMatchesSingleProcess() throws { try checkDistributedMatchesSingleProcess(try load()) }
}

/// 1 rank and 3 ranks (contiguous and interleaved rows) give the same HVGs and the same rows.
func checkDistributedMatchesSingleProcess(_ f: PrepFixture) throws {
    let hvg = HVGOptions(nTopGenes: f.nTopGenes)
    let single = try preprocess(counts: f.counts, hvg: hvg, comm: SingleProcessCommunicator())
    XCTAssertEqual(single.selectedGenes.count, f.nTopGenes)
    for interleaved in [false, true] {
        let parts = 3
        let rowsOf: [[Int]] = (0..<parts).map { r in
            interleaved ? Array(stride(from: r, to: f.counts.rows, by: parts))
                        : Array((r * f.counts.rows / parts)..<((r + 1) * f.counts.rows / parts))
        }
        let results = try ThreadGroupCommunicator.run(ranks: parts) { comm in
            try preprocess(counts: f.counts.selectingRows(rowsOf[comm.rank]), hvg: hvg, rowIDs: rowsOf[comm.rank], comm: comm)
        }
        for (r, res) in results.enumerated() {
            XCTAssertEqual(res.selectedGenes, single.selectedGenes)
            XCTAssertEqual(res.stats.rank, single.stats.rank)
            for j in 0..<f.counts.cols {
                XCTAssertEqual(res.stats.means[j], single.stats.means[j], accuracy: 1e-12 * abs(single.stats.means[j]))
                XCTAssertEqual(res.stats.variancesNorm[j], single.stats.variancesNorm[j],
                               accuracy: 1e-12 * abs(single.stats.variancesNorm[j]))
            }
            let expected = single.X.wideMatrix.selectingRows(rowsOf[r])
            XCTAssertEqual(res.X.wideMatrix.indptr, expected.indptr)
            XCTAssertEqual(res.X.wideMatrix.indices, expected.indices)
            var worst: Float = 0
            for p in 0..<expected.nnz { worst = max(worst, abs(res.X.values[p] - expected.values[p]) / expected.values[p]) }
            XCTAssertLessThan(worst, 1e-6, "rank \(r) interleaved \(interleaved)")
        }
    }
}
