import CHDF5
import Foundation
import STCore
import STData

/// Small `.h5ad` files that lie about their sizes (issue 9.1), each made from a valid 300-spot ×
/// 120-gene slide by rewriting one object through the HDF5 C API: a chunked dataset whose declared
/// extent is far larger than what is written (unwritten chunks read as the HDF5 fill value), a
/// contiguous dataset never written, or a size attribute with another value or type. Every file is
/// under 150 KB; a reader that trusted the declared sizes would allocate gigabytes to terabytes.
///
/// `field` and `message` are what the one error line must name and contain.
public enum HostileH5AD: String, CaseIterable, Sendable {
    /// `X/indptr` ends at 10¹² while data and indices hold the slide's ~34 000 entries.
    case indptrEndsAt1e12
    /// The same, with data and indices declared 10¹² long (one chunk written).
    case dataExtent1e12
    /// `X.attrs["shape"]` = (300, 2·10⁹).
    case shapeColumns2e9
    /// `X.attrs["shape"]` = (300, 2·10⁹) and `var/_index` declared 2·10⁹ long (one chunk written).
    case shapeColumns2e9WithIndex
    /// `X.attrs["shape"]` = (10⁹, 120).
    case shapeRows1e9
    /// `X.attrs["shape"]` = (10⁹, 120) and `X/indptr` declared 10⁹ + 1 long (first and last chunks).
    case shapeRows1e9WithIndptr
    /// `obsm/spatial` declared 300 × 10⁹ (the first two columns written).
    case spatialColumns1e9
    /// `obs/_index` declared 10¹⁰ long (the first 300 names written).
    case obsIndex1e10
    /// The categorical column `obs/ground_truth/codes` declared 10¹⁰ long (300 codes written).
    case codes1e10
    /// `obs/ground_truth/codes` declared 10⁹ int8 in one deflate chunk that stores 64 bytes
    /// (written raw with `H5Dwrite_chunk`): every chunk exists, but no deflate stream expands 64
    /// bytes to 1 GB.
    case codesForgedChunk
    /// A dense X of 300 × 5·10⁷ float32, chunked, no chunk written: all fill value.
    case denseFillValue
    /// A dense X of 300 × 5·10⁷ float32, contiguous, never written (no storage allocated).
    case denseUnallocated
    /// `X.attrs["shape"]` = [300.9, 120.5] (float64): HDF5 would truncate to (300, 120).
    case shapeFloats
    /// `X/indptr` as float64 with fractional values.
    case indptrFloats

    /// The field the error line must name.
    public var field: String {
        switch self {
        case .indptrEndsAt1e12, .shapeRows1e9, .shapeRows1e9WithIndptr, .indptrFloats: return "X/indptr"
        case .dataExtent1e12: return "X/data"
        case .shapeColumns2e9, .shapeColumns2e9WithIndex: return "var/_index"
        case .spatialColumns1e9: return "obsm/spatial"
        case .obsIndex1e10: return "obs/_index"
        case .codes1e10, .codesForgedChunk: return "obs/ground_truth/codes"
        case .denseFillValue, .denseUnallocated: return "X"
        case .shapeFloats: return "X.attrs[shape]"
        }
    }

    /// A fragment of the expected message.
    public var message: String {
        switch self {
        case .indptrEndsAt1e12: return "ends at 1000000000000 but data holds"
        case .dataExtent1e12: return "declares shape (1000000000000,) (1000000000000 elements) but the file stores only 1 of the 15258790 chunks"
        case .shapeColumns2e9: return "has 120 names but X has 2000000000 columns (X.attrs[shape])"
        case .shapeColumns2e9WithIndex: return "declares shape (2000000000,) (2000000000 elements) but the file stores only 1 of the"
        case .shapeRows1e9: return "has 301 entries, expected 1000000001 (rows + 1, from X.attrs[shape])"
        case .shapeRows1e9WithIndptr: return "declares shape (1000000001,) (1000000001 elements) but the file stores only 2 of the"
        case .spatialColumns1e9: return "declares shape (300, 1000000000) (300000000000 elements) but the file stores only 1 of the"
        case .obsIndex1e10, .codes1e10: return "declares shape (10000000000,) (10000000000 elements) but the file stores only 1 of the"
        case .codesForgedChunk: return "declares shape (1000000000,) (1000000000 bytes) but stores 64 compressed bytes, beyond what deflate can expand to"
        case .denseFillValue: return "declares shape (300, 50000000) (15000000000 elements) but the file stores none of the"
        case .denseUnallocated: return "declares shape (300, 50000000) (15000000000 elements, 60000000000 bytes) but the file stores none of them"
        case .shapeFloats, .indptrFloats: return "must hold integers, found float64"
        }
    }

