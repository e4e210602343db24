import CSparseSIMD

/// SplitMix64 (Steele, Lea & Flood 2014): used to expand one 64-bit seed into independent streams.
@inlinable public func splitmix64(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// xoshiro256** (Blackman & Vigna 2018): the project's deterministic generator.
///
/// Streams are derived from `(seed, stream)` alone, never from global state, so every rank
/// derives the same values and a checkpoint needs only the seed and the epoch to resume exactly.
public struct Xoshiro256: RandomNumberGenerator, Sendable, Equatable {
    @usableFromInline var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64, stream: UInt64 = 0) {
        var sm = seed ^ (stream &* 0xD1B5_4A32_D192_ED03)
        s = (splitmix64(&sm), splitmix64(&sm), splitmix64(&sm), splitmix64(&sm))
    }

    public static func == (a: Xoshiro256, b: Xoshiro256) -> Bool {
        a.s.0 == b.s.0 && a.s.1 == b.s.1 && a.s.2 == b.s.2 && a.s.3 == b.s.3
    }

    @inlinable public mutating func next() -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    @usableFromInline @inline(__always) func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform integer in 0..<bound without modulo bias (Lemire 2019).
    @inlinable public mutating func below(_ bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let t = (0 &- bound) % bound
            while m.low < t { m = next().multipliedFullWidth(by: bound) }
        }
        return m.high
    }

    /// Uniform float in [0, 1) with 24 random bits.
    @inlinable public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform double in [0, 1) with 53 random bits.
    @inlinable public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }
}

/// Purposes of the independent random streams derived from the run's seed. The raw values are part
/// of every stream's identity (3 was a dropout stream nothing drew from: unused, not renumbered).
public enum RandomStream: UInt64, Sendable {
    case initialisation = 1
    case corruption = 2
    case synthetic = 4
}

/// The corruption permutation of `epoch` (0-based) for a run seeded with `seed`, materialised:
/// row i of the corrupted features is row `perm[i]` of the originals (`FeistelPermutation`; runs
/// never materialise it, tests and fixtures compare with it).
public func corruptionPermutation(seed: UInt64, epoch: Int, count n: Int) -> [Int32] {
    let f = FeistelPermutation(seed: seed, epoch: epoch, count: n)
    return (0..<n).map { Int32(truncatingIfNeeded: f.source(of: $0)) }
}

/// A pseudorandom permutation π of 0..<count in which any one value and its inverse cost O(1):
/// the corruption permutation of an epoch (row i of the corrupted features is row π(i)).
///
/// Why not Fisher–Yates: a shuffle must be drawn whole, O(N) per epoch on every rank (each rank
/// needs the same one), which at 10⁷ spots and hundreds of ranks costs more than a rank's share
/// of the epoch. Here a rank evaluates π only on its own rows (where they come from) and π⁻¹ on
/// them (where they go): O(N/p). Construction (format-preserving encryption, as NIST's FF1 but
/// with a fast round function): a Feistel network on Z_a × Z_b, a = ⌈√N⌉, b = ⌈N/a⌉, with
/// modular addition and halves that swap size each round ("mixed-radix" Feistel, Black & Rogaway
/// 2002), 8 rounds whose round function is SplitMix64's finaliser keyed per round from
/// (seed, epoch); values in N..<a·b are walked along their cycle until they fall inside
/// ("cycle walking"), which keeps a bijection of 0..<N and, since a·b − N < a, almost never
/// takes a second step. Every rank computes the same π from (seed, epoch) alone, so a checkpoint
/// needs no RNG state. Why by hand: no Swift or C library in reach offers a seeded permutation
/// with random access and an inverse.
public struct FeistelPermutation: Sendable, Equatable {
    public let count: Int
    /// The two radices: a·b ≥ count, values are u·b + v with u < a, v < b.
    let a: UInt64, b: UInt64
    let keys: SIMD8<UInt64>
    static let rounds = 8

    public init(seed: UInt64, epoch: Int, count: Int) {
        precondition(count >= 0 && count <= Int(Int32.max), "FeistelPermutation: count \(count) outside 0…2³¹−1")
        self.count = count
        var r = UInt64(Double(max(count, 1)).squareRoot().rounded(.up))
        while r * r < UInt64(count) { r += 1 }
        while r > 1 && (r - 1) * (r - 1) >= UInt64(count) { r -= 1 }
        a = max(r, 1)
        b = max((UInt64(count) + a - 1) / a, 1)
        var sm = seed ^ ((RandomStream.corruption.rawValue &<< 32 &+ UInt64(truncatingIfNeeded: epoch)) &* 0xD1B5_4A32_D192_ED03)
        var k = SIMD8<UInt64>()
        for i in 0..<Self.rounds { k[i] = splitmix64(&sm) }
        keys = k
    }

