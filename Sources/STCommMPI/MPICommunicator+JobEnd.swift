import CMPI
import STComm
#if canImport(Glibc)
import Glibc
#endif

// How a job of several ranks ends when something goes wrong (issue 9, items 7 and 8).
//
// Every wait of `MPICommunicator` is a polling loop (`complete`) that, between two polls, reads
// the control communicator (a second duplicate of MPI_COMM_WORLD, so these messages never meet
// the data traffic). Three messages travel there, each an array of Int64:
//
//   failed [status]                 "my own error ends the job" (to every other rank)
//   alive  [epoch, completed, ms]   a roll-call answer after a stall (to every other rank)
//   end    [status, missing...]     the stall's reporter has decided (to every other rank)
//
// An error (`endJob`): the failing rank announces `failed`, and every rank, whether it failed
// itself or read `failed` in a wait, joins one MPI_Iallreduce on the control communicator that
// agrees on the lowest failing rank and the exit status. That rank prints its one line; every
// rank calls MPI_Finalize and exits with the status: no MPI_Abort, so no rank is killed half-way
// and the user sees our line only. A rank that cannot take part (stopped, or stuck outside MPI)
// keeps the agreement from completing; after `agreementSeconds` the failing rank falls back to
// its line and MPI_Abort, as before.
//
// A stall (`rollCall`): a wait passed `watchdog.timeout` (in the training loop or outside it). The rank sends
// `alive` to every other rank; a rank reading `alive` in a wait joins and answers. After
// `StallWatchdog.rollCallSeconds` each live rank knows who answered; the ranks that did not are
// the stalled ones. One rank reports: the live rank with the most completed epochs (the newest
// replicated state), the lowest such. It writes the checkpoint through `watchdog.checkpoint`
// (from its own copy of the parameters and Adam state, no collective), prints the one line,
// sends `end` and calls MPI_Abort: MPI_Finalize would wait for the stopped rank for ever. The
// other live ranks wait for `end` and exit by themselves (mpirun's kill would come only after
// odls_base_sigkill_timeout, 60 s under launch/stgnn-run, twice). A stopped rank that resumes
// (mpirun sends SIGCONT before its kill) finds the `alive` and `end` messages and exits at once.
//
// Why a roll call rather than a per-epoch arrival record: it costs nothing while the job is
// healthy (no message per epoch), it names the ranks that are stalled *now* (a rank can stop
// after arriving), and it works wherever the stall happens, inside a halo exchange as well as in
// the epoch's allreduce. Open MPI 4.1 under `mpirun` (without -q) still prints its
// "MPI_ABORT was invoked" banner after our line for a stall, and for a coordinated non-zero exit
// its "Primary job terminated normally, but 1 process returned a non-zero exit code" banner;
// `mpirun -q` (launch/stgnn-run passes it) or OMPI_MCA_orte_execute_quiet=1 silences both.

/// The messages of the control communicator.
enum ControlTag: Int32 {
    case failed = 1
    case alive = 2
    case end = 3
}

/// A message of another rank on the control communicator.
struct ControlMessage {
    let tag: ControlTag
    let source: Int
    let payload: [Int64]
}

/// This rank's own error, for `endJob`.
struct OwnFailure {
    let message: String
    let code: Int32
    /// Every rank detects it at the same point (see `reportJobFailure`): the fallback then
    /// prints on rank 0 only.
    let seenByAllRanks: Bool
}

/// The pause between two polls of a wait: `sched_yield` for the first `spinSeconds` (short waits
/// stay as fast as a blocking wait), then sleeps of `firstSleep` doubling up to `longestSleep`
/// (a long wait costs ~1 % of a core; the extra latency of a wait is at most one sleep).
///
/// `elapsed` leaves out any gap longer than `suspensionGap` between two polls: polls come every
/// millisecond or faster, so such a gap means this process itself was stopped (SIGSTOP, a
/// suspended batch job, a frozen node). A rank must not blame the others for its own stop; and
/// when a whole job is suspended and resumed (`scontrol suspend`), no wait trips the stall
/// deadline on resuming.
struct PollPause {
    static let spinSeconds = 0.002
    static let firstSleep = 50_000          // ns
    static let longestSleep = 1_000_000     // ns
    static let suspensionGap = 1.0          // s
    private var start = monotonicSeconds()
    private var last: Double
    private var sleep = 0

    init() { last = start }

    /// Seconds this wait has been polling, suspensions of this process left out (a gap is
    /// seen at the first call after it: call this at every poll).
    mutating func elapsed() -> Double {
        let now = monotonicSeconds()
        if now - last > Self.suspensionGap { start += now - last }
        last = now
        return now - start
    }