    /// Whether the lie is only met when the obs dataframe's columns are read (rank 0 in `run`).
    public var inObsColumns: Bool { self == .codes1e10 || self == .codesForgedChunk }

    /// The valid slide every file starts from: 300 spots × 120 genes, a categorical obs column.
    public static let slide = try! SyntheticSlide(SyntheticSlide.Parameters(spots: 300, genes: 120, domains: 4, seed: 5))

    /// Writes the valid slide, then the lie, to `path`.
    public func write(_ path: String) throws {
        try Self.writeValid(path)
        try lie(in: path)
    }

    /// Writes the valid slide every lie starts from: X (CSR, float32), obs with a categorical
    /// column `ground_truth`, var, obsm["spatial"].
    public static func writeValid(_ path: String) throws {
        let s = slide
        let w = try HDF5Writer(path: path)
        try w.setAttribute("/", "encoding-type", "anndata")
        try w.setAttribute("/", "encoding-version", "0.1.0")
        try w.createGroup("X")
        try w.setAttribute("X", "encoding-type", "csr_matrix")
        try w.setAttribute("X", "encoding-version", "0.1.0")
        try w.setAttribute("X", "shape", [Int64(s.counts.rows), Int64(s.counts.cols)])
        try w.write("X/data", s.counts.values, compression: 4)
        try w.write("X/indices", s.counts.indices, compression: 4)
        try w.write("X/indptr", s.counts.indptr.map { Int64($0) })
        let raw = RawH5AD()
        try raw.writeFrame(w, "obs", s.spotNames)
        try w.setAttribute("obs", "column-order", strings: ["ground_truth"])
        try w.createGroup("obs/ground_truth")
        try w.setAttribute("obs/ground_truth", "encoding-type", "categorical")
        try w.setAttribute("obs/ground_truth", "encoding-version", "0.2.0")
        try w.setAttribute("obs/ground_truth", "ordered", false)
        try w.writeStrings("obs/ground_truth/categories", s.domainNames)
        try w.write("obs/ground_truth/codes", s.domains.map { Int8($0) })
        try raw.writeFrame(w, "var", s.geneNames)
        try w.createGroup("obsm")
        try w.write("obsm/spatial", s.coordinates, shape: [s.counts.rows, 2])
        try w.close()
    }

    /// Rewrites the valid file at `path` into this lie.
    func lie(in path: String) throws {
        let s = Self.slide
        let p = try HDF5Patch(path: path)
        let nnz = s.counts.nnz
        switch self {
        case .indptrEndsAt1e12, .dataExtent1e12:
            var ptr = s.counts.indptr.map { Int64($0) }
            ptr[ptr.count - 1] = 1_000_000_000_000
            try p.replace("X/indptr", with: ptr)
            if self == .dataExtent1e12 {
                try p.replaceChunked("X/data", dims: [1_000_000_000_000], chunk: [65_536], prefix: s.counts.values)
                try p.replaceChunked("X/indices", dims: [1_000_000_000_000], chunk: [65_536], prefix: s.counts.indices)
            }
        case .shapeColumns2e9, .shapeColumns2e9WithIndex:
            try p.setAttribute("X", "shape", [Int64(300), 2_000_000_000])
            if self == .shapeColumns2e9WithIndex {
                try p.replaceChunkedStrings("var/_index", count: 2_000_000_000, chunk: 120, prefix: s.geneNames)
            }
        case .shapeRows1e9, .shapeRows1e9WithIndptr:
            try p.setAttribute("X", "shape", [Int64(1_000_000_000), 120])
            if self == .shapeRows1e9WithIndptr {
                let n = 1_000_000_000
                try p.replaceChunked("X/indptr", dims: [n + 1], chunk: [4096], prefix: s.counts.indptr.map { Int64($0) },
                                     last: Int64(nnz))
            }
        case .spatialColumns1e9:
            try p.replaceChunked("obsm/spatial", dims: [300, 1_000_000_000], chunk: [300, 2], prefix: s.coordinates,
                                 prefixDims: [300, 2])
        case .obsIndex1e10:
            try p.replaceChunkedStrings("obs/_index", count: 10_000_000_000, chunk: 300, prefix: s.spotNames)
        case .codes1e10:
            try p.replaceChunked("obs/ground_truth/codes", dims: [10_000_000_000], chunk: [300],
                                 prefix: s.domains.map { Int8($0) })
        case .codesForgedChunk:
            try p.replaceWithForgedChunk("obs/ground_truth/codes", count: 1_000_000_000, bytes: 64)
        case .denseFillValue, .denseUnallocated:
            try p.delete("X")
            try p.createUnwritten("X", dims: [300, 50_000_000], chunk: self == .denseFillValue ? [1, 1 << 20] : nil)
            try p.setAttribute("X", "encoding-type", string: "array")
            try p.setAttribute("X", "encoding-version", string: "0.2.0")
        case .shapeFloats:
            try p.setAttribute("X", "shape", [300.9, 120.5])
        case .indptrFloats:
            var ptr = s.counts.indptr.map { Double($0) + 0.25 }
            ptr[0] = 0; ptr[ptr.count - 1] = Double(nnz)
            try p.replace("X/indptr", with: ptr)
        }
        try p.close()
    }
}

