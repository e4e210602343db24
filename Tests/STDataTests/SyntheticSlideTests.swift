import STCore
@testable import STData
import XCTest

final class SyntheticSlideTests: XCTestCase {
    func testDeterministicAndSeeded() throws {
        let p = SyntheticSlide.Parameters(spots: 500, genes: 120, domains: 4, markersPerDomain: 10, seed: 3)
        let a = try SyntheticSlide(p), b = try SyntheticSlide(p)
        XCTAssertEqual(a, b)
        var q = p; q.seed = 4
        let c = try SyntheticSlide(q)
        XCTAssertEqual(c.coordinates, a.coordinates)   // the array does not depend on the seed
        XCTAssertNotEqual(c.counts, a.counts)
        XCTAssertNotEqual(c.markerGenes, a.markerGenes)
    }

    func testShapesNamesAndCounts() throws {
        let s = try SyntheticSlide()
        let p = s.parameters
        XCTAssertEqual(p, SyntheticSlide.Parameters())
        let n = p.spots, g = p.genes
        XCTAssertEqual(s.counts.rows, n); XCTAssertEqual(s.counts.cols, g)
        XCTAssertEqual(s.coordinates.count, 2 * n)
        XCTAssertEqual(s.domains.count, n)
        XCTAssertEqual(s.geneNames.count, g); XCTAssertEqual(s.spotNames.count, n)
        XCTAssertEqual(s.geneNames.first, "gene_0001"); XCTAssertEqual(s.geneNames.last, "gene_0400")
        XCTAssertEqual(s.spotNames.first, "spot_0001"); XCTAssertEqual(s.spotNames.last, "spot_3000")
        XCTAssertEqual(Set(s.geneNames).count, g)
        XCTAssertEqual(SyntheticSlide.names("gene", 12345).first, "gene_00001")
        XCTAssertEqual(s.domainNames, ["domain_1", "domain_2", "domain_3", "domain_4", "domain_5"])
        XCTAssertEqual(s.markerGenes.count, p.domains)
        XCTAssertEqual(Set(s.markerGenes.flatMap { $0 }).count, p.domains * p.markersPerDomain)

        // Every domain non-empty; every spot has ≥ 1 count; values positive integers; rows sorted.
        var perDomain = [Int](repeating: 0, count: p.domains)
        for d in s.domains { perDomain[Int(d)] += 1 }
        XCTAssertTrue(perDomain.allSatisfy { $0 > 0 }, "\(perDomain)")
        var totals = [Double]()
        for i in 0..<n {
            let lo = s.counts.indptr[i], hi = s.counts.indptr[i + 1]
            XCTAssertGreaterThan(hi, lo, "spot \(i) has no counts")
            var t = 0.0
            for q in lo..<hi {
                let v = s.counts.values[q]
                XCTAssertTrue(v >= 1 && v == v.rounded(), "count \(v)")
                if q > lo { XCTAssertLessThan(s.counts.indices[q - 1], s.counts.indices[q]) }
                t += Double(v)
            }
            totals.append(t)
        }
        // Library sizes vary (log-normal, CV 0.35, times domain factors) around the mean.
        let mean = totals.reduce(0, +) / Double(n)
        let sd = (totals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n - 1)).squareRoot()
        XCTAssertEqual(mean, p.meanLibrarySize, accuracy: 0.2 * p.meanLibrarySize)
        XCTAssertGreaterThan(sd / mean, 0.25)
        // Sparse like real UMI data.
        let density = Double(s.counts.nnz) / Double(n * g)
        XCTAssertTrue(density > 0.2 && density < 0.9, "density \(density)")
    }

    func testSmallSlidesStillHaveEveryDomainAndCount() throws {
        // As many spots as domains, tiny libraries: the ≥ 1 spot and ≥ 1 count rules kick in.
        let s = try SyntheticSlide(.init(spots: 6, genes: 12, domains: 6, markersPerDomain: 2, meanLibrarySize: 0.5))
        XCTAssertEqual(Set(s.domains), Set(0..<6))
        for i in 0..<6 { XCTAssertGreaterThan(s.counts.indptr[i + 1], s.counts.indptr[i]) }
    }

    func testHexagonalVisiumLikeArray() throws {
        let s = try SyntheticSlide(.init(spots: 1000, genes: 50, domains: 3, markersPerDomain: 5))
        let c = s.coordinates
        func dist(_ i: Int, _ j: Int) -> Double {
            ((c[2 * i] - c[2 * j]) * (c[2 * i] - c[2 * j]) + (c[2 * i + 1] - c[2 * j + 1]) * (c[2 * i + 1] - c[2 * j + 1])).squareRoot()
        }
        // Nearest-neighbour distance of every spot is the pitch, and interior spots have six at it.
        var six = 0
        for i in 0..<1000 {
            let d = (0..<1000).filter { $0 != i }.map { dist(i, $0) }
            XCTAssertEqual(d.min()!, 100, accuracy: 1e-9)
            if d.filter({ abs($0 - 100) < 1e-9 }).count == 6 { six += 1 }
        }
        XCTAssertGreaterThan(six, 800)
    }

    func testLayersAreContiguousBands() throws {
        let s = try SyntheticSlide()
        // Horizontal lattice neighbours (same row, adjacent columns) mostly share their domain.
        var same = 0, pairs = 0
        for i in 0..<(s.parameters.spots - 1) where s.coordinates[2 * i + 1] == s.coordinates[2 * i + 3] {
            pairs += 1
            if s.domains[i] == s.domains[i + 1] { same += 1 }
        }
        XCTAssertGreaterThan(Double(same) / Double(pairs), 0.9)
    }

    func testMarkersAreHigherInTheirDomain() throws {
        let s = try SyntheticSlide()
        let k = s.parameters.domains, g = s.parameters.genes
        // Mean library-normalised expression per (domain, gene).
        var mean = [Double](repeating: 0, count: k * g)
        var size = [Double](repeating: 0, count: k)
        for i in 0..<s.parameters.spots {
            let lo = s.counts.indptr[i], hi = s.counts.indptr[i + 1]
            let total = s.counts.values[lo..<hi].reduce(0, +)
            let d = Int(s.domains[i])
            size[d] += 1
            for q in lo..<hi { mean[d * g + Int(s.counts.indices[q])] += Double(s.counts.values[q] / total) }
        }
        for d in 0..<k { for j in 0..<g { mean[d * g + j] /= size[d] } }
        for d in 0..<k {
            for gene in s.markerGenes[d] {
                let own = mean[d * g + gene]
                for e in 0..<k where e != d {
                    XCTAssertGreaterThan(own, 1.3 * mean[e * g + gene], "marker \(gene) of domain \(d) vs domain \(e)")
                }
            }
        }
    }

    func testRowSubsetsMatchTheWholeSlide() throws {
        let p = SyntheticSlide.Parameters(spots: 400, genes: 80, domains: 4, markersPerDomain: 5, seed: 9)
        let whole = try SyntheticSlide(p)
        let rows = [399, 0, 17, 18, 250]
        XCTAssertEqual(try SyntheticSlide.counts(rows: rows, parameters: p), whole.counts.selectingRows(rows))
        XCTAssertThrowsError(try SyntheticSlide.counts(rows: [400], parameters: p))
    }

    /// The layout alone (what each rank of a run builds) equals the whole slide without its counts,
    /// generates the same rows, and predicts each row's nnz closely enough to balance by it.
    func testLayoutWithoutCountsMatchesTheWholeSlide() throws {
        let p = SyntheticSlide.Parameters(spots: 3000, genes: 200, domains: 4, markersPerDomain: 10, seed: 5)
        let whole = try SyntheticSlide(p)
        let layout = try SyntheticSlide.Layout(p)
        XCTAssertEqual(layout.coordinates, whole.coordinates)
        XCTAssertEqual(layout.domains, whole.domains)
        XCTAssertEqual(layout.markerGenes, whole.markerGenes)
        XCTAssertEqual(layout.spotNames, whole.spotNames)
        XCTAssertEqual(layout.geneNames, whole.geneNames)
        XCTAssertEqual(layout.domainNames, whole.domainNames)
        let rows = [2999, 0, 1, 1500, 42]
        XCTAssertEqual(try layout.counts(rows: rows), whole.counts.selectingRows(rows))
        XCTAssertThrowsError(try layout.counts(rows: [3000]))

        // Expected vs realised nnz: unbiased over the slide, a few percent per row, and within
        // half a percent over tiles of 300 spots (what a partition balances).
        let expected = layout.expectedRowNNZ()
        let realised = (0..<p.spots).map { Double(whole.counts.indptr[$0 + 1] - whole.counts.indptr[$0]) }
        let total = realised.reduce(0, +)
        XCTAssertEqual(expected.reduce(0, +) / total, 1, accuracy: 0.005)
        let meanRelative = zip(expected, realised).map { abs($0 - $1) / $1 }.reduce(0, +) / Double(p.spots)
        XCTAssertLessThan(meanRelative, 0.08, "mean |expected − realised| / realised per row")
        for t in stride(from: 0, to: p.spots, by: 300) {
            let e = expected[t..<(t + 300)].reduce(0, +), r = realised[t..<(t + 300)].reduce(0, +)
            XCTAssertEqual(e / r, 1, accuracy: 0.005, "tile \(t)..<\(t + 300)")
        }
    }

    func testInvalidParametersAreInputErrors() {
        for p in [SyntheticSlide.Parameters(spots: 3, domains: 5),
                  SyntheticSlide.Parameters(genes: 50, domains: 5, markersPerDomain: 20),
                  SyntheticSlide.Parameters(domains: 0),
                  SyntheticSlide.Parameters(meanLibrarySize: 0)] {
            XCTAssertThrowsError(try SyntheticSlide(p)) { e in
                XCTAssertTrue(e is InputError && "\(e)".contains("synthetic"), "\(e)")
            }
        }
    }

    func testSamplersHaveTheirMoments() {
        var rng = Xoshiro256(seed: 1, stream: 77)
        func moments(_ draw: (inout Xoshiro256) -> Double, _ m: Int = 40_000) -> (Double, Double) {
            var s = 0.0, s2 = 0.0
            for _ in 0..<m { let x = draw(&rng); s += x; s2 += x * x }
            let mean = s / Double(m)
            return (mean, (s2 - Double(m) * mean * mean) / Double(m - 1))
        }
        let (nm, nv) = moments { SyntheticModel.normal(&$0) }
        XCTAssertEqual(nm, 0, accuracy: 0.02); XCTAssertEqual(nv, 1, accuracy: 0.03)
        for a in [0.5, 2.5, 10] {
            let (m, v) = moments { SyntheticModel.gamma(shape: a, &$0) }
            XCTAssertEqual(m, a, accuracy: 0.03 * a); XCTAssertEqual(v, a, accuracy: 0.06 * a)
        }
        for lambda in [0.3, 4, 25, 300] {
            let (m, v) = moments { Double(SyntheticModel.poisson(lambda, &$0)) }
            XCTAssertEqual(m, lambda, accuracy: 0.03 * lambda); XCTAssertEqual(v, lambda, accuracy: 0.06 * lambda)
        }
        for (mu, r) in [(0.2, 2.0), (3.0, 5.0), (9.5, 2.5), (40.0, 4.0)] {
            let (m, v) = moments { Double(SyntheticModel.negativeBinomial(mean: mu, shape: r, &$0)) }
            XCTAssertEqual(m, mu, accuracy: 0.03 * mu)
            XCTAssertEqual(v, mu + mu * mu / r, accuracy: 0.08 * (mu + mu * mu / r))
        }
    }
}
