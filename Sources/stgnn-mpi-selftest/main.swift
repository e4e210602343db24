// stgnn-mpi-selftest: exercises every collective of the job's communicator under a real mpirun.
//
// Run by Tests/mpi/run-mpi-tests.sh at 1–4 ranks. Every check is collective: each rank verifies its
// own part, the failures are summed, and rank 0 prints `PASS <check>` or `FAIL <check> (k of P
// ranks)`; a failing rank prints its details to stderr. Exit status 0 iff every check passed.
//
// Usage: stgnn-mpi-selftest [--big] [--abort-on-rank R] [--fail-all] [--mismatch]
//   --big              also move payloads above 2^31 elements/bytes (needs 2+ ranks, ~12 GB)
//   --abort-on-rank R  rank R calls failJob while the others wait in a barrier (must not hang)
//   --fail-all         every rank calls failJob(seenByAllRanks: true) (message printed once)
//   --mismatch         an exchange with inconsistent counts and count checking on (must abort)
//   --mpi-error        each rank sends 64 bytes to the next, which expects 16: MPI reports a truncation,
//                      which must end the job with our one-line message and MPI's error string
import ArgumentParser
import Foundation
import STComm
import STCore
import STCommMPI
#if canImport(Glibc)
import Glibc
#endif

// MARK: Options

struct SelftestOptions: ParsableArguments {
    @Flag(help: "Also move payloads above 2^31 elements/bytes (needs 2+ ranks, ~12 GB).")
    var big = false
    @Option(name: .customLong("abort-on-rank"), help: "Rank R calls failJob while the others wait in a barrier (must not hang).")
    var abortRank: Int?
    @Flag(help: "Every rank calls failJob(seenByAllRanks: true) (message printed once).")
    var failAll = false
    @Flag(help: "An exchange with inconsistent counts and count checking on (must abort).")
    var mismatch = false
    @Flag(help: "Each rank sends 64 bytes to the next, which expects 16: MPI reports a truncation, which must end the job with our one-line message and MPI's error string.")
    var mpiError = false
}

// Parsed before MPI starts: a usage error prints the help and exits like any parser error.
let options = SelftestOptions.parseOrExit()
let abortRank = options.abortRank
let failAll = options.failAll
let big = options.big
let mismatch = options.mismatch
let mpiError = options.mpiError

let comm: Communicator
do { comm = try makeCommunicator() } catch { failJob(error) }
let rank = comm.rank
let P = comm.size
let mpi = comm as? MPICommunicator
var failedChecks = 0

/// Collective check: every rank reports its verdict; rank 0 prints one PASS/FAIL line.
func check(_ name: String, _ ok: Bool, _ detail: @autoclosure () -> String = "") {
    if !ok {
        fputs("rank \(rank): FAIL \(name): \(detail())\n", stderr)
        fflush(stderr)
    }
    let bad = comm.sum(ok ? 0 : 1)
    if bad > 0 { failedChecks += 1 }
    if rank == 0 {
        print(bad == 0 ? "PASS \(name)" : "FAIL \(name) (\(bad) of \(P) ranks)")
        fflush(stdout)
    }
}

/// Finalises MPI and exits with `code` (a failing MPI_Finalize ends the job through failJob).
func finish(_ code: Int32) -> Never {
    do { try MPIEnvironment.finalize() } catch { failJob(error, comm: comm) }
    exit(code)
}

/// Runs `body` with small message limits (forcing the chunked paths), then restores them.
func withSmallMessages(elements: Int, bytes: Int, _ body: () -> Void) {
    guard let mpi else { body(); return }
    let (e, b) = (mpi.maxElementsPerMessage, mpi.maxBytesPerMessage)
    mpi.maxElementsPerMessage = elements
    mpi.maxBytesPerMessage = bytes
    body()
    mpi.maxElementsPerMessage = e
    mpi.maxBytesPerMessage = b
}

if rank == 0 {
    print("stgnn-mpi-selftest: \(P) rank(s), \(type(of: comm))")
    fflush(stdout)
}

// MARK: Failure modes (each ends the job)

