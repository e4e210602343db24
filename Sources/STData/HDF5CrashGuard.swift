import CFaultGuard
import STCore

/// The one line of a job whose rank crashes (or loops) inside libhdf5 while reading the input.
///
/// The input probe (`stgnn-dist probe-input`, a child of rank 0) reads everything the job reads
/// before training except the rows of X past the first 64, so a corrupt file that crashes libhdf5
/// in those reads costs the child, not the job. The rows it does not read are where a crash could
/// still reach a rank: damaged chunks or index entries of X met only by the job's own row reads.
/// There the rank cannot recover (libhdf5's state is undefined after a wild access) but it can
/// still say what happened: each HDF5 read call runs armed (`HDF5File.guardedRead`), and a
/// SIGSEGV or SIGBUS raised inside it writes one preformatted line naming the file, the field and
/// the rank and ends the process with status 1 (see fault_guard.h: write(2) and _exit(2) only,
/// both async-signal-safe). The other ranks of an MPI job then see the rank gone: `mpirun` ends
/// the job (no hang), and with `mpirun -q` (launch/stgnn-run) the user sees this line only.
///
/// Only processes that call `install` are guarded (`stgnn-dist`'s job commands, `run` and
/// `verify`); elsewhere (tests, the fuzzers, the probe's child, whose crash the parent reports) a
/// crash stays a crash. A job of one process also gets a deadline per read call (`readDeadline`,
/// SIGALRM).
public enum HDF5CrashGuard {
    /// " [rank 2 of 3]" in a job of several ranks, "" otherwise: the rank suffix of the job's error
    /// line (`reportJobFailure`), set by the executable once it knows its rank.
    nonisolated(unsafe) public static var rankSuffix = ""

    /// Seconds one libhdf5 read call may take before the process ends with one line (a loop inside
    /// libhdf5 on damaged metadata, or a file system that hangs); nil: no deadline. The executable
    /// sets it for a job of one process, where no other rank's stall watchdog would notice (in a
    /// job of several, the others' roll call names the stuck rank).
    nonisolated(unsafe) public static var readDeadline: Double?

    /// Installs the signal handlers for this process (once). False when the system refused.
    @discardableResult
    public static func install() -> Bool { stgnn_fault_guard_install() == 0 }

    /// Whether `install` succeeded.
    public static var isInstalled: Bool { stgnn_fault_guard_installed() != 0 }

    /// Runs `call` (one libhdf5 call reading `field` of `file`) armed: a SIGSEGV or SIGBUS inside
    /// it prints the line and ends the process.
    @inline(__always)
    static func run<R>(file: String, field: String, _ call: () -> R) -> R {
        guard isInstalled else { return call() }
        let (prefix, suffix) = line(file: file, field: field)
        let seconds = readDeadline.map { UInt32(Swift.min(Swift.max($0.rounded(.up), 1), Double(UInt32.max))) } ?? 0
        stgnn_fault_guard_arm(prefix, suffix, seconds, overdueLine(file: file, field: field, seconds: Int(seconds)))
        defer { stgnn_fault_guard_disarm() }
        return call()
    }

    /// The line of a read that did not return within `seconds`.
    static func overdueLine(file: String, field: String, seconds: Int) -> String {
        let e = InputError(file: file, field: field, "").description
        return "stgnn-dist: error: \(e)reading it did not finish within \(seconds) s (a single HDF5 read call; --setup-timeout): the HDF5 library loops on damaged metadata (the file is corrupt) or the file system hangs; this rank ended at once\(rankSuffix)\n"
    }

    /// The line around the signal's name: "stgnn-dist: error: FILE: field 'X/data': the HDF5
    /// library crashed (" + "SIGSEGV" + ") reading it: … [rank 2 of 3]\n".
    static func line(file: String, field: String) -> (String, String) {
        // InputError's own wording: "FILE: field 'NAME': " before an empty message.
        let e = InputError(file: file, field: field, "").description
        return ("stgnn-dist: error: \(e)the HDF5 library crashed (",
                ") reading it: the file is corrupt (damaged HDF5 metadata); this rank ended at once\(rankSuffix)\n")
    }
}

