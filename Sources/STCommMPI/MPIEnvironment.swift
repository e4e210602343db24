import CMPI
import STComm
#if canImport(Glibc)
import Glibc
#endif

// STCommMPI: the process layer. It holds everything that belongs to a process rather than to a
// computation: MPI initialisation and finalisation, the job's communicator, and the end of the
// job on an error (`failJob`). Only the executables link it (and so only they link libmpi);
// every library module sees the `Communicator` protocol of STComm and nothing of MPI.
//
// Errors of MPI calls. MPI_COMM_WORLD (and the duplicate every MPICommunicator wraps) gets the
// MPI_ERRORS_RETURN handler explicitly, whoever initialised MPI, and every call's return code is
// checked:
//   - set-up calls (MPI_Init_thread, MPI_Comm_dup, ...) throw `MPIError`, which the executable
//     reports like any other error;
//   - a failure inside a collective ends the job with MPI_Abort and one line naming the call and
//     MPI's error string (MPI_Error_string). Collectives do not throw: the other ranks are inside
//     the same collective and cannot learn of the failure, so throwing would turn a failed
//     transport into a hang; aborting is the only hang-free answer (DESIGN §3, "never a hang").
//     With Open MPI's default handler (MPI_ERRORS_ARE_FATAL) the job would end as well, but with
//     Open MPI's multi-line report instead of ours, and a handler inherited from whoever
//     initialised MPI could be MPI_ERRORS_RETURN with nobody checking.

/// A failed MPI call outside a collective (initialisation, communicator set-up, finalisation).
public struct MPIError: Error, CustomStringConvertible {
    /// The MPI function that failed, e.g. "MPI_Init_thread".
    public let call: String
    /// Its return code.
    public let code: Int32
    public var description: String { "\(call) failed: \(mpiErrorString(code)) (MPI error \(code))" }
}

/// A refusal to start the job (the process was started in a way that cannot work).
public struct JobStartError: Error, CustomStringConvertible {
    public let description: String
    /// Exit status of every process.
    public let code: Int32
    /// False on the processes that must not print (one message per job, not one per task).
    public let printsMessage: Bool
}

