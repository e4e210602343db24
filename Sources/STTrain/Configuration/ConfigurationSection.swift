import ArgumentParser
import Foundation

/// A section of the run configuration that is also an option group of the command line: the
/// options a user types are the configuration `summary.json`, `result.h5ad`'s `uns` and the
/// checkpoints' configuration hash record, with no field-by-field copy in between.
///
/// Encoding walks the stored `@Option`/`@Flag` properties (their names in snake_case: `nTopGenes`
/// → `n_top_genes`), so a new option is recorded the moment it is declared. Decoding is the
/// command line's: build a section with `try Section.parse(["--n-top-genes", "2000"])`.
public protocol ConfigurationSection: ParsableArguments, Encodable {}

extension ConfigurationSection {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: SectionKey.self)
        for child in Mirror(reflecting: self).children {
            guard let label = child.label, label.hasPrefix("_"), let value = child.value as? EncodableOption else { continue }
            try value.encodeValue(into: &c, key: SectionKey(Self.snakeCase(String(label.dropFirst()))))
        }
    }

    /// `nTopGenes` → `n_top_genes`.
    static func snakeCase(_ name: String) -> String {
        var out = ""
        for ch in name {
            if ch.isUppercase { out += "_" + ch.lowercased() } else { out.append(ch) }
        }
        return out
    }

    /// This section as a dictionary of its encoded values, each as text (a string as it is, any
    /// other value as its JSON: `0.001`, `10x`, `["a.h5ad"]`, `null`), keyed as in `summary.json`.
    public func encodedFields() throws -> [String: String] {
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(self)) as? [String: Any] ?? [:]
        var out = [String: String]()
        for (k, v) in object {
            if let text = v as? String { out[k] = text; continue }
            let data = try JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
            out[k] = String(decoding: data, as: UTF8.self)
        }
        return out
    }
}

struct SectionKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The property wrappers of swift-argument-parser whose values a section encodes.
protocol EncodableOption {
    func encodeValue(into c: inout KeyedEncodingContainer<SectionKey>, key: SectionKey) throws
}

extension Option: EncodableOption where Value: Encodable {
    func encodeValue(into c: inout KeyedEncodingContainer<SectionKey>, key: SectionKey) throws {
        try c.encode(wrappedValue, forKey: key)
    }
}

extension Flag: EncodableOption where Value: Encodable {
    func encodeValue(into c: inout KeyedEncodingContainer<SectionKey>, key: SectionKey) throws {
        try c.encode(wrappedValue, forKey: key)
    }
}
