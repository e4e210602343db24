#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time per named phase of a repeated computation (one training epoch), for benchmarks.
///
/// Code under measurement calls `start()` once and then `lap(_:)` after each phase: the time since
/// the previous mark is added to that phase's total. Phases keep the order in which they were first
/// seen. Instrumented code holds an optional timer (`timer?.lap("…")`), nil by default, so that an
/// uninstrumented run pays one load and one branch per phase and nothing else.
public final class PhaseTimer {
    /// Phase names, in order of first appearance.
    public private(set) var names: [String] = []
    /// Total seconds per phase (same order as `names`).
    public private(set) var seconds: [Double] = []
    /// Number of laps recorded per phase.
    public private(set) var counts: [Int] = []
    var keys: [StaticString] = []
    var cursor = 0
    var last: UInt64 = 0

    public init() {}

    /// The monotonic clock in nanoseconds.
    @inline(__always)
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Sets the lap clock to now (call at the start of each measured repetition).
    public func start() { last = Self.now() }

    /// Adds the time since the previous `start()` or `lap(_:)` to phase `name`.
    public func lap(_ name: StaticString) {
        let t = Self.now()
        let k = slot(name)
        seconds[k] += Double(t &- last) * 1e-9
        counts[k] += 1
        last = t
    }

    /// Forgets all phases and times.
    public func reset() {
        names = []; seconds = []; counts = []; keys = []; cursor = 0
    }

    /// Sum over all phases, in seconds.
    public var total: Double { seconds.reduce(0, +) }

    /// The index of `name`; phases repeat in the same order every epoch, so the expected next
    /// index is tried first.
    func slot(_ name: StaticString) -> Int {
        if cursor < keys.count && Self.same(keys[cursor], name) {
            defer { cursor = cursor &+ 1 }
            return cursor
        }
        for k in 0..<keys.count where Self.same(keys[k], name) {
            cursor = k &+ 1
            return k
        }
        keys.append(name)
        names.append(name.description)
        seconds.append(0)
        counts.append(0)
        cursor = keys.count
        return keys.count - 1
    }

    static func same(_ a: StaticString, _ b: StaticString) -> Bool {
        guard a.hasPointerRepresentation, b.hasPointerRepresentation else { return a.description == b.description }
        if a.utf8Start == b.utf8Start { return true }
        return a.utf8CodeUnitCount == b.utf8CodeUnitCount
            && memcmp(a.utf8Start, b.utf8Start, a.utf8CodeUnitCount) == 0
    }
}
