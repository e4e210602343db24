/// A fixed number of floats on a 64-byte (cache line) boundary, owned by this object.
///
/// A Swift array's elements start after its header, 16 or 48 bytes past a cache line as glibc's
/// allocations fall, and an AVX-512 load of a row that straddles two lines costs more than
/// reading the row twice from L1 (docs/PERFORMANCE.md, "aligned operands"). Buffers a kernel reads
/// row by row every epoch (the model's parameters) live here instead.
public final class AlignedFloats: @unchecked Sendable {
    /// The floats: `count` of them, the first on a 64-byte boundary.
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// `count` zeros.
    public init(count: Int) {
        precondition(count >= 0, "AlignedFloats: count \(count)")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 1) * 4, alignment: 64)
        pointer = raw.initializeMemory(as: Float.self, repeating: 0, count: Swift.max(count, 1))
    }

    /// A copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        assign(values)
    }

    deinit { pointer.deallocate() }

    /// The floats as an array (a copy).
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Overwrites every float with `values` (the same count).
    public func assign(_ values: [Float]) {
        precondition(values.count == count, "AlignedFloats: \(values.count) values for \(count)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }
}
