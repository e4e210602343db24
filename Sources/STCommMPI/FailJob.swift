import STComm
#if canImport(Glibc)
import Glibc
#endif

/// Ends the whole job after printing `message` to stderr as `stgnn-dist: error: <message>`.
///
/// The fatal-error path of the executables (library code throws; only executables end the
/// process): it never returns and never hangs. With MPI active, the coordinated end of
/// `MPICommunicator.endJob`: this rank announces its failure to the others (which read it in
/// whatever wait they are in), all ranks agree, the lowest failing rank prints its line (one
/// line; ` [rank r of P]` in a job of several ranks), and every rank calls MPI_Finalize and exits
/// with `code`. Where the agreement cannot complete (a rank stopped or stuck outside MPI), the
/// failing rank prints through `reportJobFailure` (with `seenByAllRanks` rank 0 prints and the
/// others stay quiet for `quietRankDelay` seconds) and calls MPI_Abort, which makes mpirun kill
/// every rank. Without MPI: the line, then `exit(code)`.
///
/// - Parameters:
///   - message: one line for the user: which file, which field, what was expected.
///   - code: the exit status (non-zero).
///   - comm: the job's communicator; nil before one exists (MPI, if initialised, is aborted anyway).
///   - seenByAllRanks: every rank detects the same error at the same point (see `reportJobFailure`).
public func failJob(_ message: String, code: Int32 = 1, comm: Communicator? = nil,
                    seenByAllRanks: Bool = false) -> Never {
    if let mpi = comm as? MPICommunicator, MPIEnvironment.isActive {
        mpi.endJob(failure: OwnFailure(message: message, code: code, seenByAllRanks: seenByAllRanks))
    }
    reportJobFailure(message, comm: comm, seenByAllRanks: seenByAllRanks)
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
