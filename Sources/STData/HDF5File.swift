import CHDF5
import STCore

/// A read-only HDF5 file, opened through the HDF5 C library.
///
/// Errors are `InputError`s naming the file and the object path; HDF5's own error-stack printing
/// is silenced so that the user sees one line. Object names are paths relative to the root
/// ("obsm/spatial"); "" or "/" is the root group. Attribute errors name the field as
/// `object.attrs[name]`.
///
/// Numeric reads are converted by HDF5 to the requested element type (an `int32` count matrix can
/// be read as `Float`); h5py's booleans (an `int8` enum FALSE/TRUE) read as 0/1. String reads
/// accept variable-length and fixed-length strings, ASCII or UTF-8. Row-range reads select a
/// hyperslab along the first dimension, so only the chunks holding those rows are decompressed.
///
/// Every dataset is checked once, when first opened, against what the file stores for it
/// (`checkStorage`, HDF5Storage.swift): a declared extent the file cannot hold is an `InputError`
/// before the extent is used to size anything.
///
/// The system HDF5 library is usually built without thread safety: use HDF5 objects from one
/// thread at a time.
public final class HDF5File {
    /// The file's path.
    public let path: String
    let id: hid_t
    /// Chunk cache per open dataset (bytes): large enough that reading many nearby row ranges of a
    /// gzip-compressed array decompresses each chunk once.
    static let chunkCacheBytes = 64 << 20
    /// At most this many blocks go into one union selection (keeps HDF5's selection cost linear).
    static let maxBlocksPerRead = 1024
    /// Datasets whose storage was checked against their extent (`checkStorage`).
    var verifiedDatasets = Set<String>()

    /// Opens `path` read-only; throws if it is missing, unreadable, a directory or not HDF5.
    public init(path: String) throws {
        // As in HDF5Writer: no library tear-down at process exit, which crashed (SIGSEGV) after a
        // failed write when a file had been read first; it only takes effect before first use.
        _ = H5dont_atexit()
        sth5_silence_errors()
        self.path = path
        guard FileManagerShim.isReadableFile(path) else {
            throw InputError(file: path, "cannot open: no such file or not readable")
        }
        if FileManagerShim.isDirectory(path) {
            throw InputError(file: path, "is a directory, expected an HDF5 file")
        }
        if H5Fis_hdf5(path) <= 0 {
            throw InputError(file: path, "not an HDF5 file (h5ad and 10x .h5 files are HDF5)")
        }
        let fapl = sth5_fapl_tolerant_locking()
        defer { if fapl >= 0 { H5Pclose(fapl) } }
        let fid = H5Fopen(path, sth5_f_acc_rdonly(), fapl >= 0 ? fapl : sth5_p_default())
        if fid < 0 {
            throw InputError(file: path, "HDF5 could not open the file (if another process is writing it, or the "
                             + "file system lacks locks, try HDF5_USE_FILE_LOCKING=FALSE)")
        }
        id = fid
    }

    deinit { H5Fclose(id) }

    // MARK: - Objects

    /// Whether an object (group or dataset) exists at `name` (e.g. "obsm/spatial").
    public func exists(_ name: String) -> Bool {
        var prefix = ""
        for part in name.split(separator: "/") {
            prefix += (prefix.isEmpty ? "" : "/") + part
            if H5Lexists(id, prefix, sth5_p_default()) <= 0 { return false }
        }
        // Every link exists; make sure it resolves (a dangling soft link does not).
        if prefix.isEmpty { return true }
        return H5Oexists_by_name(id, prefix, sth5_p_default()) > 0
    }

    /// The kind of HDF5 object at a path.
    public enum ObjectKind: Equatable, Sendable { case group, dataset, other }

    /// The kind of object at `name`, or nil when nothing is there.
    public func kind(_ name: String) -> ObjectKind? {
        guard exists(name) else { return nil }
        let o = H5Oopen(id, Self.hdf5Name(name), sth5_p_default())
        if o < 0 { return nil }
        defer { H5Oclose(o) }
        switch H5Iget_type(o) {
        case H5I_GROUP: return .group
        case H5I_DATASET: return .dataset
        default: return .other
        }
    }

    /// Whether `name` is a group.
    public func isGroup(_ name: String) -> Bool { kind(name) == .group }