    mutating func wait() {
        if sleep == 0 {
            if elapsed() < Self.spinSeconds {
                sched_yield()
                return
            }
            sleep = Self.firstSleep
        } else {
            sleep = Swift.min(2 * sleep, Self.longestSleep)
        }
        var ts = timespec(tv_sec: 0, tv_nsec: sleep)
        nanosleep(&ts, nil)
    }
}

/// CLOCK_MONOTONIC in seconds.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + 1e-9 * Double(ts.tv_nsec)
}

extension MPICommunicator {
    /// Seconds the ranks have to agree on ending after an error. The ranks that are waiting
    /// join within milliseconds; a rank that is computing joins at its next communication, so
    /// this bounds the work between two collectives (reading a large X, a long epoch).
    static let agreementSeconds = 60.0
    /// Seconds a live rank that does not report a stall waits for the reporter's MPI_Abort
    /// (which follows the reporter's checkpoint write) before aborting the job itself.
    static let endGraceSeconds = 120.0

    // MARK: Control messages

    /// Sends `payload` with `tag` to every other rank, without waiting: the job is ending, the
    /// requests are freed (MPI completes them in the background) and the buffer is never freed.
    func announce(_ tag: ControlTag, _ payload: [Int64]) {
        guard size > 1 else { return }
        let buffer = UnsafeMutablePointer<Int64>.allocate(capacity: Swift.max(1, payload.count))
        buffer.initialize(from: payload, count: payload.count)
        for r in 0..<size where r != rank {
            var req: MPI_Request? = nil
            guard MPI_Isend(buffer, Int32(payload.count), stmpi_int64(), Int32(r), tag.rawValue, control, &req) == stmpi_success() else { return }
            _ = MPI_Request_free(&req)
        }
    }

    /// The next control message of another rank, if one has arrived (MPI_Iprobe, then the
    /// receive of the small message already there); nil on none or on any MPI error.
    func receiveControl() -> ControlMessage? {
        var flag: Int32 = 0
        var st = MPI_Status()
        guard MPI_Iprobe(stmpi_any_source(), stmpi_any_tag(), control, &flag, &st) == stmpi_success(), flag != 0 else { return nil }
        var n: Int32 = 0
        guard MPI_Get_count(&st, stmpi_int64(), &n) == stmpi_success(), n >= 0 else { return nil }
        var payload = [Int64](repeating: 0, count: Int(n))
        let source = st.MPI_SOURCE, tag = st.MPI_TAG
        guard MPI_Recv(&payload, n, stmpi_int64(), source, tag, control, stmpi_status_ignore()) == stmpi_success(),
              let t = ControlTag(rawValue: tag) else { return nil }
        return ControlMessage(tag: t, source: Int(source), payload: payload)
    }

    /// Called between two polls of every wait: acts on another rank's control message.
    func pollControl() {
        guard let m = receiveControl() else { return }
        switch m.tag {
        case .failed: endJob(failure: nil)
        case .alive: rollCall(first: m)
        case .end: exitNow(m.payload)
        }
    }

    /// Polls `request` (on the control communicator) for at most `seconds`; true when it completed.
    func poll(_ request: inout MPI_Request?, for seconds: Double) -> Bool {
        var pause = PollPause()
        while pause.elapsed() < seconds {
            var done: Int32 = 0
            guard MPI_Test(&request, &done, stmpi_status_ignore()) == stmpi_success() else { return false }
            if done != 0 { return true }
            pause.wait()
        }
        return false
    }

    // MARK: An error

    /// Ends the job after an error (this rank's own `failure`, or another rank's announced one):
    /// the agreement, the one line, MPI_Finalize and exit on every rank (see the top of the file).
    func endJob(failure: OwnFailure?) -> Never {
        if let failure { announce(.failed, [Int64(failure.code)]) }
        // One agreement: the lowest failing rank (as size − rank, under MAX) and the largest status.
        let agreed = UnsafeMutablePointer<Int64>.allocate(capacity: 2)
        agreed[0] = failure == nil ? 0 : Int64(size - rank)
        agreed[1] = Int64(failure?.code ?? 0)
        var req: MPI_Request? = nil
        if MPI_Iallreduce(stmpi_in_place(), agreed, 2, stmpi_int64(), stmpi_max(), control, &req) == stmpi_success(),
           poll(&req, for: Self.agreementSeconds), agreed[0] > 0 {
            let first = size - Int(agreed[0])
            let code = agreed[1] == 0 ? 1 : Int32(truncatingIfNeeded: agreed[1])
            if let failure, rank == first { reportJobFailure(failure.message, comm: self) }
            fflush(nil)
            _ = MPI_Finalize()
            exit(code)
        }
        // No agreement in time: some rank cannot take part. The failing ranks end the job with
        // MPI_Abort; a rank that only read another's failure waits for it (and, should that rank
        // be gone too, ends the job itself after `quietRankDelay`).
        defaultSignals()
        if let failure {
            reportJobFailure(failure.message, comm: self, seenByAllRanks: failure.seenByAllRanks)
            abort(code: failure.code)
        }
        reportJobFailure("another rank failed (its message above) and the ranks could not agree to end the job within \(Int(Self.agreementSeconds)) s",
                         comm: self, seenByAllRanks: true)
        abort(code: 1)
    }

