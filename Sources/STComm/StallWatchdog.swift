// The stall watchdog (issue 9, item 7): a rank stopped by SIGSTOP, a hung node or a swapped-out
// process used to leave every other rank waiting in a collective for ever. The training loop
// arms this object with a deadline; the MPI communicator's wait loop (STCommMPI) enforces it at
// every wait of the loop (halo exchanges, the corruption exchange, the epoch's allreduce, the
// checkpoint broadcasts), holds a roll call among the ranks still answering and ends the job with
// one line naming the ranks that did not answer and a checkpoint written by a live rank. Outside
// the loop (set-up, the steps after training, `verify`, `stgnn-bench`) every wait has the
// generous `outsideTimeout`, and the line names the phase instead of an epoch.
// This file is the MPI-free half: the settings, the timeout rule and the line.

/// The stall watchdog's settings and the training loop's position, shared by the loop (which
/// sets them) and the communicator's wait loop (which reads them).
///
/// Only communicators of several processes have one (`Communicator.watchdog`); the single-process
/// and thread-group communicators cannot stall on another process and return nil.
public final class StallWatchdog {
    /// Seconds one wait for other ranks may last before the job is declared stalled; nil: no
    /// deadline (`--stall-timeout 0`). The training loop sets its own while it runs and restores
    /// `outsideTimeout` after it.
    public var timeout: Double?
    /// The deadline of every wait outside the training loop (set-up, reading, clustering, writing:
    /// `outsideTrainingTimeout`, or `--setup-timeout`); nil: none.
    public var outsideTimeout: Double?
    /// What the job is doing outside the training loop ("reading X"), named in the line of a stall
    /// there.
    public var phase = "setup"
    /// The epoch being run (1-based); 0 outside the training loop.
    public var epoch = 0
    /// The last completed epoch: the parameters and Adam state this rank holds are those after it
    /// (replicated on every rank by each epoch's allreduce, so any live rank can checkpoint them).
    public var completed = 0
    /// Writes a checkpoint of the last completed epoch from this rank alone (no collective) and
    /// returns its path. Set by the training loop; called on the one rank that reports a stall.
    public var checkpoint: (() throws -> String)?

    /// A watchdog whose waits have the least deadline outside the training loop
    /// (`outsideFloorSeconds`) from the start: every command's collectives (set-up, `verify`,
    /// `stgnn-bench`) are covered before any option is read; `run` then scales it to the input.
    public init() {
        timeout = Self.outsideFloorSeconds
        outsideTimeout = Self.outsideFloorSeconds
    }

    // MARK: The timeout rule

    /// Floor of the default timeout, in seconds: scheduler hiccups, a slow shared file system
    /// under a checkpoint write and page-cache stalls of seconds must not end a healthy job.
    public static let floorSeconds = 60.0
    /// The default timeout is this many median epochs (or the floor, whichever is longer).
    public static let epochFactor = 20.0
    /// Epochs measured before the default follows the epoch time.
    public static let warmUpEpochs = 3
    /// The default timeout while fewer than `warmUpEpochs` epochs are measured: the first epochs
    /// carry one-time costs (first touch of the activation arena, OpenBLAS buffers, the thread
    /// pool's start), so their time says little about the steady state.
    public static let warmUpSeconds = 600.0
    /// The median is taken over at most this many most recent epochs.
    public static let window = 51

    /// The default timeout after the measured epoch times `epochSeconds` (oldest first):
    /// `warmUpSeconds` before `warmUpEpochs` epochs, then
    /// max(`floorSeconds`, `epochFactor` × median of the last `window` epochs).
    public static func defaultTimeout(epochSeconds: [Double]) -> Double {
        guard epochSeconds.count >= warmUpEpochs else { return warmUpSeconds }
        let recent = epochSeconds.suffix(window).sorted()
        let m = recent.count
        let median = m % 2 == 1 ? recent[m / 2] : 0.5 * (recent[m / 2 - 1] + recent[m / 2])
        return Swift.max(floorSeconds, epochFactor * median)
    }

    /// The timeout of `--stall-timeout`: nil (the option absent) → `defaultTimeout`; 0 → no
    /// deadline (nil); any other value → that many seconds.
    public static func timeout(option: Double?, epochSeconds: [Double]) -> Double? {
        guard let option else { return defaultTimeout(epochSeconds: epochSeconds) }
        return option == 0 ? nil : option
    }

    // Outside the training loop the waits have no epoch time to scale with: a rank waits while
    // another reads its rows of X, or while rank 0 reads obs, clusters or writes the result, all
    // of which grow with the slide. The deadline is therefore generous and grows with the input.

    /// The least deadline of a wait outside the training loop.
    public static let outsideFloorSeconds = 600.0
    /// Seconds allowed per spot outside the training loop: clustering on rank 0 (PCA, a Gaussian
    /// mixture with restarts, the refinement vote) costs ~0.3 ms per spot on one core.
    public static let outsideSecondsPerSpot = 1e-3
    /// The slowest read rate assumed of a shared file system (bytes per second): a rank may read
    /// as much as the whole input while the others wait.
    public static let outsideReadBytesPerSecond = 20e6

