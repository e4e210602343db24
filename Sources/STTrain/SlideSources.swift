import Foundation
import STCore
import STData
import STPrep

/// Opens what `--input` names, deciding by what the path is (one function, so `run`, `partition`
/// and the tests agree):
///
/// | path | read as |
/// |---|---|
/// | `.h5ad` file (HDF5 with `X`) | AnnData (`H5ADSource`) |
/// | HDF5 file with a `matrix` group (or a Cell Ranger 2 genome group) | 10x feature-barcode matrix; positions from `--positions` or `spatial/tissue_positions[_list].csv` beside the file |
/// | folder with `filtered_feature_bc_matrix.h5` | Space Ranger `outs/`: the matrix + `spatial/tissue_positions.csv` (≥ 2) or `spatial/tissue_positions_list.csv` (v1) |
/// | folder with `matrix.mtx[.gz]`, or with a `filtered_feature_bc_matrix/` folder holding one, or a `matrix.mtx[.gz]` file | MatrixMarket (`barcodes.tsv[.gz]`, `features.tsv[.gz]` or `genes.tsv[.gz]`); positions from `--positions` or `spatial/` in the folder or its parent |
/// | folder with `outs/` | that `outs/` folder |
///
/// Anything else — a FIFO, a device, a folder without these files, a Space Ranger folder without
/// its `spatial/` positions — is one `InputError` naming the path and what was expected or missing.
/// With a 10x matrix (`.h5` or MatrixMarket) only spots under tissue (`in_tissue` = 1) are used.
///
/// Several paths are integrated as GraphST integrates slices (`IntegratedSource`).
public enum SlideSources {
    /// What `--input` accepts, for messages.
    static let expected = "expected an .h5ad file, a 10x .h5 file, a Space Ranger outs/ folder or a MatrixMarket folder (matrix.mtx[.gz], barcodes.tsv[.gz], features.tsv[.gz])"

    /// The source for `paths` (one slide, or several integrated into one).
    ///
    /// - Parameters:
    ///   - paths: one or more inputs (see the type's table).
    ///   - positions: a positions CSV for a single 10x matrix or MatrixMarket input (see
    ///     `SpotPositions` for the accepted headers); overrides a `spatial/` folder.
    ///   - aligned: several slides: use their coordinates as given (already aligned, e.g. by PASTE,
    ///     or consecutive sections: neighbours may then cross slices), instead of placing them side
    ///     by side.
    ///   - neighbours: k of the spatial graph; side by side, slices are separated far enough that no
    ///     spot's k nearest neighbours lie in another slice.
    public static func open(paths: [String], positions: String? = nil, aligned: Bool = false,
                            neighbours: Int = 3) throws -> SlideSource {
        guard let first = paths.first else { throw InputError("no input given; \(expected)") }
        if paths.count == 1 { return try openOne(path: first, positions: positions) }
        if let positions {
            throw InputError(file: positions, "--positions applies to a single --input; with several inputs, give each 10x matrix its spatial/tissue_positions.csv folder (or convert the slides to .h5ad)")
        }
        let slices = try paths.map { try openOne(path: $0, positions: nil) }
        return try IntegratedSource(slices: slices, names: sliceNames(for: paths), aligned: aligned, neighbours: neighbours)
    }

    /// One input, detected from what the path is.
    public static func openOne(path: String, positions: String? = nil) throws -> SlideSource {
        let kind = PathKind(path: path)
        switch kind {
        case .missing:
            throw InputError(file: path, "cannot open: no such file or directory")
        case .directory:
            return try openFolder(path, positions: positions)
        case .regularFile:
            let name = basename(path)
            if name.hasSuffix(".mtx") || name.hasSuffix(".mtx.gz") {
                return try openMatrixMarket(folder: dirname(path), label: path, positions: positions)
            }
            let f = try HDF5File(path: path)
            if !f.exists("X") && (f.isGroup("matrix") || TenXMatrixReader.legacyGenomeGroup(f) != nil) {
                guard let pos = positions ?? SpotPositions.spaceRangerFile(in: dirname(path)) else {
                    throw InputError(file: path, "a 10x .h5 matrix has no coordinates: expected spatial/tissue_positions.csv or spatial/tissue_positions_list.csv beside it, or --positions FILE")
                }
                return try PositionedMatrixSource(label: path, matrix: try TenXMatrixReader(path: path),
                                                  positions: try SpotPositions(path: pos))
            }
            if positions != nil {
                throw InputError(file: path, "--positions is only used with a 10x .h5 matrix or a MatrixMarket folder; an .h5ad carries its coordinates in obsm['spatial']")
            }
            return try H5ADSource(path: path)
        default:
            throw InputError(file: path, "is \(kind.rawValue), not a file or folder; \(expected)")
        }
    }

