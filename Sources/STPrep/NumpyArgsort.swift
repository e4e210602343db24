// The order numpy 2.x's default `np.argsort` (kind="quicksort") gives to EQUAL float64 keys on
// x86-64 CPUs with AVX-512 (numpy dispatches to Intel's x86-simd-sort `avx512_argsort`). The
// permutation of distinct keys is of course just the sorted order; what this reproduces is which
// of several tied keys comes first, an artefact of the vectorised quicksort: median-of-8 pivots,
// a 4×8-lane unrolled partition with compress-stores, bitonic sorting networks for ranges of at
// most 256 keys, and libstdc++'s std::sort where the quicksort runs out of depth or on NaN.
// scanpy's seurat_v3 ranking is `argsort(argsort(-v))`, so ties between genes with identical
// statistics (frequent among low-count genes) are ordered this way in its highly_variable_rank.
// Emulated lane by lane in scalar code from the algorithm's description; no code is copied.

/// numpy's `np.argsort(keys)` for float64 on AVX-512 x86-64 (numpy 2.x, x86-simd-sort):
/// the returned permutation sorts `keys` ascending, ties ordered as numpy orders them there.
func numpyArgsortAVX512(_ keys: [Double]) -> [Int] { numpyArgsortAVX512Traced(keys).order }

/// The code path an argsort took: tests check each against numpy.
enum NumpyArgsortPath: Equatable {
    /// 0 or 1 keys, or already sorted: the identity.
    case identity
    /// Some key is NaN: std::sort with NaN last.
    case nan
    /// The vectorised quicksort; `stdSortFallbacks` ranges ran out of depth and went to std::sort.
    case quicksort(stdSortFallbacks: Int)
}

/// `numpyArgsortAVX512` and the path it took.
func numpyArgsortAVX512Traced(_ keys: [Double]) -> (order: [Int], path: NumpyArgsortPath) {
    let n = keys.count
    var arg = Array(0..<n)
    if n <= 1 { return (arg, .identity) }
    if keys.contains(where: { $0.isNaN }) {
        // x86-simd-sort hands arrays with NaN to std::sort with NaN ordered last.
        keys.withUnsafeBufferPointer { K in
            LibstdcxxSort.sort(&arg, 0, n) { a, b in
                let x = K[a], y = K[b]
                if !x.isNaN && !y.isNaN { return x < y }
                return !x.isNaN
            }
        }
        return (arg, .nan)
    }
    var sorted = true
    for i in 1..<n where keys[i] < keys[i - 1] { sorted = false; break }
    if sorted { return (arg, .identity) }
    var s = XSSArgsort(keys: keys, arg: arg)
    var lg = 0
    while (1 << (lg + 1)) <= n { lg += 1 }          // (size_t)log2(n)
    s.quicksort(0, n - 1, 2 * lg)
    return (s.arg, .quicksort(stdSortFallbacks: s.stdSortFallbacks))
}

/// State of the emulated x86-simd-sort 64-bit argsort (8 lanes per register).
struct XSSArgsort {
    let keys: [Double]
    var arg: [Int]
    /// Ranges handed to std::sort for lack of depth (for tests).
    var stdSortFallbacks = 0
    static let lanes = 8
    static let sentinel = Int.max

    init(keys: [Double], arg: [Int]) { self.keys = keys; self.arg = arg }

    /// Sorts arg[left...right] (inclusive).
    mutating func quicksort(_ left: Int, _ right: Int, _ maxIters: Int) {
        if maxIters <= 0 {
            stdSortFallbacks += 1
            let k = keys
            LibstdcxxSort.sort(&arg, left, right + 1) { k[$0] < k[$1] }
            return
        }
        if right + 1 - left <= 256 {
            networkSort(left, right + 1 - left)
            return
        }
        let pivot = medianOf8(left, right)
        let (pivotIndex, smallest, biggest) = partition(left, right + 1, pivot)
        if pivot != smallest { quicksort(left, pivotIndex - 1, maxIters - 1) }
        if pivot != biggest { quicksort(pivotIndex, right, maxIters - 1) }
    }

    /// The 5th smallest of the keys at arg[left + k·s], k = 1…8, s = (right − left)/8.
    func medianOf8(_ left: Int, _ right: Int) -> Double {
        let s = (right - left) / 8
        var v = (1...8).map { keys[arg[left + $0 * s]] }
        v.sort()
        return v[4]
    }

