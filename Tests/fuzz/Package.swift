// swift-tools-version:6.0
import Foundation
import PackageDescription

// libFuzzer harnesses over the readers (h5ad/HDF5 and 10x .h5, Space Ranger positions,
// MatrixMarket folders, checkpoints). Not part of the main build or of launch/test: build and run
// them with `Tests/fuzz/run-fuzzers.sh` (see README.md here), which passes
// `-Xswiftc -sanitize=fuzzer,address`.
//
// The main package is a dependency by path. SwiftPM names a path dependency after its folder (the
// clone's or worktree's name, not "stgnn-dist"), so the identity is derived from the path.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../..").standardizedFileURL
let main = root.lastPathComponent.lowercased()

/// One executable per harness: `@_cdecl("LLVMFuzzerTestOneInput")` is the fuzz target, and a
/// `@main` (hence -parse-as-library) passes it to libFuzzer's `LLVMFuzzerRunDriver` (SwiftPM
/// defines `main` as the module's entry point, so libFuzzer's own `main` cannot be used).
func harness(_ name: String) -> Target {
    .executableTarget(name: name, dependencies: [
        "FuzzSupport",
        .product(name: "STReaders", package: main),
    ], swiftSettings: [.unsafeFlags(["-parse-as-library"])])
}

let package = Package(
    name: "stgnn-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(path: root.path)],
    targets: [
        .target(name: "CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer", .product(name: "STReaders", package: main)]),
        harness("fuzz-h5ad"),
        harness("fuzz-positions"),
        harness("fuzz-mtx"),
        harness("fuzz-checkpoint"),
    ],
    swiftLanguageModes: [.v5]
)
