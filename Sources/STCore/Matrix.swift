/// A dense, row-major matrix of `Float` (rows × cols).
///
/// Element (i, j) lives at `data[i * cols + j]`. This is the layout of every N×d activation and
/// every parameter block; BLAS calls use `CblasRowMajor` with `lda = cols`.
public struct Matrix: Equatable, Sendable {
    public var rows: Int
    public var cols: Int
    public var data: [Float]

    public init(rows: Int, cols: Int, data: [Float]) {
        precondition(rows >= 0 && cols >= 0 && data.count == rows * cols,
                     "Matrix(\(rows)×\(cols)) needs \(rows * cols) values, got \(data.count)")
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    /// A rows × cols matrix of zeros.
    public init(zeros rows: Int, _ cols: Int) {
        self.init(rows: rows, cols: cols, data: [Float](repeating: 0, count: rows * cols))
    }

    @inlinable public subscript(i: Int, j: Int) -> Float {
        get { data[i * cols + j] }
        set { data[i * cols + j] = newValue }
    }

    /// Row `i` as a new array (for tests and small outputs, not for kernels).
    public func row(_ i: Int) -> [Float] { Array(data[(i * cols)..<((i + 1) * cols)]) }

    /// The transpose as a new matrix.
    public func transposed() -> Matrix {
        var t = Matrix(zeros: cols, rows)
        for i in 0..<rows { for j in 0..<cols { t.data[j * rows + i] = data[i * cols + j] } }
        return t
    }
}

/// A dense, row-major matrix of `Double`: float64 accumulators (K = YᵀY, C = YᵀX, gradient sums).
public struct Matrix64: Equatable, Sendable {
    public var rows: Int
    public var cols: Int
    public var data: [Double]

    public init(rows: Int, cols: Int, data: [Double]) {
        precondition(data.count == rows * cols)
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    public init(zeros rows: Int, _ cols: Int) {
        self.init(rows: rows, cols: cols, data: [Double](repeating: 0, count: rows * cols))
    }

    @inlinable public subscript(i: Int, j: Int) -> Double {
        get { data[i * cols + j] }
        set { data[i * cols + j] = newValue }
    }
}
