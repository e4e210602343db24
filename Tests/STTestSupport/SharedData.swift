import Foundation
import XCTest

/// Locations of the project's shared data (`../shared` beside the checkout, or `$STGNN_SHARED`).
public enum SharedData {
    /// The shared folder, or nil when it is absent.
    public static var root: URL? {
        if let env = ProcessInfo.processInfo.environment["STGNN_SHARED"] {
            let u = URL(fileURLWithPath: env)
            return FileManager.default.fileExists(atPath: u.path) ? u : nil
        }
        // Tests/STTestSupport/SharedData.swift → package root → ../shared
        let pkg = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let u = pkg.deletingLastPathComponent().appendingPathComponent("shared")
        return FileManager.default.fileExists(atPath: u.path) ? u : nil
    }

    /// The path of `shared/<relative>`, or an `XCTSkip` naming what is missing.
    public static func path(_ relative: String) throws -> String {
        guard let r = root else {
            throw XCTSkip("shared data folder ../shared is absent (set STGNN_SHARED); skipping test that needs \(relative)")
        }
        let p = r.appendingPathComponent(relative).path
        guard FileManager.default.fileExists(atPath: p) else {
            throw XCTSkip("\(p) is absent; skipping")
        }
        return p
    }

    /// The package root (for tests that run the built executable).
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }
}
