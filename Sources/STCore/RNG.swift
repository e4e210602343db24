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

/// The corruption permutation of `epoch` (0-based) for a run seeded with `seed`: row i of the
/// corrupted features is row `perm[i]` of the originals. A pure function of (seed, epoch, n), so
/// every rank derives the same permutation and resuming at any epoch needs no stored RNG state.
public func corruptionPermutation(seed: UInt64, epoch: Int, count n: Int) -> [Int32] {
    var p = [Int32]()
    corruptionPermutation(seed: seed, epoch: epoch, count: n, into: &p)
    return p
}

/// `corruptionPermutation(seed:epoch:count:)` written into `p` (resized to n), so the epoch loop
/// reuses one buffer instead of allocating N indices per epoch.
public func corruptionPermutation(seed: UInt64, epoch: Int, count n: Int, into p: inout [Int32]) {
    var rng = Xoshiro256(seed: seed, stream: RandomStream.corruption.rawValue &<< 32 &+ UInt64(epoch))
    if p.count != n { p = [Int32](repeating: 0, count: n) }
    p.withUnsafeMutableBufferPointer { b in
        for i in 0..<n { b[i] = Int32(i) }
        // Fisher–Yates.
        var i = n - 1
        while i > 0 {
            let j = Int(rng.below(UInt64(i + 1)))
            b.swapAt(i, j)
            i -= 1
        }
    }
}
