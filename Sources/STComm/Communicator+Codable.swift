import Foundation
import STCore

extension Communicator {
    /// `value` (given on `root`, ignored elsewhere) on every rank, sent as JSON.
    public func broadcast<T: Codable>(_ value: T?, root: Int = 0) throws -> T {
        var bytes = [UInt8]()
        if rank == root {
            guard let value else { preconditionFailure("broadcast: the root must give a value") }
            bytes = Array(try JSONEncoder().encode(value))
        }
        var count = Int64(bytes.count)
        withUnsafeMutableBytes(of: &count) { broadcast($0, root: root) }
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(count)) }
        bytes.withUnsafeMutableBytes { broadcast($0, root: root) }
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    }
}