    /// Partitions arg[left..<right] around `pivot` (keys < pivot first) as the 4-way unrolled
    /// AVX-512 partition does; returns the first index of the ≥ part and the range's min and max.
    mutating func partition(_ l0: Int, _ r0: Int, _ pivot: Double) -> (Int, Double, Double) {
        var left = l0, right = r0
        var smallest = Double.infinity, biggest = -Double.infinity
        var i = (right - left) % 32
        while i > 0 {
            let v = keys[arg[left]]
            if v < smallest { smallest = v }
            if biggest < v { biggest = v }
            if !(v < pivot) {
                right -= 1
                arg.swapAt(left, right)
            } else {
                left += 1
            }
            i -= 1
        }
        if left == right { return (left, smallest, biggest) }

        func load(_ at: Int) -> [Int] { Array(arg[at..<(at + 8)]) }
        let vecLeft = (0..<4).map { load(left + 8 * $0) }
        let vecRight = (0..<4).map { load(right - 8 * (4 - $0)) }
        var rStore = right - 8, lStore = left
        left += 32
        right -= 32
        // Partition one register of indices: lanes with key < pivot are compress-stored at lStore,
        // lanes with key ≥ pivot at rEnd − count, both in lane order.
        func partitionVec(_ lanes: [Int], _ lStore: Int, _ rEnd: Int) -> Int {
            var ge = 0
            for idx in lanes where keys[idx] >= pivot { ge += 1 }
            var pl = lStore, pr = rEnd - ge
            for idx in lanes {
                let v = keys[idx]
                if v < smallest { smallest = v }
                if biggest < v { biggest = v }
                if v >= pivot { arg[pr] = idx; pr += 1 } else { arg[pl] = idx; pl += 1 }
            }
            return ge
        }
        while right - left != 0 {
            let block: [[Int]]
            if (rStore + 8) - right < left - lStore {
                right -= 32
                block = (0..<4).map { load(right + 8 * $0) }
            } else {
                block = (0..<4).map { load(left + 8 * $0) }
                left += 32
            }
            for lanes in block {
                let ge = partitionVec(lanes, lStore, rStore + 8)
                lStore += 8 - ge
                rStore -= ge
            }
        }
        for lanes in vecLeft + vecRight {
            let ge = partitionVec(lanes, lStore, rStore + 8)
            lStore += 8 - ge
            rStore -= ge
        }
        return (lStore, smallest, biggest)
    }

    /// Bitonic-network argsort of arg[left..<left+count] (count ≤ 256) in registers of 8 lanes,
    /// padded with +∞ keys.
    mutating func networkSort(_ left: Int, _ count: Int) {
        var numVecs = 32
        while numVecs > 1 && count * 2 <= numVecs * 8 { numVecs /= 2 }
        var k = [Double](repeating: .infinity, count: numVecs * 8)
        var x = [Int](repeating: XSSArgsort.sentinel, count: numVecs * 8)
        for p in 0..<count { x[p] = arg[left + p]; k[p] = keys[x[p]] }
        for r in 0..<numVecs { XSSNetwork.sortRegister(&k, &x, r * 8) }
        var per = 2
        while per <= numVecs {
            for g in 0..<(numVecs / per) { XSSNetwork.mergeRegisters(&k, &x, g * per, per) }
            per *= 2
        }
        if x[0..<count].contains(XSSArgsort.sentinel) {
            // Only possible with +∞ keys tied with the padding; keep a valid permutation.
            let sub = Array(arg[left..<(left + count)]).sorted { keys[$0] != keys[$1] ? keys[$0] < keys[$1] : $0 < $1 }
            for p in 0..<count { arg[left + p] = sub[p] }
            return
        }
        for p in 0..<count { arg[left + p] = x[p] }
    }
}

