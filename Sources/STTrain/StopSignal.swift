#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The number of the last stop signal received, 0 for none. Written only by the signal handler
// (a store of a sig_atomic_t, which is async-signal-safe), read by the training loop once per
// epoch. `StopSignal.install()` stores 0 before installing the handler, so the global is
// initialised before a handler can touch it and the handler runs no initialiser.
nonisolated(unsafe) private var receivedStopSignal: sig_atomic_t = 0

/// The signal handler: records the signal number and does nothing else, except that a second
/// Ctrl-C (SIGINT while a stop is already pending) ends the process at once, as users expect.
/// `signal` and `raise` are async-signal-safe.
private func recordStopSignal(_ sig: Int32) {
    if sig == SIGINT && receivedStopSignal != 0 {
        _ = signal(SIGINT, SIG_DFL)
        raise(SIGINT)
        return
    }
    receivedStopSignal = sig_atomic_t(sig)
}

/// Graceful stop on SIGTERM (how SLURM preempts a job and ends it at its time limit), SIGUSR1
/// (which mpirun forwards to every rank without ending the job; `sbatch --signal=B:USR1@120`) and
/// SIGINT (Ctrl-C on a run in a terminal; a second Ctrl-C ends it at once).
///
/// The handler only sets a flag. The training loop polls it in every epoch and sums the ranks'
/// votes inside the epoch's packed allreduce, so all ranks stop after the same epoch even when only
/// one of them was signalled; then the job writes a checkpoint and exits with `exitCode`.
public enum StopSignal {
    /// Slots of the per-epoch stop vote (one per signal number; the highest voted signal wins).
    public static let voteSlots = 32

    /// The signals that request a stop.
    public static let signals: [Int32] = [SIGTERM, SIGUSR1, SIGINT]

    /// Exit status of a run stopped by a signal after writing its checkpoint: 75 (EX_TEMPFAIL,
    /// "temporary failure, try again"), distinct from success (0), from errors (1) and from a
    /// process killed by SIGTERM before it could checkpoint (143).
    public static let exitCode: Int32 = 75

    /// Installs the handler for `signals` (call once, after MPI is initialised, so that it is ours).
    public static func install() {
        receivedStopSignal = 0
        for s in signals { _ = signal(s, recordStopSignal) }
    }

    /// The signal received since `install()`, nil when none.
    public static var received: Int32? {
        let s = receivedStopSignal
        return s == 0 ? nil : Int32(s)
    }

    /// The conventional name of a signal number ("SIGTERM").
    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: return "SIGTERM"
        case SIGUSR1: return "SIGUSR1"
        case SIGINT: return "SIGINT"
        default: return "signal \(signal)"
        }
    }
}
