import Foundation
import STCore
import STData
import STCluster

/// Agreement of two runs' outputs (e.g. the same slide on 1 and on 8 ranks): per-epoch losses
/// from `metrics.jsonl` and the embedding `obsm["latent"]` of `result.h5ad`.
public struct RunComparison: CustomStringConvertible {
    public var epochs: Int
    /// Max over epochs and loss terms of |a − b| / |b|.
    public var maxLossRelError: Double
    public var worstEpoch: Int
    /// Max |Za − Zb| / max |Zb|.
    public var latentRelError: Double
    /// ARI between the two runs' `obs["domain"]` (nil when either has none).
    public var domainARI: Double?

    public init(runA: String, runB: String) throws {
        let a = try Self.metrics(runA), b = try Self.metrics(runB)
        guard a.count == b.count else {
            throw InputError(file: runB + "/metrics.jsonl", "has \(b.count) epochs, \(runA) has \(a.count)")
        }
        epochs = a.count
        maxLossRelError = 0
        worstEpoch = 0
        for (x, y) in zip(a, b) {
            for (u, v) in [(x.loss, y.loss), (x.loss_feat, y.loss_feat), (x.loss_sl_1, y.loss_sl_1), (x.loss_sl_2, y.loss_sl_2)] {
                let e = abs(u - v) / max(abs(v), 1e-30)
                if e > maxLossRelError { maxLossRelError = e; worstEpoch = x.epoch }
            }
        }
        let za = try Self.latent(runA), zb = try Self.latent(runB)
        guard za.count == zb.count else {
            throw InputError(file: runB + "/result.h5ad", field: "obsm/latent", "has \(zb.count) values, \(runA) has \(za.count)")
        }
        var num: Float = 0, den: Float = 0
        for i in za.indices { num = max(num, abs(za[i] - zb[i])); den = max(den, abs(zb[i])) }
        latentRelError = den > 0 ? Double(num / den) : Double(num)
        let da = try ResultFile(path: runA + "/result.h5ad").domains, db = try ResultFile(path: runB + "/result.h5ad").domains
        if let da, let db, da.count == db.count {
            func codes(_ l: [String?]) -> [Int] {
                var m = [String: Int]()
                return l.map { $0.map { s in m[s] ?? { m[s] = m.count; return m.count - 1 }() } ?? -1 }
            }
            domainARI = ClusterScores.adjustedRandIndex(codes(da), codes(db))
        }
    }

    static func metrics(_ dir: String) throws -> [EpochRecord] {
        let path = dir + "/metrics.jsonl"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw InputError(file: path, "cannot read")
        }
        let dec = JSONDecoder()
        return try text.split(separator: "\n").enumerated().map { i, line in
            do { return try dec.decode(EpochRecord.self, from: Data(line.utf8)) } catch {
                throw InputError(file: path, "line \(i + 1) is not an epoch record")
            }
        }
    }

    static func latent(_ dir: String) throws -> [Float] {
        let f = try HDF5File(path: dir + "/result.h5ad")
        return try f.read("obsm/latent", as: Float.self)
    }

    public var description: String {
        String(format: "epochs compared: %d\nmax loss rel err %.3e (epoch %d)\nlatent max rel err %.3e",
               epochs, maxLossRelError, worstEpoch, latentRelError)
            + (domainARI.map { String(format: "\ndomains ARI %.6f", $0) } ?? "\ndomains: not in both runs")
    }
}
