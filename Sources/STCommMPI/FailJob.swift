import STComm
#if canImport(Glibc)
import Glibc
#endif

/// Ends the whole job after printing `message` to stderr as `stgnn-dist: error: <message>`.
///
/// The fatal-error path of the executables (library code throws; only executables end the
/// process): it never returns and never hangs. Prints through STComm's `reportJobFailure` (one
/// line; ` [rank r of P]` in a job of several ranks; with `seenByAllRanks` rank 0 prints and the
/// others stay quiet for `quietRankDelay` seconds), then ends every rank: MPI_Abort on
/// MPI_COMM_WORLD when MPI is active, which makes mpirun kill every rank promptly and exit
/// non-zero, else `exit(code)`. Other ranks need not take part, so an error seen by one rank only
/// (a NaN in its rows of X, a failed allocation) is reported by that rank alone, once.
///
/// - Parameters:
///   - message: one line for the user: which file, which field, what was expected.
///   - code: the exit status (non-zero).
///   - comm: the job's communicator; nil before one exists (MPI, if initialised, is aborted anyway).
///   - seenByAllRanks: every rank detects the same error at the same point (see `reportJobFailure`).
public func failJob(_ message: String, code: Int32 = 1, comm: Communicator? = nil,
                    seenByAllRanks: Bool = false) -> Never {
    reportJobFailure(message, comm: comm, seenByAllRanks: seenByAllRanks)
    if let mpi = comm as? MPICommunicator { mpi.abort(code: code) }
    MPIEnvironment.abortJob(code: code)
}

/// Ends the whole job reporting `error` (its `description`, e.g. an STCore `InputError`).
///
/// A `JobStartError` brings its own exit status and prints only where it says so.
public func failJob(_ error: Error, code: Int32 = 1, comm: Communicator? = nil,
                    seenByAllRanks: Bool = false) -> Never {
    if let e = error as? JobStartError {
        if !e.printsMessage {
            fflush(stdout)
            MPIEnvironment.abortJob(code: e.code)
        }
        failJob(e.description, code: e.code, comm: comm, seenByAllRanks: false)
    }
    failJob(String(describing: error), code: code, comm: comm, seenByAllRanks: seenByAllRanks)
}
