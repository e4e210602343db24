import CHDF5
import STCore

extension HDF5Writer {
    /// Creates an extendable 1-D dataset (current size 0, maximum size unlimited) to be filled by
    /// `append`: a dataset whose length is unknown until the end (the stored entries of a CSR
    /// matrix written block of rows by block). Chunked (`chunkElements` values per chunk), with
    /// shuffle + gzip at `compression` when given.
    public func appendableDataset<T: HDF5Writable>(_ name: String, of type: T.Type = T.self,
                                                   compression: Int?, chunkElements: Int = 1 << 16)
        throws -> AppendableDataset<T> {
        try checkOpen()
        let field = HDF5File.fieldName(name)
        let n = HDF5File.hdf5Name(name)
        if exists(n) { throw InputError(file: path, field: field, "already exists") }
        var dims: [hsize_t] = [0], maxDims: [hsize_t] = [hsize_t.max]   // hsize_t.max = H5S_UNLIMITED
        let space = H5Screate_simple(1, &dims, &maxDims)
        if space < 0 { throw InputError(file: path, field: field, "dataspace could not be created") }
        defer { H5Sclose(space) }
        let dcpl = H5Pcreate(sth5_p_dataset_create()); defer { H5Pclose(dcpl) }
        let chunk = max(1, chunkElements)
        var chunkDims: [hsize_t] = [hsize_t(chunk)]
        H5Pset_chunk(dcpl, 1, &chunkDims)
        if let level = compression {
            H5Pset_shuffle(dcpl)
            H5Pset_deflate(dcpl, UInt32(max(0, min(9, level))))
        }
        let lcpl = try linkCreationList(); defer { H5Pclose(lcpl) }
        let d = H5Dcreate2(id, n, T.hdf5FileType, space, lcpl, dcpl, sth5_p_default())
        if d < 0 { throw InputError(file: path, field: field, "dataset could not be created") }
        return AppendableDataset(writer: self, dataset: d, field: field, chunk: chunk)
    }
}

/// A 1-D dataset of unknown final length, written front to back (see
/// `HDF5Writer.appendableDataset`). Values are buffered up to a whole chunk, so every chunk is
/// compressed exactly once (never read back and rewritten); `finish()` writes the last, partial
/// chunk and closes the dataset. Memory: one chunk plus the caller's block.
public final class AppendableDataset<T: HDF5Writable> {
    let writer: HDF5Writer
    var dataset: hid_t
    let field: String
    let chunk: Int
    var pending: [T] = []
    /// Values written to the file so far (the dataset's extent).
    public private(set) var written = 0
    /// Values appended so far (written + buffered).
    public var count: Int { written + pending.count }

    init(writer: HDF5Writer, dataset: hid_t, field: String, chunk: Int) {
        self.writer = writer; self.dataset = dataset; self.field = field; self.chunk = chunk
        pending.reserveCapacity(chunk)
    }

    deinit { if dataset >= 0 { H5Dclose(dataset) } }

    /// Appends `values` (any number).
    public func append<C: Collection>(contentsOf values: C) throws where C.Element == T {
        try check()
        var rest = values[...]
        // Top up the pending chunk first.
        if !pending.isEmpty {
            let take = min(chunk - pending.count, rest.count)
            pending.append(contentsOf: rest.prefix(take))
            rest = rest.dropFirst(take)
            if pending.count == chunk { try flushPending() } else { return }
        }
        // Whole chunks straight from the caller's values, then keep the remainder.
        let whole = rest.count / chunk * chunk
        if whole > 0 {
            let block = Array(rest.prefix(whole))
            try writeToFile(block)
            rest = rest.dropFirst(whole)
        }
        pending.append(contentsOf: rest)
    }

    /// Writes what is buffered and closes the dataset. Safe to call twice.
    public func finish() throws {
        guard dataset >= 0 else { return }
        try flushPending()
        let status = H5Dclose(dataset)
        dataset = -1
        if status < 0 { throw InputError(file: writer.path, field: field, "could not be written (disk full?)") }
    }

    func check() throws {
        if dataset < 0 { throw InputError(file: writer.path, field: field, "appended to after finish()") }
    }

    func flushPending() throws {
        guard !pending.isEmpty else { return }
        try writeToFile(pending)
        pending.removeAll(keepingCapacity: true)
    }

    /// Extends the dataset by `values.count` and writes them at its end.
    func writeToFile(_ values: [T]) throws {
        let fail = InputError(file: writer.path, field: field, "could not be written (disk full?)")
        var newSize: [hsize_t] = [hsize_t(written + values.count)]
        if H5Dset_extent(dataset, &newSize) < 0 { throw fail }
        let fileSpace = H5Dget_space(dataset)
        if fileSpace < 0 { throw fail }
        defer { H5Sclose(fileSpace) }
        var start: [hsize_t] = [hsize_t(written)], count: [hsize_t] = [hsize_t(values.count)]
        if H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &count, nil) < 0 { throw fail }
        let memSpace = H5Screate_simple(1, &count, nil)
        if memSpace < 0 { throw fail }
        defer { H5Sclose(memSpace) }
        let status = values.withUnsafeBytes {
            H5Dwrite(dataset, T.hdf5Type, memSpace, fileSpace, sth5_p_default(), $0.baseAddress)
        }
        if status < 0 { throw fail }
        written += values.count
    }
}

extension HDF5File {
    /// Whether the 1-D or n-D dataset at `name` can grow without bound along its first dimension
    /// (maximum size H5S_UNLIMITED), as `HDF5Writer.appendableDataset` creates it.
    func isExtendable(_ name: String) throws -> Bool {
        let d = try openDataset(name); defer { H5Dclose(d) }
        let space = H5Dget_space(d); defer { H5Sclose(space) }
        var dims = [hsize_t](repeating: 0, count: 8), maxDims = [hsize_t](repeating: 0, count: 8)
        guard H5Sget_simple_extent_dims(space, &dims, &maxDims) >= 1 else { return false }
        return maxDims[0] == hsize_t.max
    }
}
