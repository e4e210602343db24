import STCore

/// How an expression matrix is stored on disk.
public enum XLayout: String, Equatable, Sendable {
    /// Compressed sparse rows (anndata `csr_matrix`; a 10x matrix, whose columns are barcodes, read
    /// as barcodes × genes is this too).
    case csr
    /// Compressed sparse columns (anndata `csc_matrix`): converted to CSR on read.
    case csc
    /// A dense 2-D dataset.
    case dense
}

/// What is known about an expression matrix without reading its values.
public struct XHeader: Equatable, Sendable {
    /// Storage layout.
    public var layout: XLayout
    /// Rows (observations).
    public var rows: Int
    /// Columns (variables) as stored, before any column selection.
    public var cols: Int
    /// Stored entries (rows × cols for dense).
    public var nnz: Int
    /// Whether the stored values are integers (counts).
    public var isInteger: Bool
    /// The HDF5 path of the matrix (group or dataset).
    public var path: String
}

/// Reads a compressed sparse matrix (data/indices/indptr) from an HDF5 group, validating it as it
/// goes. `major` is the compressed axis (rows for CSR, columns for CSC).
struct CompressedSparseSource {
    let file: HDF5File
    let group: String
    let major: Int
    let minor: Int
    let nnz: Int
    /// What one compressed slice is, for messages ("row", "column", "barcode").
    let sliceName: String
    /// What the minor dimension counts ("columns", "rows", "features"), for messages.
    let minorName: String
    /// Entries closer than this (in stored entries) are read together and the gap discarded.
    static let mergeGap = 16_384

    var dataName: String { group + "/data" }
    var indicesName: String { group + "/indices" }
    var indptrName: String { group + "/indptr" }

    /// Opens and checks everything that can be checked without reading the arrays: data, indices
    /// and indptr are 1-D, stored in full (`HDF5File.checkStorage`), indices and indptr integers,
    /// len(indices) = len(data), len(indptr) = major + 1, indptr[0] = 0 and indptr[major] = len(data).
    /// `shapeField` names where `major` and `minor` come from, for messages.
    init(file: HDF5File, group: String, major: Int, minor: Int, majorName: String, minorName: String, shapeField: String) throws {
        self.file = file
        self.group = group
        self.major = major
        self.minor = minor
        sliceName = majorName.hasSuffix("s") ? String(majorName.dropLast()) : majorName
        self.minorName = minorName
        let path = file.path
        for part in ["data", "indices", "indptr"] where !file.isDataset(group + "/" + part) {
            throw InputError(file: path, field: group + "/" + part,
                             "missing: a sparse matrix needs data, indices and indptr")
        }
        guard minor <= Int(Int32.max) else {
            throw InputError(file: path, field: shapeField, "declares \(minor) \(minorName); at most 2^31-1 are supported")
        }
        // Opening each array checks its storage against its extent.
        let dataShape = try file.shape(group + "/data")
        let indShape = try file.shape(group + "/indices")
        let ptrShape = try file.shape(group + "/indptr")
        guard dataShape.count == 1, indShape.count == 1, ptrShape.count == 1 else {
            throw InputError(file: path, field: group, "data, indices and indptr must be 1-D arrays")
        }
        guard indShape[0] == dataShape[0] else {
            throw InputError(file: path, field: group + "/indices",
                             "has \(indShape[0]) entries but data has \(dataShape[0])")
        }
        guard major < Int.max, ptrShape[0] == major &+ 1 else {
            throw InputError(file: path, field: group + "/indptr",
                             "has \(ptrShape[0]) entries, expected \(major &+ 1) (\(majorName) + 1, from \(shapeField))")
        }
        nnz = dataShape[0]
        for part in ["indices", "indptr"] { try file.requireIntegers(group + "/" + part) }
        let cls = try file.elementClass(dataName)
        switch cls {
        case .integer, .float, .enumeration(isBool: true): break
        default: throw InputError(file: path, field: dataName, "must be numeric, found \(HDF5File.describe(cls))")
        }
        let first: [Int64] = try file.read(group + "/indptr", range: 0..<1)
        let last: [Int64] = try file.read(group + "/indptr", range: major..<(major + 1))
        guard first[0] == 0 else {
            throw InputError(file: path, field: group + "/indptr", "must start at 0, starts at \(first[0])")
        }
        guard last[0] == Int64(nnz) else {
            throw InputError(file: path, field: group + "/indptr",
                             "ends at \(last[0]) but data holds \(nnz) entries (last indptr must equal nnz)")
        }
    }

