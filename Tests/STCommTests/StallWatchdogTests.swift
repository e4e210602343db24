import XCTest
@testable import STComm

/// The stall watchdog's timeout rule, option check and line (the MPI half, the roll call under a
/// stopped rank, is tested under real mpirun in Tests/mpi/run-fault-tests.sh).
final class StallWatchdogTests: XCTestCase {
    /// Before 3 epochs: the warm-up deadline whatever the first epochs took; then
    /// max(60 s, 20 × median of the last 51 epochs).
    func testDefaultTimeoutRule() {
        XCTAssertEqual(StallWatchdog.defaultTimeout(epochSeconds: []), 600)
        XCTAssertEqual(StallWatchdog.defaultTimeout(epochSeconds: [100, 100]), 600, "warm-up ignores the first epochs")
        // Fast epochs: the floor.
        XCTAssertEqual(StallWatchdog.defaultTimeout(epochSeconds: [0.02, 0.01, 0.03]), 60)
        // Slow epochs: 20 × the median (odd count), not the mean or the maximum.
        XCTAssertEqual(StallWatchdog.defaultTimeout(epochSeconds: [5, 4, 90]), 100)
        // Even count: the mean of the two middle values.
        XCTAssertEqual(StallWatchdog.defaultTimeout(epochSeconds: [4, 5, 6, 90]), 110)
        // Only the last 51 epochs count: 100 slow epochs then 51 fast ones → the floor.
        let history = [Double](repeating: 30, count: 100) + [Double](repeating: 0.5, count: 51)
        XCTAssertEqual(StallWatchdog.defaultTimeout(epochSeconds: history), 60)
        XCTAssertEqual(StallWatchdog.defaultTimeout(epochSeconds: history.dropLast(26) + []), 600,
                       "26 slow epochs in the window of 51 make the median slow: 20 × 30 s")
    }

    /// `--stall-timeout`: absent → the rule; 0 → no deadline; a value → that value at once
    /// (also during the warm-up).
    func testOptionOverridesTheRule() {
        XCTAssertEqual(StallWatchdog.timeout(option: nil, epochSeconds: [3, 3, 3]), 60)
        XCTAssertNil(StallWatchdog.timeout(option: 0, epochSeconds: [3, 3, 3]))
        XCTAssertEqual(StallWatchdog.timeout(option: 5, epochSeconds: []), 5)
        XCTAssertEqual(StallWatchdog.timeout(option: 7.5, epochSeconds: [100, 100, 100]), 7.5)
    }

    func testOptionValidation() {
        for ok in [0, 1, 5, 86_400.0] { XCTAssertNil(StallWatchdog.optionProblem(ok), "\(ok)") }
        for bad in [-1, 0.5, .nan, .infinity] {
            let problem = StallWatchdog.optionProblem(bad)
            XCTAssertNotNil(problem, "\(bad) accepted")
            XCTAssertTrue(problem?.contains("--stall-timeout must be 0") ?? false, problem ?? "")
        }
    }

    struct DiskFull: Error, CustomStringConvertible { var description: String { "out/checkpoints: no space left" } }

    func testMessageNamesTheRanksTheEpochAndTheCheckpoint() {
        let one = StallWatchdog.message(missing: [2], size: 3, epoch: 37, completed: 36, timeout: 120,
                                        checkpoint: .success("out/checkpoints/epoch-000036.ckpt"))
        XCTAssertEqual(one, "rank 2 did not arrive at epoch 37 within 120 s (stall timeout, --stall-timeout); last completed epoch 36; checkpoint written to out/checkpoints/epoch-000036.ckpt; continue with --resume latest")
        let two = StallWatchdog.message(missing: [0, 3], size: 4, epoch: 5, completed: 4, timeout: 7.5, checkpoint: .failure(DiskFull()))
        XCTAssertEqual(two, "ranks 0, 3 did not arrive at epoch 5 within 7.5 s (stall timeout, --stall-timeout); last completed epoch 4; no checkpoint: out/checkpoints: no space left")
        let none = StallWatchdog.message(missing: [], size: 3, epoch: 9, completed: 8, timeout: 60, checkpoint: nil)
        XCTAssertTrue(none.hasPrefix("no wait finished at epoch 9 within 60 s") && none.contains("all 3 ranks answered"), none)
        XCTAssertEqual(StallWatchdog.rankList(Array(0..<12), size: 64), "ranks 0, 1, 2, 3, 4, 5, 6, 7, … (12 of 64)")
    }

