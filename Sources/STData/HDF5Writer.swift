import CHDF5
import STCore

/// Element types `HDF5Writer` stores, with their little-endian file types (as h5py writes them).
public protocol HDF5Writable: HDF5Scalar { static var hdf5FileType: hid_t { get } }
extension Float: HDF5Writable { public static var hdf5FileType: hid_t { sth5_ieee_f32le() } }
extension Double: HDF5Writable { public static var hdf5FileType: hid_t { sth5_ieee_f64le() } }
extension Int8: HDF5Writable { public static var hdf5FileType: hid_t { sth5_std_i8le() } }
extension Int16: HDF5Writable { public static var hdf5FileType: hid_t { sth5_std_i16le() } }
extension Int32: HDF5Writable { public static var hdf5FileType: hid_t { sth5_std_i32le() } }
extension Int64: HDF5Writable { public static var hdf5FileType: hid_t { sth5_std_i64le() } }
extension UInt8: HDF5Writable { public static var hdf5FileType: hid_t { sth5_std_u8le() } }

/// Creates an HDF5 file and writes groups, datasets and attributes the way h5py does, so that
/// h5py, anndata and this package's `HDF5File` read them back: numbers little-endian, strings
/// variable-length UTF-8, booleans as h5py's `int8` enum {FALSE, TRUE}.
///
/// Compressed datasets are chunked (about 64 Ki elements per chunk, whole rows) with shuffle +
/// gzip. Errors are `InputError`s naming the file and the object.
public final class HDF5Writer {
    /// The file's path.
    public let path: String
    var id: hid_t

    /// Creates (or truncates) the file at `path`.
    public init(path: String) throws {
        // No HDF5 clean-up at process exit: every file is closed explicitly (and AtomicFile syncs
        // it) before it counts as written, and after a failed write (disk full) the library's
        // atexit tear-down of the half-closed file crashed (SIGSEGV after the error line). Only
        // takes effect when called before the library is first used; harmless otherwise.
        _ = H5dont_atexit()
        sth5_silence_errors()
        self.path = path
        let fapl = sth5_fapl_tolerant_locking()
        defer { if fapl >= 0 { H5Pclose(fapl) } }
        let fid = H5Fcreate(path, sth5_f_acc_trunc(), sth5_p_default(), fapl >= 0 ? fapl : sth5_p_default())
        if fid < 0 { throw InputError(file: path, "cannot create the file (directory missing or not writable?)") }
        id = fid
    }

    deinit { if id >= 0 { H5Fclose(id) } }

    /// Flushes and closes the file; further calls throw. Safe to call twice.
    public func close() throws {
        guard id >= 0 else { return }
        let status = H5Fclose(id)
        id = -1
        if status < 0 { throw InputError(file: path, "could not be closed (disk full?)") }
    }

    /// Flushes buffered data to disk.
    public func flush() throws {
        try checkOpen()
        if H5Fflush(id, H5F_SCOPE_GLOBAL) < 0 { throw InputError(file: path, "could not be flushed (disk full?)") }
    }

    // MARK: - Groups

    /// Creates group `name` and any missing parents (no-op if it already exists).
    public func createGroup(_ name: String) throws {
        try checkOpen()
        let n = HDF5File.hdf5Name(name)
        if n == "." || exists(n) { return }
        let lcpl = try linkCreationList(); defer { H5Pclose(lcpl) }
        let g = H5Gcreate2(id, n, lcpl, sth5_p_default(), sth5_p_default())
        if g < 0 { throw InputError(file: path, field: HDF5File.fieldName(name), "group could not be created") }
        H5Gclose(g)
    }

    // MARK: - Datasets

    /// Writes a numeric dataset of shape `shape` (default 1-D), gzip-compressed at `compression`
    /// (0–9) when given.
    public func write<T: HDF5Writable>(_ name: String, _ values: [T], shape: [Int]? = nil,
                                       compression: Int? = nil) throws {
        let dims = shape ?? [values.count]
        try checkShape(name, dims, values.count)
        try writeRaw(name, dims: dims, fileType: T.hdf5FileType, memType: T.hdf5Type,
                     compression: compression) { mem, d in
            values.withUnsafeBytes { H5Dwrite(d, mem, sth5_s_all(), sth5_s_all(), sth5_p_default(), $0.baseAddress) }
        }
    }

