#!/usr/bin/env bash
# Opens stgnn-dist's result.h5ad with the real Python anndata and scanpy (from PyPI), every warning
# an error. The virtual environment is created on first use and cached in .build/py-venv.
#   STGNN_BIN=.build/release/stgnn-dist Tests/python/run-anndata-tests.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${STGNN_BIN:-.build/release/stgnn-dist}"
venv=.build/py-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import anndata, scanpy, sklearn" 2>/dev/null; then
    echo "== creating $venv (anndata, scanpy from PyPI)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check anndata scanpy scikit-learn
fi
py="$venv/bin/python"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
status=0

# The built-in slide with its truth, refined, with the reconstruction.
"$bin" run --synthetic-spots 600 --synthetic-genes 120 --epochs 30 --progress-every 0 \
    --label ground_truth --refine --write-reconstruction --output "$tmp/synthetic" 2>"$tmp/log" \
    || { cat "$tmp/log"; exit 1; }
"$py" Tests/python/check_result_h5ad.py "$tmp/synthetic" --spots 600 --label ground_truth --reconstruction 120 || status=1

# A file written by `synth`, read back through run: obs columns of the input survive.
"$bin" synth --spots 500 --genes 100 --domains 4 --output "$tmp/slide.h5ad" >/dev/null
"$py" -W error -c "import anndata as ad, sys; a = ad.read_h5ad(sys.argv[1]); assert a.shape == (500, 100), a.shape; assert 'ground_truth' in a.obs" "$tmp/slide.h5ad" \
    && echo "PASS synth output opens in anndata" || { echo "FAIL synth output opens in anndata"; status=1; }
"$bin" run --input "$tmp/slide.h5ad" --clusters 4 --cluster-method kmeans --epochs 20 --progress-every 0 \
    --label ground_truth --output "$tmp/kmeans" 2>"$tmp/log" || { cat "$tmp/log"; exit 1; }
"$py" Tests/python/check_result_h5ad.py "$tmp/kmeans" --spots 500 --label ground_truth || status=1
exit $status