    /// The default deadline of a wait outside the training loop:
    /// max(`outsideFloorSeconds`, `outsideSecondsPerSpot` × spots, input bytes / `outsideReadBytesPerSecond`);
    /// 600 s up to 600 000 spots and 12 GB of input.
    public static func outsideTrainingTimeout(spots: Int, inputBytes: Int) -> Double {
        Swift.max(outsideFloorSeconds, outsideSecondsPerSpot * Double(spots), Double(inputBytes) / outsideReadBytesPerSecond)
    }

    /// The deadline outside the training loop: none when `--stall-timeout 0` (`stallOption`) or
    /// `--setup-timeout 0`; `--setup-timeout` when given; else `outsideTrainingTimeout`.
    public static func outsideTimeout(stallOption: Double?, setupOption: Double?, spots: Int, inputBytes: Int) -> Double? {
        if stallOption == 0 { return nil }
        if let setupOption { return setupOption == 0 ? nil : setupOption }
        return outsideTrainingTimeout(spots: spots, inputBytes: inputBytes)
    }

    /// Arms the deadline outside the training loop for `phase`; inside the loop (`epoch` > 0, e.g.
    /// writing a checkpoint) the loop's own deadline stands.
    public func enterPhase(_ phase: String) {
        guard epoch == 0 else { return }
        self.phase = phase
        timeout = outsideTimeout
    }

    /// The smallest `--stall-timeout` accepted (besides 0): the roll call that follows a timeout
    /// takes `rollCallSeconds`, and a deadline shorter than a second trips on scheduler noise.
    public static let minimumOption = 1.0

    /// Why `--stall-timeout value` is refused, nil when it is fine.
    public static func optionProblem(_ value: Double, option: String = "--stall-timeout") -> String? {
        guard value.isFinite, value == 0 || value >= minimumOption else {
            return "\(option) must be 0 (no deadline) or at least \(Int(minimumOption)) second, got \(value)"
        }
        return nil
    }

    /// Seconds the ranks still answering collect each other's roll-call answers after the first
    /// of them timed out. Every live rank is then waiting in the same polling loop (the stalled
    /// rank holds all of them up within an epoch, and the timeout is many epochs), so answers
    /// arrive within milliseconds; two seconds leave room for a loaded node.
    public static let rollCallSeconds = 2.0

    // MARK: The line

    /// The one line of a stalled job (without the `stgnn-dist: error:` prefix).
    ///
    /// - Parameters:
    ///   - missing: the ranks that did not answer the roll call (ascending); empty when every rank
    ///     answered (no rank is stopped, yet no wait finished: a deadlock).
    ///   - size: ranks in the job.
    ///   - epoch: the epoch the reporting rank was in (0: outside the training loop).
    ///   - completed: its last completed epoch.
    ///   - phase: what the job was doing outside the training loop (used when `epoch` is 0).
    ///   - timeout: the deadline that passed, in seconds.
    ///   - checkpoint: the checkpoint written (its path), the error that prevented it, or nil
    ///     when there was nothing to write.
    public static func message(missing: [Int], size: Int, epoch: Int, completed: Int, phase: String = "setup",
                               timeout: Double, checkpoint: Result<String, Error>?) -> String {
        let limit = timeout.rounded() == timeout ? String(Int(timeout)) : String(timeout)
        let option = epoch > 0 ? "--stall-timeout" : "--setup-timeout"
        let at = epoch > 0 ? " at epoch \(epoch)" : ""
        let during = epoch > 0 ? "" : " during \(phase)"
        var s: String
        if missing.isEmpty {
            s = "no wait finished\(at) within \(limit) s\(during) (stall timeout, \(option)) although all \(size) ranks answered: the ranks disagree on the next collective (an internal error)"
        } else {
            s = "\(rankList(missing, size: size)) did not arrive\(at) within \(limit) s\(during) (stall timeout, \(option))"
        }
        if epoch > 0 { s += "; last completed epoch \(completed)" }
        switch checkpoint {
        case .success(let path)?: s += "; checkpoint written to \(path); continue with --resume latest"
        case .failure(let e)?: s += "; no checkpoint: \(e)"
        case nil: break
        }
        return s
    }

    /// "rank 2", "ranks 1, 2", "ranks 0, 1, 2, 3, 4, 5, 6, 7, … (12 of 64)".
    public static func rankList(_ ranks: [Int], size: Int) -> String {
        if ranks.count == 1 { return "rank \(ranks[0])" }
        let shown = ranks.prefix(8).map(String.init).joined(separator: ", ")
        return ranks.count > 8 ? "ranks \(shown), … (\(ranks.count) of \(size))" : "ranks \(shown)"
    }

    /// Exit status of a stalled job whose checkpoint was written: 75 (EX_TEMPFAIL), as for a run
    /// stopped by a signal after its checkpoint (STTrain's `StopSignal.exitCode`): continue with
    /// `--resume latest`. Without a checkpoint the status is 1.
    public static let checkpointedExitCode: Int32 = 75
}
