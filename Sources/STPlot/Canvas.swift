import CCairo
import Foundation

/// A point in figure units (logical pixels; y down).
public struct Point: Equatable, Sendable {
    public var x: Double, y: Double
    public init(_ x: Double, _ y: Double) { self.x = x; self.y = y }
}

/// A rectangle in figure units (origin top-left, y down).
public struct Rect: Equatable, Sendable {
    public var x: Double, y: Double, width: Double, height: Double
    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
    public var maxX: Double { x + width }
    public var maxY: Double { y + height }
    func inset(left: Double = 0, top: Double = 0, right: Double = 0, bottom: Double = 0) -> Rect {
        Rect(x: x + left, y: y + top, width: max(1, width - left - right), height: max(1, height - top - bottom))
    }
    func intersects(_ o: Rect) -> Bool { x < o.maxX && o.x < maxX && y < o.maxY && o.y < maxY }
    func contains(_ p: Point) -> Bool { p.x >= x && p.x <= maxX && p.y >= y && p.y <= maxY }
}

/// Text sizes in figure units: `width` is the advance, `ascent + descent` the line box.
struct TextSize { var width: Double, ascent: Double, descent: Double; var height: Double { ascent + descent } }

enum HAlign { case left, center, right }
enum VAlign { case top, center, baseline, bottom }

/// One Cairo RGB24 image surface (opaque: PNGs without an alpha channel, a quarter smaller) and its context, drawn in figure units and scaled by `scale`
/// to device pixels. Text uses the toy API with "DejaVu Sans" (matched through fontconfig).
final class Canvas {
    static let fontFamily = "DejaVu Sans"
    let surface: OpaquePointer
    let cr: OpaquePointer
    let scale: Double

    /// `width` × `height` figure units at `scale` device pixels per unit, filled white.
    init(width: Int, height: Int, scale: Double) throws {
        let dw = (Double(width) * scale).rounded(), dh = (Double(height) * scale).rounded()
        guard dw >= 1, dh >= 1, dw <= 32767, dh <= 32767 else {  // false for NaN too
            throw PlotError("cannot create a \(width)×\(height) figure at scale \(scale): each side must be 1…32767 pixels")
        }
        let pw = Int(dw), ph = Int(dh)
        guard let s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(pw), Int32(ph)) else {
            throw PlotError("cairo could not create a \(pw)×\(ph) image")
        }
        if cairo_surface_status(s) != CAIRO_STATUS_SUCCESS {
            let msg = String(cString: cairo_status_to_string(cairo_surface_status(s)))
            cairo_surface_destroy(s)
            throw PlotError("cairo could not create a \(pw)×\(ph) image: \(msg)")
        }
        surface = s
        cr = cairo_create(s)
        self.scale = scale
        cairo_scale(cr, scale, scale)
        cairo_set_antialias(cr, CAIRO_ANTIALIAS_BEST)
        setColor(.white)
        cairo_paint(cr)
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT)
        // Hinting off so text measures the same at 1× and 2× (layout does not jump with scale).
        if let fo = cairo_font_options_create() {
            cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF)
            cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY)
            cairo_set_font_options(cr, fo)
            cairo_font_options_destroy(fo)
        }
        font(size: 12)
    }

    /// A 1×1 canvas for measuring text before the real one exists.
    static func measuring() throws -> Canvas { try Canvas(width: 1, height: 1, scale: 1) }

    deinit {
        cairo_destroy(cr)
        cairo_surface_destroy(surface)
    }

    func setColor(_ c: Color) { cairo_set_source_rgba(cr, c.red, c.green, c.blue, c.alpha) }

    func font(size: Double, bold: Bool = false) {
        cairo_select_font_face(cr, Canvas.fontFamily, CAIRO_FONT_SLANT_NORMAL,
                               bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(cr, size)
    }

    func measure(_ s: String, size: Double, bold: Bool = false) -> TextSize {
        font(size: size, bold: bold)
        var te = cairo_text_extents_t(), fe = cairo_font_extents_t()
        cairo_text_extents(cr, s, &te)
        cairo_font_extents(cr, &fe)
        // Font ascent/descent (not the ink's) so every label of a size has the same line box.
        return TextSize(width: te.x_advance, ascent: fe.ascent, descent: fe.descent)
    }

    /// Draws `s` anchored at `p`; `rotation` in radians (−π/2 for a y-axis label).
    func text(_ s: String, at p: Point, size: Double, bold: Bool = false, color: Color = .ink,
              h: HAlign = .left, v: VAlign = .baseline, rotation: Double = 0) {
        let t = measure(s, size: size, bold: bold)
        let dx: Double = h == .left ? 0 : h == .center ? -t.width / 2 : -t.width
        let dy: Double
        switch v {
        case .baseline: dy = 0
        case .top: dy = t.ascent
        case .bottom: dy = -t.descent
        case .center: dy = (t.ascent - t.descent) / 2
        }
        cairo_save(cr)
        cairo_translate(cr, p.x, p.y)
        if rotation != 0 { cairo_rotate(cr, rotation) }
        setColor(color)
        cairo_move_to(cr, dx, dy)
        cairo_show_text(cr, s)
        cairo_restore(cr)
    }

    func line(_ a: Point, _ b: Point, width: Double, color: Color) {
        setColor(color)
        cairo_set_line_width(cr, width)
        cairo_move_to(cr, a.x, a.y)
        cairo_line_to(cr, b.x, b.y)
        cairo_stroke(cr)
    }

    func fill(_ r: Rect, color: Color) {
        setColor(color)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_fill(cr)
    }

    func strokeRect(_ r: Rect, width: Double, color: Color) {
        setColor(color)
        cairo_set_line_width(cr, width)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_stroke(cr)
    }

    /// Snaps a coordinate so a line of `width` units lands on whole device pixels (crisp 1 px
    /// frames and ticks instead of 2 px grey ones).
    func crisp(_ v: Double, width: Double) -> Double {
        let w = max(1, (width * scale).rounded())
        let d = (v * scale).rounded(.down)
        return (w.truncatingRemainder(dividingBy: 2) == 1 ? d + 0.5 : d) / scale
    }

    func clip(_ r: Rect) {
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_clip(cr)
    }

    func save() { cairo_save(cr) }
    func restore() { cairo_restore(cr) }

    /// Writes the image as PNG; a missing directory, permission or disk error is thrown.
    func writePNG(to path: String) throws {
        cairo_surface_flush(surface)
        let dir = (path as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        if !dir.isEmpty, !(FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) && isDir.boolValue) {
            throw PlotError.write(path, "directory '\(dir)' does not exist")
        }
        let st = cairo_surface_write_to_png(surface, path)
        if st != CAIRO_STATUS_SUCCESS {
            throw PlotError.write(path, String(cString: cairo_status_to_string(st)))
        }
    }
}