    static func openFolder(_ path: String, positions: String?) throws -> SlideSource {
        let h5 = path + "/filtered_feature_bc_matrix.h5"
        if PathKind(path: h5) == .regularFile {
            guard let pos = positions ?? SpotPositions.spaceRangerFile(in: path) else {
                var found = ["filtered_feature_bc_matrix.h5"]
                if PathKind(path: path + "/spatial") == .directory {
                    let parquet = "spatial/tissue_positions.parquet"
                    found.append(PathKind(path: path + "/" + parquet) == .regularFile ? parquet + " (convert it to CSV)" : "spatial/")
                }
                throw InputError(file: path, "a Space Ranger folder needs spatial/tissue_positions.csv or spatial/tissue_positions_list.csv (found \(found.joined(separator: " and "))\(found.count == 1 ? " only" : ""))")
            }
            return try PositionedMatrixSource(label: path, matrix: try TenXMatrixReader(path: h5),
                                              positions: try SpotPositions(path: pos))
        }
        if MatrixMarketReader.files(in: path).matrix != nil {
            return try openMatrixMarket(folder: path, label: path, positions: positions)
        }
        let sub = path + "/filtered_feature_bc_matrix"
        if PathKind(path: sub) == .directory && MatrixMarketReader.files(in: sub).matrix != nil {
            return try openMatrixMarket(folder: sub, label: path, positions: positions)
        }
        let outs = path + "/outs"
        if PathKind(path: outs) == .directory {
            return try openFolder(outs, positions: positions)
        }
        if SpotPositions.spaceRangerFile(in: path) != nil {
            throw InputError(file: path, "a Space Ranger folder needs filtered_feature_bc_matrix.h5 (or a filtered_feature_bc_matrix/ MatrixMarket folder) beside spatial/ (found spatial/ only)")
        }
        throw InputError(file: path, "is a directory holding neither filtered_feature_bc_matrix.h5 (Space Ranger) nor matrix.mtx[.gz] (MatrixMarket); \(expected)")
    }

    static func openMatrixMarket(folder: String, label: String, positions: String?) throws -> SlideSource {
        let files = MatrixMarketReader.files(in: folder)
        guard let m = files.matrix, let b = files.barcodes, let g = files.features else {
            let found = ["matrix.mtx", "barcodes.tsv", "features.tsv", "genes.tsv"].filter {
                PathKind.isReadableRegularFile(folder + "/" + $0) || PathKind.isReadableRegularFile(folder + "/" + $0 + ".gz")
            }
            throw InputError(file: label, "a MatrixMarket folder needs matrix.mtx[.gz], barcodes.tsv[.gz] and features.tsv[.gz] (or genes.tsv[.gz]); missing \(files.missing.joined(separator: ", ")) (found \(found.isEmpty ? "none" : found.joined(separator: ", ")))")
        }
        let parent = dirname(folder)
        guard let pos = positions ?? SpotPositions.spaceRangerFile(in: folder) ?? SpotPositions.spaceRangerFile(in: parent) else {
            throw InputError(file: label, "a MatrixMarket folder has no coordinates: expected spatial/tissue_positions.csv or spatial/tissue_positions_list.csv in it or beside it (Space Ranger's outs/ layout), or --positions FILE (a barcode,x,y CSV)")
        }
        return try PositionedMatrixSource(label: label, matrix: try MatrixMarketReader(matrix: m, barcodes: b, features: g),
                                          positions: try SpotPositions(path: pos))
    }

