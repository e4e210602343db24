#if canImport(Glibc)
import Glibc
#endif

/// Ends the whole job after printing `message` to stderr as `stgnn-dist: error: <message>`.
///
/// The fatal-error path of every rank: it never returns and never hangs. The calling rank flushes
/// stdout, prints the line and calls `comm.abort(code:)`; with MPI that is MPI_Abort on
/// MPI_COMM_WORLD, which makes mpirun kill every rank promptly and exit non-zero (with one process
/// it is `exit(code)`). Other ranks need not take part, so an error seen by one rank only (a NaN in
/// its rows of X, a failed allocation) is reported by that rank alone, once. In a job of several
/// ranks the line ends with ` [rank r of P]`.
///
/// - Parameters:
///   - message: one line for the user: which file, which field, what was expected.
///   - code: the exit status (non-zero).
///   - comm: the job's communicator; nil before one exists (MPI, if initialised, is aborted anyway).
///   - seenByAllRanks: pass true when every rank detects the same error at the same point (a bad
///     option, a missing file read by all): then only rank 0 prints, and the other ranks wait up to
///     `quietRankDelay` seconds for rank 0's abort to end them before aborting themselves, so the
///     message appears once instead of P times. A quiet rank still alive after the delay prints
///     the message itself before aborting, so a wrongly flagged error is never silent.
public func failJob(_ message: String, code: Int32 = 1, comm: Communicator? = nil,
                    seenByAllRanks: Bool = false) -> Never {
    let rank = comm?.rank ?? 0
    let size = comm?.size ?? 1
    fflush(stdout)
    if !seenByAllRanks || rank == 0 {
        let suffix = size > 1 ? " [rank \(rank) of \(size)]" : ""
        fputs("stgnn-dist: error: \(message)\(suffix)\n", stderr)
        fflush(stderr)
    } else {
        // Rank 0 prints and aborts, which kills this rank. If that never comes, the error was not
        // seen by rank 0 after all: print it here, so the user always gets the message, then abort.
        var waited = 0.0
        while waited < quietRankDelay {
            usleep(50_000)
            waited += 0.05
        }
        fputs("stgnn-dist: error: \(message) [rank \(rank) of \(size)]\n", stderr)
        fflush(stderr)
    }
    if let comm { comm.abort(code: code) }
    MPIEnvironment.abortJob(code: code)
}

/// Ends the whole job reporting `error` (its `description`, e.g. an STCore `InputError`).
public func failJob(_ error: Error, code: Int32 = 1, comm: Communicator? = nil,
                    seenByAllRanks: Bool = false) -> Never {
    failJob(String(describing: error), code: code, comm: comm, seenByAllRanks: seenByAllRanks)
}

/// Seconds a quiet rank of `failJob(seenByAllRanks: true)` waits for rank 0's abort.
public let quietRankDelay: Double = 5
