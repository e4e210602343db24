import XCTest
@testable import STComm

/// The thread-group communicator is the oracle of every distributed test (partitions, halo and
/// corruption exchanges, preprocessing, clustering): each of its collectives is checked here on
/// 1, 2, 3 and 5 ranks against a sequential reference computed from every rank's input.
final class ThreadGroupCommunicatorTests: XCTestCase {
    static let rankCounts = [1, 2, 3, 5]

    /// A deterministic value of rank r at position i (distinct per rank, not a small integer).
    static func value(_ r: Int, _ i: Int) -> Double { Double(r * 1000 + i) * 0.37 - Double(i % 7) * 1.5 }

    /// Element count of rank r in the v-collectives: rank 1 has none, the others differ.
    static func count(_ r: Int, scale: Int) -> Int { r == 1 ? 0 : (r * 3 + 2) % 7 * scale + r }

    func testReductionsEqualRankOrderedSequentialSums() {
        for p in Self.rankCounts {
            let n = 17
            let out = ThreadGroupCommunicator.run(ranks: p) { comm -> ([Double], [Int64], [Double], Double, Int, Double) in
                var s = (0..<n).map { Self.value(comm.rank, $0) }
                comm.allreduceSum(&s)
                var c = (0..<n).map { Int64($0) << 33 + Int64(comm.rank) }
                comm.allreduceSum(&c)
                var m = (0..<n).map { Self.value(comm.rank, $0) * ($0 % 2 == 0 ? 1 : -1) }
                m.withUnsafeMutableBufferPointer { comm.allreduceMax($0) }
                return (s, c, m, comm.sum(0.25 * Double(comm.rank)), comm.sum(comm.rank + 1), comm.max(Double(-comm.rank)))
            }
            var sum = [Double](repeating: 0, count: n), cnt = [Int64](repeating: 0, count: n)
            var mx = [Double](repeating: -.infinity, count: n)
            for r in 0..<p {
                for i in 0..<n {
                    sum[i] += Self.value(r, i)
                    cnt[i] += Int64(i) << 33 + Int64(r)
                    mx[i] = Swift.max(mx[i], Self.value(r, i) * (i % 2 == 0 ? 1 : -1))
                }
            }
            for (r, o) in out.enumerated() {
                XCTAssertEqual(o.0.map(\.bitPattern), sum.map(\.bitPattern), "allreduceSum Double, rank \(r) of \(p)")
                XCTAssertEqual(o.1, cnt, "allreduceSum Int64, rank \(r) of \(p)")
                XCTAssertEqual(o.2, mx, "allreduceMax, rank \(r) of \(p)")
                XCTAssertEqual(o.3, (0..<p).reduce(0.0) { $0 + 0.25 * Double($1) }, "sum(Double), \(p) ranks")
                XCTAssertEqual(o.4, p * (p + 1) / 2, "sum(Int), \(p) ranks")
                XCTAssertEqual(o.5, 0, "max(Double), \(p) ranks")
            }
        }
    }

