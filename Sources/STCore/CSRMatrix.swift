/// A compressed-sparse-row matrix (rows × cols) of `Float` with `Int32` column indices (a column
/// space of up to 2³¹ genes or local spots): Â, M, and X when its genes do not fit 16 bits.
public typealias CSRMatrix = CompressedRows<Int32>

/// A compressed-sparse-row matrix whose column indices are 16-bit (at most 65 536 columns): X when
/// its genes fit (6 bytes per stored entry instead of 8), and the row blocks of Xᵀ.
public typealias CSRMatrix16 = CompressedRows<UInt16>

/// A compressed-sparse-row matrix (rows × cols) of `Float`, column indices of type `Index`.
///
/// Row i's entries are `values[indptr[i]..<indptr[i+1]]` at columns `indices[...]`; `indptr` is
/// `Int` so that one rank may hold more than 2³¹ non-zeros. Within a row, indices are strictly
/// increasing once `sortIndices()` has run (every constructor in this package produces sorted rows).
public struct CompressedRows<Index: SparseIndex>: Equatable, Sendable {
    public var rows: Int
    public var cols: Int
    public var indptr: [Int]      // (rows + 1)
    public var indices: [Index]   // (nnz)
    public var values: [Float]    // (nnz)

    public init(rows: Int, cols: Int, indptr: [Int], indices: [Index], values: [Float]) {
        precondition(indptr.count == rows + 1 && indices.count == values.count
                     && indptr.last == indices.count,
                     "CSRMatrix: inconsistent arrays (\(rows) rows, indptr \(indptr.count), nnz \(indices.count)/\(values.count))")
        precondition(cols <= Index.columnLimit, "CSRMatrix: \(cols) columns do not fit \(Index.self) indices")
        self.rows = rows
        self.cols = cols
        self.indptr = indptr
        self.indices = indices
        self.values = values
    }

    public var nnz: Int { indices.count }

    /// Builds a CSR matrix from COO triplets; duplicates are summed, rows sorted by column.
    public init(rows: Int, cols: Int, row: [Int], col: [Int], val: [Float]) {
        precondition(row.count == col.count && col.count == val.count)
        var counts = [Int](repeating: 0, count: rows + 1)
        for r in row { counts[r + 1] += 1 }
        for i in 0..<rows { counts[i + 1] += counts[i] }
        var next = counts
        var idx = [Index](repeating: 0, count: row.count)
        var vals = [Float](repeating: 0, count: row.count)
        for e in 0..<row.count {
            let p = next[row[e]]
            idx[p] = Index(col[e]); vals[p] = val[e]
            next[row[e]] += 1
        }
        var m = CompressedRows(rows: rows, cols: cols, indptr: counts, indices: idx, values: vals)
        m.sortIndices()
        m.sumDuplicates()
        self = m
    }

    /// Sorts each row's entries by column index (stable, so equal columns keep their order).
    public mutating func sortIndices() {
        for i in 0..<rows {
            let lo = indptr[i], hi = indptr[i + 1]
            if hi - lo < 2 { continue }
            var sorted = true
            for p in (lo + 1)..<hi where indices[p - 1] > indices[p] { sorted = false; break }
            if sorted { continue }
            let pairs = (lo..<hi).map { (indices[$0], values[$0]) }.enumerated()
                .sorted { $0.element.0 != $1.element.0 ? $0.element.0 < $1.element.0 : $0.offset < $1.offset }
            for (k, e) in pairs.enumerated() { indices[lo + k] = e.element.0; values[lo + k] = e.element.1 }
        }
    }

    /// Merges entries with equal (row, column) by summing them; rows must be sorted.
    public mutating func sumDuplicates() {
        var newPtr = [Int](repeating: 0, count: rows + 1)
        var w = 0
        for i in 0..<rows {
            let lo = indptr[i], hi = indptr[i + 1]
            var p = lo
            while p < hi {
                let c = indices[p]; var v = values[p]; p += 1
                while p < hi && indices[p] == c { v += values[p]; p += 1 }
                indices[w] = c; values[w] = v; w += 1
            }
            newPtr[i + 1] = w
        }
        indices.removeLast(indices.count - w)
        values.removeLast(values.count - w)
        indptr = newPtr
    }

    /// Dense copy (tests and small matrices only).
    public func toDense() -> Matrix {
        var m = Matrix(zeros: rows, cols)
        for i in 0..<rows { for p in indptr[i]..<indptr[i + 1] { m[i, Int(indices[p])] += values[p] } }
        return m
    }

    /// The transpose, in CSR (i.e. this matrix in CSC), with the same index type (its columns,
    /// this matrix's rows, must fit it).
    public func transposed() -> CompressedRows {
        var counts = [Int](repeating: 0, count: cols + 1)
        for c in indices { counts[Int(c) + 1] += 1 }
        for j in 0..<cols { counts[j + 1] += counts[j] }
        var next = counts
        var idx = [Index](repeating: 0, count: nnz)
        var vals = [Float](repeating: 0, count: nnz)
        for i in 0..<rows {
            for p in indptr[i]..<indptr[i + 1] {
                let j = Int(indices[p]); let q = next[j]
                idx[q] = Index(i); vals[q] = values[p]; next[j] += 1
            }
        }
        return CompressedRows(rows: cols, cols: rows, indptr: counts, indices: idx, values: vals)
    }

    /// The sub-matrix of the given rows (in the given order).
    public func selectingRows(_ rowList: [Int]) -> CompressedRows {
        var ptr = [Int](repeating: 0, count: rowList.count + 1)
        for (k, r) in rowList.enumerated() { ptr[k + 1] = ptr[k] + indptr[r + 1] - indptr[r] }
        var idx = [Index](); idx.reserveCapacity(ptr.last!)
        var vals = [Float](); vals.reserveCapacity(ptr.last!)
        for r in rowList {
            idx.append(contentsOf: indices[indptr[r]..<indptr[r + 1]])
            vals.append(contentsOf: values[indptr[r]..<indptr[r + 1]])
        }
        return CompressedRows(rows: rowList.count, cols: cols, indptr: ptr, indices: idx, values: vals)
    }

    /// The sub-matrix of the given columns, renumbered 0..<columnList.count in the given order.
    /// `columnList` must be strictly increasing so that rows stay sorted.
    public func selectingColumns(_ columnList: [Int]) -> CompressedRows {
        var map = [Int](repeating: -1, count: cols)
        for (k, c) in columnList.enumerated() { map[c] = k }
        var ptr = [Int](repeating: 0, count: rows + 1)
        var idx = [Index](); var vals = [Float]()
        for i in 0..<rows {
            for p in indptr[i]..<indptr[i + 1] {
                let m = map[Int(indices[p])]
                if m >= 0 { idx.append(Index(truncatingIfNeeded: m)); vals.append(values[p]) }
            }
            ptr[i + 1] = idx.count
        }
        return CompressedRows(rows: rows, cols: columnList.count, indptr: ptr, indices: idx, values: vals)
    }

    /// The same matrix with indices of type `J` (its columns must fit `J`): one new index array.
    public func withIndices<J: SparseIndex>(_: J.Type) -> CompressedRows<J> {
        precondition(cols <= J.columnLimit, "CSRMatrix: \(cols) columns do not fit \(J.self) indices")
        return CompressedRows<J>(rows: rows, cols: cols, indptr: indptr,
                                 indices: indices.map { J(truncatingIfNeeded: $0) }, values: values)
    }
}
