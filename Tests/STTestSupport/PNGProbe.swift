import CCairo
import Foundation
import XCTest

/// A PNG read back through Cairo: size, signature, and the set of opaque colours it holds.
public struct PNGProbe {
    public let width: Int
    public let height: Int
    /// Count of pixels per 0xRRGGBB value (fully opaque pixels only).
    public let histogram: [UInt32: Int]

    public init(path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A],
                       "PNG signature of \(path)", file: file, line: line)
        guard let s = cairo_image_surface_create_from_png(path) else { throw XCTSkip("cairo returned nil") }
        defer { cairo_surface_destroy(s) }
        XCTAssertEqual(cairo_surface_status(s), CAIRO_STATUS_SUCCESS, "cairo reads \(path)", file: file, line: line)
        width = Int(cairo_image_surface_get_width(s))
        height = Int(cairo_image_surface_get_height(s))
        let stride = Int(cairo_image_surface_get_stride(s))
        let fmt = cairo_image_surface_get_format(s)
        var h = [UInt32: Int]()
        cairo_surface_flush(s)
        if let base = cairo_image_surface_get_data(s), fmt == CAIRO_FORMAT_ARGB32 || fmt == CAIRO_FORMAT_RGB24 {
            for y in 0..<height {
                let row = UnsafeRawPointer(base + y * stride).assumingMemoryBound(to: UInt32.self)
                for x in 0..<width {
                    let p = row[x]  // native-endian 0xAARRGGBB (premultiplied; opaque pixels exact)
                    if fmt == CAIRO_FORMAT_RGB24 || p >> 24 == 0xff { h[p & 0xffffff, default: 0] += 1 }
                }
            }
        }
        histogram = h
    }

    /// Distinct opaque colours.
    public var colours: Int { histogram.count }

    public func count(of c: (r: UInt8, g: UInt8, b: UInt8)) -> Int {
        histogram[UInt32(c.r) << 16 | UInt32(c.g) << 8 | UInt32(c.b)] ?? 0
    }
}