if let r = abortRank {
    comm.barrier()
    if rank == r % P {
        failJob("selftest: deliberate failure on rank \(rank)", code: 3, comm: comm)
    }
    comm.barrier()   // never completes: rank r never arrives; only MPI_Abort ends this
    print("rank \(rank): ERROR: passed a barrier that rank \(r % P) never entered")
    finish(0)
}
if failAll {
    comm.barrier()
    failJob("selftest: deliberate failure seen by all ranks", code: 4, comm: comm, seenByAllRanks: true)
}
if mismatch {
    mpi?.checksExchangeCounts = true
    // Rank r sends 1 element to every rank, but expects 2 from rank (r+1) % P (when P > 1).
    var send = [UInt8](repeating: 1, count: P), recv = [UInt8](repeating: 0, count: 2 * P)
    let sc = [Int](repeating: 1, count: P), so = Array(0..<P)
    var rc = [Int](repeating: 1, count: P)
    rc[(rank + 1) % P] = P > 1 ? 2 : 1
    let ro = (0..<P).map { 2 * $0 }
    send.withUnsafeBytes { s in recv.withUnsafeMutableBytes { r in
        comm.exchange(send: s, sendCounts: sc, sendOffsets: so, receive: r, recvCounts: rc, recvOffsets: ro, elementSize: 1)
    } }
    _ = send
    check("mismatched exchange counts were not detected", P == 1)
    finish(P == 1 ? 0 : 1)
}

if mpiError {
    // Rank r sends 64 bytes to rank (r+1) % P, which expects 16 (count checks off): MPI reports
    // the truncation through MPI_Waitall.
    mpi?.checksExchangeCounts = false
    let next = (rank + 1) % P, prev = (rank + P - 1) % P
    var sc = [Int](repeating: 0, count: P), rc = sc
    let z = [Int](repeating: 0, count: P)
    if P > 1 { sc[next] = 64; rc[prev] = 16 }
    let send = [UInt8](repeating: 7, count: 64)
    var recv = [UInt8](repeating: 0, count: 64)
    send.withUnsafeBytes { s in recv.withUnsafeMutableBytes { r in
        comm.exchange(send: s, sendCounts: sc, sendOffsets: z, receive: r, recvCounts: rc, recvOffsets: z, elementSize: 1)
    } }
    comm.barrier()
    check("a truncated message was not detected", P == 1)
    finish(P == 1 ? 0 : 1)
}

// MARK: Identity

if let mpi {
    check("MPI_ERRORS_RETURN on MPI_COMM_WORLD and the job's communicator", mpi.returnsErrors)
}

if let s = getenv("OMPI_COMM_WORLD_SIZE").flatMap({ Int(String(cString: $0)) }) {
    check("rank count matches mpirun (-n \(s))", s == P && mpi != nil, "communicator has \(P) ranks")
}
check("sum of ones = rank count", comm.sum(1) == P)
do {
    var ranks = [Double](repeating: 0, count: P)
    ranks[rank] = Double(rank)
    comm.allreduceSum(&ranks)
    check("ranks are 0..<P, each once", ranks == (0..<P).map(Double.init))
}

// MARK: Allreduce

/// Sum over ranks of Double((i·7 + r) mod 1000): integers, so exact in any order.
func sumDoubles(count n: Int, label: String) {
    var a = [Double](repeating: 0, count: n)
    a.withUnsafeMutableBufferPointer { p in for i in 0..<n { p[i] = Double((i &* 7 &+ rank) % 1000) } }
    comm.allreduceSum(&a)
    var bad = -1
    a.withUnsafeBufferPointer { p in
        for i in 0..<n {
            var e = 0.0
            for r in 0..<P { e += Double((i &* 7 &+ r) % 1000) }
            if p[i] != e { bad = i; break }
        }
    }
    check("allreduceSum Double n=\(n)\(label)", bad < 0, "element \(bad): \(bad >= 0 ? a[bad] : 0)")
}

/// Sum over ranks of (i << 20) + r·2^40: needs all 64 bits.
func sumInt64s(count n: Int, label: String) {
    var a = [Int64](repeating: 0, count: n)
    a.withUnsafeMutableBufferPointer { p in for i in 0..<n { p[i] = (Int64(i) << 20) &+ (Int64(rank) << 40) &+ 1 } }
    comm.allreduceSum(&a)
    let rs = Int64(P * (P - 1) / 2) << 40
    var bad = -1
    a.withUnsafeBufferPointer { p in
        for i in 0..<n where p[i] != Int64(P) * ((Int64(i) << 20) + 1) + rs { bad = i; break }
    }
    check("allreduceSum Int64 n=\(n)\(label)", bad < 0, "element \(bad)")
}

