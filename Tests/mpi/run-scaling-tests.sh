#!/usr/bin/env bash
# launch/scaling --quick end to end (about 10 s): strong and weak scaling on 1 and 2 ranks under a
# real mpirun, the tables, the summary's communication accounting and valid PNG figures.
# Usage: STGNN_BIN=path/to/stgnn-dist Tests/mpi/run-scaling-tests.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
export STGNN_BIN="${STGNN_BIN:-.build/release/stgnn-dist}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
failures=0
pass() { echo "ok:   $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

if timeout 300 launch/scaling --quick --out "$tmp/s" >"$tmp/log" 2>&1; then
    pass "launch/scaling --quick (1 and 2 ranks, strong and weak; 2 ranks agree with 1)"
else
    fail "launch/scaling --quick"; cat "$tmp/log"
fi
for f in scaling.csv scaling.md report/scaling-runs.csv report/scaling.json report/projection.md; do
    [ -s "$tmp/s/$f" ] && pass "$f written" || fail "$f missing or empty"
done
if python3 - "$tmp/s" <<'PY'
import json, struct, sys, csv
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/report/scaling-runs.csv")))
assert [(r["experiment"], r["ranks"]) for r in rows] == [("strong", "1"), ("strong", "2"), ("weak", "1"), ("weak", "2")], rows
assert rows[3]["n_spots"] == "2000" and rows[2]["n_spots"] == "1000", "weak: 1000 spots per rank"
for name in ["strong", "weak", "split", "memory", "projection"]:
    b = open(f"{out}/report/{name}.png", "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR", name
    w, h = struct.unpack(">II", b[16:24])
    assert w >= 600 and h >= 400 and len(b) < 300_000, (name, w, h, len(b))
s = json.load(open(f"{out}/ranks-2/summary.json"))
c = s["comm"]
assert c["order"] == ["compute", "halo", "corruption", "corruption_plan", "allreduce"], c["order"]
k = c["kinds"]
for kind in ["halo", "corruption", "allreduce"]:
    assert all(b > 0 for b in k[kind]["bytes_per_rank"]), kind
    assert k[kind]["bytes_total"] == sum(k[kind]["bytes_per_rank"])
# 5 halo exchanges and 2 corruption exchanges per epoch, per rank; on 2 ranks the split
# epilogue's two steps (small allreduce + reduce-scatter by genes, then the all-gather) and the
# exchange of W2W2ᵀ's parts per epoch
assert k["halo"]["calls_per_rank"] == [5 * s["epochs"]] * 2, k["halo"]["calls_per_rank"]
assert k["corruption"]["calls_per_rank"] == [2 * s["epochs"]] * 2
assert k["allreduce"]["calls_per_rank"] == [3 * s["epochs"]] * 2, k["allreduce"]["calls_per_rank"]
for r in range(2):
    tot = sum(k[n]["seconds_per_rank"][r] for n in c["order"])
    assert abs(tot - s["train_seconds"]) < 1e-6 * max(1, s["train_seconds"]) + 1e-9, (tot, s["train_seconds"])
one = json.load(open(f"{out}/ranks-1/summary.json"))["comm"]["kinds"]
assert one["halo"]["bytes_total"] == 0 and one["allreduce"]["bytes_total"] == 0
r = json.load(open(f"{out}/report/scaling.json"))
assert r["projection"]["genes"] == 3000 and len(r["projected"]) == 2 * 2 * 5
PY
then pass "CSV rows, valid PNGs (< 300 KB), summary.json comm (calls, bytes, seconds add up to train_seconds), scaling.json"
else fail "scaling outputs"; fi

if [ $failures = 0 ]; then echo "scaling tests: all passed"; else echo "scaling tests: $failures FAILED"; fi
exit $(( failures > 0 ))
