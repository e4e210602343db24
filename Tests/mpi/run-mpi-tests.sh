#!/usr/bin/env bash
# Multi-rank tests of MPICommunicator under a real mpirun.
#
# Builds the stgnn-mpi-selftest product and runs it
#   - without mpirun (SingleProcessCommunicator) and as an MPI singleton (STGNN_COMM=mpi),
#   - under mpirun -n 1, 2, 3, 4: every collective, checked (PASS/FAIL per check),
#   - the failure paths, each under `timeout`: one rank calls failJob while the others wait in a
#     barrier (every rank must exit promptly, non-zero, message printed once); every rank fails
#     (message printed once); inconsistent exchange counts (detected, job aborted); an MPI error
#     (a truncated message: reported with MPI's error string by our one-line message, job aborted).
#
# $STGNN_SELFTEST_BIN: use this already-built stgnn-mpi-selftest instead of building one.
# Usage: Tests/mpi/run-mpi-tests.sh [--debug|--release] [--scratch-path DIR] [--ranks "1 2 3 4"] [--big]
#   --big   also move > 2^31 bytes/elements at 2 ranks (about 6 GB of memory, about a minute)
# Exit status 0 iff everything passed.
set -uo pipefail

cd "$(dirname "$0")/../.."
config=release
scratch=.build-mpi
ranks="1 2 3 4"
big=0
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) config=debug ;;
        --release) config=release ;;
        --scratch-path) scratch="$2"; shift ;;
        --ranks) ranks="$2"; shift ;;
        --big) big=1 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "run-mpi-tests.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done

command -v mpirun >/dev/null || { echo "run-mpi-tests.sh: mpirun not found (apt install openmpi-bin)" >&2; exit 2; }

if [ -n "${STGNN_SELFTEST_BIN:-}" ]; then
    bin="$STGNN_SELFTEST_BIN"      # already built (launch/test builds everything once)
    [ -x "$bin" ] || { echo "run-mpi-tests.sh: $bin is not an executable" >&2; exit 2; }
else
    echo "== building stgnn-mpi-selftest ($config, scratch path $scratch)"
    swift build -c "$config" --scratch-path "$scratch" --product stgnn-mpi-selftest || exit 1
    bin="$(swift build -c "$config" --scratch-path "$scratch" --show-bin-path)/stgnn-mpi-selftest"
fi

export OPENBLAS_NUM_THREADS=1
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# --oversubscribe: more ranks than cores is fine for tests. -q: no Open MPI banner on MPI_Abort.
MPIRUN=(mpirun -q --oversubscribe --bind-to none)