/// Rewrites objects of an existing HDF5 file in place through the C API (test files only: no
/// checks beyond HDF5's own).
public final class HDF5Patch {
    let path: String
    var id: hid_t

    public init(path: String) throws {
        self.path = path
        id = H5Fopen(path, sth5_f_acc_rdwr(), sth5_p_default())
        if id < 0 { throw InputError(file: path, "HDF5Patch: cannot open read-write") }
    }

    deinit { if id >= 0 { H5Fclose(id) } }

    public func close() throws {
        let s = H5Fclose(id)
        id = -1
        if s < 0 { throw InputError(file: path, "HDF5Patch: close failed") }
    }

    func check(_ status: Int64, _ what: String) throws {
        if status < 0 { throw InputError(file: path, field: what, "HDF5Patch: HDF5 call failed") }
    }

    /// Removes the link `name`.
    public func delete(_ name: String) throws {
        try check(Int64(H5Ldelete(id, name, sth5_p_default())), name)
    }

    /// Replaces dataset `name` by a contiguous one holding `values`, keeping its attributes' absence
    /// in mind (h5ad arrays under X carry none).
    public func replace<T: HDF5Writable>(_ name: String, with values: [T]) throws {
        try delete(name)
        var dims = [hsize_t(values.count)]
        let space = H5Screate_simple(1, &dims, nil); defer { H5Sclose(space) }
        let d = H5Dcreate2(id, name, T.hdf5FileType, space, sth5_p_default(), sth5_p_default(), sth5_p_default())
        try check(d, name); defer { H5Dclose(d) }
        try check(Int64(values.withUnsafeBytes { H5Dwrite(d, T.hdf5Type, sth5_s_all(), sth5_s_all(), sth5_p_default(), $0.baseAddress) }), name)
    }

    /// Replaces dataset `name` by a chunked one of extent `dims` of which only the leading block
    /// `prefixDims` (default: `prefix.count` along the first dimension) is written, and, when
    /// `last` is given, the very last element (its chunk).
    public func replaceChunked<T: HDF5Writable>(_ name: String, dims: [Int], chunk: [Int], prefix: [T],
                                               prefixDims: [Int]? = nil, last: T? = nil) throws {
        try delete(name)
        let d = try createChunked(name, dims: dims, chunk: chunk, type: T.hdf5FileType); defer { H5Dclose(d) }
        try writeBlock(d, name, start: dims.map { _ in 0 }, count: prefixDims ?? [prefix.count], type: T.hdf5Type) { buf in
            prefix.withUnsafeBytes { buf($0.baseAddress) }
        }
        if let last {
            try writeBlock(d, name, start: dims.map { $0 - 1 }, count: dims.map { _ in 1 }, type: T.hdf5Type) { buf in
                withUnsafeBytes(of: last) { buf($0.baseAddress) }
            }
        }
    }

    /// Replaces dataset `name` by an int8 dataset of `count` elements in one deflate chunk whose
    /// stored bytes are `bytes` zeros written raw (not a deflate stream: reading it would fail).
    public func replaceWithForgedChunk(_ name: String, count: Int, bytes: Int) throws {
        try delete(name)
        let d = try createChunked(name, dims: [count], chunk: [count], type: Int8.hdf5FileType); defer { H5Dclose(d) }
        var offset = [hsize_t(0)]
        let raw = [UInt8](repeating: 0, count: bytes)
        try check(Int64(H5Dwrite_chunk(d, sth5_p_default(), 0, &offset, bytes, raw)), name)
    }