/// Maximum over ranks of a rank-dependent value in -50...50.
func maxDoubles(count n: Int, label: String) {
    func f(_ i: Int, _ r: Int) -> Double { Double((i &* 31 &+ r &* 17) % 101) - 50.5 }
    var a = [Double](repeating: 0, count: n)
    a.withUnsafeMutableBufferPointer { p in for i in 0..<n { p[i] = f(i, rank) } }
    a.withUnsafeMutableBufferPointer { comm.allreduceMax($0) }
    var bad = -1
    for i in 0..<n {
        var e = -Double.infinity
        for r in 0..<P { e = Swift.max(e, f(i, r)) }
        if a[i] != e { bad = i; break }
    }
    check("allreduceMax Double n=\(n)\(label)", bad < 0, "element \(bad)")
}

for n in [1, 1_000_000] {
    sumDoubles(count: n, label: "")
    sumInt64s(count: n, label: "")
    maxDoubles(count: n, label: "")
}
check("sum(Double) helper", comm.sum(0.5 * Double(rank + 1)) == 0.25 * Double(P * (P + 1)))
check("max(Double) helper", comm.max(Double(rank) - 3) == Double(P - 1) - 3)
do {   // zero-length reductions are no-ops
    var e: [Double] = []
    comm.allreduceSum(&e)
    check("allreduceSum n=0", e.isEmpty)
}
withSmallMessages(elements: 1000, bytes: 1 << 30) {
    sumDoubles(count: 1_000_000, label: " in 1000-element pieces")
    sumInt64s(count: 10_007, label: " in 1000-element pieces")
    maxDoubles(count: 10_007, label: " in 1000-element pieces")
}
withSmallMessages(elements: 1 << 30, bytes: 4096) {
    sumDoubles(count: 100_003, label: " in 4 KiB pieces")
}

// MARK: Broadcast

func broadcastCheck(bytes n: Int, root: Int, label: String) {
    var b = [UInt8](repeating: 0, count: n)
    if rank == root { b.withUnsafeMutableBufferPointer { p in for i in 0..<n { p[i] = UInt8(truncatingIfNeeded: i &* 13 &+ root) } } }
    b.withUnsafeMutableBytes { comm.broadcast($0, root: root) }
    var bad = -1
    b.withUnsafeBufferPointer { p in
        for i in 0..<n where p[i] != UInt8(truncatingIfNeeded: i &* 13 &+ root) { bad = i; break }
    }
    check("broadcast \(n) bytes from rank \(root)\(label)", bad < 0, "byte \(bad)")
}
for root in Set([0, P - 1, P / 2]).sorted() {
    for n in [0, 1, 1_000_003] { broadcastCheck(bytes: n, root: root, label: "") }
}
withSmallMessages(elements: 1 << 30, bytes: 4093) {
    broadcastCheck(bytes: 100_000, root: P - 1, label: " in 4093-byte pieces")
}

// MARK: Exchange

