@testable import STPrep
import XCTest

/// Loess against scikit-misc 0.5.3 (`skmisc.loess.loess`, netlib dloess). Expected values were
/// produced with this Python snippet (scikit-misc 0.5.3, numpy 2.4):
///
/// ```python
/// import numpy as np
/// from skmisc.loess import loess
/// def fit(x, y, span, degree, surface, weights=None):
///     m = loess(x, y, weights=weights, span=span, degree=degree, surface=surface); m.fit()
///     return np.asarray(m.outputs.fitted_values)
/// xA = np.array([0.0, 0.5, 0.5, 1.0, 1.25, 2.0, 2.0, 2.0, 3.0, 3.5, 4.0, 4.1, 5.0, 5.5, 6.0, 6.0,
///                7.0, 7.25, 8.0, 9.0, 9.5, 10.0, 11.0, 12.0])
/// yA = np.sin(xA) + 0.1 * xA
/// for span, deg, surf in [(0.4, 2, "interpolate"), (0.4, 2, "direct"), (0.5, 1, "interpolate"),
///                         (0.75, 0, "interpolate"), (0.3, 1, "interpolate")]:
///     print(repr(fit(xA, yA, span, deg, surf).tolist()))
/// rng = np.random.default_rng(3)
/// xW = np.round(rng.normal(size=30), 3); yW = np.round(np.cos(xW) + 0.2 * rng.normal(size=30), 3)
/// wW = np.round(rng.uniform(0.2, 2, size=30), 2)
/// print(repr(fit(xW, yW, 0.4, 2, "interpolate", wW).tolist()))
/// i = np.arange(500)
/// xG = np.log10(((i * 7919) % 97 + 1) / 300.0)          # gene-like: 97 distinct values, heavy ties
/// yG = xG + 0.3 * np.sin(1.7 * i) + 0.05 * xG * xG
/// fG = fit(xG, yG, 0.3, 2, "interpolate"); dG = fit(xG, yG, 0.3, 2, "direct")
/// idx = [0, 1, 2, 17, 96, 97, 250, 333, 498, 499]
/// print(fG[idx].tolist(), dG[idx].tolist(), fG.sum(), dG.sum())
/// ```
final class LoessTests: XCTestCase {
    let xA: [Double] = [0.0, 0.5, 0.5, 1.0, 1.25, 2.0, 2.0, 2.0, 3.0, 3.5, 4.0, 4.1, 5.0, 5.5, 6.0, 6.0, 7.0,
                        7.25, 8.0, 9.0, 9.5, 10.0, 11.0, 12.0]
    var yA: [Double] { xA.map { sin($0) + 0.1 * $0 } }

    func assertClose(_ a: [Double], _ b: [Double], rel: Double = 1e-10, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let scale = b.map { abs($0) }.max() ?? 1
        for i in 0..<min(a.count, b.count) where !(abs(a[i] - b[i]) <= rel * scale) {
            XCTFail("\(what)[\(i)]: \(a[i]) vs \(b[i])", file: file, line: line)
            return
        }
    }

    func testQuadraticInterpolateMatchesSkmisc() throws {
        let expected: [Double] = [-0.017403550699181168, 0.5512758105845397, 0.5512758105845397, 0.9327059364415172,
                        1.0567324815787638, 1.10992792645946, 1.10992792645946, 1.10992792645946,
                        0.43124495065765034, -0.011023039257759812, -0.3549360594062032, -0.40005985481787565,
                        -0.44792807278038144, -0.1249363676630375, 0.309609416379681, 0.309609416379681,
                        1.3315645100684788, 1.5344922484106902, 1.737310924070271, 1.2369475421499407,
                        0.888980089067758, 0.6837789364155149, 0.45837658716876273, 0.46039414201361895]
        let fit = try Loess(span: 0.4, degree: 2, surface: .interpolate).fit(x: xA, y: yA)
        assertClose(fit.fittedValues, expected, "span 0.4 degree 2 interpolate")
        XCTAssertEqual(fit.pseudoinverseFits, 0)
    }

    func testQuadraticDirectMatchesSkmisc() throws {
        let expected: [Double] = [-0.01758312233086129, 0.5512758105845396, 0.5512758105845396, 0.9327059364415168,
                        1.0567324815787638, 1.1099279264594593, 1.1099279264594593, 1.1099279264594593,
                        0.43124495065765045, -0.011023039257759763, -0.3549360594062032, -0.400059854817876,
                        -0.4479280727803815, -0.1249363676630375, 0.3096094163796811, 0.3096094163796811,
                        1.3315645100684788, 1.5344922484106913, 1.7373109240702718, 1.2369475421499394,
                        0.8889800890677577, 0.6837789364155146, 0.45837658716876273, 0.45877424995816113]
        let fit = try Loess(span: 0.4, degree: 2, surface: .direct).fit(x: xA, y: yA)
        assertClose(fit.fittedValues, expected, "span 0.4 degree 2 direct")
        XCTAssertNil(fit.tree)
    }