    /// Slice names for `paths`: each path's base name without `.h5ad`/`.h5`/`.mtx[.gz]`, the parent's
    /// name for Space Ranger's generic `outs` and `filtered_feature_bc_matrix` folders, made
    /// unique as anndata's `make_unique` does (a repeated name gets `-1`, `-2`, …).
    public static func sliceNames(for paths: [String]) -> [String] {
        var names: [String] = paths.map { p in
            var url = URL(fileURLWithPath: p).standardizedFileURL
            var name = url.lastPathComponent
            for ext in [".h5ad", ".h5", ".mtx.gz", ".mtx"] where name.hasSuffix(ext) && name.count > ext.count {
                name = String(name.dropLast(ext.count)); break
            }
            while ["outs", "filtered_feature_bc_matrix", "matrix"].contains(name) && url.pathComponents.count > 2 {
                url = url.deletingLastPathComponent()
                name = url.lastPathComponent
            }
            return name.isEmpty ? "slice" : name
        }
        var seen = Set<String>()
        var counter: [String: Int] = [:]
        for i in names.indices {
            let base = names[i]
            if seen.insert(base).inserted { continue }
            var k = counter[base, default: 0]
            var candidate: String
            repeat { k += 1; candidate = "\(base)-\(k)" } while names.contains(candidate) || seen.contains(candidate)
            counter[base] = k
            names[i] = candidate
            seen.insert(candidate)
        }
        return names
    }

    static func basename(_ p: String) -> String { URL(fileURLWithPath: p).lastPathComponent }
    static func dirname(_ p: String) -> String { URL(fileURLWithPath: p).deletingLastPathComponent().path }
}

/// A barcodes × genes matrix without coordinates (a 10x `.h5`, a MatrixMarket folder).
public protocol BarcodeMatrix: AnyObject {
    /// The file, for messages.
    var matrixFile: String { get }
    /// Barcodes (rows).
    var nObs: Int { get }
    /// Genes (columns).
    var nVars: Int { get }
    func obsNames() throws -> [String]
    func varNames() throws -> [String]
    func rowNNZ() throws -> [Int]
    /// The given strictly increasing rows.
    func readX(rows: [Int]) throws -> CSRMatrix
}

extension TenXMatrixReader: BarcodeMatrix { public var matrixFile: String { path } }
extension MatrixMarketReader: BarcodeMatrix { public var matrixFile: String { matrixPath } }

/// A 10x matrix joined to spot positions: spots are the matrix's barcodes under tissue, in matrix
/// order; each rank reads only its own rows (hyperslabs for an `.h5`; a filtering scan for
/// MatrixMarket, see `MatrixMarketReader`).
///
/// obs: the barcodes, plus `in_tissue`, `array_row`, `array_col` from a Space Ranger positions
/// file (as scanpy's `read_visium`); obsm["spatial"] = (x, y) = (`pxl_col_in_fullres`,
/// `pxl_row_in_fullres`) for Space Ranger.
public final class PositionedMatrixSource: SlideSource {
    public let label: String
    public let matrix: BarcodeMatrix
    public let positions: SpotPositions
    /// Which matrix rows are spots, and where their positions are.
    public let join: SpotPositions.Join
    let barcodes: [String]

    public init(label: String, matrix: BarcodeMatrix, positions: SpotPositions) throws {
        self.label = label
        self.matrix = matrix
        self.positions = positions
        barcodes = try matrix.obsNames()
        join = try positions.join(barcodes: barcodes, matrixPath: matrix.matrixFile)
    }

    public var spotCount: Int { join.matrixRows.count }
    public var geneCount: Int { matrix.nVars }

    public func spatial() throws -> [Double] {
        var out = [Double](repeating: 0, count: 2 * spotCount)
        for (i, r) in join.positionRows.enumerated() {
            out[2 * i] = positions.x[r]
            out[2 * i + 1] = positions.y[r]
        }
        return out
    }

    public func rowNNZ() throws -> [Int] {
        let all = try matrix.rowNNZ()
        return join.matrixRows.map { all[$0] }
    }

    public func counts(rows: [Int]) throws -> CSRMatrix {
        for k in 0..<rows.count where rows[k] < 0 || rows[k] >= spotCount || (k > 0 && rows[k] <= rows[k - 1]) {
            throw InputError(file: label, "row list must be strictly increasing within 0..<\(spotCount) (entry \(k) is \(rows[k]))")
        }
        return try matrix.readX(rows: rows.map { join.matrixRows[$0] })
    }

    public func obs() throws -> DataFrame {
        var df = DataFrame(index: join.matrixRows.map { barcodes[$0] })
        let pr = join.positionRows
        if let t = positions.inTissue { df.set("in_tissue", .integer(pr.map { t[$0] ? 1 : 0 })) }
        if let a = positions.arrayRow { df.set("array_row", .integer(pr.map { Int64(a[$0]) })) }
        if let a = positions.arrayCol { df.set("array_col", .integer(pr.map { Int64(a[$0]) })) }
        return df
    }

    public func geneNames() throws -> [String] { try matrix.varNames() }
}
