import XCTest
import STTestSupport
@testable import STPlot

final class RenderTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "stplot-tests-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Where the example images go: `STPLOT_EXAMPLES=docs/images swift test --filter STPlotTests`
    /// rewrites docs/images/domains-example.png and loss-example.png; otherwise a temp dir.
    func examplePath(_ name: String) -> String {
        if let d = ProcessInfo.processInfo.environment["STPLOT_EXAMPLES"] { return d + "/" + name }
        return dir + "/" + name
    }

    static func domainPanels(_ slide: HexSlide) -> [DomainMap.Panel] {
        var rng = SplitMix(state: 7)
        let n = slide.layer.count
        // "Predicted" domains: the layers, renumbered, with noise (boundary errors and speckle).
        let rename = [3, 1, 4, 2, 5]
        var predicted = [String?]()
        for i in 0..<n {
            var l = slide.layer[i]
            if rng.uniform() < 0.06 { l = min(4, max(0, l + (rng.uniform() < 0.5 ? -1 : 1))) }
            predicted.append(String(rename[l]))
        }
        // Ground truth with unannotated spots: a patch at the left edge and 3 % at random.
        let names = ["Layer1", "Layer2", "Layer3", "Layer4", "WM"]
        var truth = [String?]()
        for i in 0..<n {
            let x = slide.coordinates[2 * i], y = slide.coordinates[2 * i + 1]
            let patch = x < 2300 && y > 2400 && y < 3300
            truth.append(patch || rng.uniform() < 0.03 ? nil : names[slide.layer[i]])
        }
        return [
            DomainMap.Panel(title: "stgnn-dist domains (GMM EEE, K = 5) — ARI 0.83", labels: predicted,
                            categories: ["1", "2", "3", "4", "5"]),
            DomainMap.Panel(title: "ground truth (layer)", labels: truth, categories: names),
        ]
    }

    func testDomainMapRendersHexSlideWithGroundTruth() throws {
        let slide = HexSlide.lattice(rows: 64, columns: 64)
        let panels = Self.domainPanels(slide)
        let path = examplePath("domains-example.png")
        let t0 = Date()
        try DomainMap.render(to: path, coordinates: slide.coordinates, panels: panels, width: 1000,
                             title: "Synthetic hexagonal slide, \(slide.layer.count) spots")
        print("domain map of \(slide.layer.count) spots: \(Date().timeIntervalSince(t0)) s")
        let png = try PNGProbe(path: path)
        XCTAssertEqual(png.width, 1000)
        XCTAssertGreaterThan(png.height, 300)
        XCTAssertLessThan(png.height, 800)
        XCTAssertGreaterThan(png.histogram.count, 50, "many distinct colours (antialiased dots and text)")
        // Every category's palette colour fills whole pixels, and so does the unlabelled grey.
        for c in Palette.categorical(5) {
            XCTAssertGreaterThan(png.count(of: c.rgb8), 500, "palette colour \(c.hex) appears")
        }
        XCTAssertGreaterThan(png.count(of: Color.unlabelled.rgb8), 100, "unlabelled grey appears")
        XCTAssertGreaterThan(png.count(of: Color.white.rgb8), png.width * png.height / 10, "white background")
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        XCTAssertLessThan(size, 300_000)
    }

    func testDomainMapAtTwiceTheScaleHasTwiceThePixels() throws {
        let slide = HexSlide.lattice(rows: 20, columns: 24)
        let panels = [DomainMap.Panel(title: "layers", labels: slide.layer.map { "L\($0 + 1)" })]
        let p1 = dir + "/s1.png", p2 = dir + "/s2.png"
        try DomainMap.render(to: p1, coordinates: slide.coordinates, panels: panels, width: 500)
        try DomainMap.render(to: p2, coordinates: slide.coordinates, panels: panels, width: 500, scale: 2)
        let a = try PNGProbe(path: p1), b = try PNGProbe(path: p2)
        XCTAssertEqual(b.width, 2 * a.width)
        XCTAssertEqual(b.height, 2 * a.height)
        // Empty categories: natural order of the labels present.
        XCTAssertEqual(DomainMap.naturalSorted(["L10", "L2", "L1"]), ["L1", "L2", "L10"])
    }

    /// The map does not depend on the coordinates' units: a slide in units of 10⁻³⁰⁰, 10³⁰⁰ or
    /// shifted by 10¹⁵ draws the same dots as in its own units (the pixel counts of every colour
    /// agree to within antialiasing).
    func testDomainMapIndependentOfUnits() throws {
        let slide = HexSlide.lattice(rows: 20, columns: 24)
        let panels = [DomainMap.Panel(title: "layers", labels: slide.layer.map { "L\($0 + 1)" })]
        let base = dir + "/units-1.png"
        try DomainMap.render(to: base, coordinates: slide.coordinates, panels: panels, width: 500)
        let reference = try PNGProbe(path: base)
        for (name, f) in [("1e-300", { (v: Double) in v * 1e-300 }), ("1e300", { $0 * 1e300 }), ("+1e6", { $0 + 1e6 })] {
            let path = dir + "/units-\(name).png"
            try DomainMap.render(to: path, coordinates: slide.coordinates.map(f), panels: panels, width: 500)
            let png = try PNGProbe(path: path)
            XCTAssertEqual(png.height, reference.height, name)
            for c in Palette.categorical(Set(slide.layer).count) {
                let want = reference.count(of: c.rgb8), got = png.count(of: c.rgb8)
                XCTAssertGreaterThan(want, 200)
                XCTAssertEqual(Double(got), Double(want), accuracy: 0.05 * Double(want), "\(name): colour \(c.hex)")
            }
        }
    }

    func testDomainMapManyCategoriesAtPrintScale() throws {
        // 24 sectors of a disc (scanpy's default_28), scattered points, two legend columns, 2×.
        var rng = SplitMix(state: 3)
        var c = [Double](), labels = [String?]()
        for _ in 0..<20000 {
            let r = 1000 * rng.uniform().squareRoot(), a = 2 * Double.pi * rng.uniform()
            c += [r * cos(a), r * sin(a)]
            labels.append("cluster \(Int(a / (2 * .pi) * 24) + 1)")
        }
        let path = dir + "/domains-24.png"
        try DomainMap.render(to: path, coordinates: c, panels: [.init(title: "24 clusters", labels: labels)],
                             width: 700, scale: 2)
        let png = try PNGProbe(path: path)
        XCTAssertEqual(png.width, 1400)
        let palette = Palette.categorical(24)
        XCTAssertEqual(palette.map(\.hex), Array(Palette.default28.prefix(24)).map { $0.lowercased() })
        for col in palette { XCTAssertGreaterThan(png.count(of: col.rgb8), 50, "colour \(col.hex) appears") }
    }

    func testDomainMapRejectsBadInput() {
        let c = [0.0, 0, 1, 0, 0, 1]
        XCTAssertThrowsError(try DomainMap.render(to: dir + "/x.png", coordinates: c,
                                                  panels: [.init(title: "t", labels: ["a", "b"])])) { e in
            XCTAssertTrue("\(e)".contains("2 labels for 3 spots"), "\(e)")
        }
        XCTAssertThrowsError(try DomainMap.render(to: dir + "/x.png", coordinates: c,
                                                  panels: [.init(title: "t", labels: ["a", "b", "c"], categories: ["a", "b"])])) { e in
            XCTAssertTrue("\(e)".contains("'c'"), "\(e)")
        }
        XCTAssertThrowsError(try DomainMap.render(to: dir + "/x.png", coordinates: [1, 2, 3], panels: []))
    }

    static func lossSeries(epochs: Int) -> [(name: String, values: [Double])] {
        var rng = SplitMix(state: 11)
        var total = [Double](), feat = [Double](), s1 = [Double](), s2 = [Double]()
        for e in 0..<epochs {
            let t = Double(e)
            let f = 10 * (0.55 + 0.45 * exp(-t / 60)) * (1 + 0.01 * (rng.uniform() - 0.5))
            let a = 0.69 * exp(-t / 90) + 0.004 + 0.002 * rng.uniform()
            let b = 0.69 * exp(-t / 140) + 0.008 + 0.003 * rng.uniform()
            feat.append(f); s1.append(a); s2.append(b); total.append(f + a + b)
        }
        return [("total", total), ("α·feat (reconstruction)", feat), ("sl_1 (BCE, clean)", s1), ("sl_2 (BCE, corrupted)", s2)]
    }

    func testLossPlotOf600Epochs() throws {
        let path = examplePath("loss-example.png")
        let series = Self.lossSeries(epochs: 600)
        try LossPlot.render(to: path, epochs: Array(1...600), series: series,
                            title: "Training loss, synthetic slide (600 epochs)")
        let png = try PNGProbe(path: path)
        XCTAssertEqual(png.width, 1000)
        XCTAssertEqual(png.height, 400)
        XCTAssertGreaterThan(png.histogram.count, 50)
        for k in 0..<4 { XCTAssertGreaterThan(png.count(of: Palette.cycle(k).rgb8), 100, "curve \(k) drawn") }
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        XCTAssertLessThan(size, 300_000)
    }

    func testLossPlotSkipsNaNAndNonPositive() throws {
        var values = (0..<50).map { 2 * exp(-Double($0) / 10) }
        values[10] = .nan; values[20] = .infinity; values[30] = 0; values[31] = -1
        let fig = try LossPlot.figure(epochs: Array(0..<50), series: [("loss", values)], title: "gaps")
        XCTAssertEqual(fig.axes.count, 1)
        XCTAssertEqual(fig.axes[0].yScale, .log10)
        try fig.render(to: dir + "/gaps.png")
        XCTAssertEqual(try PNGProbe(path: dir + "/gaps.png").width, 1000)
        XCTAssertThrowsError(try LossPlot.figure(epochs: [1, 2], series: [("a", [1])], title: "t"))
    }

    func testGenericAxesLogLogAndStackedBars() throws {
        let fig = Figure(width: 900, height: 360, scale: 2)
        fig.title = "scaling (synthetic)"
        let (a, b) = { let x = fig.subplots(rows: 1, columns: 2); return (x[0], x[1]) }()
        let ranks = [1.0, 2, 4, 8, 16, 32, 64]
        a.xScale = .log10; a.yScale = .log10
        a.plot(x: ranks, y: ranks, color: .ink, width: 1, dash: [4, 3], label: "ideal")
        a.plot(x: ranks, y: ranks.map { $0 / (1 + 0.03 * $0) }, label: "strong scaling")
        a.scatter(x: ranks, y: ranks.map { $0 / (1 + 0.03 * $0) }, color: Palette.cycle(0), radius: .pixels(3.5))
        a.xLabel = "ranks"; a.yLabel = "speedup"; a.title = "strong scaling"
        a.xTickLabels = ranks.map { ($0, String(Int($0))) }
        b.stackedBars(x: Array(0..<7).map(Double.init), layers: [
            ("sparse", [5, 2.6, 1.4, 0.8, 0.45, 0.27, 0.18]), ("halo", [0, 0.2, 0.25, 0.22, 0.2, 0.18, 0.17]),
            ("allreduce", [0, 0.05, 0.07, 0.09, 0.1, 0.12, 0.13]),
        ])
        b.xTickLabels = ranks.enumerated().map { (Double($0.offset), String(Int($0.element))) }
        b.xLabel = "ranks"; b.yLabel = "seconds per epoch"; b.title = "time split"
        b.legend = .outsideRight
        let path = dir + "/scaling.png"
        try fig.render(to: path)
        let png = try PNGProbe(path: path)
        XCTAssertEqual(png.width, 1800)
        XCTAssertEqual(png.height, 720)
        XCTAssertGreaterThan(png.count(of: Palette.cycle(1).rgb8), 1000)
    }

    func testWritingIntoMissingDirectoryThrows() throws {
        let bad = dir + "/no/such/dir/plot.png"
        let fig = Figure(width: 200, height: 100)
        XCTAssertThrowsError(try fig.render(to: bad)) { e in
            let msg = "\(e)"
            XCTAssertTrue(msg.contains(bad), msg)
            XCTAssertTrue(msg.contains("does not exist"), msg)
        }
        XCTAssertThrowsError(try LossPlot.render(to: bad, epochs: [1, 2], series: [("a", [1, 0.5])], title: "t"))
        // A path that is a directory: Cairo's own write error, still thrown with the path.
        XCTAssertThrowsError(try fig.render(to: dir)) { e in XCTAssertTrue("\(e)".contains(dir), "\(e)") }
        XCTAssertThrowsError(try Figure(width: 0, height: 10).render(to: dir + "/zero.png"))
        XCTAssertThrowsError(try Figure(width: 10, height: 10, scale: .nan).render(to: dir + "/nan.png"))
        XCTAssertThrowsError(try Figure(width: 40000, height: 10).render(to: dir + "/wide.png"))
    }

    /// 10⁶ spots (set STPLOT_BIG=1; time it in a release build).
    func testMillionSpots() throws {
        guard ProcessInfo.processInfo.environment["STPLOT_BIG"] != nil else { throw XCTSkip("set STPLOT_BIG=1") }
        let slide = HexSlide.lattice(rows: 1100, columns: 1150)
        let labels = slide.layer.map { String($0 + 1) as String? }
        let t0 = Date()
        try DomainMap.render(to: dir + "/domains-1M.png", coordinates: slide.coordinates,
                             panels: [.init(title: "\(labels.count) spots", labels: labels)], width: 900)
        print("domain map of \(labels.count) spots: \(Date().timeIntervalSince(t0)) s")
    }
}
