import Foundation
import XCTest

/// The small reference fixtures committed in Tests/reference/ (made by
/// Tests/reference/make_small_fixtures.py from GraphST 1.1.1, scanpy 1.11.5, R mclust and numpy).
/// Unlike `SharedData` they are part of every checkout, so the tests that use them never skip.
public enum SmallFixtures {
    /// The folder Tests/reference of this checkout.
    public static var folder: URL { SharedData.packageRoot.appendingPathComponent("Tests/reference") }

    /// GraphST on the 300-spot synthetic slide, `10x` normalisation.
    public static let model10x = "model_synth300_10x.h5"
    /// The same slide, `kipf` normalisation.
    public static let modelKipf = "model_synth300_kipf.h5"
    /// scanpy seurat_v3 + normalize_total/log1p/scale, with a tied gene group across the HVG cut.
    public static let prep = "prep_synth300.h5"
    /// R mclust EEE, 7 components (the slide has 4 domains), on PCA-20 of the slide.
    public static let gmm = "gmm_synth300_eee7.h5"
    /// numpy's np.argsort of keys with many ties.
    public static let argsort = "argsort_numpy.h5"
    /// Every fixture `stgnn-dist verify` reads (model, prep, gmm).
    public static let verifiable = [model10x, modelKipf, prep, gmm]

    /// The path of a committed fixture. A missing file is an error, never a skip: these files are
    /// in the repository.
    public static func path(_ name: String) throws -> String {
        let p = folder.appendingPathComponent(name).path
        guard FileManager.default.fileExists(atPath: p) else {
            throw FixtureMissing(description: "\(p) is missing: it is committed with the repository "
                                 + "(regenerate with Tests/reference/make_small_fixtures.py)")
        }
        return p
    }

    struct FixtureMissing: Error, CustomStringConvertible { let description: String }
}
