// swift-tools-version:6.0
import PackageDescription

// Module layout (see docs/ARCHITECTURE.md):
//   CMPI, CBLAS, CHDF5, CCairo, CZlib   thin system-library shims (module map + static-inline getters for macros)
//   STCore       dense/CSR matrices, BLAS wrappers, sparse kernels (+ _ref twins), RNG. No MPI, no I/O.
//   STComm       `Communicator` protocol (typed gatherv/allgatherv, Codable broadcast), single-process and
//                thread-group implementations, the error report of a failing job. No MPI.
//   STCommMPI    MPICommunicator, MPI init/finalize, makeCommunicator(), failJob (ends the job). The only
//                module importing MPI; linked by the executables only, so no library links libmpi.
//   STData       HDF5 access, h5ad reader/writer, reference-fixture reader, synthetic slides.
//   STPrep       seurat_v3 HVG (loess), normalize_total/log1p/scale, spatial kNN graph, normalisations.
//   STPartition  partitions, local/global index maps, halo plans (pure data: no communicator).
//   STExchange   HaloExchanger, CorruptionExchange, the symmetry check: the plans of STPartition run
//                over a Communicator (HPCG's ExchangeHalo beside SetupHalo).
//   STModel      GraphST forward/backward on one rank's partition, losses, Adam.
//   STCluster    PCA of A·W without forming it, Gaussian mixture (mclust EEE), k-means, refinement, ARI/NMI.
//   STTrain      training loop, metrics, summaries, verification against fixtures.
//   STPlot       PNG figures over Cairo (axes, ticks, legends; domain maps, loss curves). Depends on
//                nothing of ours: plain arrays in, a PNG file out.
//   stgnn-dist   the executable (swift-argument-parser): subcommands and options only.
//   stgnn-bench, stgnn-mpi-selftest   the other executables (benchmarks; MPI self-test under mpirun).
let package = Package(
    name: "stgnn-dist",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "stgnn-dist", targets: ["stgnn-dist"]),
        // The readers and what they return, for packages built on them (the libFuzzer harnesses
        // in Tests/fuzz, which depend on this package by path).
        .library(name: "STReaders", targets: ["STCore", "STData", "STModel", "STTrain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // AVX2/AVX-512 instantiations of the sparse kernels, dispatched at run time (see its header).
        .target(name: "CSparseSIMD"),
        .target(name: "STCore", dependencies: ["CBLAS", "CSparseSIMD"]),
        .target(name: "STComm"),
        .target(name: "STCommMPI", dependencies: ["CMPI", "STComm"]),
        // The one line of a crash inside libhdf5 (a signal handler that only writes and exits).
        .target(name: "CFaultGuard"),
        .target(name: "STData", dependencies: ["CHDF5", "CZlib", "CFaultGuard", "STCore"]),
        .target(name: "STPrep", dependencies: ["STCore", "STComm"]),
        .target(name: "STPartition", dependencies: ["STCore"]),
        .target(name: "STExchange", dependencies: ["STCore", "STComm", "STPartition"]),
        .target(name: "STModel", dependencies: ["STCore", "STComm", "STPartition", "STExchange"]),
        .target(name: "STCluster", dependencies: ["CBLAS", "STCore", "STComm", "STPrep", "STPartition"]),
        .target(name: "STTrain", dependencies: [
            "STCore", "STComm", "STData", "STPrep", "STPartition", "STExchange", "STModel", "STCluster", "STPlot",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "STPlot", dependencies: ["CCairo"]),
        .executableTarget(name: "stgnn-dist", dependencies: [
            "STTrain", "STData", "STComm", "STCommMPI", "STCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Multi-rank self-test of MPICommunicator, run under mpirun by Tests/mpi/run-mpi-tests.sh.
        .executableTarget(name: "stgnn-mpi-selftest", dependencies: ["STCore", "STComm", "STCommMPI",
                                                                 .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Benchmarks (kernels vs sgemm, epoch breakdown, memory scaling): see docs/PERFORMANCE.md.
        .executableTarget(name: "stgnn-bench", dependencies: ["STCore", "STComm", "STCommMPI", "STData", "STPrep", "STPartition", "STModel", "STTrain",
                                                           .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // Test helpers (fixture paths, skips when ../shared is absent): not API.
        .target(name: "STTestSupport", dependencies: ["STCore", "STData", "CCairo", "CHDF5"], path: "Tests/STTestSupport"),
        .testTarget(name: "STCoreTests", dependencies: ["STCore", "STTestSupport"]),
        // The thread-group communicator is the oracle of every distributed test: tested here
        // against sequential references, every collective on 1, 2, 3 and 5 ranks.
        .testTarget(name: "STCommTests", dependencies: ["STComm"]),
        .testTarget(name: "STDataTests", dependencies: ["STData", "STTestSupport"]),
        .testTarget(name: "STPrepTests", dependencies: ["STPrep", "STData", "STComm", "STTestSupport"]),
        .testTarget(name: "STModelTests", dependencies: ["STModel", "STComm", "STPartition", "STExchange", "STCore"]),
        .testTarget(name: "STPartitionTests", dependencies: ["STPartition", "STPrep", "STCore", "STTestSupport"]),
        .testTarget(name: "STPlotTests", dependencies: ["STPlot", "CCairo", "STTestSupport"]),
        .testTarget(name: "STClusterTests", dependencies: ["STCluster", "STPartition", "STPrep", "STComm", "STCore", "STData", "STTestSupport"]),
        // STTrain: training loop, checkpoints, slide sources, `verify` against the reference fixtures.
        .testTarget(name: "STTrainTests", dependencies: ["STTrain", "STModel", "STCluster", "STPrep", "STData", "STComm", "STCore", "STTestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["STTestSupport", "STData"], exclude: ["Snapshots"]),
    ],
    swiftLanguageModes: [.v5]
)