/// Irregular personalised exchange: count(s→d) = 0 when (s+2d) % 3 == 2 (and 0 to self on odd
/// ranks), else a size depending on (s, d). Blocks are laid out in reverse rank order with gaps on
/// the send side and in rank order with gaps on the receive side; gaps must stay untouched.
func exchangeCheck(elementSize es: Int, scale: Int, label: String) {
    func count(_ s: Int, _ d: Int) -> Int {
        if (s &+ 2 &* d) % 3 == 2 || (s == d && s % 2 == 1) { return 0 }
        return ((s &* 7 &+ d &* 3) % 5 + 1) &* scale
    }
    @inline(__always) func byte(_ s: Int, _ d: Int, _ k: Int, _ j: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: s &* 31 &+ d &* 17 &+ k &* 7 &+ j)
    }
    let sentinel: UInt8 = 0xAB
    var sendCounts = [Int](repeating: 0, count: P), sendOffsets = sendCounts
    var recvCounts = sendCounts, recvOffsets = sendCounts
    var at = 1
    for d in (0..<P).reversed() { sendOffsets[d] = at; sendCounts[d] = count(rank, d); at += sendCounts[d] + 1 }
    let sendElements = at
    at = 2
    for s in 0..<P { recvOffsets[s] = at; recvCounts[s] = count(s, rank); at += recvCounts[s] + 2 }
    let recvElements = at
    var send = [UInt8](repeating: sentinel, count: sendElements * es)
    var recv = [UInt8](repeating: sentinel, count: recvElements * es)
    send.withUnsafeMutableBufferPointer { p in
        for d in 0..<P {
            for k in 0..<sendCounts[d] {
                let base = (sendOffsets[d] &+ k) &* es
                for j in 0..<es { p[base &+ j] = byte(rank, d, k, j) }
            }
        }
    }
    send.withUnsafeBytes { s in recv.withUnsafeMutableBytes { r in
        comm.exchange(send: s, sendCounts: sendCounts, sendOffsets: sendOffsets,
                      receive: r, recvCounts: recvCounts, recvOffsets: recvOffsets, elementSize: es)
    } }
    var problem = ""
    recv.withUnsafeBufferPointer { p in
        var expected = [UInt8](repeating: sentinel, count: recvElements * es)
        for s in 0..<P {
            for k in 0..<recvCounts[s] {
                let base = (recvOffsets[s] &+ k) &* es
                for j in 0..<es { expected[base &+ j] = byte(s, rank, k, j) }
            }
        }
        expected.withUnsafeBufferPointer { e in
            for i in 0..<p.count where p[i] != e[i] {
                problem = "byte \(i) (element \(i / es)) is \(p[i]), expected \(e[i])"
                break
            }
        }
    }
    let total = comm.sum(recvCounts.reduce(0, +))
    let remote = comm.sum(recvCounts.enumerated().reduce(0) { $0 + ($1.offset != rank && $1.element > 0 ? 1 : 0) })
    check("exchange \(total) elements of \(es) bytes, \(remote) remote blocks, irregular counts incl. zeros\(label)",
          problem.isEmpty, problem)
}

mpi?.checksExchangeCounts = true
for es in [256, 8, 1, 3] { exchangeCheck(elementSize: es, scale: 1, label: "") }
exchangeCheck(elementSize: 256, scale: 1000, label: "")
exchangeCheck(elementSize: 8, scale: 100_000, label: "")
withSmallMessages(elements: 7, bytes: 1 << 30) {
    exchangeCheck(elementSize: 256, scale: 10, label: " in 7-element pieces")
}
withSmallMessages(elements: 1 << 30, bytes: 1000) {
    exchangeCheck(elementSize: 256, scale: 10, label: " in 3-element (1000-byte) pieces")
}
mpi?.checksExchangeCounts = false
exchangeCheck(elementSize: 256, scale: 100, label: " (count checks off)")
do {   // all counts zero, empty buffers
    let z = [Int](repeating: 0, count: P)
    let e = [UInt8]()
    var r = [UInt8]()
    e.withUnsafeBytes { s in r.withUnsafeMutableBytes { rr in
        comm.exchange(send: s, sendCounts: z, sendOffsets: z, receive: rr, recvCounts: z, recvOffsets: z, elementSize: 64)
    } }
    check("exchange with all counts zero", r.isEmpty)
}

// MARK: Gatherv, allgatherv

/// Rank r's element count: rank 1 has none (rank 0 has none either when `scale` is 0).
func gatherCount(_ r: Int, scale: Int) -> Int { r == 1 ? 0 : ((r &* 37) % 5) &* scale &+ r }

/// Checks `gatherv` (on `root`) and `allgatherv` of rank-specific arrays of `T`.
func gathervCheck<T: BitwiseCopyable & Equatable>(_ type: T.Type, root: Int, scale: Int, label: String,
                                                  _ element: (Int, Int) -> T) {
    let mine = (0..<gatherCount(rank, scale: scale)).map { element(rank, $0) }
    let expected = (0..<P).map { r in (0..<gatherCount(r, scale: scale)).map { element(r, $0) } }
    let largest = (0..<P).map { gatherCount($0, scale: scale) }.max()!
    func compare(_ got: [[T]]) -> String {
        guard got.count == P else { return "\(got.count) blocks, expected \(P)" }
        for r in 0..<P {
            if got[r].count != expected[r].count { return "block \(r) has \(got[r].count) elements, expected \(expected[r].count)" }
            if let i = got[r].indices.first(where: { got[r][$0] != expected[r][$0] }) { return "block \(r) element \(i)" }
        }
        return ""
    }
    let got = comm.gatherv(mine, root: root)
    let problem = rank == root ? compare(got) : (got.isEmpty ? "" : "non-root got \(got.count) blocks")
    check("gatherv of \(T.self) (0...\(largest) elements per rank) on rank \(root)\(label)", problem.isEmpty, problem)
    let all = comm.allgatherv(mine)
    let allProblem = compare(all)
    check("allgatherv of \(T.self) (0...\(largest) elements per rank)\(label)", allProblem.isEmpty, allProblem)
}