    func testLinearAndConstantMatchSkmisc() throws {
        let lin05: [Double] = [0.36947009348803905, 0.5523608641811109, 0.5523608641811109, 0.707815768187044,
                     0.7718565973379288, 0.8835813992602568, 0.8835813992602568, 0.8835813992602568,
                     0.36989444416314726, 0.1456062111839564, 0.009132821132579239, 0.007800297123792654,
                     0.08935474443312497, 0.2880707063152542, 0.4683536101777038, 0.4683536101777038,
                     0.9205508981303493, 1.017222256084791, 1.1358687090275554, 0.9703690997030001,
                     0.8747673511761291, 0.7702157814789378, 0.5557627127274899, 0.3159476516795395]
        let const075: [Double] = [0.5417570776599748, 0.5264518747782992, 0.5264518747782992, 0.5075498671045706,
                        0.5009341644187657, 0.473290810018421, 0.473290810018421, 0.473290810018421,
                        0.4184739551854981, 0.3420248601992872, 0.2456325230427604, 0.24151091966089513,
                        0.3400496970301329, 0.38060063421911966, 0.4686509942741964, 0.4686509942741964,
                        0.620344946418099, 0.6379522801490877, 0.6570218463244976, 0.702223780962506,
                        0.7115063211113828, 0.7154985108472894, 0.7366786312425788, 0.7515477451092492]
        let lin03: [Double] = [0.04579740495140951, 0.49001958153889685, 0.49001958153889685, 0.9098311997840408,
                     1.0739846193555862, 1.0153265591173504, 1.0153265591173504, 1.0153265591173504,
                     0.4230201319827027, 0.03332721852228249, -0.18678201177737627, -0.22538914560968493,
                     -0.23779851776304067, -0.09179564485204432, 0.35862862285322494, 0.35862862285322494,
                     1.2100153227192343, 1.422478070905909, 1.4851101151668797, 1.191726476006886,
                     0.8930324906125551, 0.693033414463494, 0.5012646329916227, 0.3225228176039742]
        assertClose(try Loess(span: 0.5, degree: 1).fit(x: xA, y: yA).fittedValues, lin05, "degree 1 span 0.5")
        assertClose(try Loess(span: 0.75, degree: 0).fit(x: xA, y: yA).fittedValues, const075, "degree 0 span 0.75")
        assertClose(try Loess(span: 0.3, degree: 1).fit(x: xA, y: yA).fittedValues, lin03, "degree 1 span 0.3")
    }

    func testPriorWeightsMatchSkmisc() throws {
        let x: [Double] = [2.041, -2.556, 0.418, -0.568, -0.453, -0.216, -2.02, -0.232, -0.865, 3.323, 0.226, -0.353, -0.281,
                 -0.668, -1.055, -0.391, 0.482, -0.239, 0.958, -0.2, 0.024, 1.546, 0.545, -0.505, -0.183, 0.541, 1.935,
                 -0.27, -0.244, 1.002]
        let y: [Double] = [-0.63, -0.892, 1.09, 0.959, 0.917, 1.111, -1.0, 1.177, 0.457, -1.317, 1.03, 1.078, 0.872, 0.57, 0.498,
                 0.914, 1.167, 1.121, 0.614, 1.202, 0.959, -0.16, 0.972, 0.992, 0.94, 0.701, -0.31, 0.465, 1.108, 0.637]
        let w: [Double] = [1.54, 1.55, 1.22, 1.86, 0.57, 1.73, 0.5, 1.94, 1.32, 1.29, 1.95, 1.62, 1.62, 0.3, 0.86, 0.35, 0.55,
                 0.58, 1.75, 0.43, 0.73, 1.09, 1.73, 1.94, 1.47, 0.58, 1.18, 1.47, 0.29, 1.42]
        let expected: [Double] = [-0.5185782550312796, -0.9159771244833056, 1.024365179547325, 0.92631520555122,
                        1.0294631357421886, 1.0025651717262407, -0.7684988840470603, 0.9660313026757067,
                        0.5359481103520869, -1.3240928810900368, 1.048157312731529, 0.9168100201533995,
                        0.8961228740181498, 0.786586383042626, 0.35610546292156103, 0.9668671059205701,
                        1.0004901262805577, 0.9539686195192121, 0.6374285329656361, 1.0334406983974325,
                        1.0437709869650609, 0.014648928439096376, 0.9716189978584924, 0.999853002010237,
                        1.0591412833771625, 0.9735149032493482, -0.42106579739815686, 0.9062817928450475,
                        0.9439998735380231, 0.5951445507180715]
        assertClose(try Loess(span: 0.4, degree: 2).fit(x: x, y: y, weights: w).fittedValues, expected, "weighted")
    }

