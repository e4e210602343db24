#!/usr/bin/env bash
# One line per reproducer: the error kind, the first libhdf5 function on the stack, the first frame
# of our sources, the file. Group the output with `cut -d'|' -f1-3 | sort | uniq -c`.
#   Tests/fuzz/triage.sh .build/fuzz/release/fuzz-h5ad .build/fuzz-work/h5ad/findings/*
set -uo pipefail
bin="$1"; shift
export SWIFT_BACKTRACE=enable=no
# Crashing inputs skip the harness's clean-up: keep their scratch folders in one place, removed here.
export STGNN_FUZZ_TMP="$(mktemp -d "${TMPDIR:-/tmp}/stgnn-triage-XXXXXX")"
trap 'rm -rf "$STGNN_FUZZ_TMP"' EXIT
for f in "$@"; do
    out="$(timeout 30 nice -n 5 "$bin" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -detect_leaks=0 "$f" 2>&1)"; rc=$?
    kind="$(grep -m1 -oE 'ERROR: (AddressSanitizer: [A-Za-z-]+( [a-z-]+)?|libFuzzer: [a-z -]+(\(malloc\([0-9]+\)\))?)|Fatal error: .{0,80}|ALARM: working on the last Unit' <<<"$out")"
    [ -z "$kind" ] && [ $rc = 124 ] && kind="hang > 30 s"
    [ -z "$kind" ] && kind="rc=$rc"
    hdf="$(grep -m1 -oE 'in H5[A-Za-z0-9_]+' <<<"$out" | sed 's/^in //')"
    ours="$(grep -E '#[0-9]+ 0x[0-9a-f]+ in \$s.* /[^ ]*/Sources/[^ ]+' <<<"$out" | head -n 1 | grep -oE 'Sources/[^ ]+')"
    echo "$kind | ${hdf:--} | ${ours:--} | $(basename "$f")"
done
