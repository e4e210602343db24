import STCore

/// Reading anndata dataframes (`obs`, `var`) from any HDF5 file: anndata ≥ 0.8 encodings
/// (categorical groups, string-array, array, nullable-integer/boolean/string-array) and
/// anndata 0.7 (categorical codes with an object reference to `__categories/<col>`).
extension HDF5File {
    func dataFrameIndexPath(_ group: String) -> String {
        let name = (try? stringAttribute(group, "_index")) ?? "_index"
        return group + "/" + name
    }

    func checkDataFrameGroup(_ group: String) throws {
        guard let kind = kind(group) else {
            throw InputError(file: path, field: group, "missing: expected the \(group) dataframe")
        }
        if kind == .dataset {
            throw InputError(file: path, field: group,
                             "is a compound dataset (anndata < 0.7 layout); re-save the file with anndata ≥ 0.7")
        }
    }

    /// The index (row names) of dataframe `group`, checked to number `expected` when given.
    func dataFrameIndex(_ group: String, expected: Int?) throws -> [String] {
        try checkDataFrameGroup(group)
        let name = dataFrameIndexPath(group)
        guard isDataset(name) else {
            throw InputError(file: path, field: name, "missing: the \(group) index (names) is required")
        }
        if let expected {
            try checkLength(name, expected: expected, what: "names", owner: "X has", unit: group == "obs" ? "rows" : "columns")
        }
        return try readStringsOrNumbers(name)
    }

    /// Reads the anndata dataframe `group` ("obs", "var"): its index and every column this reader
    /// understands (others are listed in `skippedColumns`). `rows`, when given, is the expected
    /// number of rows (checked for the index and every column).
    public func readDataFrame(_ group: String, rows expected: Int? = nil) throws -> DataFrame {
        let index = try dataFrameIndex(group, expected: expected)
        let indexName = String(dataFrameIndexPath(group).dropFirst(group.count + 1))
        var df = DataFrame(index: index)
        var order: [String]
        if hasAttribute(group, "column-order") {
            order = try stringsAttribute(group, "column-order")
        } else {
            order = try members(group).filter { $0 != indexName && $0 != "__categories" }
        }
        for col in order {
            let p = group + "/" + col
            guard exists(p) else {
                throw InputError(file: path, field: p, "listed in column-order but missing")
            }
            guard let column = try readColumn(p, rows: index.count) else { df.skippedColumns.append(col); continue }
            guard column.count == index.count else {
                throw InputError(file: path, field: p, "has \(column.count) values, expected \(index.count)")
            }
            df.set(col, column)
        }
        return df
    }

    /// One dataframe column of `rows` rows, or nil for encodings this reader does not know. Every
    /// per-row array is checked to hold `rows` entries from its shape before it is read.
    func readColumn(_ p: String, rows: Int) throws -> ObsColumn? {
        func perRow(_ name: String, integers: Bool = false) throws -> String {
            if integers { try requireIntegers(name) }
            try checkLength(name, expected: rows, what: "values", owner: "the index has", unit: "rows")
            return name
        }
        let enc = hasAttribute(p, "encoding-type") ? try stringAttribute(p, "encoding-type") : nil
        if isGroup(p) {
            switch enc {
            case "categorical":
                let codes: [Int32] = try read(try perRow(p + "/codes", integers: true))
                let cats = try readStringsOrNumbers(p + "/categories")
                let ordered = hasAttribute(p, "ordered") ? (try scalarAttribute(p, "ordered", as: Int64.self)) != 0 : false
                try checkCodes(codes, categories: cats.count, field: p + "/codes")
                return .categorical(codes: codes, categories: cats, ordered: ordered)
            case "nullable-integer":
                let v: [Int64] = try read(try perRow(p + "/values"))
                let m = try readBools(try perRow(p + "/mask"))
                guard m.count == v.count else { throw InputError(file: path, field: p + "/mask", "length differs from values") }
                return .nullableInteger(values: v, missing: m)
            case "nullable-boolean":
                let v = try readBools(try perRow(p + "/values"))
                let m = try readBools(try perRow(p + "/mask"))
                guard m.count == v.count else { throw InputError(file: path, field: p + "/mask", "length differs from values") }
                return .nullableBoolean(values: v, missing: m)
            case "nullable-string-array":
                let v = try readStrings(try perRow(p + "/values"))
                let m = try readBools(try perRow(p + "/mask"))
                guard m.count == v.count else { throw InputError(file: path, field: p + "/mask", "length differs from values") }
                return .categorical(labels: zip(v, m).map { $1 ? nil : $0 })
            default:
                return nil
            }
        }
        guard isDataset(p) else { return nil }
        // anndata 0.7: a categorical column is its codes, with an object reference to the categories.
        if hasAttribute(p, "categories"), try attributeClass(p, "categories") == .reference {
            let catPath = try referencedObject(p, "categories")
            let codes: [Int32] = try read(try perRow(p, integers: true))
            let cats = try readStringsOrNumbers(catPath)
            // anndata 0.7 puts `ordered` on the categories dataset.
            let orderedOn = hasAttribute(catPath, "ordered") ? catPath : p
            let ordered = hasAttribute(orderedOn, "ordered")
                ? (try scalarAttribute(orderedOn, "ordered", as: Int64.self)) != 0 : false
            try checkCodes(codes, categories: cats.count, field: p)
            return .categorical(codes: codes, categories: cats, ordered: ordered)
        }
        let shape = try shape(p)
        guard shape.count == 1 else { return nil }
        _ = try perRow(p)
        switch try elementClass(p) {
        case .string: return .string(try readStrings(p))
        case .float: return .numeric(try read(p))
        case .integer(let bytes, let signed):
            if !signed && bytes == 8 {
                let u: [UInt64] = try read(p)
                return .integer(u.map { Int64(clamping: $0) })
            }
            return .integer(try read(p))
        case .enumeration(isBool: true): return .boolean(try readBools(p))
        default: return nil
        }
    }

    func checkCodes(_ codes: [Int32], categories: Int, field: String) throws {
        let n = Int32(categories)
        if let bad = codes.first(where: { $0 < -1 || $0 >= n }) {
            throw InputError(file: path, field: field, "code \(bad) out of range -1..<\(categories)")
        }
    }

    func readBools(_ p: String) throws -> [Bool] {
        let v: [Int8] = try read(p)
        return v.map { $0 != 0 }
    }

    /// Strings, or numbers/booleans formatted as strings (numeric categories or indices).
    func readStringsOrNumbers(_ p: String) throws -> [String] {
        switch try elementClass(p) {
        case .string: return try readStrings(p)
        case .integer: return (try read(p, as: Int64.self)).map { String($0) }
        case .float: return (try read(p, as: Double.self)).map { ObsColumn.format($0) }
        case .enumeration(isBool: true): return try readBools(p).map { $0 ? "True" : "False" }
        default: throw InputError(file: path, field: p, "expected strings or numbers")
        }
    }
}
