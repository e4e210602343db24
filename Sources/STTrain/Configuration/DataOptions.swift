import ArgumentParser
import STData
import STPrep

extension AdjacencyNormalisation: ExpressibleByArgument, Codable {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// The data and how it is preprocessed (scanpy/GraphST names): the `Data` options of `run` and
/// `partition`, and the `data` section of the configuration.
public struct DataOptions: ConfigurationSection {
    @Option(name: .long, help: ArgumentHelp("A slide: an .h5ad (X raw counts, obsm[\"spatial\"]), a 10x .h5 (positions from spatial/ beside it or --positions), a Space Ranger outs/ folder, or a MatrixMarket folder (matrix.mtx[.gz], barcodes.tsv[.gz], features.tsv[.gz]). Repeat to integrate several slides into one (genes intersected, obs[\"slice\"] added). Absent: the built-in synthetic slide.", valueName: "path"))
    public var input: [String] = []

    @Option(name: .long, help: ArgumentHelp("Spot positions for a single 10x .h5 or MatrixMarket input: a Space Ranger tissue_positions[_list].csv, or a CSV with a header naming a barcode column (barcode, spot, cell, cell_id, …) and x,y (or x_centroid,y_centroid; imagecol,imagerow).", valueName: "file"))
    public var positions: String?

    @Flag(name: .long, help: "Several --input slides: use their coordinates as given (already aligned, or consecutive sections; the graph may link slices). Default: slides side by side, the graph never links them.")
    public var aligned: Bool = false

    @Option(name: .long, help: "highly_variable_genes(flavor=\"seurat_v3\", n_top_genes=…); slides with fewer genes keep all.")
    public var nTopGenes: Int = 3000

    // The flag keeps scanpy's spelling (`sc.pp.neighbors`); the code spells it one way throughout.
    @Option(name: .customLong("neighbors"), help: "k of the spatial k-nearest-neighbour graph.")
    public var neighbours: Int = 3

    @Option(name: .long, help: "Adjacency normalisation: 10x (D^-1/2 A D^-1/2 + I, GraphST's Visium default) or kipf (D̃^-1/2 (A+I) D̃^-1/2).")
    public var normalisation: AdjacencyNormalisation = .tenX

    @Option(name: .long, help: "normalize_total(target_sum=…).")
    public var targetSum: Double = 1e4

    @Option(name: .long, help: "scale(zero_center=False, max_value=…).")
    public var maxValue: Double = 10

    @Option(name: .long, help: "Spots of the built-in synthetic slide (when --input is absent).")
    public var syntheticSpots: Int = 3000

    @Option(name: .long, help: "Genes of the built-in synthetic slide.")
    public var syntheticGenes: Int = 400

    @Option(name: .long, help: "Domains of the built-in synthetic slide.")
    public var syntheticDomains: Int = 5

    public init() {}

    /// The slide these options name: the `--input` paths (`SlideSources.open`), else the
    /// built-in synthetic slide.
    public func source() throws -> SlideSource {
        if !input.isEmpty {
            return try SlideSources.open(paths: input, positions: positions, aligned: aligned, neighbours: neighbours)
        }
        return try SyntheticSource(SyntheticSlide.Parameters(spots: syntheticSpots, genes: syntheticGenes,
                                                             domains: syntheticDomains))
    }

    public func validate() throws {
        guard nTopGenes >= 1 else { throw ValidationError("--n-top-genes must be at least 1") }
        guard neighbours >= 1, neighbours <= 1000 else { throw ValidationError("--neighbors must be in 1…1000, not \(neighbours)") }
        // A target below one count or beyond 10¹² puts log1p's input outside float32's useful range.
        guard targetSum.isFinite, targetSum >= 1, targetSum <= 1e12 else {
            throw ValidationError("--target-sum must be in [1, 10¹²] (scanpy's normalize_total: 10⁴), not \(targetSum)")
        }
        guard maxValue.isFinite, maxValue > 0 else { throw ValidationError("--max-value must be positive and finite, not \(maxValue)") }
        if positions != nil && input.count != 1 {
            throw ValidationError(input.isEmpty ? "--positions needs an --input (a 10x .h5 or MatrixMarket folder)"
                                  : "--positions applies to a single --input; with several, give each 10x matrix a spatial/tissue_positions.csv beside it")
        }
        if aligned && input.count < 2 { throw ValidationError("--aligned applies to two or more --input slides") }
    }
}