/// The key–index sorting networks of x86-simd-sort on 8-lane registers, lane by lane.
/// Registers are 8 consecutive entries of `k` (keys) and `x` (indices) starting at `base`.
enum XSSNetwork {
    /// cmp_merge: each lane i takes max or min (mask bit i) of itself and lane i ^ partner;
    /// a lane keeps its own index when its key equals the result, else takes the partner's.
    @inline(__always)
    static func cmpMerge(_ k: inout [Double], _ x: inout [Int], _ base: Int, partner: Int, mask: Int) {
        var nk = [Double](repeating: 0, count: 8)
        var nx = [Int](repeating: 0, count: 8)
        for i in 0..<8 {
            let j = i ^ partner
            let in1 = k[base + i], in2 = k[base + j]
            let mn = in2 < in1 ? in2 : in1        // vminpd(in2, in1)
            let mx = in2 > in1 ? in2 : in1        // vmaxpd(in2, in1)
            let t = (mask >> i) & 1 == 1 ? mx : mn
            nk[i] = t
            nx[i] = t == in1 ? x[base + i] : x[base + j]
        }
        for i in 0..<8 { k[base + i] = nk[i]; x[base + i] = nx[i] }
    }

    /// Full bitonic sort of one register.
    static func sortRegister(_ k: inout [Double], _ x: inout [Int], _ base: Int) {
        for (p, m) in [(1, 0xAA), (3, 0xCC), (1, 0xAA), (7, 0xF0), (2, 0xCC), (1, 0xAA)] {
            cmpMerge(&k, &x, base, partner: p, mask: m)
        }
    }

    /// Half cleaners of one bitonic register.
    static func mergeRegister(_ k: inout [Double], _ x: inout [Int], _ base: Int) {
        for (p, m) in [(4, 0xF0), (2, 0xCC), (1, 0xAA)] {
            cmpMerge(&k, &x, base, partner: p, mask: m)
        }
    }

    /// COEX of two registers lane by lane: the first gets the minima, the second the maxima;
    /// on equal keys indices stay where they are.
    @inline(__always)
    static func coex(_ k: inout [Double], _ x: inout [Int], _ a: Int, _ b: Int) {
        for i in 0..<8 {
            let k1 = k[a + i], k2 = k[b + i]
            let t1 = k1 < k2 ? k1 : k2               // vminpd(k1, k2)
            let t2 = k1 > k2 ? k1 : k2               // vmaxpd(k1, k2)
            let keep = t1 == k1
            let i1 = x[a + i], i2 = x[b + i]
            k[a + i] = t1; k[b + i] = t2
            x[a + i] = keep ? i1 : i2
            x[b + i] = keep ? i2 : i1
        }
    }

    static func reverse(_ k: inout [Double], _ x: inout [Int], _ base: Int) {
        for i in 0..<4 {
            k.swapAt(base + i, base + 7 - i)
            x.swapAt(base + i, base + 7 - i)
        }
    }

    /// Merges `count` consecutive sorted registers starting at register `first`.
    static func mergeRegisters(_ k: inout [Double], _ x: inout [Int], _ first: Int, _ count: Int) {
        let r = { (i: Int) in (first + i) * 8 }
        for i in 0..<(count / 2) {
            let hi = r(count - 1 - i)
            reverse(&k, &x, hi)
            coex(&k, &x, r(i), hi)
            reverse(&k, &x, hi)
        }
        var num = count / 2
        while num >= 2 {
            var j = 0
            while j < count {
                for i in 0..<(num / 2) { coex(&k, &x, r(i + j), r(i + j + num / 2)) }
                j += num
            }
            num /= 2
        }
        for i in 0..<count { mergeRegister(&k, &x, r(i)) }
    }
}

/// libstdc++'s std::sort (introsort: median-of-3 pivot to the front, unguarded partition, heap
/// sort past the depth limit, final insertion sort with threshold 16) on a range of an index
/// array, with a strict-weak-order `less` on elements.
enum LibstdcxxSort {
    static func sort(_ a: inout [Int], _ first: Int, _ last: Int, _ less: (Int, Int) -> Bool) {
        if last - first < 2 { return }
        var lg = 0
        while (1 << (lg + 1)) <= last - first { lg += 1 }
        introsortLoop(&a, first, last, 2 * lg, less)
        finalInsertionSort(&a, first, last, less)
    }