    /// Whether the stored values are integers.
    func valuesAreInteger() throws -> Bool {
        switch try file.elementClass(dataName) {
        case .integer, .enumeration: return true
        default: return false
        }
    }

    /// Number of entries per major slice (rows for CSR) from indptr alone.
    func majorCounts() throws -> [Int] {
        let ptr = try readIndptr(0..<(major + 1))
        var out = [Int](repeating: 0, count: major)
        ptr.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<major { o[i] = p[i &+ 1] &- p[i] }
            }
        }
        return out
    }

    /// Reads indptr[range] as Int and checks it is non-decreasing and within 0...nnz.
    func readIndptr(_ range: Range<Int>) throws -> [Int] {
        let raw: [Int64] = try file.read(indptrName, range: range)
        var out = [Int](repeating: 0, count: raw.count)
        let total = nnz
        let bad: Int? = raw.withUnsafeBufferPointer { r in
            out.withUnsafeMutableBufferPointer { o -> Int? in
                var prev: Int64 = 0
                for k in 0..<r.count {
                    let v = r[k]
                    if v < 0 || v > Int64(total) || (k > 0 && v < prev) { return k }
                    o[k] = Int(v)
                    prev = v
                }
                return nil
            }
        }
        if let k = bad {
            let at = range.lowerBound + k
            throw InputError(file: file.path, field: indptrName,
                             "is not non-decreasing within 0...\(total) at position \(at) (value \(raw[k]))")
        }
        return out
    }

    /// Reads the major slices `range` (rows lo..<hi for CSR): hyperslabs of indptr, then of
    /// indices and data. Returns rebased indptr (starting at 0), indices, values.
    func readMajorRange(_ range: Range<Int>) throws -> (indptr: [Int], indices: [Int32], values: [Float]) {
        precondition(range.lowerBound >= 0 && range.upperBound <= major)
        var ptr = try readIndptr(range.lowerBound..<(range.upperBound + 1))
        let lo = ptr[0], hi = ptr[ptr.count - 1]
        let idx: [Int32] = try file.read(indicesName, range: lo..<hi)
        let val: [Float] = try file.read(dataName, range: lo..<hi)
        if lo != 0 { ptr.withUnsafeMutableBufferPointer { p in for k in 0..<p.count { p[k] &-= lo } } }
        try validate(indptr: ptr, indices: idx, values: val, firstMajor: range.lowerBound)
        return (ptr, idx, val)
    }

    /// Reads an arbitrary strictly increasing list of major slices, in that order: contiguous
    /// slices are read as one range, nearby ranges are merged, and the entries stream through
    /// bounded buffers (`readMajorList(_:order:)`).
    func readMajorList(_ list: [Int]) throws -> (indptr: [Int], indices: [Int32], values: [Float]) {
        try readMajorList(list, order: Array(0..<list.count))
    }

    /// Reads the major slices `list` (strictly increasing) straight into the output order
    /// `order` (output slice r is `list[order[r]]`, a permutation of `list`'s positions), streaming
    /// the stored entries through buffers of at most `bufferEntries` entries: peak memory is the
    /// output (8 bytes per entry) plus the buffers, against twice the output for reading the
    /// entries and then reordering them. This is how a rank reads its rows of a large X in its
    /// local row order.
    func readMajorList(_ list: [Int], order: [Int], bufferEntries: Int = 1 << 22) throws
        -> (indptr: [Int], indices: [Int32], values: [Float]) {
        try readMajorList(list, order: order, bufferEntries: bufferEntries, indexType: Int32.self)
    }

    /// `readMajorList(_:order:bufferEntries:)` with the minor indices stored as `Index` (UInt16 when
    /// the minor dimension fits: 6 bytes per output entry instead of 8). Each buffer's indices are
    /// checked within 0..<minor as they are copied, before any is narrowed, so a stored index too
    /// large for `Index` is an error naming its slice, never a wrapped value; a minor dimension
    /// beyond `Index` is refused before anything is read.
    func readMajorList<Index: SparseIndex>(_ list: [Int], order: [Int], bufferEntries: Int = 1 << 22,
                                           indexType: Index.Type) throws
        -> (indptr: [Int], indices: [Index], values: [Float]) {
        guard minor <= Index.columnLimit else {
            throw InputError(file: file.path, field: group,
                             "\(minor) \(minorName) do not fit \(Index.bitWidth)-bit indices")
        }
        precondition(order.count == list.count, "readMajorList: \(order.count) output rows for \(list.count) slices")
        if list.isEmpty { return ([0], [], []) }
        for k in 0..<list.count {
            let r = list[k]
            if r < 0 || r >= major || (k > 0 && r <= list[k - 1]) {
                throw InputError(file: file.path, field: group,
                                 "row list must be strictly increasing within 0..<\(major) (entry \(k) is \(r))")
            }
        }
        var destination = [Int](repeating: -1, count: list.count)   // output row of list[k]
        for (r, k) in order.enumerated() {
            precondition(k >= 0 && k < list.count && destination[k] < 0, "readMajorList: order is not a permutation")
            destination[k] = r
        }
        let first = list[0], last = list[list.count - 1]
        let ptrAll = try readIndptr(first..<(last + 2))   // ptrAll[r - first] = indptr[r]
        var outPtr = [Int](repeating: 0, count: list.count + 1)
        for (r, k) in order.enumerated() {
            outPtr[r + 1] = outPtr[r] + ptrAll[list[k] + 1 - first] - ptrAll[list[k] - first]
        }
        let total = outPtr[list.count]
        var outIdx = [Index](repeating: 0, count: total)
        var outVal = [Float](repeating: 0, count: total)
        // Stored-entry ranges of runs of consecutive slices, merged across gaps of at most
        // `mergeGap` entries (reading a few unused entries beats another selection), then cut
        // into pieces of at most `bufferEntries`.
        var pieces: [Range<Int>] = []
        var k = 0
        while k < list.count {
            var e = k
            while e + 1 < list.count && list[e + 1] == list[e] + 1 { e += 1 }
            let s = ptrAll[list[k] - first], t = ptrAll[list[e] + 1 - first]
            if s < t {
                if let prev = pieces.last, s - prev.upperBound <= Self.mergeGap,
                   t - prev.lowerBound <= bufferEntries {
                    pieces[pieces.count - 1] = prev.lowerBound..<t
                } else {
                    var lo = s
                    while lo < t { let hi = Swift.min(t, lo + bufferEntries); pieces.append(lo..<hi); lo = hi }
                }
            }
            k = e + 1
        }
        // Reads of at most `bufferEntries` entries, each a run of consecutive pieces; every slice's
        // entries are copied, a piece at a time, to its place in the output.
        var cursor = 0   // first slice of `list` whose entries are not all copied yet
        var p0 = 0
        let m = Int32(minor)
        while p0 < pieces.count {
            var p1 = p0 + 1, size = pieces[p0].count
            while p1 < pieces.count && size + pieces[p1].count <= bufferEntries { size += pieces[p1].count; p1 += 1 }
            let ranges = Array(pieces[p0..<p1])
            let idxBuf: [Int32] = try file.readRows(indicesName, ranges: ranges)
            let valBuf: [Float] = try file.readRows(dataName, ranges: ranges)
            var bufStart = 0
            for range in ranges {
                var j = cursor
                while j < list.count {
                    let s = ptrAll[list[j] - first], t = ptrAll[list[j] + 1 - first]
                    if s >= range.upperBound && s < t { break }
                    let lo = Swift.max(s, range.lowerBound), hi = Swift.min(t, range.upperBound)
                    if lo < hi {
                        let src = bufStart + (lo - range.lowerBound), dst = outPtr[destination[j]] + (lo - s)
                        let bad: Int32? = outIdx.withUnsafeMutableBufferPointer { o in
                            idxBuf.withUnsafeBufferPointer { ib -> Int32? in
                                let from = ib.baseAddress! + src, to = o.baseAddress! + dst
                                for q in 0..<(hi - lo) {
                                    let v = from[q]
                                    if v < 0 || v >= m { return v }
                                    to[q] = Index(truncatingIfNeeded: v)
                                }
                                return nil
                            }
                        }
                        if let bad {
                            throw InputError(file: file.path, field: indicesName,
                                             "index \(bad) out of range 0..<\(minor) (in \(sliceName) \(list[j]))")
                        }
                        outVal.withUnsafeMutableBufferPointer { o in
                            valBuf.withUnsafeBufferPointer { o.baseAddress!.advanced(by: dst).update(from: $0.baseAddress! + src, count: hi - lo) }
                        }
                    }
                    if t > range.upperBound { break }   // continues in the next piece
                    j += 1
                }
                cursor = j
                bufStart += range.count
            }
            p0 = p1
        }
        var outList = [Int](repeating: 0, count: list.count)
        for (r, k) in order.enumerated() { outList[r] = list[k] }
        // The indices were range-checked as they were copied (before narrowing), above.
        try validate(indptr: outPtr, indices: outIdx, values: outVal, majorList: outList, indicesChecked: true)
        return (outPtr, outIdx, outVal)
    }

    /// Checks minor indices are in range (unless the caller already checked them as it copied
    /// them: `indicesChecked`) and values finite and non-negative; names the slice.
    func validate<Index: SparseIndex>(indptr: [Int], indices: [Index], values: [Float], firstMajor: Int = 0,
                                      majorList: [Int]? = nil, indicesChecked: Bool = false) throws {
        let m = minor
        let nMaj = indptr.count - 1
        let badIdx: Int? = indicesChecked ? nil : indices.withUnsafeBufferPointer { ib in
            for p in 0..<ib.count where ib[p] < 0 || Int(ib[p]) >= m { return p }
            return nil
        }
        func sliceOf(_ p: Int) -> Int {
            var lo = 0, hi = nMaj
            while hi - lo > 1 { let mid = (lo + hi) / 2; if indptr[mid] <= p { lo = mid } else { hi = mid } }
            return majorList?[lo] ?? (firstMajor + lo)
        }
        if let p = badIdx {
            throw InputError(file: file.path, field: indicesName,
                             "index \(indices[p]) out of range 0..<\(minor) (in \(sliceName) \(sliceOf(p)))")
        }
        let badVal: Int? = values.withUnsafeBufferPointer { vb in
            for p in 0..<vb.count where !(vb[p] >= 0 && vb[p].isFinite) { return p }
            return nil
        }
        if let p = badVal {
            let what = values[p].isFinite ? "negative value \(values[p])" : "non-finite value \(values[p])"
            throw InputError(file: file.path, field: dataName,
                             "\(what) (in \(sliceName) \(sliceOf(p))); expression must be finite and ≥ 0")
        }
    }

    /// Reads everything.
    func readAll() throws -> (indptr: [Int], indices: [Int32], values: [Float]) {
        try readMajorRange(0..<major)
    }
}

/// Builds a validated CSR matrix from row-major compressed arrays whose rows may be unsorted or
/// hold duplicates (scipy allows both; duplicates are summed, as scipy does).
func makeCSR<Index: SparseIndex>(rows: Int, cols: Int, indptr: [Int], indices: [Index], values: [Float])
    -> CompressedRows<Index> {
    var m = CompressedRows(rows: rows, cols: cols, indptr: indptr, indices: indices, values: values)
    var sorted = true, duplicates = false
    m.indptr.withUnsafeBufferPointer { p in
        m.indices.withUnsafeBufferPointer { ix in
            for i in 0..<rows {
                var q = p[i] &+ 1
                let end = p[i &+ 1]
                while q < end {
                    if ix[q &- 1] > ix[q] { sorted = false } else if ix[q &- 1] == ix[q] { duplicates = true }
                    q &+= 1
                }
            }
        }
    }
    if !sorted { m.sortIndices(); duplicates = true }
    if duplicates { m.sumDuplicates() }
    return m
}