    /// Gene-like predictor with heavy ties (500 points, 97 distinct values): exercises netlib's
    /// tie rule when splitting k-d tree cells and the neighbourhood ties at the q-th distance.
    func testTiedGeneLikeDataMatchesSkmisc() throws {
        let n = 500
        let x: [Double] = (0..<n).map { (i: Int) -> Double in log10(Double((i * 7919) % 97 + 1) / 300.0) }
        let y: [Double] = (0..<n).map { (i: Int) -> Double in
            let xi: Double = x[i]
            let wiggle: Double = 0.3 * sin(1.7 * Double(i))
            return xi + wiggle + 0.05 * xi * xi
        }
        let idx = [0, 1, 2, 17, 96, 97, 250, 333, 498, 499]
        let interp: [Double] = [-2.1393807263819613, -0.6604620049500782, -0.9733284064965385, -0.5233281615189517,
                      -0.8685288487790817, -2.1393807263819613, -0.5604649186313504, -0.5321338920695796,
                      -0.9320918318807249, -0.49644326191353266]
        let direct: [Double] = [-2.1394151576535743, -0.6606193289433533, -0.9733994595547568, -0.5233281615189521,
                      -0.8685288487790799, -2.139415157653577, -0.560484092888851, -0.5321688821899371,
                      -0.9320591250708954, -0.4964402803414808]
        let fi = try Loess(span: 0.3, degree: 2, surface: .interpolate).fit(x: x, y: y)
        let fd = try Loess(span: 0.3, degree: 2, surface: .direct).fit(x: x, y: y)
        assertClose(idx.map { fi.fittedValues[$0] }, interp, "interpolate")
        assertClose(idx.map { fd.fittedValues[$0] }, direct, "direct")
        XCTAssertEqual(fi.fittedValues.reduce(0, +), -431.40864710941764, accuracy: 1e-9)
        XCTAssertEqual(fd.fittedValues.reduce(0, +), -431.40139530191664, accuracy: 1e-9)
    }

    /// The interpolating surface passes through the vertex fits, which are exact local fits.
    func testSurfaceInterpolatesVertexFits() throws {
        let fit = try Loess(span: 0.4, degree: 2).fit(x: xA, y: yA)
        let tree = try XCTUnwrap(fit.tree)
        XCTAssertGreaterThan(tree.vertices.count, 2)
        for (v, t) in tree.vertices.enumerated() {
            XCTAssertEqual(tree.evaluate(t), tree.values[v], accuracy: 1e-12, "vertex \(v) at \(t)")
        }
        // Cells of a 1-D tree: lower bound < upper bound, split values inside their cell.
        for c in 0..<tree.cellCount {
            let (a, b) = tree.bounds[c]
            XCTAssertLessThan(tree.vertices[Int(a)], tree.vertices[Int(b)])
            if tree.isSplit[c] {
                XCTAssertGreaterThan(tree.splitValue[c], tree.vertices[Int(a)])
                XCTAssertLessThan(tree.splitValue[c], tree.vertices[Int(b)])
            }
        }
    }

    /// With two distinct x values a quadratic is rank-deficient: netlib uses the pseudo-inverse
    /// (scikit-misc raises there); the minimum-norm local fit reproduces the group means exactly.
    func testPseudoinverseOnRankDeficientDesign() throws {
        let x: [Double] = (0..<40).map { (i: Int) -> Double in Double(i % 2) }
        let y: [Double] = (0..<40).map { (i: Int) -> Double in Double(i % 2) * 3 + Double(i % 5) * 0.1 }
        let fit = try Loess(span: 1, degree: 2, surface: .direct).fit(x: x, y: y)
        XCTAssertGreaterThan(fit.pseudoinverseFits, 0)
        var mean = [0.0, 0.0]
        for i in 0..<40 { mean[i % 2] += y[i] / 20 }
        for i in 0..<40 { XCTAssertEqual(fit.fittedValues[i], mean[i % 2], accuracy: 1e-12) }
    }

    func testErrorsWhereNetlibFails() {
        // q = ⌊5·0.3⌋ = 1 point per neighbourhood, a quadratic needs 4.
        XCTAssertThrowsError(try Loess(span: 0.3).fit(x: [1, 2, 3, 4, 5], y: [1, 2, 3, 4, 5]))
        // All x equal: every point lies on the neighbourhood boundary of every vertex.
        XCTAssertThrowsError(try Loess(span: 0.5).fit(x: [Double](repeating: 2, count: 20), y: (0..<20).map(Double.init)))
        // More than q tied values at a vertex: zero-width neighbourhood.
        let x: [Double] = [Double](repeating: 1, count: 30) + (0..<10).map { 2 + Double($0) }
        XCTAssertThrowsError(try Loess(span: 0.3).fit(x: x, y: x))
        XCTAssertThrowsError(try Loess(span: 1.5).fit(x: xA, y: yA))
        XCTAssertThrowsError(try Loess(span: 0.5).fit(x: [1, .nan, 3], y: [1, 2, 3]))
    }

    func testSmallSVD() {
        let a: [Double] = [3, 1, 2, 0, 4, 1, 0, 0, 2]
        let (s, U, V) = loessSmallSVD(a, 3)
        XCTAssertGreaterThanOrEqual(s[0], s[1]); XCTAssertGreaterThanOrEqual(s[1], s[2])
        for i in 0..<3 {
            for j in 0..<3 {
                var r = 0.0
                for k in 0..<3 { r += U[i * 3 + k] * s[k] * V[j * 3 + k] }
                XCTAssertEqual(r, a[i * 3 + j], accuracy: 1e-13)
            }
        }
    }
}