    // MARK: A stall

    /// The roll call after a stall: this rank's wait passed `timeout` (`first` nil), or another
    /// rank's answer `first` arrived during a wait. Never returns (see the top of the file).
    func rollCall(first: ControlMessage?) -> Never {
        let w = watchdog
        let epoch = w?.epoch ?? 0, completed = w?.completed ?? 0
        let myTimeout = w?.timeout ?? 0
        announce(.alive, [Int64(epoch), Int64(completed), Int64((myTimeout * 1000).rounded())])
        var answers: [Int: Int] = [rank: completed]    // live rank → its last completed epoch
        var timeout = myTimeout
        func take(_ m: ControlMessage) {
            switch m.tag {
            case .alive where m.payload.count >= 3:
                answers[m.source] = Int(m.payload[1])
                if myTimeout == 0 { timeout = Swift.max(timeout, Double(m.payload[2]) / 1000) }
            case .end: exitNow(m.payload)
            case .alive, .failed: break    // a stall takes precedence over an error seen meanwhile
            }
        }
        if let first { take(first) }
        var pause = PollPause()
        while pause.elapsed() < StallWatchdog.rollCallSeconds {
            while let m = receiveControl() { take(m) }
            pause.wait()
        }
        let missing = (0..<size).filter { answers[$0] == nil }
        let newest = answers.values.max() ?? completed
        let reporter = answers.filter { $0.value == newest }.keys.min() ?? rank
        guard reporter == rank else { awaitEnd() }

        var checkpoint: Result<String, Error>?
        if epoch > 0, let write = w?.checkpoint { checkpoint = Result { try write() } }
        let written = (try? checkpoint?.get()) != nil
        let code = written ? StallWatchdog.checkpointedExitCode : 1
        reportJobFailure(StallWatchdog.message(missing: missing, size: size, epoch: epoch, completed: completed,
                                               phase: w?.phase ?? "setup", timeout: timeout, checkpoint: checkpoint), comm: self)
        announce(.end, [Int64(code)] + missing.map { Int64($0) })
        defaultSignals()
        // The others exit within a poll (≤ 1 ms) of reading `end`. Leaving them that moment
        // first keeps their last poll from touching this rank's memory after it is gone (Open
        // MPI's shared-memory transport then prints "Read -1, expected ..., errno = 3").
        usleep(300_000)
        abort(code: code)
    }

    /// A live rank that does not report a stall: waits for the reporter's `end` (sent once the
    /// checkpoint is written and the line printed), then exits by itself. Waiting for mpirun's
    /// kill instead would take 2 × `odls_base_sigkill_timeout` (60 s each under launch/stgnn-run).
    /// No `end` within `endGraceSeconds`: the reporter failed to end the job, so this rank does.
    func awaitEnd() -> Never {
        defaultSignals()
        var pause = PollPause()
        while pause.elapsed() < Self.endGraceSeconds {
            while let m = receiveControl() {
                if m.tag == .end { exitNow(m.payload) }
            }
            pause.wait()
        }
        reportJobFailure("the job stalled and the rank reporting it did not end it within \(Int(Self.endGraceSeconds)) s", comm: self)
        abort(code: 1)
    }

    /// The reporter's `end` [status, missing...] arrived: the job is over (the reporter calls
    /// MPI_Abort), so this rank exits at once with the job's status, without MPI_Finalize (which
    /// would wait for the stopped rank). Also how a stopped rank that resumes (mpirun sends
    /// SIGCONT before killing it) leaves.
    func exitNow(_ payload: [Int64]) -> Never {
        fflush(nil)
        _exit(Int32(truncatingIfNeeded: payload.first ?? 1))
    }

    /// SIGTERM, SIGINT and SIGUSR1 back to their default action: the job is ending, a signal now
    /// is mpirun's kill, not a request to stop after the epoch.
    func defaultSignals() {
        for s in [SIGTERM, SIGINT, SIGUSR1] { _ = signal(s, SIG_DFL) }
    }

}