    /// Writes a boolean dataset as h5py does (an `int8` enum {FALSE = 0, TRUE = 1}).
    public func write(_ name: String, bools values: [Bool], shape: [Int]? = nil, compression: Int? = nil) throws {
        let dims = shape ?? [values.count]
        try checkShape(name, dims, values.count)
        let t = Self.boolType(); defer { H5Tclose(t) }
        let raw = values.map { $0 ? Int8(1) : Int8(0) }
        try writeRaw(name, dims: dims, fileType: t, memType: t, compression: compression) { mem, d in
            raw.withUnsafeBytes { H5Dwrite(d, mem, sth5_s_all(), sth5_s_all(), sth5_p_default(), $0.baseAddress) }
        }
    }

    /// Writes a scalar numeric dataset (anndata's `numeric-scalar`).
    public func writeScalar<T: HDF5Writable>(_ name: String, _ value: T) throws {
        let v = [value]
        try writeRaw(name, dims: nil, fileType: T.hdf5FileType, memType: T.hdf5Type, compression: nil) { mem, d in
            v.withUnsafeBytes { H5Dwrite(d, mem, sth5_s_all(), sth5_s_all(), sth5_p_default(), $0.baseAddress) }
        }
    }

    /// Writes a scalar boolean dataset as h5py does (its `int8` enum).
    public func writeScalar(_ name: String, bool value: Bool) throws {
        let t = Self.boolType(); defer { H5Tclose(t) }
        var raw: Int8 = value ? 1 : 0
        try writeRaw(name, dims: nil, fileType: t, memType: t, compression: nil) { mem, d in
            H5Dwrite(d, mem, sth5_s_all(), sth5_s_all(), sth5_p_default(), &raw)
        }
    }

