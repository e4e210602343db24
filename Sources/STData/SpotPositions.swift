import STCore

/// Spot coordinates for a matrix that carries none (a 10x `.h5` or a MatrixMarket folder), joined
/// to its barcodes.
///
/// Accepted files (CSV, comma-separated, fields may be double-quoted):
/// * Space Ranger `tissue_positions.csv` (≥ 2, header `barcode,in_tissue,array_row,array_col,
///   pxl_row_in_fullres,pxl_col_in_fullres`, columns found by name) or `tissue_positions_list.csv`
///   (no header, those six columns in that order): x = `pxl_col_in_fullres`, y =
///   `pxl_row_in_fullres` (scanpy's `obsm["spatial"]`); only spots with `in_tissue` = 1 are used.
/// * A plain table with a header line naming a barcode column — `barcode`, `barcodes`, `spot`,
///   `spot_id`, `cell`, `cell_id`, or an empty first header (a pandas index written by
///   `to_csv()`) — and two coordinate columns: `x`,`y` (also `X`,`Y`), `x_centroid`,`y_centroid`
///   (Xenium), or `imagecol`,`imagerow` (stLearn). Every listed spot is used; an optional
///   `in_tissue` column (0/1) filters as for Space Ranger. Other columns are ignored.
///
/// Every barcode of the matrix must have a position (a missing one is an error naming it: the
/// wrong positions file is the usual cause); positions of barcodes not in the matrix are ignored.
public struct SpotPositions: Equatable, Sendable {
    /// The CSV file.
    public var path: String
    /// Spot barcodes.
    public var barcodes: [String]
    /// x (image column) and y (image row) of each spot.
    public var x: [Double]
    public var y: [Double]
    /// Whether each spot is under tissue; nil when the file does not say (all are used).
    public var inTissue: [Bool]?
    /// Space Ranger's array row and column; nil for a plain table.
    public var arrayRow: [Int]?
    public var arrayCol: [Int]?

    /// The Space Ranger files looked for, in order, in a `spatial/` folder.
    public static let spaceRangerNames = ["tissue_positions.csv", "tissue_positions_list.csv"]

    /// `dir/spatial/tissue_positions.csv` or `dir/spatial/tissue_positions_list.csv`, if either is a
    /// readable file.
    public static func spaceRangerFile(in dir: String) -> String? {
        spaceRangerNames.map { dir + "/spatial/" + $0 }.first { PathKind.isReadableRegularFile($0) }
    }

    /// From a Space Ranger table.
    public init(_ t: TissuePositions) {
        path = t.path
        barcodes = t.barcodes
        x = t.pxlCol
        y = t.pxlRow
        inTissue = t.inTissue.map { $0 != 0 }
        arrayRow = t.arrayRow
        arrayCol = t.arrayCol
    }

    /// Reads a Space Ranger or plain positions CSV (see the type's documentation).
    public init(path: String) throws {
        let kind = PathKind(path: path)
        guard kind == .regularFile, FileManagerShim.isReadableFile(path) else {
            throw InputError(file: path, kind == .missing ? "cannot open: no such file or not readable"
                             : "is \(kind.rawValue); expected a positions CSV file")
        }
        guard let text = TissuePositions.readText(path) else { throw InputError(file: path, "could not be read as UTF-8 text") }
        let firstLine = text.prefix { $0 != "\n" && $0 != "\r" && $0 != "\r\n" }
        let first = firstLine.split(separator: ",", omittingEmptySubsequences: false).map { TissuePositions.unquote($0) }
        let spaceRangerHeader = first.contains("pxl_row_in_fullres") || first.contains("pxl_col_in_fullres")
        let spaceRangerList = first.count >= 6 && Int(first[1]) != nil && Double(first[4]) != nil && Double(first[5]) != nil
        if spaceRangerHeader || spaceRangerList {
            self.init(try TissuePositions(csv: text, path: path))
        } else {
            try self.init(plainCSV: text, path: path)
        }
    }

    static let barcodeHeaders = ["barcode", "barcodes", "spot", "spot_id", "cell", "cell_id"]
    static let coordinateHeaders = [("x", "y"), ("x_centroid", "y_centroid"), ("imagecol", "imagerow")]