/// MPI's text for return code `code` (MPI_Error_string), or the bare number if even that fails.
public func mpiErrorString(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: Int(stmpi_max_error_string()) + 1)
    var length: Int32 = 0
    guard MPI_Error_string(code, &buffer, &length) == stmpi_success(), length > 0 else { return "MPI error code \(code)" }
    return String(decoding: buffer[0..<Int(length)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Throws `MPIError` unless `code` is MPI_SUCCESS.
@inline(__always) func checkSetUp(_ code: Int32, _ call: @autoclosure () -> String) throws {
    if code != stmpi_success() { throw MPIError(call: call(), code: code) }
}

/// Process-wide MPI state: initialisation, launcher detection, finalisation, the end of the job.
///
/// `makeCommunicator()` is the one entry point the executables use. MPI is initialised (once) only
/// when the process was started by an MPI launcher (mpirun/mpiexec, or srun with PMI/PMIx), or when
/// `STGNN_COMM=mpi` asks for it (an MPI "singleton" of one rank). A plain `stgnn-dist ...` without
/// a launcher never touches MPI and gets a `SingleProcessCommunicator`.
public enum MPIEnvironment {
    /// Environment variables set by MPI launchers for every rank they start.
    ///
    /// `OMPI_COMM_WORLD_SIZE`: Open MPI's mpirun. `PMIX_RANK`: PMIx launchers (Open MPI ≥ 4, Slurm
    /// `srun --mpi=pmix`). `PMI_RANK`/`PMI_SIZE`: PMI-1/2 launchers (MPICH Hydra, `srun --mpi=pmi2`).
    public static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"]

    /// True when one of `launcherVariables` is set: this process is one rank of an MPI job.
    public static var launchedByMPILauncher: Bool {
        launcherVariables.contains { getenv($0) != nil }
    }

    /// True once MPI_Init has run (by this process, in any module). Callable at any time.
    public static var isInitialized: Bool {
        var flag: Int32 = 0
        return MPI_Initialized(&flag) == stmpi_success() && flag != 0
    }

    /// True once MPI_Finalize has run. Callable at any time.
    public static var isFinalized: Bool {
        var flag: Int32 = 0
        return MPI_Finalized(&flag) == stmpi_success() && flag != 0
    }

    /// True while MPI calls are allowed (initialised, not finalised).
    public static var isActive: Bool { isInitialized && !isFinalized }

    /// The communicator of this job: MPI when launched by an MPI launcher, else one process.
    ///
    /// `STGNN_COMM` overrides the detection: `single` never initialises MPI (each process is an
    /// independent one-rank job), `mpi` always does (without a launcher that is an Open MPI
    /// singleton of one rank, useful to exercise the MPI path without mpirun), `auto` (default)
    /// detects. Safe to call more than once; MPI is initialised once and each call returns a new
    /// communicator over a duplicate of MPI_COMM_WORLD.
    ///
    /// - Throws: `JobStartError` (exit status 2) in `auto` mode for a multi-task srun step without
    ///   MPI wiring, rather than run as N independent copies; `MPIError` if MPI cannot start.
    public static func makeCommunicator() throws -> Communicator {
        let mode = getenv("STGNN_COMM").map { String(cString: $0).lowercased() } ?? "auto"
        let useMPI: Bool
        switch mode {
        case "single": useMPI = false
        case "mpi": useMPI = true
        default:
            useMPI = launchedByMPILauncher || isInitialized
            if !useMPI { try refuseUnwiredSrunStep() }
        }
        guard useMPI else { return SingleProcessCommunicator() }
        try initialize()
        return try MPICommunicator(duplicating: stmpi_comm_world())
    }

    /// Throws when Slurm's srun started several tasks without any MPI wiring.
    ///
    /// `srun --mpi=none` (or a Slurm without PMI/PMIx support) starts N copies that would each
    /// train the whole slide as rank 0 of 1 and overwrite each other's outputs. Task 0 says so;
    /// all tasks exit with status 2. `STGNN_COMM=single` skips this check.
    static func refuseUnwiredSrunStep() throws {
        guard let t = getenv("SLURM_STEP_NUM_TASKS"), let tasks = Int(String(cString: t)), tasks > 1 else { return }
        let task0 = getenv("SLURM_PROCID").map { String(cString: $0) } ?? "0" == "0"
        throw JobStartError(description: "srun started \(tasks) tasks but none has an MPI (PMI/PMIx) environment; "
                            + "run with `srun --mpi=pmix` (see `srun --mpi=list`) or mpirun, or set STGNN_COMM=single "
                            + "for independent one-process runs",
                            code: 2, printsMessage: task0)
    }

    /// Initialises MPI if it is not yet initialised (MPI_THREAD_SERIALIZED), then sets the
    /// MPI_ERRORS_RETURN handler on MPI_COMM_WORLD, also when someone else initialised MPI.
    ///
    /// SERIALIZED rather than FUNNELED: MPI calls may come from any one thread at a time (an async
    /// `main` hops between threads), never concurrently. Open MPI adds no locking below
    /// MPI_THREAD_MULTIPLE, so this costs nothing. Return codes are checked by every call of this
    /// module (see the note at the top of this file).
    public static func initialize() throws {
        if !isInitialized {
            var provided: Int32 = 0
            try checkSetUp(MPI_Init_thread(nil, nil, stmpi_thread_serialized(), &provided), "MPI_Init_thread")
        }
        try checkSetUp(MPI_Comm_set_errhandler(stmpi_comm_world(), stmpi_errors_return()),
                       "MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)")
    }

    /// Finalises MPI if it was initialised and not yet finalised; a no-op otherwise.
    ///
    /// Call it on every rank at the end of a successful run, before returning from `main`.
    /// MPI_Finalize synchronises all ranks in Open MPI, so it is deliberately not registered with
    /// `atexit`: an `exit(1)` on one rank would then wait for ranks that never arrive. Error paths
    /// use `failJob`, which aborts the whole job instead; a rank that exits without finalising is
    /// also treated by mpirun as a failed job (all ranks killed, non-zero exit).
    public static func finalize() throws {
        guard isActive else { return }
        try checkSetUp(MPI_Finalize(), "MPI_Finalize")
    }

    /// Ends every rank of the job with `code`: MPI_Abort on MPI_COMM_WORLD when MPI is active
    /// (mpirun then kills every rank promptly and exits non-zero), else `exit(code)`.
    public static func abortJob(code: Int32) -> Never {
        fflush(nil)
        if isActive {
            _ = MPI_Abort(stmpi_comm_world(), code)   // does not return
            _exit(code)
        }
        exit(code)
    }
}

/// The job's communicator for this process (see `MPIEnvironment.makeCommunicator()`).
public func makeCommunicator() throws -> Communicator { try MPIEnvironment.makeCommunicator() }