    func testBroadcastFromEveryRoot() {
        for p in Self.rankCounts {
            for root in 0..<p {
                let out = ThreadGroupCommunicator.run(ranks: p) { comm -> ([UInt8], [Double]) in
                    var bytes = [UInt8](repeating: UInt8(comm.rank), count: 1001)
                    if comm.rank == root { for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i * 13 + root) } }
                    bytes.withUnsafeMutableBytes { comm.broadcast($0, root: root) }
                    var doubles = (0..<9).map { Self.value(comm.rank, $0) }
                    comm.broadcast(&doubles, root: root)
                    var empty = [Double]()
                    comm.broadcast(&empty, root: root)
                    return (bytes, doubles)
                }
                for (r, o) in out.enumerated() {
                    XCTAssertEqual(o.0, (0..<1001).map { UInt8(truncatingIfNeeded: $0 * 13 + root) }, "bytes, rank \(r) of \(p), root \(root)")
                    XCTAssertEqual(o.1, (0..<9).map { Self.value(root, $0) }, "[Double], rank \(r) of \(p), root \(root)")
                }
            }
        }
    }

    struct Record: Codable, Equatable {
        var name: String
        var values: [Double]
        var single: Float
        var optional: Int?
        var nested: [String: [Int64]]
    }

    /// Every finite Double/Float arrives bit for bit (−0, subnormals, extremes, random bit
    /// patterns); ±∞ too; a NaN arrives as a NaN (sign and payload are not kept).
    func testCodableBroadcastKeepsEveryFiniteBit() throws {
        var rng = SystemRandomNumberGenerator()
        var doubles: [Double] = [-0.0, 0.0, .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNormalMagnitude,
                                 .greatestFiniteMagnitude, 0.1, 1.0 / 3.0]
        while doubles.count < 2000 { let x = Double(bitPattern: rng.next()); if x.isFinite { doubles.append(x) } }
        var floats: [Float] = [-0.0, 0.0, .infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 0.1]
        while floats.count < 2000 { let x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())); if x.isFinite { floats.append(x) } }
        let sent = doubles, sentFloats = floats
        for p in Self.rankCounts {
            for root in Set([0, p - 1]) {
                let out = try ThreadGroupCommunicator.run(ranks: p) { comm -> (Record, Int, Bool?, [Double], [Float], String) in
                    let mine = Record(name: "rank \(comm.rank)", values: [.nan, -.nan, Double(comm.rank)],
                                      single: -.nan, optional: comm.rank == root ? nil : 3,
                                      nested: ["a": [Int64.min, Int64(comm.rank)], "": []])
                    let rec: Record = try comm.broadcast(comm.rank == root ? mine : nil, root: root)
                    let int: Int = try comm.broadcast(comm.rank == root ? 42 + root : nil, root: root)
                    // An optional payload: the root gives .some(nil), the others nil.
                    let payload: Bool?? = comm.rank == root ? .some(nil) : nil
                    let flag: Bool? = try comm.broadcast(payload, root: root)
                    let payload3: Int?? = comm.rank == root ? .some(3) : nil
                    XCTAssertEqual(try comm.broadcast(payload3, root: root), 3)
                    let arr: [Double] = try comm.broadcast(comm.rank == root ? sent : nil, root: root)
                    let arrF: [Float] = try comm.broadcast(comm.rank == root ? sentFloats : nil, root: root)
                    let text: String = try comm.broadcast(comm.rank == root ? "NaN" : nil, root: root)
                    return (rec, int, flag, arr, arrF, text)
                }
                for (r, o) in out.enumerated() {
                    XCTAssertEqual(o.0.name, "rank \(root)", "rank \(r) of \(p)")
                    XCTAssertTrue(o.0.values[0].isNaN && o.0.values[1].isNaN && o.0.single.isNaN)
                    XCTAssertEqual(o.0.values[2], Double(root))
                    XCTAssertNil(o.0.optional)
                    XCTAssertEqual(o.0.nested, ["a": [Int64.min, Int64(root)], "": []])
                    XCTAssertEqual(o.1, 42 + root)
                    XCTAssertEqual(o.2, Optional<Bool>.none)
                    XCTAssertEqual(o.3.map(\.bitPattern), sent.map(\.bitPattern), "rank \(r) of \(p), root \(root)")
                    XCTAssertEqual(o.4.map(\.bitPattern), sentFloats.map(\.bitPattern), "rank \(r) of \(p), root \(root)")
                    XCTAssertEqual(o.5, "NaN")
                }
            }
        }
    }

    /// A value that cannot be encoded.
    struct Unencodable: Codable {
        struct Refused: Error {}
        init() {}
        init(from decoder: Decoder) throws { throw Refused() }
        func encode(to encoder: Encoder) throws { throw Refused() }
    }

    func testCodableBroadcastThatCannotEncodeThrowsOnEveryRank() {
        for p in Self.rankCounts {
            let out = ThreadGroupCommunicator.run(ranks: p) { comm -> String? in
                do {
                    _ = try comm.broadcast(comm.isRoot ? Unencodable() : nil, root: 0)
                    return nil
                } catch {
                    // Every rank left the collective: the next one completes.
                    comm.barrier()
                    return "\(error)"
                }
            }
            for (r, e) in out.enumerated() {
                XCTAssertNotNil(e, "rank \(r) of \(p) did not throw")
                XCTAssertTrue(e?.contains("broadcast of a Unencodable from rank 0 failed") ?? false, e ?? "")
            }
        }
    }

    /// Rank r's array in the v-collectives.
    static func array(_ r: Int, scale: Int) -> [Int32] {
        (0..<count(r, scale: scale)).map { Int32(r * 100_000 + $0) }
    }

    func testGathervOnEveryRoot() {
        for p in Self.rankCounts {
            for root in 0..<p {
                for scale in [0, 1, 50] {
                    let out = ThreadGroupCommunicator.run(ranks: p) { comm in comm.gatherv(Self.array(comm.rank, scale: scale), root: root) }
                    let expected = (0..<p).map { Self.array($0, scale: scale) }
                    for (r, got) in out.enumerated() {
                        XCTAssertEqual(got, r == root ? expected : [], "rank \(r) of \(p), root \(root), scale \(scale)")
                    }
                }
            }
        }
    }

    func testAllgatherv() {
        for p in Self.rankCounts {
            for scale in [0, 1, 50] {
                let out = ThreadGroupCommunicator.run(ranks: p) { comm in comm.allgatherv(Self.array(comm.rank, scale: scale)) }
                let expected = (0..<p).map { Self.array($0, scale: scale) }
                for (r, got) in out.enumerated() {
                    XCTAssertEqual(got, expected, "rank \(r) of \(p), scale \(scale)")
                }
            }
        }
    }

    /// Gathers of a multi-byte element type keep every bit (padding-free 16-byte elements).
    func testGathervOfSIMDElements() {
        for p in Self.rankCounts {
            let out = ThreadGroupCommunicator.run(ranks: p) { comm -> ([[SIMD4<Float>]], [[SIMD4<Float>]]) in
                let mine = (0..<(comm.rank + 1)).map { SIMD4<Float>(Float(comm.rank), Float($0), .nan, -0.0) }
                return (comm.gatherv(mine, root: 0), comm.allgatherv(mine))
            }
            for (r, o) in out.enumerated() {
                for got in (r == 0 ? [o.0, o.1] : [o.1]) {
                    XCTAssertEqual(got.count, p)
                    for (q, block) in got.enumerated() {
                        XCTAssertEqual(block.count, q + 1)
                        for (i, v) in block.enumerated() {
                            XCTAssertEqual([v.x, v.y], [Float(q), Float(i)])
                            XCTAssertEqual([v.z.bitPattern, v.w.bitPattern], [Float.nan.bitPattern, (-0.0 as Float).bitPattern])
                        }
                    }
                }
                if r != 0 { XCTAssertTrue(o.0.isEmpty) }
            }
        }
    }

    /// Personalised exchange with irregular counts (zeros included) and gaps that must stay untouched.
    func testExchangeIrregularCounts() {
        func count(_ s: Int, _ d: Int) -> Int { (s + 2 * d) % 3 == 2 ? 0 : (s * 7 + d * 3) % 5 + 1 }
        func element(_ s: Int, _ d: Int, _ k: Int) -> Int64 { Int64(s * 1_000_000 + d * 1000 + k) }
        let gap: Int64 = -1
        for p in Self.rankCounts {
            let out = ThreadGroupCommunicator.run(ranks: p) { comm -> [Int64] in
                let me = comm.rank
                var sendCounts = [Int](repeating: 0, count: p), sendOffsets = sendCounts
                var recvCounts = sendCounts, recvOffsets = sendCounts
                var send = [Int64]()
                for d in (0..<p).reversed() {
                    send.append(gap)
                    sendOffsets[d] = send.count; sendCounts[d] = count(me, d)
                    send += (0..<sendCounts[d]).map { element(me, d, $0) }
                }
                var at = 1
                for s in 0..<p { recvOffsets[s] = at; recvCounts[s] = count(s, me); at += recvCounts[s] + 1 }
                var recv = [Int64](repeating: gap, count: at)
                send.withUnsafeBytes { sb in
                    recv.withUnsafeMutableBytes { rb in
                        comm.exchange(send: sb, sendCounts: sendCounts, sendOffsets: sendOffsets, receive: rb,
                                      recvCounts: recvCounts, recvOffsets: recvOffsets, elementSize: 8)
                    }
                }
                return recv
            }
            for (r, got) in out.enumerated() {
                var expected: [Int64] = [gap]
                for s in 0..<p { expected += (0..<count(s, r)).map { element(s, r, $0) } + [gap] }
                XCTAssertEqual(got, expected, "rank \(r) of \(p)")
            }
        }
    }

    func testBarrierOrdersWrites() {
        for p in Self.rankCounts {
            let box = Box(p)
            let out = ThreadGroupCommunicator.run(ranks: p) { comm -> [Int] in
                box.lock.lock(); box.values[comm.rank] = comm.rank + 1; box.lock.unlock()
                comm.barrier()
                box.lock.lock(); defer { box.lock.unlock() }
                return box.values
            }
            for got in out { XCTAssertEqual(got, Array(1...p)) }
        }
    }

    final class Box: @unchecked Sendable {
        let lock = NSLock()
        var values: [Int]
        init(_ n: Int) { values = [Int](repeating: 0, count: n) }
    }

    func testSingleProcessCommunicator() throws {
        let comm = SingleProcessCommunicator()
        XCTAssertEqual(comm.gatherv([1, 2, 3], root: 0), [[1, 2, 3]])
        XCTAssertEqual(comm.allgatherv([Int32]()), [[]])
        var a = [1.5, -2]
        comm.allreduceSum(&a)
        comm.broadcast(&a, root: 0)
        XCTAssertEqual(a, [1.5, -2])
        let r: [String: Double] = try comm.broadcast(["x": .nan], root: 0)
        XCTAssertTrue(r["x"]!.isNaN)
        XCTAssertEqual(comm.sum(3), 3)
    }
}

