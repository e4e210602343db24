import Foundation

/// A failed `broadcast(_:root:)` of a Codable value, seen on every rank.
public struct BroadcastError: Error, CustomStringConvertible {
    public let description: String
}

extension Communicator {
    /// `value` (given on `root`, ignored elsewhere) on every rank.
    ///
    /// Sent as JSON (two byte broadcasts: the length, then the bytes). Every finite `Double` and
    /// `Float` arrives bit for bit (Swift writes the shortest text that reads back to the same
    /// value, −0 and subnormals included); ±∞ and NaN travel as the strings "+Infinity",
    /// "-Infinity" and "NaN", so a NaN arrives as the canonical quiet NaN (its sign and payload
    /// are not kept). Meant for small values (records, metadata, a status): arrays of numbers go
    /// faster with `broadcast(_ values: inout [T], root:)`. The root returns its own value.
    /// (A binary property list was tried: its encoder merges equal numbers, so −0 next to +0
    /// arrived as +0.)
    ///
    /// When `T` is itself optional, the root passes `.some(nil)` for a nil payload (a `T??`);
    /// a bare `nil` on the root means "no value given" and stops with a precondition failure.
    ///
    /// - Throws: `BroadcastError` on every rank if the root cannot encode `value` (so no rank is
    ///   left waiting), or if a rank cannot decode the bytes.
    public func broadcast<T: Codable>(_ value: T?, root: Int = 0) throws -> T {
        var bytes = [UInt8]()
        var encodingError: Error?
        if rank == root {
            guard let value else { preconditionFailure("broadcast: the root must give a value") }
            do {
                let encoder = JSONEncoder()
                encoder.nonConformingFloatEncodingStrategy = .convertToString(
                    positiveInfinity: "+Infinity", negativeInfinity: "-Infinity", nan: "NaN")
                bytes = Array(try encoder.encode(value))
            } catch { encodingError = error }
        }
        // Length −1: the root could not encode; every rank throws.
        var count = Int64(encodingError == nil ? bytes.count : -1)
        withUnsafeMutableBytes(of: &count) { broadcast($0, root: root) }
        guard count >= 0 else {
            throw BroadcastError(description: "broadcast of a \(T.self) from rank \(root) failed: "
                                 + (encodingError.map { "\($0)" } ?? "rank \(root) could not encode it"))
        }
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(count)) }
        bytes.withUnsafeMutableBytes { broadcast($0, root: root) }
        if rank == root, let value { return value }
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(
                positiveInfinity: "+Infinity", negativeInfinity: "-Infinity", nan: "NaN")
            return try decoder.decode(T.self, from: Data(bytes))
        } catch {
            throw BroadcastError(description: "broadcast of a \(T.self) from rank \(root): cannot decode \(bytes.count) bytes: \(error)")
        }
    }
}
