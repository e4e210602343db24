import CHDF5
import STCore

/// A read-only HDF5 file, opened through the HDF5 C library.
///
/// Errors are `InputError`s naming the file and the object path; HDF5's own error-stack printing
/// is silenced so that the user sees one line.
public final class HDF5File {
    public let path: String
    let id: hid_t

    public init(path: String) throws {
        sth5_silence_errors()
        self.path = path
        guard FileManagerShim.isReadableFile(path) else {
            throw InputError(file: path, "cannot open: no such file or not readable")
        }
        if H5Fis_hdf5(path) <= 0 {
            throw InputError(file: path, "not an HDF5 file (h5ad and 10x .h5 files are HDF5)")
        }
        let fid = H5Fopen(path, sth5_f_acc_rdonly(), sth5_p_default())
        if fid < 0 { throw InputError(file: path, "HDF5 could not open the file") }
        id = fid
    }

    deinit { H5Fclose(id) }

    /// Whether an object (group or dataset) exists at `name` (e.g. "obsm/spatial").
    public func exists(_ name: String) -> Bool {
        var prefix = ""
        for part in name.split(separator: "/") {
            prefix += (prefix.isEmpty ? "" : "/") + part
            if H5Lexists(id, prefix, sth5_p_default()) <= 0 { return false }
        }
        return true
    }

    /// The dimensions of the dataset at `name`.
    public func shape(_ name: String) throws -> [Int] {
        let d = try openDataset(name); defer { H5Dclose(d) }
        return try Self.dims(of: d, file: path, name: name)
    }

    /// Reads a whole numeric dataset, converted by HDF5 to `T` (Float, Double, Int32, Int64, ...).
    public func read<T: HDF5Scalar>(_ name: String, as: T.Type = T.self) throws -> [T] {
        let d = try openDataset(name); defer { H5Dclose(d) }
        let n = try Self.dims(of: d, file: path, name: name).reduce(1, *)
        var out = [T](repeating: .zero, count: n)
        if n == 0 { return out }
        let status = out.withUnsafeMutableBytes {
            H5Dread(d, T.hdf5Type, sth5_s_all(), sth5_s_all(), sth5_p_default(), $0.baseAddress)
        }
        if status < 0 { throw InputError(file: path, field: name, "could not be read as \(T.self)") }
        return out
    }

    func openDataset(_ name: String) throws -> hid_t {
        guard exists(name) else { throw InputError(file: path, field: name, "missing") }
        let d = H5Dopen2(id, name, sth5_p_default())
        if d < 0 { throw InputError(file: path, field: name, "is not a dataset") }
        return d
    }

    static func dims(of dataset: hid_t, file: String, name: String) throws -> [Int] {
        let space = H5Dget_space(dataset); defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        if rank < 0 { throw InputError(file: file, field: name, "has no readable dataspace") }
        var dims = [hsize_t](repeating: 0, count: Swift.max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        return rank == 0 ? [] : dims.map { Int($0) }
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

#if canImport(Glibc)
import Glibc
#endif
enum FileManagerShim {
    static func isReadableFile(_ path: String) -> Bool { access(path, R_OK) == 0 }
}
