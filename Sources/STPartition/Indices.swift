/// Index of a spot in the whole slide, 0..<N: the same on every rank.
public struct GlobalIndex: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public init(_ i: Int) { rawValue = Int32(i) }
    public var int: Int { Int(rawValue) }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "global \(rawValue)" }
}

/// Index of a row in one rank's local arrays: owned rows 0..<nOwned first, then ghost rows.
public struct LocalIndex: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public init(_ i: Int) { rawValue = Int32(i) }
    public var int: Int { Int(rawValue) }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "local \(rawValue)" }
}

/// The assignment of every spot of the slide to a rank. Replicated on every rank (4 bytes/spot).
public struct Partition: Sendable, Equatable {
    /// Owner rank of each global spot (N).
    public let owner: [Int32]
    /// Number of ranks.
    public let parts: Int

    public init(owner: [Int32], parts: Int) {
        self.owner = owner
        self.parts = parts
    }

    /// Every spot on rank 0: the partition of a single-process run.
    public static func single(count n: Int) -> Partition {
        Partition(owner: [Int32](repeating: 0, count: n), parts: 1)
    }

    public var count: Int { owner.count }

    /// The global spots owned by `rank`, ascending (the order X is read in; a rank's local row
    /// order is chosen by `LocalGraph`'s `ownedOrder`, a Z-order curve in a run).
    public func owned(by rank: Int) -> [GlobalIndex] {
        var out = [GlobalIndex]()
        for (g, o) in owner.enumerated() where Int(o) == rank { out.append(GlobalIndex(g)) }
        return out
    }

    /// Number of spots per rank.
    public var counts: [Int] {
        var c = [Int](repeating: 0, count: parts)
        for o in owner { c[Int(o)] += 1 }
        return c
    }
}

/// Local ↔ global maps of one rank: owned rows in local row order (the `ownedOrder` given to
/// `LocalGraph`: a Z-order curve in a run, ascending global index by default), then ghost rows ordered
/// by (owner rank, global index), so each neighbour's ghosts form one contiguous block.
public struct IndexMap: Sendable {
    /// Global index of each owned row (nOwned), in local row order.
    public let owned: [GlobalIndex]
    /// Global index of each ghost row (nGhost); ghost k is local row nOwned + k.
    public let ghosts: [GlobalIndex]

    public init(owned: [GlobalIndex], ghosts: [GlobalIndex]) {
        self.owned = owned
        self.ghosts = ghosts
    }

    public var nOwned: Int { owned.count }
    public var nGhost: Int { ghosts.count }
    /// Owned plus ghost rows: the row count of every local N×d buffer.
    public var nLocal: Int { owned.count + ghosts.count }

    public func global(_ l: LocalIndex) -> GlobalIndex {
        l.int < owned.count ? owned[l.int] : ghosts[l.int - owned.count]
    }
}
