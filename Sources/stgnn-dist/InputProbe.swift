import Foundation
import ArgumentParser
import STCore
import STComm
import STData
import STTrain

/// A corrupt HDF5 file can crash or hang inside libhdf5 itself (the fuzzing of the readers found
/// 244 such files for libhdf5 1.10.8: damaged link storage, B-trees, global heaps; 10 of them loop
/// forever), where no check of ours can intervene. So before any rank opens the input, rank 0 has
/// a child process (`stgnn-dist probe-input`, the same binary) read everything the job reads
/// before training except the bulk of X: the structure, coordinates, row counts, obs, gene names
/// and the first rows of X. A crash or a hang then costs the child, and every rank ends with one
/// line; a file that passes is read by the job through the same code paths.
///
/// Errors the readers report (`InputError`) are not the probe's business: the child exits 0 and
/// the job reports them itself, with the same line as without the probe.
enum InputProbe {
    /// How long the child may take: its reads are the job's first seconds (1 s for a million-spot
    /// slide), so minutes mean libhdf5 is looping on damaged metadata. `STGNN_PROBE_TIMEOUT`
    /// (seconds) overrides it, for the tests of that path.
    static let timeoutSeconds: Double = {
        if let s = ProcessInfo.processInfo.environment["STGNN_PROBE_TIMEOUT"], let t = Double(s), t > 0 { return t }
        return 300
    }()

    /// `STGNN_INPUT_PROBE=0` skips the probe (the job then reads the file in-process, with only
    /// `HDF5CrashGuard`'s line should libhdf5 crash): for the tests of that guard, and for systems
    /// where a process cannot start a child.
    static let disabled = ProcessInfo.processInfo.environment["STGNN_INPUT_PROBE"] == "0"

    /// Rank 0 probes the `--input` paths; every rank learns the verdict and throws the same error.
    /// Collective. Nothing to do for the built-in slide.
    static func check(_ data: DataOptions, comm: Communicator) throws {
        guard !data.input.isEmpty, !disabled else { return }
        let verdict: String? = try comm.broadcast(comm.isRoot ? Optional(probe(data) ?? "") : nil, root: 0)
        if let v = verdict, !v.isEmpty {
            throw InputError(file: data.input.joined(separator: ", "), v)
        }
    }

    /// Runs the child; nil when it finished, else what happened.
    static func probe(_ data: DataOptions) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        var args = ["probe-input"]
        for i in data.input { args += ["--input", i] }
        if let pos = data.positions { args += ["--positions", pos] }
        if data.aligned { args.append("--aligned") }
        p.arguments = args
        // The child is not an MPI process.
        p.environment = ProcessInfo.processInfo.environment.filter {
            !($0.key.hasPrefix("OMPI_") || $0.key.hasPrefix("PMIX_") || $0.key.hasPrefix("PMI_"))
        }.merging(["SWIFT_BACKTRACE": "enable=no"]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        do { try p.run() } catch { return nil }   // cannot start a child: read the file in-process as before
        if done.wait(timeout: .now() + timeoutSeconds) == .timedOut {
            kill(p.processIdentifier, SIGKILL)
            done.wait()
            return String(format: "reading the file's structure did not finish within %.0f s (in a separate probe process); the HDF5 library loops on damaged metadata: the file is corrupt, nothing was read by the job", timeoutSeconds)
        }
        if p.terminationReason == .uncaughtSignal {
            let s = p.terminationStatus
            let name = strsignal(s).map { String(cString: $0) } ?? "signal \(s)"
            return "the HDF5 library crashed (\(name), signal \(s)) reading the file's structure in a separate probe process: the file is corrupt (damaged HDF5 metadata); nothing was read by the job"
        }
        return nil
    }
}

/// `stgnn-dist probe-input`: the child of `InputProbe` (hidden). Exits 0 whatever the readers
/// report; only a crash or a hang matters to the parent.
struct ProbeInput: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "probe-input", shouldDisplay: false)

    @Option(name: .long) var input: [String] = []
    @Option(name: .long) var positions: String?
    @Flag(name: .long) var aligned = false

    func run() throws {
        // Never outlive the job that asked (a parent killed by its batch system leaves no looping
        // child behind), nor the parent's deadline.
        let parent = getppid()
        dieWithParent()
        if getppid() != parent { return }   // the parent is gone already
        alarm(UInt32(InputProbe.timeoutSeconds) + 5)
        guard let s = try? SlideSources.open(paths: input, positions: positions, aligned: aligned) else { return }
        // Every read on its own, in the job's order: the job stops at its first error, but its
        // order is not the probe's to guess (it reads obs before the coordinates), so an error in
        // one read must not keep the probe from the next. (Two fuzzer files had unreadable
        // coordinates and an obs column whose variable-length strings crash libhdf5: the probe
        // stopped at the coordinates, the job read obs first and crashed.)
        Self.probeReads(s)
    }

    /// The reads the job makes of `s` before training, each attempted whatever the others threw:
    /// obs (rank 0, first), coordinates, row counts, gene names, and the first rows of X through
    /// the job's own row-read path (`geneCounts(rows:order:)`). X's other rows are not read, but
    /// opening its arrays checks their storage (`HDF5File.checkStorage`), which walks the whole
    /// chunk index of a chunked X (`H5Dget_num_chunks`) and the row pointers are read in full.
    static func probeReads(_ s: SlideSource) {
        _ = try? s.obs()
        _ = try? s.spatial()
        _ = try? s.rowNNZ()
        _ = try? s.geneNames()
        let first = Array(0..<min(s.spotCount, 64))
        _ = try? s.geneCounts(rows: first, order: Array(first.indices))
    }
}