/// A communicator that implements only the primitives: `gatherv` and `allgatherv` come from the
/// protocol's default implementations (built from `exchange`), the path a test double takes.
final class PrimitivesOnly: Communicator {
    let inner: Communicator
    init(_ inner: Communicator) { self.inner = inner }
    var rank: Int { inner.rank }
    var size: Int { inner.size }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) { inner.allreduceSum(buffer) }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) { inner.allreduceSum(buffer) }
    func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) { inner.allreduceMax(buffer) }
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) { inner.broadcast(buffer, root: root) }
    func exchange(send: UnsafeRawBufferPointer, sendCounts: [Int], sendOffsets: [Int],
                  receive: UnsafeMutableRawBufferPointer, recvCounts: [Int], recvOffsets: [Int], elementSize: Int) {
        inner.exchange(send: send, sendCounts: sendCounts, sendOffsets: sendOffsets, receive: receive,
                       recvCounts: recvCounts, recvOffsets: recvOffsets, elementSize: elementSize)
    }
    func barrier() { inner.barrier() }
}

final class DefaultCollectivesTests: XCTestCase {
    func testDefaultGathersEqualTheThreadGroupOnes() {
        for p in ThreadGroupCommunicatorTests.rankCounts {
            for scale in [0, 1, 50] {
                let out = ThreadGroupCommunicator.run(ranks: p) { comm -> ([[Int32]], [[Int32]], [[Int32]], [[Int32]], [Int]) in
                    let d = PrimitivesOnly(comm)
                    let mine = ThreadGroupCommunicatorTests.array(comm.rank, scale: scale)
                    return (d.gatherv(mine, root: p - 1), comm.gatherv(mine, root: p - 1),
                            d.allgatherv(mine), comm.allgatherv(mine), d.allgatherCounts(comm.rank * 2))
                }
                for (r, o) in out.enumerated() {
                    XCTAssertEqual(o.0, o.1, "gatherv, rank \(r) of \(p), scale \(scale)")
                    XCTAssertEqual(o.2, o.3, "allgatherv, rank \(r) of \(p), scale \(scale)")
                    XCTAssertEqual(o.4, (0..<p).map { $0 * 2 })
                }
            }
        }
    }

    func testBlocks() {
        XCTAssertEqual(blocks(of: [1, 2, 3, 4, 5], counts: [2, 0, 3]), [[1, 2], [], [3, 4, 5]])
        XCTAssertEqual(blocks(of: [Int](), counts: [0, 0]), [[], []])
        XCTAssertEqual(prefixSums([3, 0, 2]).offsets, [0, 3, 3])
        XCTAssertEqual(prefixSums([3, 0, 2]).total, 5)
    }
}