failures=0
pass() { echo "ok:   $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# run NAME TIMEOUT CMD... : runs CMD with a timeout, keeps stdout/stderr, sets rc and secs.
run() {
    local name="$1" limit="$2"; shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
    secs=$((SECONDS - t0))
}

# --- Successful runs: every check must pass.
run plain 300 env -u OMPI_COMM_WORLD_SIZE -u PMIX_RANK -u PMI_RANK -u PMI_SIZE -u SLURM_STEP_NUM_TASKS "$bin"
[ $rc = 0 ] && grep -q "SingleProcessCommunicator" "$tmp/plain.out" \
    && pass "no mpirun: SingleProcessCommunicator, $(grep -c '^PASS' "$tmp/plain.out") checks passed" \
    || { fail "no mpirun (rc $rc)"; cat "$tmp/plain.out" "$tmp/plain.err"; }

run singleton 300 env STGNN_COMM=mpi "$bin"
[ $rc = 0 ] && grep -q "MPICommunicator" "$tmp/singleton.out" \
    && pass "no mpirun, STGNN_COMM=mpi: MPI singleton, $(grep -c '^PASS' "$tmp/singleton.out") checks passed" \
    || { fail "MPI singleton (rc $rc)"; cat "$tmp/singleton.out" "$tmp/singleton.err"; }

# srun without MPI wiring: refused with exit 2, message from task 0 only.
run srun0 30 env SLURM_STEP_NUM_TASKS=4 SLURM_PROCID=0 "$bin"
rc0=$rc; grep -q "srun started 4 tasks" "$tmp/srun0.err"; m0=$?
run srun1 30 env SLURM_STEP_NUM_TASKS=4 SLURM_PROCID=1 "$bin"
[ $rc0 = 2 ] && [ $m0 = 0 ] && [ $rc = 2 ] && [ ! -s "$tmp/srun1.err" ] \
    && pass "srun step of 4 tasks without PMI: refused (exit 2), message on task 0 only" \
    || { fail "srun step without PMI (rc $rc0/$rc)"; cat "$tmp/srun0.err" "$tmp/srun1.err"; }

for n in $ranks; do
    run "np$n" 600 "${MPIRUN[@]}" -n "$n" "$bin"
    if [ $rc = 0 ] && grep -q "ALL PASSED" "$tmp/np$n.out"; then
        pass "mpirun -n $n: $(grep -c '^PASS' "$tmp/np$n.out") checks passed (${secs}s)"
    else
        fail "mpirun -n $n (rc $rc)"; cat "$tmp/np$n.out" "$tmp/np$n.err"
    fi
done

if [ $big = 1 ]; then
    run big 900 "${MPIRUN[@]}" -n 2 "$bin" --big
    if [ $rc = 0 ] && grep -q "ALL PASSED" "$tmp/big.out"; then
        pass "mpirun -n 2 --big: $(grep '2^31\|in total' "$tmp/big.out" | tr '\n' ';') (${secs}s)"
    else
        fail "mpirun -n 2 --big (rc $rc)"; cat "$tmp/big.out" "$tmp/big.err"
    fi
fi

# --- Failure paths: non-zero exit, no hang (timeout's 124 = hang), message printed exactly once.
# expect_abort NAME MESSAGE-REGEX MPIRUN-ARGS...
expect_abort() {
    local name="$1" pattern="$2"; shift 2
    run "$name" 60 "${MPIRUN[@]}" "$@"
    local printed
    printed=$(grep -cE "^stgnn-dist: error: $pattern" "$tmp/$name.err")
    if [ $rc = 124 ]; then
        fail "$name: hung (killed by timeout after ${secs}s)"
    elif [ $rc = 0 ]; then
        fail "$name: exited 0"
    elif [ "$printed" != 1 ]; then
        fail "$name: error message printed $printed times"; cat "$tmp/$name.err"
    else
        pass "$name: exit $rc after ${secs}s, message printed once: $(grep -E '^stgnn-dist: error' "$tmp/$name.err")"
    fi
}
for n in $ranks; do
    [ "$n" -ge 2 ] || continue
    expect_abort "abort-rank$((n - 1))-of-$n" "selftest: deliberate failure on rank $((n - 1))" -n "$n" "$bin" --abort-on-rank $((n - 1))
done
expect_abort "abort-rank0-of-3" "selftest: deliberate failure on rank 0" -n 3 "$bin" --abort-on-rank 0
expect_abort "fail-all-of-4" "selftest: deliberate failure seen by all ranks" -n 4 "$bin" --fail-all
expect_abort "abort-rank0-of-1" "selftest: deliberate failure on rank 0" -n 1 "$bin" --abort-on-rank 0

# Inconsistent exchange counts: every rank may detect it, so only require a prompt non-zero exit.
run mismatch 60 "${MPIRUN[@]}" -n 3 "$bin" --mismatch
if [ $rc != 0 ] && [ $rc != 124 ] && grep -q "exchange counts disagree" "$tmp/mismatch.err"; then
    pass "mismatched exchange counts: detected, exit $rc after ${secs}s"
else
    fail "mismatched exchange counts (rc $rc)"; cat "$tmp/mismatch.out" "$tmp/mismatch.err"
fi

# An error returned by MPI itself (MPI_ERRORS_RETURN, every return code checked): a truncated
# message. Each rank that sees it may report it, so require a prompt non-zero exit and our line.
run mpierror 60 "${MPIRUN[@]}" -n 3 "$bin" --mpi-error
if [ $rc != 0 ] && [ $rc != 124 ] && grep -qE "^stgnn-dist: error: MPI_Waitall .*failed: MPI_ERR_TRUNCATE" "$tmp/mpierror.err"; then
    pass "MPI error (truncated message): exit $rc after ${secs}s: $(grep -m1 -E '^stgnn-dist: error' "$tmp/mpierror.err")"
else
    fail "MPI error (truncated message) (rc $rc)"; cat "$tmp/mpierror.out" "$tmp/mpierror.err"
fi

if [ $failures = 0 ]; then echo "== all MPI tests passed"; else echo "== $failures MPI test(s) FAILED"; fi
[ $failures = 0 ]