    /// Replaces the string dataset `name` by a chunked one of `count` entries, `prefix` written.
    public func replaceChunkedStrings(_ name: String, count: Int, chunk: Int, prefix: [String]) throws {
        try delete(name)
        let t = H5Tcopy(sth5_c_s1()); defer { H5Tclose(t) }
        H5Tset_size(t, sth5_variable())
        H5Tset_cset(t, H5T_CSET_UTF8)
        let d = try createChunked(name, dims: [count], chunk: [chunk], type: t); defer { H5Dclose(d) }
        let cStrings = prefix.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        try writeBlock(d, name, start: [0], count: [prefix.count], type: t) { buf in
            cStrings.withUnsafeBytes { buf($0.baseAddress) }
        }
    }

    /// Creates a float32 dataset of extent `dims` and writes nothing: chunked when `chunk` is given
    /// (no chunk allocated), else contiguous with late allocation (no storage at all).
    public func createUnwritten(_ name: String, dims: [Int], chunk: [Int]?) throws {
        if let chunk {
            H5Dclose(try createChunked(name, dims: dims, chunk: chunk, type: Float.hdf5FileType))
            return
        }
        var ext = dims.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(ext.count), &ext, nil); defer { H5Sclose(space) }
        let dcpl = H5Pcreate(sth5_p_dataset_create()); defer { H5Pclose(dcpl) }
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_LATE)
        let d = H5Dcreate2(id, name, Float.hdf5FileType, space, sth5_p_default(), dcpl, sth5_p_default())
        try check(d, name)
        H5Dclose(d)
    }

    /// Replaces attribute `name` of `object` by a 1-D numeric array.
    public func setAttribute<T: HDF5Writable>(_ object: String, _ name: String, _ values: [T]) throws {
        if H5Aexists_by_name(id, object, name, sth5_p_default()) > 0 {
            try check(Int64(H5Adelete_by_name(id, object, name, sth5_p_default())), name)
        }
        var dims = [hsize_t(values.count)]
        let space = H5Screate_simple(1, &dims, nil); defer { H5Sclose(space) }
        let a = H5Acreate_by_name(id, object, name, T.hdf5FileType, space, sth5_p_default(), sth5_p_default(), sth5_p_default())
        try check(a, object + ".attrs[" + name + "]"); defer { H5Aclose(a) }
        try check(Int64(values.withUnsafeBytes { H5Awrite(a, T.hdf5Type, $0.baseAddress) }), name)
    }

    /// Sets a variable-length UTF-8 string attribute.
    public func setAttribute(_ object: String, _ name: String, string value: String) throws {
        let t = H5Tcopy(sth5_c_s1()); defer { H5Tclose(t) }
        H5Tset_size(t, sth5_variable())
        H5Tset_cset(t, H5T_CSET_UTF8)
        let space = H5Screate(H5S_SCALAR); defer { H5Sclose(space) }
        let a = H5Acreate_by_name(id, object, name, t, space, sth5_p_default(), sth5_p_default(), sth5_p_default())
        try check(a, object + ".attrs[" + name + "]"); defer { H5Aclose(a) }
        let c = strdup(value); defer { free(c) }
        var ptr: UnsafeMutablePointer<CChar>? = c
        try check(Int64(H5Awrite(a, t, &ptr)), name)
    }

    func createChunked(_ name: String, dims: [Int], chunk: [Int], type: hid_t) throws -> hid_t {
        var ext = dims.map { hsize_t($0) }
        var c = chunk.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(ext.count), &ext, nil); defer { H5Sclose(space) }
        let dcpl = H5Pcreate(sth5_p_dataset_create()); defer { H5Pclose(dcpl) }
        H5Pset_chunk(dcpl, Int32(c.count), &c)
        H5Pset_deflate(dcpl, 4)
        let d = H5Dcreate2(id, name, type, space, sth5_p_default(), dcpl, sth5_p_default())
        try check(d, name)
        return d
    }

    func writeBlock(_ d: hid_t, _ name: String, start: [Int], count: [Int], type: hid_t,
                    _ withBuffer: ((UnsafeRawPointer?) -> herr_t) -> herr_t) throws {
        let fspace = H5Dget_space(d); defer { H5Sclose(fspace) }
        var st = start.map { hsize_t($0) }, cnt = count.map { hsize_t($0) }
        try check(Int64(H5Sselect_hyperslab(fspace, sth5_s_select_set(), &st, nil, &cnt, nil)), name)
        let mspace = H5Screate_simple(Int32(cnt.count), &cnt, nil); defer { H5Sclose(mspace) }
        try check(Int64(withBuffer { H5Dwrite(d, type, mspace, fspace, sth5_p_default(), $0) }), name)
    }
}