/// A 24-byte element (not a power of two) whose every byte is checked.
struct Triple: BitwiseCopyable, Equatable { var a: Int64; var b: UInt64; var c: Int64 }

func byteOf(_ r: Int, _ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: r &* 11 &+ i) }
for root in Set([0, P - 1]).sorted() {
    gathervCheck(UInt8.self, root: root, scale: 1, label: "", byteOf)
    gathervCheck(UInt8.self, root: root, scale: 100_000, label: "", byteOf)
    gathervCheck(Int64.self, root: root, scale: 1000, label: "") { Int64($0) << 40 | Int64($1) }
    gathervCheck(Triple.self, root: root, scale: 100, label: "") {
        Triple(a: Int64($0), b: 0x7FF8_0000_0000_0000 | UInt64($1), c: -Int64($1))
    }
}
gathervCheck(Float.self, root: 0, scale: 0, label: " (rank 1 empty, others tiny)") { Float($0 * 1000 + $1) }
withSmallMessages(elements: 1 << 30, bytes: 1000) {
    gathervCheck(UInt8.self, root: P - 1, scale: 1000, label: " in 1000-byte pieces (exchange path)", byteOf)
    gathervCheck(Triple.self, root: 0, scale: 100, label: " in 41-element pieces (exchange path)") {
        Triple(a: Int64($0), b: UInt64($1) * 3, c: Int64($1))
    }
}
withSmallMessages(elements: 7, bytes: 1 << 30) {
    gathervCheck(Int64.self, root: 0, scale: 10, label: " in 7-element pieces (exchange path)") { Int64($0 &* 1000 &+ $1) }
}
do {
    let got = comm.gatherv([UInt8](), root: 0)
    check("gatherv of empty arrays", rank == 0 ? got.count == P && got.allSatisfy(\.isEmpty) : got.isEmpty)
    let all = comm.allgatherv([Double]())
    check("allgatherv of empty arrays", all.count == P && all.allSatisfy(\.isEmpty))
}

// MARK: Codable broadcast

struct Record: Codable, Equatable {
    var name: String
    var bits: [UInt64]
    var values: [Double]
    var optional: Int?
    var table: [String: [Int32]]
}

func record(_ r: Int) -> Record {
    let special: [Double] = [.nan, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, 0.1, Double(r)]
    return Record(name: "rank \(r) ✓", bits: special.map(\.bitPattern), values: special,
                  optional: r % 2 == 0 ? nil : r, table: ["r": [Int32(r)], "": []])
}

for root in Set([0, P - 1, P / 2]).sorted() {
    var problem = ""
    do {
        let got: Record = try comm.broadcast(rank == root ? record(root) : nil, root: root)
        let want = record(root)
        if got.name != want.name || got.optional != want.optional || got.table != want.table { problem = "fields differ: \(got)" }
        // Finite values and ±∞ bit for bit; NaN as a NaN (JSON keeps no payload).
        if !got.values[0].isNaN || got.values.dropFirst().map(\.bitPattern) != Array(want.bits.dropFirst()) {
            problem = "doubles differ bitwise: \(got.values)"
        }
        let n: Int = try comm.broadcast(rank == root ? 1_000_003 * (root + 1) : nil, root: root)
        if n != 1_000_003 * (root + 1) { problem = "Int \(n)" }
        let big: [Int64] = try comm.broadcast(rank == root ? (0..<100_000).map { Int64($0) * 7 } : nil, root: root)
        if big != (0..<100_000).map({ Int64($0) * 7 }) { problem = "[Int64] of 100000 differs" }
    } catch { problem = "threw \(error)" }
    check("Codable broadcast from rank \(root) (struct with NaN/−0/∞/subnormal doubles, Int, [Int64])", problem.isEmpty, problem)
}
do {   // the root cannot encode: every rank throws, nobody waits
    struct Refused: Error {}
    struct Unencodable: Codable {
        init() {}
        init(from decoder: Decoder) throws { throw Refused() }
        func encode(to encoder: Encoder) throws { throw Refused() }
    }
    var threw = false
    do { _ = try comm.broadcast(rank == 0 ? Unencodable() : nil, root: 0) } catch { threw = true }
    check("Codable broadcast the root cannot encode throws on every rank", threw)
}