    /// Parses a plain `barcode,x,y` table (header required).
    public init(plainCSV text: String, path: String) throws {
        self.path = path
        barcodes = []; x = []; y = []; inTissue = nil; arrayRow = nil; arrayCol = nil
        let lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        guard let head = lines.first else { throw InputError(file: path, "is empty; expected spot positions") }
        let names = head.split(separator: ",", omittingEmptySubsequences: false).map { TissuePositions.unquote($0).lowercased() }
        let expected = "a header line such as 'barcode,x,y' (barcode column: \(Self.barcodeHeaders.joined(separator: "|")) or an empty first header; coordinates: x,y | x_centroid,y_centroid | imagecol,imagerow), or a Space Ranger tissue_positions file"
        guard let bcol = names.firstIndex(where: { Self.barcodeHeaders.contains($0) }) ?? (names.first == "" ? 0 : nil) else {
            throw InputError(file: path, field: "barcode", "no barcode column in the first line '\(head.prefix(80))'; expected \(expected)")
        }
        guard let (xcol, ycol) = Self.coordinateHeaders.lazy.compactMap({ pair -> (Int, Int)? in
            guard let a = names.firstIndex(of: pair.0), let b = names.firstIndex(of: pair.1) else { return nil }
            return (a, b)
        }).first else {
            throw InputError(file: path, field: "x", "no coordinate columns in the first line '\(head.prefix(80))'; expected \(expected)")
        }
        let tcol = names.firstIndex(of: "in_tissue")
        var tissue: [Bool] = []
        let need = max(bcol, xcol, ycol, tcol ?? 0) + 1
        var seen = Set<String>()
        for (n, line) in lines.dropFirst().enumerated() {
            let lineNo = n + 2
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map { TissuePositions.unquote($0) }
            guard f.count >= need else {
                throw InputError(file: path, field: "line \(lineNo)", "has \(f.count) fields, expected \(need)")
            }
            func num(_ c: Int) throws -> Double {
                guard let v = Double(f[c]), v.isFinite else {
                    throw InputError(file: path, field: names[c], "line \(lineNo): '\(f[c])' is not a finite number")
                }
                return v
            }
            let b = f[bcol]
            guard seen.insert(b).inserted else {
                throw InputError(file: path, field: names[bcol].isEmpty ? "barcode" : names[bcol], "line \(lineNo): barcode '\(b)' listed twice")
            }
            barcodes.append(b)
            x.append(try num(xcol))
            y.append(try num(ycol))
            if let tcol {
                guard let t = Int(f[tcol]), t == 0 || t == 1 else {
                    throw InputError(file: path, field: "in_tissue", "line \(lineNo): '\(f[tcol])' is not 0 or 1")
                }
                tissue.append(t == 1)
            }
        }
        if barcodes.isEmpty { throw InputError(file: path, "has no positions (only a header line)") }
        if tcol != nil { inTissue = tissue }
    }

    /// The join of a matrix's barcodes with these positions.
    public struct Join: Equatable, Sendable {
        /// Matrix rows kept (in tissue), increasing.
        public var matrixRows: [Int]
        /// For each kept row, its row in the positions table.
        public var positionRows: [Int]
        /// Matrix barcodes dropped because they are not under tissue.
        public var droppedOutOfTissue: Int
    }

    /// Joins the matrix barcodes `names` (of `matrixPath`, for messages) to the positions: every
    /// barcode needs a position; barcodes not under tissue are dropped; at least one must remain.
    public func join(barcodes names: [String], matrixPath: String) throws -> Join {
        var lookup: [String: Int] = [:]
        lookup.reserveCapacity(barcodes.count)
        for (k, b) in barcodes.enumerated() { lookup[b] = k }
        var rows: [Int] = [], pos: [Int] = []
        rows.reserveCapacity(names.count); pos.reserveCapacity(names.count)
        for (i, b) in names.enumerated() {
            guard let r = lookup[b] else {
                throw InputError(file: path, field: "barcode",
                                 "barcode '\(b)' of \(matrixPath) has no position (wrong positions file?)")
            }
            if let inTissue, !inTissue[r] { continue }
            rows.append(i); pos.append(r)
        }
        if rows.isEmpty {
            throw InputError(file: path, field: "in_tissue",
                             "none of the \(names.count) barcodes of \(matrixPath) is under tissue (in_tissue = 1)")
        }
        return Join(matrixRows: rows, positionRows: pos, droppedOutOfTissue: names.count - rows.count)
    }
}
