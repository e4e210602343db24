import Foundation

/// Tick positions and labels: 1-2-5 steps on linear axes, decades (with 2…9 minor ticks) on log
/// axes, labels as short as the step allows.
public enum Ticks {
    /// The smallest step of the form {1, 2, 5} × 10^k that puts at most `maxTicks` ticks in
    /// [lo, hi], unless that leaves fewer than two: then the next finer step (two or more ticks,
    /// possibly a few more than `maxTicks`). A degenerate or non-finite range gives 1.
    public static func niceStep(lo: Double, hi: Double, maxTicks: Int) -> Double {
        let span = hi - lo
        guard span.isFinite, span > 0 else { return 1 }
        let target = span / Double(max(1, maxTicks - 1))
        var mag = pow(10, floor(log10(target)) - 1)
        var previous: Double? = nil
        while true {
            for m in [1.0, 2, 5] {
                let step = m * mag
                let n = count(lo: lo, hi: hi, step: step)
                if n <= max(2, maxTicks) { return n >= 2 ? step : previous ?? step }
                previous = step
            }
            mag *= 10
        }
    }

    /// Multiples of a 1-2-5 step inside [lo, hi] (at most `maxTicks` of them), exact zero kept.
    public static func linear(lo: Double, hi: Double, maxTicks: Int = 7) -> [Double] {
        guard lo.isFinite, hi.isFinite else { return [] }
        if lo == hi { return [lo] }
        let (a, b) = (min(lo, hi), max(lo, hi))
        let step = niceStep(lo: a, hi: b, maxTicks: maxTicks)
        let k0 = Int((a / step - 1e-9).rounded(.up)), k1 = Int((b / step + 1e-9).rounded(.down))
        guard k0 <= k1 else { return [] }
        return (k0...k1).map { Double($0) * step }
    }

    /// Major and minor ticks of a log10 axis over [lo, hi] (both > 0).
    ///
    /// Spanning two or more decades: majors at the decades (every 2nd, 3rd… decade when more than
    /// `maxMajor`; the skipped decades become minors), minors at 2…9 × 10^k when at most 8
    /// decades. Within about one decade: majors at 1, 2, 5 × 10^k (or every m × 10^k when that
    /// gives too few), minors at the other m × 10^k.
    public static func logarithmic(lo: Double, hi: Double, maxMajor: Int = 8) -> (major: [Double], minor: [Double]) {
        guard lo > 0, hi > 0, lo.isFinite, hi.isFinite else { return ([], []) }
        let (a, b) = (min(lo, hi), max(lo, hi))
        let la = log10(a), lb = log10(b)
        let d0 = Int((la - 1e-9).rounded(.up)), d1 = Int((lb + 1e-9).rounded(.down))
        func inRange(_ v: Double) -> Bool { v >= a * (1 - 1e-9) && v <= b * (1 + 1e-9) }
        func decade(_ d: Int) -> Double { pow(10, Double(d)) }
        if d1 - d0 + 1 >= 2 {
            let n = d1 - d0 + 1
            let stride = (n + maxMajor - 1) / maxMajor
            var major = [Double](), minor = [Double]()
            for d in d0...d1 {
                if d % stride == 0 { major.append(decade(d)) } else { minor.append(decade(d)) }
            }
            if stride == 1 && lb - la <= 8 {
                for d in (d0 - 1)...d1 { for m in 2...9 {
                    let v = Double(m) * decade(d)
                    if inRange(v) { minor.append(v) }
                } }
            }
            // Only two decades labelled: label the 2× and 5× ticks too (0.01, 0.02, 0.05, 0.1…).
            if major.count == 2 && stride == 1 {
                let extra = minor.filter { v in
                    let m = (v / decade(Int(floor(log10(v) + 1e-9)))).rounded()
                    return m == 2 || m == 5
                }
                if major.count + extra.count <= maxMajor {
                    return ((major + extra).sorted(), minor.filter { !extra.contains($0) })
                }
            }
            return (major, minor.sorted())
        }
        // About one decade or less: 1-2-5 mantissas, then all mantissas, then linear steps.
        let dLo = Int(floor(la)) - 1, dHi = Int(floor(lb)) + 1
        var all = [Double]()
        for d in dLo...dHi { for m in 1...9 {
            let v = Double(m) * decade(d)
            if inRange(v) { all.append(v) }
        } }
        let oneTwoFive = all.filter { v in
            let m = (v / decade(Int(floor(log10(v) + 1e-9)))).rounded()
            return m == 1 || m == 2 || m == 5
        }
        if oneTwoFive.count >= 3 { return (oneTwoFive, all.filter { !oneTwoFive.contains($0) }) }
        if all.count >= 3 && all.count <= maxMajor { return (all, []) }
        return (linear(lo: a, hi: b, maxTicks: 4).filter { $0 > 0 }, all)
    }

