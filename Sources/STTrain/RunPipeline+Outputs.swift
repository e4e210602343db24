import Foundation
import STCore
import STComm
import STData

/// The `obs` column a run's domains are scored against, checked before training.
public struct LabelColumn: Codable, Sendable, Equatable {
    /// The column's name (`--label`).
    public var column: String
    /// Its classes, in the column's category order.
    public var classes: [String]
    /// Spots with a label (NaN and empty strings are unlabelled).
    public var labelled: Int

    /// Checks that `obs` has `column` with at least one labelled spot.
    public init(obs: DataFrame, column: String, file: String) throws {
        guard let c = obs[column] else {
            let names = obs.columnNames.isEmpty ? "it has none" : "it has " + obs.columnNames.joined(separator: ", ")
            throw InputError(file: file, field: "obs/" + column, "no such column for --label (\(names))")
        }
        let labels = Self.labels(c)
        var seen = Set<String>(), classes = [String]()
        if case .categorical(_, let cats, _) = c { classes = cats.filter { !$0.isEmpty } ; seen = Set(classes) }
        for case let l? in labels where !seen.contains(l) { seen.insert(l); classes.append(l) }
        // Categories no spot uses are not classes.
        let used = Set(labels.compactMap { $0 })
        classes = classes.filter(used.contains)
        self.column = column
        self.classes = classes
        labelled = labels.lazy.filter { $0 != nil }.count
        guard labelled > 0 else {
            throw InputError(file: file, field: "obs/" + column, "has no labelled spot (every value is NaN or empty)")
        }
    }

    /// Each spot's label, nil where unlabelled (NaN, missing, or an empty string).
    public static func labels(_ c: ObsColumn) -> [String?] {
        c.labels().map { l in
            guard let l, !l.isEmpty, l.lowercased() != "nan" else { return nil }
            return l
        }
    }
}

/// Files rank 0 writes after training (besides `metrics.jsonl` and `summary.json`).
enum OutputFiles {
    /// Checks, before training, everything of the input's `obs` that `result.h5ad` will carry: one
    /// name per spot, categorical codes within their categories, column names an `.h5ad` can store. A problem is reported naming the input file and the column, instead of
    /// surfacing after the last epoch.
    static func validateObs(_ obs: DataFrame, spots: Int, file: String) throws {
        guard obs.count == spots else {
            throw InputError(file: file, field: "obs/_index", "has \(obs.count) names, but X has \(spots) rows")
        }
        for name in obs.columnNames {
            let field = "obs/" + name
            guard !name.isEmpty, !name.contains("/") else {
                throw InputError(file: file, field: field, "column name is empty or contains '/', which an .h5ad cannot store")
            }
            // (Every column has one row per name: `DataFrame` holds no other kind.)
            if case .categorical(let codes, let cats, _) = obs[name]!, let bad = codes.first(where: { $0 < -1 || Int($0) >= cats.count }) {
                throw InputError(file: file, field: field + "/codes", "holds code \(bad), outside -1…\(cats.count - 1) (\(cats.count) categories)")
            }
        }
    }

    /// `domains.csv`: one row per spot, `spot,x,y,domain` (the domain empty where unassigned),
    /// fields quoted as RFC 4180 when they hold a comma, a quote or a line break.
    static func writeDomainsCSV(to path: String, names: [String], spatial: [Double], domains: [Int]) throws {
        try AtomicFile.write(to: path, pieces: { emit in
            var text = "spot,x,y,domain\n"
            for i in names.indices {
                text += csvField(names[i]) + "," + shortest(spatial[2 * i]) + "," + shortest(spatial[2 * i + 1]) + ","
                text += domains[i] >= 0 ? String(domains[i]) : ""
                text += "\n"
                // Pieces of ~1 MB: the file is never held whole (10⁷ spots make ~300 MB).
                if text.utf8.count >= 1 << 20 { try emit(Data(text.utf8)); text.removeAll(keepingCapacity: true) }
            }
            try emit(Data(text.utf8))
        })
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The shortest decimal that reads back as the same Double (integral values without ".0").
    static func shortest(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    /// Every record of `metrics.jsonl` (a resumed run's file holds the whole history).
    static func readMetrics(_ path: String) throws -> [EpochRecord] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, "cannot be read back")
        }
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try data.split(separator: 0x0A).filter { !$0.isEmpty }.map { try d.decode(EpochRecord.self, from: Data($0)) }
    }
}
