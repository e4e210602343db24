#!/usr/bin/env bash
# Builds the libFuzzer harnesses (Swift -sanitize=fuzzer,address), makes seed corpora, and fuzzes
# each reader for a bounded time, one target after another:
#
#   Tests/fuzz/run-fuzzers.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s; all four targets)
#
# Targets: h5ad (h5ad / HDF5 and 10x .h5), positions (Space Ranger tissue positions), mtx
# (MatrixMarket folders, plain and gzip), checkpoint. Everything lives under .build (never committed):
#   .build/fuzz/                 the fuzz package's build
#   .build/fuzz-work/T/seeds     seeds (the harness's own, plus `stgnn-dist synth` / `run` output)
#   .build/fuzz-work/T/corpus    the corpus libFuzzer grows (kept between runs)
#   .build/fuzz-work/T/findings  reproducers: crash-*, oom-*, timeout-*, leak-* (re-run one with
#                                `.build/fuzz/release/fuzz-T FILE`; STGNN_FUZZ_VERBOSE=1 prints the
#                                reader's errors)
#   .build/fuzz-work/T/log       libFuzzer's output
# Limits: -rss_limit_mb=2048, -malloc_limit_mb=1024 (one allocation above 1 GiB from a small input
# is a finding), -timeout=10 s per input. Fork mode (-fork=1 -ignore_*) keeps fuzzing after a
# finding, so one run reports all of them. Runs under `nice -n 5`; OPENBLAS_NUM_THREADS=1.
# Needs the release stgnn-dist (STGNN_BIN, or .build/release/stgnn-dist, built if missing).
set -euo pipefail
cd "$(dirname "$0")"
fuzzdir="$PWD"
root="$(cd ../.. && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(h5ad positions mtx checkpoint)
export OPENBLAS_NUM_THREADS=1
# Swift's own crash backtracer would run (for seconds) before libFuzzer records a crash; libFuzzer
# and ASan print the stack. Re-run a reproducer by hand to get Swift's symbolicated backtrace.
export SWIFT_BACKTRACE=enable=no

echo "== build (release, -sanitize=fuzzer,address)"
buildlog="$(mktemp)"
if ! nice -n 5 swift build -c release -Xswiftc -sanitize=fuzzer,address --build-path "$root/.build/fuzz" >"$buildlog" 2>&1; then
    grep -vE '^\[[0-9]+/[0-9]+\]' "$buildlog" | tail -n 40; echo "run-fuzzers: build failed" >&2; exit 1
fi
rm -f "$buildlog"
bindir="$root/.build/fuzz/release"

bin="${STGNN_BIN:-$root/.build/release/stgnn-dist}"
if [ ! -x "$bin" ]; then
    echo "== build stgnn-dist (release; for seed files)"
    (cd "$root" && nice -n 5 swift build -c release --product stgnn-dist 2>&1 | grep -E "error" || true)
    bin="$root/.build/release/stgnn-dist"
fi

work="$root/.build/fuzz-work"
# Scratch files of the harnesses (each process uses its own folder below this one).
export STGNN_FUZZ_TMP="/dev/shm/stgnn-fuzz-run-$$"
[ -d /dev/shm ] || STGNN_FUZZ_TMP="$work/tmp-$$"
mkdir -p "$STGNN_FUZZ_TMP"
trap 'rm -rf "$STGNN_FUZZ_TMP"' EXIT

quiet() {   # runs a command, showing its output only if it fails
    local out
    out="$("$@" 2>&1)" || { printf '%s\n' "$out" >&2; echo "run-fuzzers: failed: $*" >&2; exit 1; }
}

