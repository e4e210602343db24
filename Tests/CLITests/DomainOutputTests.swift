import XCTest
import Foundation
import STTestSupport
import STData

/// `run` to domains, as a user runs it: the files, their agreement with each other, the pictures.
final class DomainOutputTests: XCTestCase {
    func testBuiltInSlideEndsWithScoredRefinedDomainsAndPictures() throws {
        let dir = try Executable.tempDir("domains")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Executable.run(["run", "--synthetic-spots", "800", "--synthetic-genes", "150", "--epochs", "80",
                                    "--refine", "--output", dir, "--progress-every", "0"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // The built-in slide is scored against its truth without --label, before and after refinement.
        XCTAssertTrue(r.stderr.contains("domains vs obs[\"ground_truth\"] (800 labelled spots): ARI"), r.stderr)
        XCTAssertTrue(r.stderr.contains("(before refinement: ARI"), r.stderr)

        let s = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
        let d = try XCTUnwrap(s["domains"] as? [String: Any])
        let c = try XCTUnwrap(d["clustering"] as? [String: Any])
        let cc = try XCTUnwrap(c["config"] as? [String: Any])
        XCTAssertEqual(cc["clusters"] as? Int, 5)
        XCTAssertEqual(d["clusters_from"] as? String, "synthetic slide")
        XCTAssertEqual(cc["method"] as? String, "gmm")
        XCTAssertEqual(d["cluster_on"] as? String, "emb")
        XCTAssertEqual(d["pcs"] as? Int, 20)
        XCTAssertEqual(c["refine_radius"] as? Int, 20)          // auto: ⌊800 / (8·5)⌋
        XCTAssertEqual((d["sizes"] as? [Int])?.reduce(0, +), 800)
        let ll = try XCTUnwrap(c["loglik"] as? Double), bic = try XCTUnwrap(c["bic"] as? Double)
        // mclust's BIC with EEE's parameter count (K−1) + K·p + p(p+1)/2 = 4 + 100 + 210.
        XCTAssertEqual(bic, 2 * ll - 314 * log(800.0), accuracy: 1e-6 * abs(bic))
        // A layered synthetic slide is easy: the domains must find its layers.
        let ari = try XCTUnwrap(s["ari"] as? Double), nmi = try XCTUnwrap(s["nmi"] as? Double)
        XCTAssertGreaterThan(ari, 0.6)
        XCTAssertGreaterThan(nmi, 0.6)
        XCTAssertNotNil(s["ari_unrefined"] as? Double)
        XCTAssertNotNil(c["seconds_refine"] as? Double)
        for k in ["embed", "pca", "cluster", "write", "pictures"] {
            XCTAssertNotNil((d["seconds"] as? [String: Double])?[k], "seconds of \(k)")
        }

        // result.h5ad: domain categorical 1…K, equal to domains.csv; emb_pca N × 20; uns values.
        let res = try ResultFile(path: dir + "/result.h5ad")
        XCTAssertEqual(res.embeddingPCA?.rows, 800)
        XCTAssertEqual(res.embeddingPCA?.cols, 20)
        XCTAssertNil(res.embedding)
        let domains = try XCTUnwrap(res.domains)
        guard case .categorical(_, let cats, _)? = res.obs["domain"] else { return XCTFail("domain is not categorical") }
        XCTAssertEqual(cats, (1...5).map(String.init))
        XCTAssertNotNil(res.obs["ground_truth"], "the input's obs columns are kept")
        guard case .dict(let u)? = res.uns["stgnn_dist"], case .dict(let ud)? = u["domains"] else { return XCTFail("uns") }
        XCTAssertEqual(ud["ari"], .double(ari))
        XCTAssertEqual(ud["clusters"], .int(5))
        let csv = try String(contentsOfFile: dir + "/domains.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.first, "spot,x,y,domain")
        XCTAssertEqual(csv.count, 801)
        for (i, line) in csv.dropFirst().enumerated() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            XCTAssertEqual(String(f[0]), res.obs.index[i])
            XCTAssertEqual(Double(f[1]), res.spatial[2 * i])
            XCTAssertEqual(Double(f[2]), res.spatial[2 * i + 1])
            XCTAssertEqual(String(f[3]), domains[i])
        }

        // Pictures: valid PNGs of the stated width, with many colours (not blank), the domain
        // map holding both panels' palette colours.
        let map = try PNGProbe(path: dir + "/domains.png")
        XCTAssertEqual(map.width, 1650)            // refined, before refinement, truth: 550 each
        XCTAssertGreaterThan(map.height, 200)
        XCTAssertGreaterThan(map.colours, 20)
        for c in [(UInt8(0x1f), UInt8(0x77), UInt8(0xb4)), (0xff, 0x7f, 0x0e), (0x27, 0x9e, 0x68)] {   // scanpy's first colours
            XCTAssertGreaterThan(map.count(of: c), 500, "colour \(c) on the domain map")
        }
        let loss = try PNGProbe(path: dir + "/loss.png")
        XCTAssertEqual(loss.width, 1000)
        XCTAssertEqual(loss.height, 400)
        XCTAssertGreaterThan(loss.colours, 20)
    }

    func testNoDomainsAndNoPicturesWriteTheEmbeddingOnly() throws {
        let dir = try Executable.tempDir("nodomains")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Executable.run(["run", "--synthetic-spots", "300", "--synthetic-genes", "100", "--epochs", "3",
                                    "--no-domains", "--no-pictures", "--output", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let res = try ResultFile(path: dir + "/result.h5ad")
        XCTAssertNil(res.domains)
        XCTAssertEqual(res.embeddingPCA?.cols, 20)
        for f in ["domains.csv", "domains.png", "loss.png"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/" + f), f)
        }
    }

    func testUnknownLabelColumnIsRefusedBeforeTraining() throws {
        let dir = try Executable.tempDir("badlabel")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/slide.h5ad"
        XCTAssertEqual(try Executable.run(["synth", "--spots", "300", "--genes", "100", "--output", file]).status, 0)
        let r = try Executable.run(["run", "--input", file, "--label", "layer", "--epochs", "600", "--output", dir + "/out"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("field 'obs/layer': no such column for --label (it has ground_truth)"), r.stderr)
        XCTAssertFalse(r.stderr.contains("epoch"), "refused before the first epoch: \(r.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/metrics.jsonl"))
    }

    func testReconstructionIsStreamedIntoObsmEmb() throws {
        let dir = try Executable.tempDir("emb")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Executable.run(["run", "--synthetic-spots", "400", "--synthetic-genes", "110", "--epochs", "5",
                                    "--clusters", "3", "--cluster-method", "kmeans", "--write-reconstruction",
                                    "--no-pictures", "--output", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("writing obsm[\"emb\"] = H: 400 × 110 float32"), r.stderr)
        let res = try ResultFile(path: dir + "/result.h5ad")
        let h = try XCTUnwrap(res.embedding)
        XCTAssertEqual(h.rows, 400)
        XCTAssertEqual(h.cols, 110)
        XCTAssertTrue(h.data.allSatisfy(\.isFinite))
        XCTAssertEqual(Set(res.domains!.compactMap { $0 }).count, 3)
    }
}
