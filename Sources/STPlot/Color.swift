/// An sRGB colour with alpha, components in [0, 1].
public struct Color: Hashable, Sendable {
    public var red: Double
    public var green: Double
    public var blue: Double
    public var alpha: Double

    public init(red: Double, green: Double, blue: Double, alpha: Double = 1) {
        self.red = red; self.green = green; self.blue = blue; self.alpha = alpha
    }

    /// `#rrggbb` or `rrggbb` (case-insensitive); nil when malformed.
    public init?(hex: String) {
        var s = Substring(hex)
        if s.hasPrefix("#") { s = s.dropFirst() }
        guard s.count == 6, let v = UInt32(s, radix: 16) else { return nil }
        self.init(red: Double((v >> 16) & 0xff) / 255, green: Double((v >> 8) & 0xff) / 255,
                  blue: Double(v & 0xff) / 255)
    }

    /// The 8-bit components, rounded (what a PNG pixel of this opaque colour holds).
    public var rgb8: (r: UInt8, g: UInt8, b: UInt8) {
        func q(_ x: Double) -> UInt8 { UInt8(max(0, min(255, (x * 255).rounded()))) }
        return (q(red), q(green), q(blue))
    }

    /// `#rrggbb`, lowercase.
    public var hex: String {
        let c = rgb8
        return "#" + [c.r, c.g, c.b].map { b in
            let s = String(b, radix: 16); return s.count == 1 ? "0" + s : s
        }.joined()
    }

    public func withAlpha(_ a: Double) -> Color { Color(red: red, green: green, blue: blue, alpha: a) }

    public static let black = Color(red: 0, green: 0, blue: 0)
    public static let white = Color(red: 1, green: 1, blue: 1)
    /// Text and frame colour: near-black, softer than pure black on screen and in print.
    public static let ink = Color(red: 0.13, green: 0.13, blue: 0.13)
    /// Gridlines.
    public static let grid = Color(red: 0.88, green: 0.88, blue: 0.88)
    /// Unlabelled spots (scanpy's `na_color` is "lightgray", #d3d3d3).
    public static let unlabelled = Color(red: 211.0 / 255, green: 211.0 / 255, blue: 211.0 / 255)
}