    /// Labels for linear ticks `values` spaced `step`: as many decimals as the step needs,
    /// "m×10ⁿ" beyond 10⁵ or below 10⁻³, a true minus sign.
    public static func linearLabels(_ values: [Double], step: Double) -> [String] {
        let maxAbs = values.map(abs).max() ?? 0
        if maxAbs >= 1e5 || (maxAbs > 0 && maxAbs < 1e-3) {
            return values.map { scientific($0, step: step) }
        }
        let decimals = step > 0 && step.isFinite ? max(0, Int(-floor(log10(step) + 1e-9))) : 0
        return values.map { fixed($0, decimals: decimals) }
    }

    /// Labels for the major ticks of a log axis. All decades within 10⁻³…10⁴: plain numbers
    /// ("0.001", "1000"); other decades: "10ⁿ" for every label of the axis; 1-2-5 majors:
    /// shortest plain form ("0.2", "50"), or "2×10⁻⁴" when very large or small.
    public static func logLabels(_ values: [Double]) -> [String] {
        let exps = values.map { log10($0) }
        let allDecades = exps.allSatisfy { abs($0 - $0.rounded()) < 1e-9 }
        if allDecades {
            let e = exps.map { Int($0.rounded()) }
            if e.allSatisfy({ (-3...4).contains($0) }) {
                return zip(values, e).map { v, k in fixed(v, decimals: max(0, -k)) }
            }
            return e.map { "10" + superscript($0) }
        }
        return values.map { v in
            let k = Int(floor(log10(v) + 1e-9))
            if k < -3 || k >= 5 { return scientific(v, step: pow(10, Double(k))) }
            // Fewest decimals that still show the value (0.35 needs two, 0.4 one).
            var d = max(0, -k)
            while d < max(0, -k) + 4, abs((Double(fixed(v, decimals: d)) ?? v) - v) > abs(v) * 1e-9 { d += 1 }
            return fixed(v, decimals: d)
        }
    }

    /// "⁻¹²" for -12.
    public static func superscript(_ n: Int) -> String {
        let digits: [Character] = ["⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"]
        let body = String(String(abs(n)).map { digits[Int(String($0))!] })
        return n < 0 ? "⁻" + body : body
    }

    static func count(lo: Double, hi: Double, step: Double) -> Int {
        let k0 = (lo / step - 1e-9).rounded(.up), k1 = (hi / step + 1e-9).rounded(.down)
        return Int(max(0, k1 - k0 + 1))
    }

    /// Fixed decimals, no "-0", Unicode minus.
    static func fixed(_ v: Double, decimals: Int) -> String {
        var s = String(format: "%.\(min(decimals, 12))f", v)
        if s.hasPrefix("-"), s.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) { s.removeFirst() }
        return s.replacingOccurrences(of: "-", with: "\u{2212}")
    }

    /// "m×10ⁿ" with the mantissa's decimals set by `step`; "10ⁿ" when m = 1; "0" for zero.
    static func scientific(_ v: Double, step: Double) -> String {
        if v == 0 { return "0" }
        let k = Int(floor(log10(abs(v)) + 1e-9))
        let m = v / pow(10, Double(k))
        let decimals = max(0, Int(-floor(log10(step / pow(10, Double(k))) + 1e-9)))
        var ms = fixed(m, decimals: min(decimals, 3))
        if ms.contains(".") { while ms.hasSuffix("0") { ms.removeLast() }; if ms.hasSuffix(".") { ms.removeLast() } }
        if ms == "1" { return "10" + superscript(k) }
        if ms == "\u{2212}1" { return "\u{2212}10" + superscript(k) }
        return ms + "×10" + superscript(k)
    }
}