// MARK: Barrier

// The last rank arrives half a second late: no rank may leave the barrier before it has arrived.
// (A barrier that returns at once leaves the other ranks with ~0 s here.) Ranks leave the first
// barrier within milliseconds of each other; 0.25 s of slack allows for oversubscribed cores.
comm.barrier()
do {
    let t0 = PhaseTimer.now()
    if rank == P - 1 { usleep(500_000) }
    comm.barrier()
    let waited = Double(PhaseTimer.now() - t0) * 1e-9
    check("barrier holds every rank until the last (0.5 s late) arrives", waited >= 0.25,
          "left the barrier after \(waited) s")
}

// MARK: Beyond 2^31 (optional)

if big {
    if P < 2 || mpi == nil {
        if rank == 0 { print("SKIP --big needs 2+ MPI ranks") }
    } else {
        let n = (1 << 31) + 17
        do {
            var b = [UInt8](repeating: 0, count: n)
            if rank == 0 { b.withUnsafeMutableBufferPointer { p in for i in 0..<n { p[i] = UInt8(truncatingIfNeeded: i &* 13) } } }
            b.withUnsafeMutableBytes { comm.broadcast($0, root: 0) }
            var bad = -1
            b.withUnsafeBufferPointer { p in for i in 0..<n where p[i] != UInt8(truncatingIfNeeded: i &* 13) { bad = i; break } }
            check("broadcast 2^31+17 bytes", bad < 0, "byte \(bad)")
        }
        do {   // rank 0 → rank 1: 2^31+17 one-byte elements (a count above Int32.max)
            var sc = [Int](repeating: 0, count: P), rc = sc
            let z = [Int](repeating: 0, count: P)
            if rank == 0 { sc[1] = n }
            if rank == 1 { rc[0] = n }
            var s = [UInt8](repeating: 0, count: rank == 0 ? n : 0)
            s.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = UInt8(truncatingIfNeeded: i &* 7) } }
            var r = [UInt8](repeating: 0, count: rank == 1 ? n : 0)
            s.withUnsafeBytes { sb in r.withUnsafeMutableBytes { rb in
                comm.exchange(send: sb, sendCounts: sc, sendOffsets: z, receive: rb, recvCounts: rc, recvOffsets: z, elementSize: 1)
            } }
            var bad = -1
            r.withUnsafeBufferPointer { p in for i in 0..<p.count where p[i] != UInt8(truncatingIfNeeded: i &* 7) { bad = i; break } }
            check("exchange of 2^31+17 one-byte elements", bad < 0, "byte \(bad)")
        }
        do {   // gatherv: total above 2^31 bytes on the root
            let each = n / P + 1
            let mine = [UInt8](repeating: UInt8(rank + 1), count: each)
            let got = comm.gatherv(mine, root: 0)
            let ok = rank != 0 || (got.count == P && (0..<P).allSatisfy { r in
                got[r].count == each && got[r].withUnsafeBufferPointer { p in !p.contains { $0 != UInt8(r + 1) } } })
            check("gatherv of \(each * P) bytes in total", ok)
        }
        do {   // allgatherv: total above 2^31 elements on every rank
            let each = n / P + 1
            let got = comm.allgatherv([UInt8](repeating: UInt8(rank + 1), count: each))
            let ok = got.count == P && (0..<P).allSatisfy { r in
                got[r].count == each && got[r].withUnsafeBufferPointer { p in !p.contains { $0 != UInt8(r + 1) } } }
            check("allgatherv of \(each * P) one-byte elements in total", ok)
        }
    }
}

if rank == 0 {
    print(failedChecks == 0 ? "ALL PASSED" : "\(failedChecks) CHECK(S) FAILED")
    fflush(stdout)
}
finish(failedChecks == 0 ? 0 : 1)