    static func introsortLoop(_ a: inout [Int], _ first: Int, _ lastIn: Int, _ depthIn: Int, _ less: (Int, Int) -> Bool) {
        var last = lastIn, depth = depthIn
        while last - first > 16 {
            if depth == 0 {
                makeHeap(&a, first, last, less)
                var l = last
                while l - first > 1 { l -= 1; popHeap(&a, first, l, l, less) }
                return
            }
            depth -= 1
            let cut = unguardedPartitionPivot(&a, first, last, less)
            introsortLoop(&a, cut, last, depth, less)
            last = cut
        }
    }

    static func unguardedPartitionPivot(_ a: inout [Int], _ first: Int, _ last: Int, _ less: (Int, Int) -> Bool) -> Int {
        let mid = first + (last - first) / 2
        moveMedianToFirst(&a, first, first + 1, mid, last - 1, less)
        var lo = first + 1, hi = last
        let pivot = first
        while true {
            while less(a[lo], a[pivot]) { lo += 1 }
            hi -= 1
            while less(a[pivot], a[hi]) { hi -= 1 }
            if !(lo < hi) { return lo }
            a.swapAt(lo, hi)
            lo += 1
        }
    }

    static func moveMedianToFirst(_ a: inout [Int], _ result: Int, _ x: Int, _ y: Int, _ z: Int, _ less: (Int, Int) -> Bool) {
        if less(a[x], a[y]) {
            if less(a[y], a[z]) { a.swapAt(result, y) }
            else if less(a[x], a[z]) { a.swapAt(result, z) }
            else { a.swapAt(result, x) }
        } else if less(a[x], a[z]) { a.swapAt(result, x) }
        else if less(a[y], a[z]) { a.swapAt(result, z) }
        else { a.swapAt(result, y) }
    }

    static func finalInsertionSort(_ a: inout [Int], _ first: Int, _ last: Int, _ less: (Int, Int) -> Bool) {
        if last - first > 16 {
            insertionSort(&a, first, first + 16, less)
            for i in (first + 16)..<last { unguardedLinearInsert(&a, i, less) }
        } else {
            insertionSort(&a, first, last, less)
        }
    }

    static func insertionSort(_ a: inout [Int], _ first: Int, _ last: Int, _ less: (Int, Int) -> Bool) {
        if first == last { return }
        var i = first + 1
        while i < last {
            if less(a[i], a[first]) {
                let v = a[i]
                var j = i
                while j > first { a[j] = a[j - 1]; j -= 1 }
                a[first] = v
            } else {
                unguardedLinearInsert(&a, i, less)
            }
            i += 1
        }
    }

    static func unguardedLinearInsert(_ a: inout [Int], _ lastIn: Int, _ less: (Int, Int) -> Bool) {
        let v = a[lastIn]
        var last = lastIn, next = lastIn - 1
        while less(v, a[next]) { a[last] = a[next]; last = next; next -= 1 }
        a[last] = v
    }

    static func makeHeap(_ a: inout [Int], _ first: Int, _ last: Int, _ less: (Int, Int) -> Bool) {
        let len = last - first
        if len < 2 { return }
        var parent = (len - 2) / 2
        while true {
            let v = a[first + parent]
            adjustHeap(&a, first, parent, len, v, less)
            if parent == 0 { return }
            parent -= 1
        }
    }

    static func popHeap(_ a: inout [Int], _ first: Int, _ last: Int, _ result: Int, _ less: (Int, Int) -> Bool) {
        let v = a[result]
        a[result] = a[first]
        adjustHeap(&a, first, 0, last - first, v, less)
    }

    static func adjustHeap(_ a: inout [Int], _ first: Int, _ holeIn: Int, _ len: Int, _ value: Int, _ less: (Int, Int) -> Bool) {
        var hole = holeIn
        let top = holeIn
        var second = holeIn
        while second < (len - 1) / 2 {
            second = 2 * (second + 1)
            if less(a[first + second], a[first + second - 1]) { second -= 1 }
            a[first + hole] = a[first + second]
            hole = second
        }
        if len & 1 == 0 && second == (len - 2) / 2 {
            second = 2 * (second + 1)
            a[first + hole] = a[first + second - 1]
            hole = second - 1
        }
        var parent = (hole - 1) / 2
        while hole > top && less(a[first + parent], value) {
            a[first + hole] = a[first + parent]
            hole = parent
            parent = (hole - 1) / 2
        }
        a[first + hole] = value
    }
}
