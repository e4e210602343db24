#if canImport(Glibc)
import Glibc
#endif

// The library half of ending a job on an error: printing the one line the user sees. Library code
// never ends the process; it throws. The executables catch at the top and call STCommMPI's
// `failJob`, which prints through `reportJobFailure` and then ends every rank (MPI_Abort, or
// `exit` with one process).

/// Prints `message` to stderr as `stgnn-dist: error: <message>`, once per job where possible.
///
/// Flushes stdout first. In a job of several ranks the line ends with ` [rank r of P]`.
///
/// - Parameters:
///   - message: one line for the user: which file, which field, what was expected.
///   - comm: the job's communicator; nil before one exists (then: rank 0 of 1).
///   - seenByAllRanks: pass true when every rank detects the same error at the same point (a bad
///     option, a missing file read by all): then only rank 0 prints at once, and every other
///     rank waits up to `quietRankDelay` seconds first, expecting rank 0's abort of the job to
///     end it meanwhile. A quiet rank still alive after the delay prints the message itself, so
///     a wrongly flagged error is never silent. Without the flag the calling rank prints at once:
///     an error seen by one rank only (a NaN in its rows of X) is reported by that rank alone.
public func reportJobFailure(_ message: String, comm: Communicator? = nil, seenByAllRanks: Bool = false) {
    let rank = comm?.rank ?? 0
    let size = comm?.size ?? 1
    fflush(stdout)
    if seenByAllRanks && rank != 0 {
        var waited = 0.0
        while waited < quietRankDelay {
            usleep(50_000)
            waited += 0.05
        }
    }
    let suffix = size > 1 ? " [rank \(rank) of \(size)]" : ""
    fputs("stgnn-dist: error: \(message)\(suffix)\n", stderr)
    fflush(stderr)
}

/// Seconds a quiet rank of `reportJobFailure(seenByAllRanks: true)` waits for rank 0's abort.
public let quietRankDelay: Double = 5