    /// Outside the training loop: max(600 s, 1 ms per spot, the input at 20 MB/s).
    func testOutsideTrainingRuleGrowsWithTheInput() {
        XCTAssertEqual(StallWatchdog.outsideTrainingTimeout(spots: 0, inputBytes: 0), 600)
        XCTAssertEqual(StallWatchdog.outsideTrainingTimeout(spots: 3_639, inputBytes: 60_000_000), 600)
        XCTAssertEqual(StallWatchdog.outsideTrainingTimeout(spots: 2_000_000, inputBytes: 1_000_000_000), 2_000, accuracy: 1e-9)
        XCTAssertEqual(StallWatchdog.outsideTrainingTimeout(spots: 1_000_000, inputBytes: 50_000_000_000), 2_500, accuracy: 1e-9)
    }

    /// `--stall-timeout 0` turns the deadline off everywhere; `--setup-timeout` replaces the rule
    /// (0: off); otherwise the rule. `--stall-timeout` with a value does not shorten set-up.
    func testOutsideTimeoutOptions() {
        XCTAssertNil(StallWatchdog.outsideTimeout(stallOption: 0, setupOption: 30, spots: 10, inputBytes: 0))
        XCTAssertNil(StallWatchdog.outsideTimeout(stallOption: nil, setupOption: 0, spots: 10, inputBytes: 0))
        XCTAssertEqual(StallWatchdog.outsideTimeout(stallOption: 5, setupOption: 30, spots: 10, inputBytes: 0), 30)
        XCTAssertEqual(StallWatchdog.outsideTimeout(stallOption: 5, setupOption: nil, spots: 10, inputBytes: 0), 600)
        XCTAssertEqual(StallWatchdog.outsideTimeout(stallOption: nil, setupOption: nil, spots: 2_000_000, inputBytes: 0) ?? 0, 2_000, accuracy: 1e-9)
        XCTAssertEqual(StallWatchdog.optionProblem(0.5, option: "--setup-timeout"), "--setup-timeout must be 0 (no deadline) or at least 1 second, got 0.5")
    }

    /// A new watchdog already has the set-up deadline (every command's waits are covered before
    /// any option is read); `enterPhase` re-arms it outside the loop and leaves the loop's alone.
    func testPhasesOutsideTheLoop() {
        let w = StallWatchdog()
        XCTAssertEqual(w.timeout, 600)
        XCTAssertEqual(w.phase, "setup")
        w.outsideTimeout = 42
        w.enterPhase("setup: reading X")
        XCTAssertEqual(w.timeout, 42)
        XCTAssertEqual(w.phase, "setup: reading X")
        w.epoch = 3
        w.timeout = 60
        w.enterPhase("writing a checkpoint (rank 0)")
        XCTAssertEqual(w.timeout, 60, "inside the loop its deadline stands")
        XCTAssertEqual(w.phase, "setup: reading X")
        w.epoch = 0
        w.outsideTimeout = nil
        w.enterPhase("the spatial domains and outputs after training")
        XCTAssertNil(w.timeout)
    }

    func testMessageOutsideTheLoopNamesThePhase() {
        let m = StallWatchdog.message(missing: [2], size: 3, epoch: 0, completed: 0, phase: "setup: reading X", timeout: 600, checkpoint: nil)
        XCTAssertEqual(m, "rank 2 did not arrive within 600 s during setup: reading X (stall timeout, --setup-timeout)")
        let none = StallWatchdog.message(missing: [], size: 2, epoch: 0, completed: 0, phase: "verify f.h5", timeout: 5, checkpoint: nil)
        XCTAssertTrue(none.hasPrefix("no wait finished within 5 s during verify f.h5 (stall timeout, --setup-timeout)"), none)
    }

    /// Only the communicators of several processes have a watchdog.
    func testInProcessCommunicatorsHaveNone() {
        XCTAssertNil(SingleProcessCommunicator().watchdog)
        let none = ThreadGroupCommunicator.run(ranks: 2) { $0.watchdog == nil }
        XCTAssertEqual(none, [true, true])
    }
}