    /// The round function: a keyed 64-bit mix of `x`, reduced to 0..<m (multiply-high).
    @inline(__always) static func f(_ key: UInt64, _ x: UInt64, _ m: UInt64) -> UInt64 {
        var z = x ^ key
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return (z ^ (z >> 31)).multipliedFullWidth(by: m).high
    }

    /// One pass of the network: (u, v) ∈ Z_m1 × Z_m2 → (v, (u + F(v)) mod m1) ∈ Z_m2 × Z_m1.
    @inline(__always) func encrypt(_ x: UInt64) -> UInt64 {
        var u = x / b, v = x % b, m1 = a, m2 = b
        for r in 0..<Self.rounds {
            let t = u + Self.f(keys[r], v, m1)
            (u, v) = (v, t >= m1 ? t - m1 : t)
            swap(&m1, &m2)
        }
        return u * b + v
    }

    /// The inverse pass: (u', v') → (v' − F(u') mod m1, u'), rounds in reverse.
    @inline(__always) func decrypt(_ y: UInt64) -> UInt64 {
        var u = y / b, v = y % b, m1 = a, m2 = b      // an even number of rounds: sizes as at the start
        for r in stride(from: Self.rounds - 1, through: 0, by: -1) {
            swap(&m1, &m2)                              // (m1, m2): the sizes before round r
            let fv = Self.f(keys[r], u, m1)
            (u, v) = (v >= fv ? v - fv : v + m1 - fv, u)
        }
        return u * b + v
    }

    /// π(i): the original row that corrupted row i takes.
    public func source(of i: Int) -> Int {
        precondition(i >= 0 && i < count, "FeistelPermutation: \(i) outside 0..<\(count)")
        var x = encrypt(UInt64(i))
        while x >= UInt64(count) { x = encrypt(x) }
        return Int(x)
    }

    /// π⁻¹(j): the corrupted row that takes original row j.
    public func destination(of j: Int) -> Int {
        precondition(j >= 0 && j < count, "FeistelPermutation: \(j) outside 0..<\(count)")
        var x = decrypt(UInt64(j))
        while x >= UInt64(count) { x = decrypt(x) }
        return Int(x)
    }
}

extension FeistelPermutation {
    /// out[k] = π(input[k]) (`source(of:)`), or π⁻¹(input[k]) (`destination(of:)`) when `inverse`,
    /// for many indices at once: vectorised in C (Sources/CSparseSIMD/feistel_simd.c) at the width
    /// of `path`, the bits of the scalar functions (tested). Each input must be in 0..<count.
    public func evaluate(_ input: UnsafeBufferPointer<Int>, inverse: Bool, into out: UnsafeMutablePointer<Int>,
                         path: Sparse.Path = Sparse.defaultPath) {
        if input.isEmpty { return }
        for x in input { precondition(x >= 0 && x < count, "FeistelPermutation: \(x) outside 0..<\(count)") }
        let level = Swift.min(path.rawValue, Sparse.supportedPath.rawValue)
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: Self.rounds) { k in
            for r in 0..<Self.rounds { k[r] = keys[r] }
            input.withMemoryRebound(to: Int64.self) { i in
                out.withMemoryRebound(to: Int64.self, capacity: input.count) { o in
                    stgnn_feistel(Int32(level), inverse ? 1 : 0, input.count, i.baseAddress!, o, UInt64(count), a, b,
                                  k.baseAddress!)
                }
            }
        }
    }
}

/// A permutation of the slide's spots for the corruption: π(i) and π⁻¹(j) on demand.
public enum RowPermutation: Sendable {
    /// Computed (`FeistelPermutation`): O(1) per value, nothing of size N.
    case feistel(FeistelPermutation)
    /// Given whole (a reference fixture's recorded permutation) with its inverse.
    case explicit(perm: [Int32], inverse: [Int32])

    /// A given permutation (N values, each of 0..<N once).
    public init(_ perm: [Int32]) {
        var inverse = [Int32](repeating: -1, count: perm.count)
        for (i, p) in perm.enumerated() {
            precondition(p >= 0 && Int(p) < perm.count && inverse[Int(p)] < 0, "RowPermutation: not a permutation (value \(p) at \(i))")
            inverse[Int(p)] = Int32(i)
        }
        self = .explicit(perm: perm, inverse: inverse)
    }

    public var count: Int {
        switch self {
        case .feistel(let f): return f.count
        case .explicit(let p, _): return p.count
        }
    }

    /// π(i).
    @inline(__always) public func source(of i: Int) -> Int {
        switch self {
        case .feistel(let f): return f.source(of: i)
        case .explicit(let p, _): return Int(p[i])
        }
    }

    /// π⁻¹(j).
    @inline(__always) public func destination(of j: Int) -> Int {
        switch self {
        case .feistel(let f): return f.destination(of: j)
        case .explicit(_, let inv): return Int(inv[j])
        }
    }
}