seeds() {   # seeds TARGET DIR
    local t="$1" dir="$2"
    rm -rf "$dir"
    STGNN_FUZZ_SEEDS="$dir" "$bindir/fuzz-$t" >/dev/null
    local tmp="$STGNN_FUZZ_TMP/seed-run"
    case "$t" in
    h5ad)
        quiet "$bin" synth --spots 60 --genes 40 --domains 2 --output "$dir/synth-60x40.h5ad"
        quiet "$bin" synth --spots 60 --genes 40 --domains 2 --compression 0 --output "$dir/synth-60x40-raw.h5ad"
        ;;
    checkpoint)
        quiet "$bin" synth --spots 60 --genes 40 --domains 2 --output "$tmp.h5ad"
        for dim in 8 64; do
            rm -rf "$tmp-out"
            quiet "$bin" run --input "$tmp.h5ad" --epochs 4 --checkpoint-every 2 --dim "$dim" --clusters 2 \
                --no-pictures --output "$tmp-out"
            for c in "$tmp-out"/checkpoints/epoch-*.ckpt; do cp "$c" "$dir/d$dim-$(basename "$c")"; done
        done
        rm -rf "$tmp.h5ad" "$tmp-out"
        ;;
    esac
}

# libhdf5 leaks a few hundred bytes on some corrupt files (LeakSanitizer: allocated in
# libhdf5_serial, nothing of ours on the stack); leak checks would report each as a finding.
leaks() {
    case "$1" in h5ad) echo 0 ;; *) echo 1 ;; esac
}

maxlen() {
    case "$1" in h5ad) echo 65536 ;; checkpoint) echo 131072 ;; *) echo 4096 ;; esac
}

summary=()
for t in "${targets[@]}"; do
    [ -x "$bindir/fuzz-$t" ] || { echo "run-fuzzers: no target '$t' (h5ad, positions, mtx, checkpoint)" >&2; exit 2; }
    d="$work/$t"
    mkdir -p "$d/corpus" "$d/findings"
    echo "== $t: seeds"
    seeds "$t" "$d/seeds"
    echo "   $(ls "$d/seeds" | wc -l) seed files, corpus holds $(ls "$d/corpus" | wc -l) inputs"
    echo "== $t: fuzzing for $seconds s (log: $d/log)"
    before="$(ls "$d/findings" | wc -l)"
    # A copy of the binary runs (fork mode starts it again for every job), so the package can be
    # rebuilt while a long run goes on. libFuzzer's exit status is non-zero after findings; the
    # summary below reports them.
    cp "$bindir/fuzz-$t" "$d/fuzz-$t"
    (cd "$d" && nice -n 5 "./fuzz-$t" corpus seeds \
        -max_total_time="$seconds" -max_len="$(maxlen "$t")" -detect_leaks="$(leaks "$t")" \
        -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
        -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
        -artifact_prefix="$d/findings/" -print_final_stats=1 >"$d/log" 2>&1) || true
    # Fork mode's status lines: "#N: cov: C ft: F corp: K exec/s: E oom/timeout/crash: a/b/c time: Ts ..."
    last="$(grep -E '^#[0-9]+: cov:' "$d/log" | tail -n 1 || true)"
    execs="$(sed -nE 's/^#([0-9]+):.*/\1/p' <<<"$last")"
    cov="$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$last")"
    ft="$(sed -nE 's/.* ft: ([0-9]+) .*/\1/p' <<<"$last")"
    corp="$(sed -nE 's/.* corp: ([0-9]+) .*/\1/p' <<<"$last")"
    elapsed="$(sed -nE 's/.* time: ([0-9]+)s .*/\1/p' <<<"$last")"
    # The status line's exec/s is the last job's; the mean over the run is executions / time.
    rate="$( [ -n "$execs" ] && [ "${elapsed:-0}" -gt 0 ] && echo $((execs / elapsed)) || echo "?")"
    otc="$(sed -nE 's/.* oom\/timeout\/crash: ([0-9]+\/[0-9]+\/[0-9]+) .*/\1/p' <<<"$last")"
    found="$(ls "$d/findings" | wc -l)"
    line="$t: ${elapsed:-?} s, ${execs:-?} executions, ${rate} exec/s (mean), coverage ${cov:-?} edges / ${ft:-?} features, corpus ${corp:-?} inputs, oom/timeout/crash ${otc:-?}, $((found - before)) new reproducer file(s)"
    echo "   $line"
    for f in $(ls -t "$d/findings" | head -n $((found - before))); do
        echo "   finding: $d/findings/$f"
    done
    summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