    /// Whether `name` is a dataset.
    public func isDataset(_ name: String) -> Bool { kind(name) == .dataset }

    /// The names of the members of a group, in HDF5's name order.
    public func members(_ group: String) throws -> [String] {
        guard kind(group) == .group else {
            throw InputError(file: path, field: Self.fieldName(group), exists(group) ? "is not a group" : "missing")
        }
        let g = H5Gopen2(id, Self.hdf5Name(group), sth5_p_default())
        if g < 0 { throw InputError(file: path, field: Self.fieldName(group), "could not be opened as a group") }
        defer { H5Gclose(g) }
        var info = H5G_info_t()
        if H5Gget_info(g, &info) < 0 { throw InputError(file: path, field: Self.fieldName(group), "could not be listed") }
        var names: [String] = []
        names.reserveCapacity(Int(info.nlinks))
        for i in 0..<info.nlinks {
            let len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, sth5_p_default())
            if len < 0 { throw InputError(file: path, field: Self.fieldName(group), "member \(i) could not be listed") }
            var buf = [CChar](repeating: 0, count: Int(len) + 1)
            H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buf, buf.count, sth5_p_default())
            names.append(Self.decodeCString(buf))
        }
        return names
    }

    // MARK: - Datasets: shape and element type

    /// The dimensions of the dataset at `name` (`[]` for a scalar).
    public func shape(_ name: String) throws -> [Int] {
        let d = try openDataset(name); defer { H5Dclose(d) }
        return try Self.dims(of: d, file: path, name: name)
    }

    /// The element type of a dataset or attribute, as far as readers here care.
    public enum ElementClass: Equatable, Sendable {
        case integer(bytes: Int, signed: Bool)
        case float(bytes: Int)
        case string(variableLength: Bool)
        /// An enum over an integer type; h5py stores `bool` as an `int8` enum {FALSE, TRUE}.
        case enumeration(isBool: Bool)
        case reference
        case other
    }

    /// The element type of the dataset at `name`.
    public func elementClass(_ name: String) throws -> ElementClass {
        let d = try openDataset(name); defer { H5Dclose(d) }
        let t = H5Dget_type(d); defer { H5Tclose(t) }
        return Self.elementClass(of: t)
    }

    // MARK: - Datasets: numeric reads

    /// Reads a whole numeric dataset, converted by HDF5 to `T` (Float, Double, Int32, Int64, ...).
    public func read<T: HDF5Scalar>(_ name: String, as: T.Type = T.self) throws -> [T] {
        try withSelection(name, rows: nil) { ftype, n, read in
            try readNumeric(ftype: ftype, count: n, field: Self.fieldName(name), read: read)
        }
    }

    /// Reads elements `range` of a 1-D dataset (a hyperslab: only the chunks it touches are read).
    public func read<T: HDF5Scalar>(_ name: String, range: Range<Int>, as: T.Type = T.self) throws -> [T] {
        try withSelection(name, rows: [range], requireRank: 1) { ftype, n, read in
            try readNumeric(ftype: ftype, count: n, field: Self.fieldName(name), read: read)
        }
    }

    /// Reads the rows `rows` (first dimension) of a dataset of any rank, row-major.
    public func readRows<T: HDF5Scalar>(_ name: String, _ rows: Range<Int>, as: T.Type = T.self) throws -> [T] {
        try withSelection(name, rows: [rows]) { ftype, n, read in
            try readNumeric(ftype: ftype, count: n, field: Self.fieldName(name), read: read)
        }
    }

    /// Reads several row ranges (first dimension) of a dataset, concatenated in the given order.
    ///
    /// Ranges must be sorted and disjoint; empty ranges are skipped. Neighbouring ranges are read
    /// with one union selection per batch, so chunks shared by several ranges are decompressed once.
    public func readRows<T: HDF5Scalar>(_ name: String, ranges: [Range<Int>], as: T.Type = T.self) throws -> [T] {
        try withSelection(name, rows: ranges) { ftype, n, read in
            try readNumeric(ftype: ftype, count: n, field: Self.fieldName(name), read: read)
        }
    }

    /// Reads columns `columns` of rows `rows` (nil = all) of a 2-D dataset, row-major: only those
    /// columns are read (a hyperslab), however wide the dataset.
    public func readColumns<T: HDF5Scalar>(_ name: String, _ columns: Range<Int>, rows: Range<Int>? = nil,
                                           as: T.Type = T.self) throws -> [T] {
        try withSelection(name, rows: rows.map { [$0] }, columns: columns, requireRank: 2) { ftype, n, read in
            try readNumeric(ftype: ftype, count: n, field: Self.fieldName(name), read: read)
        }
    }

    /// Reads a dataset that must hold exactly one element (a scalar or a 1-element array).
    public func readScalar<T: HDF5Scalar>(_ name: String, as: T.Type = T.self) throws -> T {
        let v: [T] = try read(name)
        guard v.count == 1 else {
            throw InputError(file: path, field: Self.fieldName(name), "expected one value, found \(v.count)")
        }
        return v[0]
    }

    // MARK: - Datasets: strings

    /// Reads a string dataset (variable- or fixed-length, any rank, row-major; a scalar gives one).
    public func readStrings(_ name: String) throws -> [String] {
        try withSelection(name, rows: nil) { ftype, n, read in
            try readStringData(ftype: ftype, count: n, field: Self.fieldName(name), read: read)
        }
    }

    /// Reads elements `range` of a 1-D string dataset.
    public func readStrings(_ name: String, range: Range<Int>) throws -> [String] {
        try withSelection(name, rows: [range], requireRank: 1) { ftype, n, read in
            try readStringData(ftype: ftype, count: n, field: Self.fieldName(name), read: read)
        }
    }

    // MARK: - Attributes

    /// Whether `object` (a group or dataset path; "" for the root) has an attribute `name`.
    public func hasAttribute(_ object: String, _ name: String) -> Bool {
        guard exists(object) else { return false }
        return H5Aexists_by_name(id, Self.hdf5Name(object), name, sth5_p_default()) > 0
    }

    /// The names of the attributes of `object`, in HDF5's name order.
    public func attributeNames(_ object: String) throws -> [String] {
        guard exists(object) else { throw InputError(file: path, field: Self.fieldName(object), "missing") }
        let o = H5Oopen(id, Self.hdf5Name(object), sth5_p_default())
        if o < 0 { throw InputError(file: path, field: Self.fieldName(object), "could not be opened") }
        defer { H5Oclose(o) }
        let count = H5Aget_num_attrs(o)
        if count < 0 { throw InputError(file: path, field: Self.fieldName(object), "attributes could not be listed") }
        var names: [String] = []
        for i in 0..<hsize_t(count) {
            let len = H5Aget_name_by_idx(o, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, sth5_p_default())
            if len < 0 { continue }
            var buf = [CChar](repeating: 0, count: Int(len) + 1)
            H5Aget_name_by_idx(o, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buf, buf.count, sth5_p_default())
            names.append(Self.decodeCString(buf))
        }
        return names
    }

    /// The element type of an attribute.
    public func attributeClass(_ object: String, _ name: String) throws -> ElementClass {
        try withAttribute(object, name) { ftype, _, _ in Self.elementClass(of: ftype) }
    }

    /// Reads a numeric attribute (scalar → one element), converted to `T`.
    public func attribute<T: HDF5Scalar>(_ object: String, _ name: String, as: T.Type = T.self) throws -> [T] {
        try withAttribute(object, name) { ftype, n, read in
            try readNumeric(ftype: ftype, count: n, field: Self.attrField(object, name), read: read)
        }
    }

    /// Reads a numeric attribute that must hold exactly one value.
    public func scalarAttribute<T: HDF5Scalar>(_ object: String, _ name: String, as: T.Type = T.self) throws -> T {
        let v: [T] = try attribute(object, name)
        guard v.count == 1 else {
            throw InputError(file: path, field: Self.attrField(object, name), "expected one value, found \(v.count)")
        }
        return v[0]
    }

    /// Reads a string attribute that must hold exactly one string.
    public func stringAttribute(_ object: String, _ name: String) throws -> String {
        let v = try stringsAttribute(object, name)
        guard v.count == 1 else {
            throw InputError(file: path, field: Self.attrField(object, name), "expected one string, found \(v.count)")
        }
        return v[0]
    }

    /// Reads a string-array attribute (variable- or fixed-length; a scalar string gives one).
    /// An empty array of any type reads as `[]` (h5py writes an empty list as an empty float64 array).
    public func stringsAttribute(_ object: String, _ name: String) throws -> [String] {
        try withAttribute(object, name) { ftype, n, read in
            if n == 0 { return [] }
            return try readStringData(ftype: ftype, count: n, field: Self.attrField(object, name), read: read)
        }
    }

    /// The path of the object an object-reference attribute points at (anndata 0.7 stores a
    /// categorical column's categories this way).
    public func referencedObject(_ object: String, _ name: String) throws -> String {
        let field = Self.attrField(object, name)
        return try withAttribute(object, name) { ftype, n, read in
            guard H5Tget_class(ftype) == H5T_REFERENCE, n == 1 else {
                throw InputError(file: path, field: field, "expected one object reference")
            }
            var ref = hobj_ref_t()
            if read(sth5_std_ref_obj(), &ref) < 0 { throw InputError(file: path, field: field, "could not be read") }
            let o = withUnsafePointer(to: &ref) { H5Rdereference2(id, sth5_p_default(), sth5_r_object(), $0) }
            if o < 0 { throw InputError(file: path, field: field, "points at nothing") }
            defer { H5Oclose(o) }
            let len = H5Iget_name(o, nil, 0)
            if len <= 0 { throw InputError(file: path, field: field, "points at an unnamed object") }
            var buf = [CChar](repeating: 0, count: Int(len) + 1)
            H5Iget_name(o, &buf, buf.count)
            return Self.decodeCString(buf)
        }
    }

    // MARK: - Internals

    func openDataset(_ name: String) throws -> hid_t {
        guard exists(name) else { throw InputError(file: path, field: Self.fieldName(name), "missing") }
        let dapl = H5Pcreate(sth5_p_dataset_access())
        defer { if dapl >= 0 { H5Pclose(dapl) } }
        if dapl >= 0 { H5Pset_chunk_cache(dapl, 12_421, Self.chunkCacheBytes, 1.0) }
        let d = H5Dopen2(id, Self.hdf5Name(name), dapl >= 0 ? dapl : sth5_p_default())
        if d < 0 { throw InputError(file: path, field: Self.fieldName(name), "is not a dataset") }
        do { try checkStorage(d, name: name) } catch { H5Dclose(d); throw error }
        return d
    }

    static func dims(of dataset: hid_t, file: String, name: String) throws -> [Int] {
        let space = H5Dget_space(dataset); defer { H5Sclose(space) }
        return try dims(ofSpace: space, file: file, name: name)
    }

    static func dims(ofSpace space: hid_t, file: String, name: String) throws -> [Int] {
        let rank = Int(H5Sget_simple_extent_ndims(space))
        if rank < 0 { throw InputError(file: file, field: fieldName(name), "has no readable dataspace") }
        var dims = [hsize_t](repeating: 0, count: Swift.max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        return rank == 0 ? [] : dims.map { Int($0) }
    }

    /// One libhdf5 read call of `field`, under `HDF5CrashGuard` (a crash inside it is one line).
    @inline(__always) func guardedRead(_ field: String, _ call: () -> herr_t) -> herr_t {
        HDF5CrashGuard.run(file: path, field: field, call)
    }

    /// A read callback: `(memory type, destination) -> status`.
    typealias Reader = (hid_t, UnsafeMutableRawPointer?) -> herr_t

    /// Opens dataset `name`, selects `rows` along its first dimension (nil = everything) and, for a
    /// 2-D dataset, `columns` along its second (nil = all), and hands the file type, the number of
    /// selected elements and a reader to `body`. Counts are overflow-checked and the dataset's
    /// storage was checked against its extent when it was opened, so the count handed on is what
    /// the file holds.
    func withSelection<R>(_ name: String, rows: [Range<Int>]?, columns: Range<Int>? = nil, requireRank: Int? = nil,
                          _ body: (hid_t, Int, Reader) throws -> R) throws -> R {
        let field = Self.fieldName(name)
        let d = try openDataset(name); defer { H5Dclose(d) }
        let ftype = H5Dget_type(d); defer { H5Tclose(ftype) }
        let fspace = H5Dget_space(d); defer { H5Sclose(fspace) }
        let dims = try Self.dims(ofSpace: fspace, file: path, name: name)
        if let r = requireRank, dims.count != r {
            throw InputError(file: path, field: field, "expected a \(r)-D dataset, found shape \(Self.formatShape(dims))")
        }
        if let columns {
            guard dims.count == 2, columns.lowerBound >= 0, columns.upperBound <= dims[1] else {
                throw InputError(file: path, field: field, "columns \(columns.lowerBound)..<\(columns.upperBound) outside shape \(Self.formatShape(dims))")
            }
        }
        guard rows != nil || columns != nil else {
            let n = try elementCount(dims, field: field)
            return try body(ftype, n) { mem, ptr in
                n == 0 ? 0 : guardedRead(field) { H5Dread(d, mem, sth5_s_all(), sth5_s_all(), sth5_p_default(), ptr) }
            }
        }
        guard let nRows = dims.first else {
            throw InputError(file: path, field: field, "is a scalar; cannot select rows")
        }
        var selectedDims = dims
        if let columns { selectedDims[1] = columns.count }
        let rowSize = try elementCount(Array(selectedDims.dropFirst()), field: field)
        var prevEnd = 0
        var blocks: [Range<Int>] = []
        for r in rows ?? [0..<nRows] where !r.isEmpty {
            guard r.lowerBound >= prevEnd || blocks.isEmpty, r.lowerBound >= 0, r.upperBound <= nRows else {
                throw InputError(file: path, field: field,
                                 "row range \(r.lowerBound)..<\(r.upperBound) outside 0..<\(nRows) or not sorted")
            }
            prevEnd = r.upperBound
            blocks.append(r)
        }
        // Every block lies within the dataset, whose element count fits an Int.
        let total = blocks.reduce(0) { $0 + $1.count } * rowSize
        let maxBlocks = Self.maxBlocksPerRead
        return try body(ftype, total) { mem, ptr in
            if total == 0 { return 0 }
            let elemSize = H5Tget_size(mem)
            var offset = 0
            var b = 0
            while b < blocks.count {
                let end = Swift.min(blocks.count, b + maxBlocks)
                let space = H5Scopy(fspace); defer { H5Sclose(space) }
                var count = 0
                for k in b..<end {
                    var start = [hsize_t](repeating: 0, count: dims.count)
                    var cnt = selectedDims.map { hsize_t($0) }
                    start[0] = hsize_t(blocks[k].lowerBound)
                    if let columns { start[1] = hsize_t(columns.lowerBound) }
                    cnt[0] = hsize_t(blocks[k].count)
                    let op = k == b ? sth5_s_select_set() : sth5_s_select_or()
                    if H5Sselect_hyperslab(space, op, start, nil, cnt, nil) < 0 { return -1 }
                    count += blocks[k].count * rowSize
                }
                var memDims = [hsize_t(count)]
                let mspace = H5Screate_simple(1, &memDims, nil); defer { H5Sclose(mspace) }
                let status = guardedRead(field) { H5Dread(d, mem, mspace, space, sth5_p_default(), ptr.map { $0 + offset * elemSize }) }
                if status < 0 { return status }
                offset += count
                b = end
            }
            return 0
        }
    }

    /// Opens attribute `name` of `object` and hands its file type, element count and a reader to `body`.
    func withAttribute<R>(_ object: String, _ name: String, _ body: (hid_t, Int, Reader) throws -> R) throws -> R {
        let field = Self.attrField(object, name)
        guard hasAttribute(object, name) else { throw InputError(file: path, field: field, "missing") }
        let a = H5Aopen_by_name(id, Self.hdf5Name(object), name, sth5_p_default(), sth5_p_default())
        if a < 0 { throw InputError(file: path, field: field, "could not be opened") }
        defer { H5Aclose(a) }
        let ftype = H5Aget_type(a); defer { H5Tclose(ftype) }
        let space = H5Aget_space(a); defer { H5Sclose(space) }
        let n = Int(H5Sget_simple_extent_npoints(space))
        if n < 0 { throw InputError(file: path, field: field, "has no readable dataspace") }
        return try body(ftype, n) { mem, ptr in n == 0 ? 0 : guardedRead(field) { H5Aread(a, mem, ptr) } }
    }

    /// Reads `n` numbers of file type `ftype` as `T` (integers, floats and integer enums such as
    /// h5py's bool).
    func readNumeric<T: HDF5Scalar>(ftype: hid_t, count n: Int, field: String, read: Reader) throws -> [T] {
        switch H5Tget_class(ftype) {
        case H5T_INTEGER, H5T_FLOAT:
            var out = [T](repeating: .zero, count: n)
            let status = out.withUnsafeMutableBytes { read(T.hdf5Type, $0.baseAddress) }
            if status < 0 { throw InputError(file: path, field: field, "could not be read as \(T.self)") }
            return out
        case H5T_ENUM:
            // HDF5 has no enum → number conversion: read the enum's native integers and widen.
            let mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND); defer { H5Tclose(mtype) }
            let base = H5Tget_super(mtype); defer { H5Tclose(base) }
            let size = H5Tget_size(mtype)
            let signed = H5Tget_sign(base) == H5T_SGN_2
            guard [1, 2, 4, 8].contains(size) else {
                throw InputError(file: path, field: field, "has an unsupported enum base of \(size) bytes")
            }
            var raw = [UInt8](repeating: 0, count: n * size)
            let status = raw.withUnsafeMutableBytes { read(mtype, $0.baseAddress) }
            if status < 0 { throw InputError(file: path, field: field, "could not be read as an enum") }
            var out = [T](repeating: .zero, count: n)
            raw.withUnsafeBytes { rb in
                out.withUnsafeMutableBufferPointer { ob in
                    for i in 0..<n {
                        let v: Int64
                        switch (size, signed) {
                        case (1, true): v = Int64(rb.load(fromByteOffset: i, as: Int8.self))
                        case (1, false): v = Int64(rb.load(fromByteOffset: i, as: UInt8.self))
                        case (2, true): v = Int64(rb.loadUnaligned(fromByteOffset: 2 &* i, as: Int16.self))
                        case (2, false): v = Int64(rb.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self))
                        case (4, true): v = Int64(rb.loadUnaligned(fromByteOffset: 4 &* i, as: Int32.self))
                        case (4, false): v = Int64(rb.loadUnaligned(fromByteOffset: 4 &* i, as: UInt32.self))
                        default: v = rb.loadUnaligned(fromByteOffset: 8 &* i, as: Int64.self)
                        }
                        ob[i] = T(exactly: v) ?? .zero
                    }
                }
            }
            return out
        case H5T_STRING:
            throw InputError(file: path, field: field, "holds strings, expected numbers")
        default:
            throw InputError(file: path, field: field, "has a non-numeric element type, expected numbers")
        }
    }

    /// Reads `n` strings of file type `ftype` (variable- or fixed-length).
    func readStringData(ftype: hid_t, count n: Int, field: String, read: Reader) throws -> [String] {
        guard H5Tget_class(ftype) == H5T_STRING else {
            throw InputError(file: path, field: field, "does not hold strings")
        }
        if n == 0 { return [] }
        if H5Tis_variable_str(ftype) > 0 {
            let mtype = H5Tcopy(sth5_c_s1()); defer { H5Tclose(mtype) }
            H5Tset_size(mtype, sth5_variable())
            H5Tset_cset(mtype, H5Tget_cset(ftype))
            var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
            let status = ptrs.withUnsafeMutableBytes { read(mtype, $0.baseAddress) }
            if status < 0 { throw InputError(file: path, field: field, "could not be read as strings") }
            defer { for p in ptrs where p != nil { H5free_memory(p) } }
            return ptrs.map { p in p.map { String(cString: $0) } ?? "" }
        }
        let size = H5Tget_size(ftype)
        let mtype = H5Tcopy(ftype); defer { H5Tclose(mtype) }
        let spacePadded = H5Tget_strpad(ftype) == H5T_STR_SPACEPAD
        var raw = [UInt8](repeating: 0, count: n * size)
        let status = raw.withUnsafeMutableBytes { read(mtype, $0.baseAddress) }
        if status < 0 { throw InputError(file: path, field: field, "could not be read as strings") }
        var out: [String] = []
        out.reserveCapacity(n)
        raw.withUnsafeBufferPointer { rb in
            for i in 0..<n {
                let lo = i &* size
                var hi = lo
                let end = lo &+ size
                while hi < end && rb[hi] != 0 { hi &+= 1 }
                if spacePadded { while hi > lo && rb[hi &- 1] == 0x20 { hi &-= 1 } }
                out.append(String(decoding: UnsafeBufferPointer(rebasing: rb[lo..<hi]), as: UTF8.self))
            }
        }
        return out
    }

    static func elementClass(of t: hid_t) -> ElementClass {
        switch H5Tget_class(t) {
        case H5T_INTEGER: return .integer(bytes: H5Tget_size(t), signed: H5Tget_sign(t) == H5T_SGN_2)
        case H5T_FLOAT: return .float(bytes: H5Tget_size(t))
        case H5T_STRING: return .string(variableLength: H5Tis_variable_str(t) > 0)
        case H5T_ENUM:
            var isBool = false
            if H5Tget_nmembers(t) == 2, let n0 = H5Tget_member_name(t, 0), let n1 = H5Tget_member_name(t, 1) {
                isBool = String(cString: n0) == "FALSE" && String(cString: n1) == "TRUE"
                H5free_memory(n0); H5free_memory(n1)
            }
            return .enumeration(isBool: isBool)
        case H5T_REFERENCE: return .reference
        default: return .other
        }
    }

    /// The path handed to HDF5 ("." for the root).
    static func hdf5Name(_ name: String) -> String {
        let trimmed = name.split(separator: "/").joined(separator: "/")
        return trimmed.isEmpty ? "." : trimmed
    }

    /// The field name used in error messages ("/" for the root).
    static func fieldName(_ name: String) -> String {
        let trimmed = name.split(separator: "/").joined(separator: "/")
        return trimmed.isEmpty ? "/" : trimmed
    }

    static func attrField(_ object: String, _ name: String) -> String {
        let o = object.split(separator: "/").joined(separator: "/")
        return o.isEmpty ? "attrs[\(name)]" : "\(o).attrs[\(name)]"
    }

    static func decodeCString(_ buf: [CChar]) -> String {
        let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Element types HDF5 converts to on read.
public protocol HDF5Scalar: Numeric { static var hdf5Type: hid_t { get } }
extension Float: HDF5Scalar { public static var hdf5Type: hid_t { sth5_native_float() } }
extension Double: HDF5Scalar { public static var hdf5Type: hid_t { sth5_native_double() } }
extension Int32: HDF5Scalar { public static var hdf5Type: hid_t { sth5_native_int32() } }
extension Int64: HDF5Scalar { public static var hdf5Type: hid_t { sth5_native_int64() } }
extension Int8: HDF5Scalar { public static var hdf5Type: hid_t { sth5_native_int8() } }
extension UInt8: HDF5Scalar { public static var hdf5Type: hid_t { sth5_native_uint8() } }
extension Int16: HDF5Scalar { public static var hdf5Type: hid_t { sth5_native_int16() } }
extension UInt32: HDF5Scalar { public static var hdf5Type: hid_t { sth5_native_uint32() } }
extension UInt64: HDF5Scalar { public static var hdf5Type: hid_t { sth5_native_uint64() } }

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
enum FileManagerShim {
    static func isReadableFile(_ path: String) -> Bool { access(path, R_OK) == 0 }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }
}

/// What is at a path (symbolic links followed), for messages about inputs that are not files.
public enum PathKind: String, Sendable {
    case missing = "nothing (no such file or directory)"
    case regularFile = "a regular file"
    case directory = "a directory"
    case fifo = "a FIFO (named pipe)"
    case characterDevice = "a character device"
    case blockDevice = "a block device"
    case socket = "a socket"
    case other = "not a regular file"

    /// The kind of `path`.
    public init(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { self = .missing; return }
        switch st.st_mode & S_IFMT {
        case S_IFREG: self = .regularFile
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .fifo
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFSOCK: self = .socket
        default: self = .other
        }
    }

    /// Whether `path` is a regular file this process may read.
    public static func isReadableRegularFile(_ path: String) -> Bool {
        PathKind(path: path) == .regularFile && FileManagerShim.isReadableFile(path)
    }
}
