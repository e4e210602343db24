import Foundation
import STCore
import STModel
import STPrep

/// Everything that defines a run: the command line's option groups, as they were given. Encoded
/// into `summary.json` and `uns["stgnn_dist"]`; its model definition is hashed into checkpoints,
/// so a checkpoint is only resumed by the run it belongs to.
public struct RunConfiguration: Encodable {
    public var data: DataOptions
    public var model: ModelOptions
    public var domains: DomainOptions
    public var output: OutputOptions

    public init(data: DataOptions, model: ModelOptions, domains: DomainOptions, output: OutputOptions) {
        self.data = data
        self.model = model
        self.domains = domains
        self.output = output
    }

    /// Every option at its default (what `run` with no arguments does).
    public init() {
        // Parsing no arguments cannot fail: every default is valid.
        self.init(data: try! .parse([]), model: try! .parse([]), domains: try! .parse([]), output: try! .parse([]))
    }

    /// The options that change the numbers a run produces (not where it writes or how it reports),
    /// as `section key → JSON value`: the model section but `epochs` (the total target: a
    /// checkpoint of epoch E continues to any later target), and the data section but the paths
    /// (the data is identified by its fingerprint, so a moved file still resumes; `--positions` and
    /// `--aligned` change the coordinates, which the fingerprint covers) and, for a file, the
    /// built-in slide's parameters.
    public var modelDefinition: [String: String] {
        var out = [String: String]()
        let data = (try? self.data.encodedFields()) ?? [:], model = (try? self.model.encodedFields()) ?? [:]
        for (k, v) in model where k != "epochs" { out[k] = v }
        for (k, v) in data where !["input", "positions", "aligned"].contains(k) {
            if !self.data.input.isEmpty && k.hasPrefix("synthetic_") { continue }
            out[k] = v
        }
        out["data"] = self.data.input.isEmpty ? "synthetic" : "file"
        return out
    }

    /// Hash of `modelDefinition` (sorted key=value pairs), as 16 hex digits: recorded in every
    /// checkpoint, which only a run with the same hash may resume.
    public var configurationHash: String {
        var h = Hash64()
        for (k, v) in modelDefinition.sorted(by: { $0.key < $1.key }) {
            h.add(k)
            h.add(v)
        }
        return h.hex
    }
}
