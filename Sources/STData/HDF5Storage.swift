import CHDF5
import STCore

// What an HDF5 file can actually hold, against what its datasets declare.
//
// A dataset's extent is a number in its header: a file of 80 KB can declare a dataset of 10^12
// elements (chunked, with almost no chunk written: unwritten chunks read as the fill value), and a
// reader that allocates by the declared extent then asks for terabytes. Every dataset this reader
// opens is therefore checked once against its storage before its shape is used for anything:
//
// * contiguous layout: the allocated bytes (`H5Dget_storage_size`) must cover every element;
// * chunked layout: every chunk the extent needs must be allocated (`H5Dget_num_chunks`), and, when
//   the only filters are deflate, shuffle and fletcher32, the stored bytes times deflate's largest
//   possible ratio (1032:1) must reach the declared bytes;
// * compact layout: the data live in the object header, always whole.
//
// anndata, h5py, Cell Ranger and our own writer write every element they declare, so a real file
// always passes; a dataset read mostly as fill values is a file that lies about its size.

extension HDF5File {
    /// Deflate's largest compression ratio (a 258-byte match costs at least 2 bits: 1032:1), with
    /// a margin for chunk and block headers.
    static let maxDeflateRatio = 1100

    /// The number of elements of an extent, or nil when the product overflows `Int`.
    public static func elementCount(_ dims: [Int]) -> Int? {
        var n = 1
        for d in dims {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return n
    }

    /// The number of elements of `dims`, or an `InputError` naming `field` when it overflows.
    func elementCount(_ dims: [Int], field: String) throws -> Int {
        guard let n = Self.elementCount(dims) else {
            throw InputError(file: path, field: field, "declares shape \(Self.formatShape(dims)), more elements than a 64-bit count holds")
        }
        return n
    }

    /// Checks that the open dataset `d` (at `name`) stores every element its extent declares
    /// (see the comment at the top of this file). Each dataset is checked once per open file.
    func checkStorage(_ d: hid_t, name: String) throws {
        let field = Self.fieldName(name)
        if verifiedDatasets.contains(field) { return }
        let dims = try Self.dims(of: d, file: path, name: name)
        let n = try elementCount(dims, field: field)
        if n == 0 { verifiedDatasets.insert(field); return }
        let ftype = H5Dget_type(d); defer { H5Tclose(ftype) }
        let elementSize = H5Tget_size(ftype)
        let (declaredBytes, overflow) = n.multipliedReportingOverflow(by: elementSize)
        if overflow || elementSize == 0 {
            throw InputError(file: path, field: field, "declares shape \(Self.formatShape(dims)) of \(elementSize)-byte elements, more bytes than a 64-bit count holds")
        }
        let dcpl = H5Dget_create_plist(d)
        if dcpl < 0 { throw InputError(file: path, field: field, "has no readable storage properties") }
        defer { H5Pclose(dcpl) }
        let stored = Int(clamping: H5Dget_storage_size(d))
        let shape = Self.formatShape(dims)
        switch H5Pget_layout(dcpl) {
        case H5D_COMPACT:
            break
        case H5D_CONTIGUOUS:
            // External files (H5Pset_external) hold the data elsewhere; HDF5 checks their sizes.
            if H5Pget_external_count(dcpl) > 0 { break }
            if stored < declaredBytes {
                throw InputError(file: path, field: field,
                                 "declares shape \(shape) (\(n) elements, \(declaredBytes) bytes) but the file stores \(stored == 0 ? "none of them" : "only \(stored) bytes"); unwritten elements would read as HDF5 fill values")
            }
        case H5D_CHUNKED:
            var chunk = [hsize_t](repeating: 0, count: Swift.max(dims.count, 1))
            let rank = Int(H5Pget_chunk(dcpl, Int32(chunk.count), &chunk))
            guard rank == dims.count, chunk.allSatisfy({ $0 > 0 }) else {
                throw InputError(file: path, field: field, "has an unreadable chunk shape")
            }
            var needed = 1
            for (extent, c) in zip(dims, chunk) {
                let per = (extent + Int(c) - 1) / Int(c)
                let (p, o) = needed.multipliedReportingOverflow(by: per)
                if o { throw InputError(file: path, field: field, "declares shape \(shape), more chunks than a 64-bit count holds") }
                needed = p
            }
            var allocated: hsize_t = 0
            let space = H5Dget_space(d); defer { H5Sclose(space) }
            if H5Dget_num_chunks(d, space, &allocated) < 0 {
                throw InputError(file: path, field: field, "its chunks could not be counted")
            }
            if Int(clamping: allocated) < needed {
                throw InputError(file: path, field: field,
                                 "declares shape \(shape) (\(n) elements) but the file stores \(allocated == 0 ? "none" : "only \(allocated)") of the \(needed) chunks it needs; unwritten chunks would read as HDF5 fill values")
            }
            let (expandable, big) = stored.multipliedReportingOverflow(by: Self.maxDeflateRatio)
            if Self.onlyDeflateFilters(dcpl), !big, expandable < declaredBytes {
                throw InputError(file: path, field: field,
                                 "declares shape \(shape) (\(declaredBytes) bytes) but stores \(stored) compressed bytes, beyond what deflate can expand to")
            }
        default:
            // Virtual datasets map other files; this reader does not follow them.
            throw InputError(file: path, field: field, "has a storage layout this reader does not support (virtual dataset?)")
        }
        verifiedDatasets.insert(field)
    }

    /// Whether a chunked dataset's filters are all lossless byte codecs whose expansion is bounded
    /// by deflate's (deflate, shuffle, fletcher32) and at least one is deflate.
    static func onlyDeflateFilters(_ dcpl: hid_t) -> Bool {
        let count = H5Pget_nfilters(dcpl)
        guard count > 0 else { return false }
        var sawDeflate = false
        for i in 0..<UInt32(count) {
            var flags: UInt32 = 0, nValues = 0 as Int
            var name = [CChar](repeating: 0, count: 64)
            var config: UInt32 = 0
            let id = H5Pget_filter2(dcpl, i, &flags, &nValues, nil, name.count, &name, &config)
            switch id {
            case 1: sawDeflate = true      // H5Z_FILTER_DEFLATE
            case 2, 3: break               // H5Z_FILTER_SHUFFLE, H5Z_FILTER_FLETCHER32
            default: return false
            }
        }
        return sawDeflate
    }

    /// `(300, 1000000000)`: a shape as h5py prints it.
    static func formatShape(_ dims: [Int]) -> String {
        dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.map(String.init).joined(separator: ", ") + ")"
    }

    // MARK: - Integer fields

    /// Throws unless the dataset at `name` holds integers (sizes, offsets and indices must: HDF5
    /// would silently truncate 300.7 to 300).
    public func requireIntegers(_ name: String) throws {
        switch try elementClass(name) {
        case .integer: return
        case let cls: throw InputError(file: path, field: Self.fieldName(name), "must hold integers, found \(Self.describe(cls))")
        }
    }

    /// Throws unless attribute `name` of `object` holds integers.
    public func requireIntegerAttribute(_ object: String, _ name: String) throws {
        switch try attributeClass(object, name) {
        case .integer: return
        case let cls: throw InputError(file: path, field: Self.attrField(object, name), "must hold integers, found \(Self.describe(cls))")
        }
    }

    /// A short name of an element class for messages ("float64", "strings").
    static func describe(_ cls: ElementClass) -> String {
        switch cls {
        case .integer(let bytes, let signed): return "\(signed ? "int" : "uint")\(8 * bytes)"
        case .float(let bytes): return "float\(8 * bytes)"
        case .string: return "strings"
        case .enumeration(let isBool): return isBool ? "booleans" : "an enum"
        case .reference: return "object references"
        case .other: return "a compound or opaque type"
        }
    }

    /// Checks, from its shape alone, that the 1-D dataset `name` holds `expected` entries, before
    /// anything is read. The message reads "has 3 `what` but `owner` 4 `unit`".
    public func checkLength(_ name: String, expected: Int, what: String, owner: String, unit: String) throws {
        let shape = try self.shape(name)
        guard shape.count == 1 else {
            throw InputError(file: path, field: Self.fieldName(name), "expected a 1-D array of \(expected) \(what), found shape \(Self.formatShape(shape))")
        }
        guard shape[0] == expected else {
            throw InputError(file: path, field: Self.fieldName(name), "has \(shape[0]) \(what) but \(owner) \(expected) \(unit)")
        }
    }
}
