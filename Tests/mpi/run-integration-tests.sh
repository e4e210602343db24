#!/usr/bin/env bash
# End-to-end multi-rank tests of stgnn-dist under a real mpirun:
#   - `verify` of the small committed fixtures (Tests/reference: GraphST 10x and kipf, scanpy prep,
#     mclust gmm) on 1, 2, 3 and 4 ranks, always; of every shared fixture too when ../shared is there;
#   - a real dataset trained on 1 and on 3 ranks: every epoch's loss within 1e-5 relative and the
#     same embedding (checked by `stgnn-dist compare-runs`... here by tools/compare_runs.py-free awk);
#   - two slides integrated (--input twice) on 1 and on 3 ranks, compared the same way;
#   - failures end the whole job promptly: a missing file on every rank, more ranks than spots.
# Usage: STGNN_BIN=path/to/stgnn-dist Tests/mpi/run-integration-tests.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
bin="${STGNN_BIN:-.build/release/stgnn-dist}"
shared="${STGNN_SHARED:-../shared}"
export OPENBLAS_NUM_THREADS=1
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
MPIRUN=(mpirun -q --oversubscribe --bind-to none)
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
failures=0
pass() { echo "ok:   $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# 1. Fixtures on 1-4 ranks: the small committed ones always, the shared ones when present.
small=(Tests/reference/model_synth300_10x.h5 Tests/reference/model_synth300_kipf.h5
       Tests/reference/prep_synth300.h5 Tests/reference/gmm_synth300_eee7.h5)
for n in 1 2 3 4; do
    if timeout 600 "${MPIRUN[@]}" -n "$n" "$bin" verify "${small[@]}" >"$tmp/small$n.out" 2>&1 \
        && [ "$(grep -c '^PASSED$' "$tmp/small$n.out")" = ${#small[@]} ] \
        && [ "$(grep -c "(.*, $n rank" "$tmp/small$n.out")" = ${#small[@]} ]; then
        pass "verify the ${#small[@]} small fixtures (Tests/reference) on $n rank(s): $(grep -m1 'gmm/loglik ' "$tmp/small$n.out" | sed 's/  */ /g')"
    else
        fail "verify small fixtures on $n rank(s)"; cat "$tmp/small$n.out"
    fi
done
if [ -d "$shared/reference" ]; then
    for n in 1 2 3 4; do
        if timeout 900 "${MPIRUN[@]}" -n "$n" "$bin" verify "$shared"/reference/model_*.h5 >"$tmp/verify$n.out" 2>&1; then
            pass "verify model fixtures on $n rank(s): $(grep -c PASSED "$tmp/verify$n.out") passed"
        else
            fail "verify on $n rank(s)"; cat "$tmp/verify$n.out"
        fi
    done
    for n in 1 3; do
        if timeout 600 "${MPIRUN[@]}" -n "$n" "$bin" verify "$shared/reference/gmm_dlpfc151676_eee7.h5" >"$tmp/gmm$n.out" 2>&1; then
            pass "verify gmm fixture (mclust EEE) on $n rank(s): $(grep -m1 'gmm/loglik ' "$tmp/gmm$n.out" | sed 's/  */ /g')"
        else
            fail "verify gmm fixture on $n rank(s)"; cat "$tmp/gmm$n.out"
        fi
        if timeout 600 "${MPIRUN[@]}" -n "$n" "$bin" verify "$shared/reference/prep_dlpfc151676.h5" >"$tmp/prep$n.out" 2>&1; then
            pass "verify prep fixture on $n rank(s)"
        else
            fail "verify prep fixture on $n rank(s)"; cat "$tmp/prep$n.out"
        fi
    done
else
    echo "skip: $shared/reference absent (set STGNN_SHARED); fixture verification on several ranks not run"
fi

# 2. 1 vs 3 ranks on a real dataset (or the built-in slide without ../shared): same losses, same Z,
# the same refined domains (the GMM, the refinement's halo of labels and the gathers on 3 ranks).
data=()
if [ -f "$shared/data/STARmap_mPFC_20180417_BZ5_control.h5ad" ]; then data=(--input "$shared/data/STARmap_mPFC_20180417_BZ5_control.h5ad"); fi
"$bin" run "${data[@]}" --epochs 100 --clusters 4 --refine --output "$tmp/r1" --progress-every 0 >/dev/null 2>&1 || fail "1-rank run"
timeout 600 "${MPIRUN[@]}" -n 3 "$bin" run "${data[@]}" --epochs 100 --clusters 4 --refine --output "$tmp/r3" --progress-every 0 >/dev/null 2>&1 || fail "3-rank run"
if "$bin" compare "$tmp/r1" "$tmp/r3" --loss-tolerance 1e-5 --latent-tolerance 1e-3 --domain-ari 0.99 >"$tmp/cmp.out" 2>&1; then
    pass "1 vs 3 ranks, 100 epochs: $(tail -n 3 "$tmp/cmp.out" | tr '\n' ' ')"
else
    fail "1 vs 3 ranks disagree"; cat "$tmp/cmp.out"
fi

defect=$(sed -n 's/.*"symmetry_defect" : \([0-9.eE+-]*\).*/\1/p' "$tmp/r3/summary.json")
if awk -v d="$defect" 'BEGIN { exit !(d != "" && d + 0 < 1e-12) }'; then
    pass "partitioned Â on 3 ranks is symmetric: |xᵀÂy − yᵀÂx|/|xᵀÂy| = $defect"
else
    fail "symmetry check on 3 ranks: defect '$defect'"
fi

# 2b. Two slides integrated into one (--input twice, side by side) on 1 and 3 ranks: every rank
# reads only its own rows of each file, so both runs must see the same rows (same losses, same Z).
"$bin" synth --spots 600 --genes 150 --domains 4 --seed 1 --output "$tmp/sliceA.h5ad" >/dev/null 2>&1 || fail "synth slice A"
"$bin" synth --spots 450 --genes 150 --domains 3 --seed 2 --output "$tmp/sliceB.h5ad" >/dev/null 2>&1 || fail "synth slice B"
two=(--input "$tmp/sliceA.h5ad" --input "$tmp/sliceB.h5ad")
"$bin" run "${two[@]}" --epochs 50 --output "$tmp/s1" --progress-every 0 >/dev/null 2>"$tmp/s1.err" || { fail "2-slice 1-rank run"; cat "$tmp/s1.err"; }
timeout 600 "${MPIRUN[@]}" -n 3 "$bin" run "${two[@]}" --epochs 50 --output "$tmp/s3" --progress-every 0 >/dev/null 2>"$tmp/s3.err" || { fail "2-slice 3-rank run"; cat "$tmp/s3.err"; }
if "$bin" compare "$tmp/s1" "$tmp/s3" --loss-tolerance 1e-5 --latent-tolerance 1e-3 >"$tmp/cmp2.out" 2>&1; then
    pass "2 slices (1050 spots) on 1 vs 3 ranks, 50 epochs: $(tail -n 3 "$tmp/cmp2.out" | tr '\n' ' ')"
else
    fail "2 slices: 1 vs 3 ranks disagree"; cat "$tmp/cmp2.out"
fi

# 3. Failures end the job promptly with one message and a non-zero exit.
t0=$SECONDS
timeout 60 "${MPIRUN[@]}" -n 3 "$bin" run --input /nonexistent/slide.h5ad --output "$tmp/bad" >"$tmp/missing.out" 2>&1
rc=$?
count=$(grep -c "stgnn-dist: error: /nonexistent/slide.h5ad" "$tmp/missing.out")
if [ $rc != 0 ] && [ $rc != 124 ] && [ "$count" = 1 ]; then
    pass "missing input on 3 ranks: exit $rc after $((SECONDS - t0)) s, message printed once"
else
    fail "missing input on 3 ranks (rc $rc, message count $count)"; cat "$tmp/missing.out"
fi
timeout 60 "${MPIRUN[@]}" -n 5 "$bin" run --synthetic-spots 4 --synthetic-genes 60 --synthetic-domains 2 --output "$tmp/bad2" >"$tmp/ranks.out" 2>&1
rc=$?
if [ $rc != 0 ] && [ $rc != 124 ] && grep -q "more ranks than spots\|fewer than" "$tmp/ranks.out"; then
    pass "5 ranks for 4 spots: refused (exit $rc)"
else
    fail "5 ranks for 4 spots (rc $rc)"; cat "$tmp/ranks.out"
fi
[ ! -e "$tmp/bad/result.h5ad" ] || fail "a failed run left result.h5ad behind"

# 3. Threads within a rank never change a number: the built-in slide (5000 spots: 20 row blocks,
# two float32 partials of K, five of ∂Wb) with --threads 1, 2 and 3 on one rank, and 2 ranks × 1
# and × 2 threads: every loss of metrics.jsonl byte for byte (the seconds removed), and the latent
# embedding and the domains of result.h5ad (h5dump of the datasets when h5dump is installed).
strip() { sed -E 's/,"seconds":[^,}]*//' "$1"; }
thr=(run --synthetic-spots 5000 --synthetic-genes 200 --epochs 20 --clusters 4 --progress-every 0)
ok=1
for t in 1 2 3; do
    timeout 600 "$bin" "${thr[@]}" --threads "$t" --output "$tmp/thr1x$t" >"$tmp/thr1x$t.out" 2>&1 || { ok=0; cat "$tmp/thr1x$t.out"; }
done
for t in 1 2; do
    timeout 600 "${MPIRUN[@]}" -n 2 "$bin" "${thr[@]}" --threads "$t" --output "$tmp/thr2x$t" >"$tmp/thr2x$t.out" 2>&1 || { ok=0; cat "$tmp/thr2x$t.out"; }
done
same() {   # same A B: identical losses and (with h5dump) identical latent/domains
    cmp -s <(strip "$1/metrics.jsonl") <(strip "$2/metrics.jsonl") || return 1
    if command -v h5dump >/dev/null; then
        for ds in /obsm/latent /obs/domain/codes; do
            cmp -s <(h5dump -d "$ds" "$1/result.h5ad" 2>&1 | tail -n +2) <(h5dump -d "$ds" "$2/result.h5ad" 2>&1 | tail -n +2) || return 1
        done
    fi
}
if [ $ok = 1 ] && [ "$(strip "$tmp/thr1x1/metrics.jsonl" | wc -l)" = 20 ] \
    && same "$tmp/thr1x1" "$tmp/thr1x2" && same "$tmp/thr1x1" "$tmp/thr1x3" && same "$tmp/thr2x1" "$tmp/thr2x2"; then
    pass "--threads 1, 2, 3 on 1 rank and 1, 2 on 2 ranks: identical losses (20 epochs), latent and domains"
else
    fail "--threads changes the numbers"; diff <(strip "$tmp/thr1x1/metrics.jsonl") <(strip "$tmp/thr1x2/metrics.jsonl") | head -5
fi

echo "integration tests: $failures failure(s)"
[ $failures = 0 ]