    /// Writes a `rows × cols` dataset block of rows by block, so that a matrix larger than memory
    /// (e.g. GraphST's N×G reconstruction) is never held whole: `block(lo, hi)` returns rows
    /// lo..<hi row-major. Blocks hold about `blockElements` values and follow the chunking.
    public func writeRows<T: HDF5Writable>(_ name: String, rows: Int, cols: Int, compression: Int? = nil,
                                           blockElements: Int = 1 << 22,
                                           _ block: (_ lo: Int, _ hi: Int) throws -> [T]) throws {
        let field = HDF5File.fieldName(name)
        let dataset = try createDataset(name, dims: [rows, cols], fileType: T.hdf5FileType, compression: compression)
        defer { H5Dclose(dataset) }
        guard rows > 0, cols > 0 else { return }
        let fileSpace = H5Dget_space(dataset); defer { H5Sclose(fileSpace) }
        let chunkRows = Self.chunkShape([rows, cols])[0]
        let step = max(chunkRows, (blockElements / max(cols, 1)) / chunkRows * chunkRows)
        var lo = 0
        while lo < rows {
            let hi = min(rows, lo + step)
            let values = try block(lo, hi)
            try checkShape(name, [hi - lo, cols], values.count)
            var start: [hsize_t] = [hsize_t(lo), 0], count: [hsize_t] = [hsize_t(hi - lo), hsize_t(cols)]
            H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &count, nil)
            let memSpace = H5Screate_simple(2, &count, nil); defer { H5Sclose(memSpace) }
            let status = values.withUnsafeBytes {
                H5Dwrite(dataset, T.hdf5Type, memSpace, fileSpace, sth5_p_default(), $0.baseAddress)
            }
            if status < 0 { throw InputError(file: path, field: field, "could not be written (disk full?)") }
            lo = hi
        }
    }

    /// Writes a 1-D dataset of variable-length UTF-8 strings (anndata's `string-array`).
    public func writeStrings(_ name: String, _ values: [String], compression: Int? = nil) throws {
        let t = Self.vlenStringType(); defer { H5Tclose(t) }
        try writeRaw(name, dims: [values.count], fileType: t, memType: t, compression: compression) { mem, d in
            Self.withCStringArray(values) { H5Dwrite(d, mem, sth5_s_all(), sth5_s_all(), sth5_p_default(), $0) }
        }
    }

    /// Writes a scalar variable-length UTF-8 string dataset (anndata's `string` encoding).
    public func writeString(_ name: String, _ value: String) throws {
        let t = Self.vlenStringType(); defer { H5Tclose(t) }
        try writeRaw(name, dims: nil, fileType: t, memType: t, compression: nil) { mem, d in
            Self.withCStringArray([value]) { H5Dwrite(d, mem, sth5_s_all(), sth5_s_all(), sth5_p_default(), $0) }
        }
    }

    // MARK: - Attributes

    /// Sets a scalar variable-length UTF-8 string attribute on `object` ("" or "/" = the root).
    public func setAttribute(_ object: String, _ name: String, _ value: String) throws {
        let t = Self.vlenStringType(); defer { H5Tclose(t) }
        try writeAttribute(object, name, dims: nil, type: t) { a in
            Self.withCStringArray([value]) { H5Awrite(a, t, $0) }
        }
    }

    /// Sets a 1-D string-array attribute (variable-length UTF-8). An empty array is written as an
    /// empty float64 array, as h5py does for an empty list (anndata's empty `column-order`).
    public func setAttribute(_ object: String, _ name: String, strings values: [String]) throws {
        if values.isEmpty {
            try setAttribute(object, name, [Double]())
            return
        }
        let t = Self.vlenStringType(); defer { H5Tclose(t) }
        try writeAttribute(object, name, dims: [values.count], type: t) { a in
            Self.withCStringArray(values) { H5Awrite(a, t, $0) }
        }
    }

    /// Sets a numeric scalar attribute.
    public func setAttribute<T: HDF5Writable>(_ object: String, _ name: String, _ value: T) throws {
        try writeAttribute(object, name, dims: nil, type: T.hdf5FileType) { a in
            withUnsafeBytes(of: value) { H5Awrite(a, T.hdf5Type, $0.baseAddress) }
        }
    }

    /// Sets a 1-D numeric array attribute.
    public func setAttribute<T: HDF5Writable>(_ object: String, _ name: String, _ values: [T]) throws {
        try writeAttribute(object, name, dims: [values.count], type: T.hdf5FileType) { a in
            values.isEmpty ? 0 : values.withUnsafeBytes { H5Awrite(a, T.hdf5Type, $0.baseAddress) }
        }
    }

    /// Sets a boolean scalar attribute (h5py's enum bool, e.g. anndata's categorical `ordered`).
    public func setAttribute(_ object: String, _ name: String, _ value: Bool) throws {
        let t = Self.boolType(); defer { H5Tclose(t) }
        var v: Int8 = value ? 1 : 0
        try writeAttribute(object, name, dims: nil, type: t) { a in H5Awrite(a, t, &v) }
    }

    /// Sets an object-reference attribute pointing at `target` (anndata 0.7 links a categorical
    /// column to its categories this way).
    public func setAttribute(_ object: String, _ name: String, reference target: String) throws {
        try checkOpen()
        let t = HDF5File.hdf5Name(target)
        guard exists(t) else { throw InputError(file: path, field: HDF5File.fieldName(target), "missing") }
        var ref = hobj_ref_t()
        if H5Rcreate(&ref, id, t, sth5_r_object(), -1) < 0 {
            throw InputError(file: path, field: HDF5File.attrField(object, name), "reference could not be created")
        }
        try writeAttribute(object, name, dims: nil, type: sth5_std_ref_obj()) { a in H5Awrite(a, sth5_std_ref_obj(), &ref) }
    }

    // MARK: - Internals

    func checkOpen() throws {
        if id < 0 { throw InputError(file: path, "HDF5Writer used after close()") }
    }

    func exists(_ name: String) -> Bool {
        var prefix = ""
        for part in name.split(separator: "/") {
            prefix += (prefix.isEmpty ? "" : "/") + part
            if H5Lexists(id, prefix, sth5_p_default()) <= 0 { return false }
        }
        return true
    }

    func linkCreationList() throws -> hid_t {
        let lcpl = H5Pcreate(sth5_p_link_create())
        if lcpl < 0 { throw InputError(file: path, "HDF5 property list could not be created") }
        H5Pset_create_intermediate_group(lcpl, 1)
        H5Pset_char_encoding(lcpl, H5T_CSET_UTF8)
        return lcpl
    }

    func checkShape(_ name: String, _ dims: [Int], _ count: Int) throws {
        guard dims.allSatisfy({ $0 >= 0 }), dims.reduce(1, *) == count else {
            throw InputError(file: path, field: HDF5File.fieldName(name),
                             "shape \(dims) does not hold \(count) values")
        }
    }

    /// Creates dataset `name` (dims nil = scalar) and writes it with `body(memType, dataset)`.
    func writeRaw(_ name: String, dims: [Int]?, fileType: hid_t, memType: hid_t, compression: Int?,
                  _ body: (hid_t, hid_t) -> herr_t) throws {
        let d = try createDataset(name, dims: dims, fileType: fileType, compression: compression)
        defer { H5Dclose(d) }
        if (dims?.reduce(1, *) ?? 1) > 0 && body(memType, d) < 0 {
            throw InputError(file: path, field: HDF5File.fieldName(name), "could not be written (disk full?)")
        }
    }

    /// Creates dataset `name` (dims nil = scalar; chunked with shuffle + gzip when `compression`
    /// is given) and returns it open; the caller closes it.
    func createDataset(_ name: String, dims: [Int]?, fileType: hid_t, compression: Int?) throws -> hid_t {
        try checkOpen()
        let field = HDF5File.fieldName(name)
        let n = HDF5File.hdf5Name(name)
        if exists(n) { throw InputError(file: path, field: field, "already exists") }
        let space = try dataspace(dims, field: field)
        defer { H5Sclose(space) }
        let dcpl = H5Pcreate(sth5_p_dataset_create()); defer { H5Pclose(dcpl) }
        let total = dims?.reduce(1, *) ?? 1
        if let level = compression, let dims, total > 0 {
            var chunk = Self.chunkShape(dims).map { hsize_t($0) }
            H5Pset_chunk(dcpl, Int32(dims.count), &chunk)
            H5Pset_shuffle(dcpl)
            H5Pset_deflate(dcpl, UInt32(max(0, min(9, level))))
        }
        let lcpl = try linkCreationList(); defer { H5Pclose(lcpl) }
        let d = H5Dcreate2(id, n, fileType, space, lcpl, dcpl, sth5_p_default())
        if d < 0 { throw InputError(file: path, field: field, "dataset could not be created") }
        return d
    }

    /// A simple dataspace of shape `dims`, or a scalar one for nil; the caller closes it.
    func dataspace(_ dims: [Int]?, field: String) throws -> hid_t {
        let space: hid_t
        if let dims {
            var hd = dims.map { hsize_t($0) }
            space = H5Screate_simple(Int32(dims.count), &hd, nil)
        } else {
            space = H5Screate(H5S_SCALAR)
        }
        if space < 0 { throw InputError(file: path, field: field, "dataspace could not be created") }
        return space
    }

    /// Whole trailing dimensions, first dimension cut so that a chunk holds about 64 Ki elements.
    static func chunkShape(_ dims: [Int]) -> [Int] {
        let target = 1 << 16
        var chunk = dims.map { max($0, 1) }
        var inner = 1
        for k in stride(from: chunk.count - 1, through: 1, by: -1) {
            if inner * chunk[k] > (1 << 20) { chunk[k] = max(1, (1 << 20) / inner) }
            inner *= chunk[k]
        }
        chunk[0] = max(1, min(chunk[0], target / max(inner, 1)))
        return chunk
    }

    func writeAttribute(_ object: String, _ name: String, dims: [Int]?, type: hid_t,
                        _ body: (hid_t) -> herr_t) throws {
        try checkOpen()
        let o = HDF5File.hdf5Name(object)
        let field = HDF5File.attrField(object, name)
        if o != "." && !exists(o) { throw InputError(file: path, field: HDF5File.fieldName(object), "missing") }
        if H5Aexists_by_name(id, o, name, sth5_p_default()) > 0 {
            H5Adelete_by_name(id, o, name, sth5_p_default())
        }
        let space = try dataspace(dims, field: field)
        defer { H5Sclose(space) }
        let a = H5Acreate_by_name(id, o, name, type, space, sth5_p_default(), sth5_p_default(), sth5_p_default())
        if a < 0 { throw InputError(file: path, field: field, "attribute could not be created") }
        defer { H5Aclose(a) }
        if body(a) < 0 { throw InputError(file: path, field: field, "attribute could not be written") }
    }

    static func vlenStringType() -> hid_t {
        let t = H5Tcopy(sth5_c_s1())
        H5Tset_size(t, sth5_variable())
        H5Tset_cset(t, H5T_CSET_UTF8)
        return t
    }

    static func boolType() -> hid_t {
        let t = H5Tenum_create(sth5_native_int8())
        var f: Int8 = 0, tr: Int8 = 1
        H5Tenum_insert(t, "FALSE", &f)
        H5Tenum_insert(t, "TRUE", &tr)
        return t
    }

    /// Calls `body` with an array of NUL-terminated UTF-8 strings laid out in one buffer.
    static func withCStringArray<R>(_ strings: [String], _ body: (UnsafeRawPointer?) -> R) -> R {
        var bytes: [UInt8] = []
        var offsets: [Int] = []
        offsets.reserveCapacity(strings.count)
        for s in strings {
            offsets.append(bytes.count)
            bytes.append(contentsOf: s.utf8.prefix { $0 != 0 })
            bytes.append(0)
        }
        return bytes.withUnsafeBufferPointer { b -> R in
            let base = UnsafeRawPointer(b.baseAddress!)
            let ptrs: [UnsafeRawPointer?] = offsets.map { base + $0 }
            return ptrs.withUnsafeBufferPointer { body(UnsafeRawPointer($0.baseAddress!)) }
        }
    }
}
