"""Opens stgnn-dist outputs with the real anndata and scanpy, with every warning an error.

Usage: check_result_h5ad.py RUN_DIR [--spots N] [--label COLUMN] [--reconstruction GENES]

Checks that result.h5ad reads with anndata.read_h5ad and scanpy without a warning, that
obs["domain"] is categorical and agrees with domains.csv, that the obsm arrays have the
documented shapes, that uns holds the run's parameters and scores, and that scanpy can use the
result (neighbours on emb_pca, a spatial scatter plot). Prints one line per check and a closing
"N passed, N failed" line; exits non-zero on any failure.
"""
import argparse
import csv
import json
import os
import sys
import traceback
import warnings

warnings.simplefilter("error")  # any warning while reading or using the result is a failure
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("NUMBA_CACHE_DIR", "/tmp/numba-cache")

passed, failed = 0, 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        print(f"PASS {name}")
        passed += 1
    except Exception:  # noqa: BLE001 - report every failure, keep going
        print(f"FAIL {name}")
        traceback.print_exc()
        failed += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--spots", type=int, required=True)
    ap.add_argument("--label")
    ap.add_argument("--reconstruction", type=int, default=0, help="genes of obsm['emb'] if written")
    a = ap.parse_args()

    import anndata as ad
    import numpy as np
    import pandas as pd

    path = os.path.join(a.run_dir, "result.h5ad")
    with open(os.path.join(a.run_dir, "summary.json")) as f:
        summary = json.load(f)
    state = {}

    def read():
        state["adata"] = ad.read_h5ad(path)

    check("anndata.read_h5ad without warnings", read)
    if "adata" not in state:
        print(f"{passed} passed, {failed + 1} failed")
        sys.exit(1)
    adata = state["adata"]

    def shapes():
        assert adata.n_obs == a.spots, (adata.n_obs, a.spots)
        assert adata.obsm["spatial"].shape == (a.spots, 2)
        assert adata.obsm["latent"].shape[0] == a.spots and adata.obsm["latent"].dtype == np.float32
        pcs = summary["domains"]["pcs"]
        assert adata.obsm["emb_pca"].shape == (a.spots, pcs), adata.obsm["emb_pca"].shape
        if a.reconstruction:
            assert adata.obsm["emb"].shape == (a.spots, a.reconstruction), adata.obsm["emb"].shape
        else:
            assert "emb" not in adata.obsm
        assert adata.obs_names.is_unique

    check("obsm shapes (spatial, latent, emb_pca, emb)", shapes)

    def domain():
        d = adata.obs["domain"]
        assert isinstance(d.dtype, pd.CategoricalDtype), d.dtype
        k = summary["domains"]["clustering"]["config"]["clusters"]
        assert 1 <= len(d.cat.categories) <= k, (d.cat.categories, k)
        assert d.notna().all()
        with open(os.path.join(a.run_dir, "domains.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        assert [r["spot"] for r in rows] == list(adata.obs_names)
        assert [r["domain"] for r in rows] == [str(x) for x in d]
        xy = np.array([[float(r["x"]), float(r["y"])] for r in rows])
        assert np.allclose(xy, adata.obsm["spatial"]), "domains.csv coordinates differ from obsm['spatial']"

    check("obs['domain'] categorical, equal to domains.csv", domain)

    def uns():
        u = adata.uns["stgnn_dist"]
        assert isinstance(u, dict)
        json.loads(u["configuration"])
        dom = u["domains"]
        assert dom["method"] in ("gmm", "kmeans")
        assert int(dom["clusters"]) == summary["domains"]["clustering"]["config"]["clusters"]
        if a.label:
            ari = float(dom["ari"])
            assert abs(ari - summary["ari"]) < 1e-12, (ari, summary["ari"])

    check("uns['stgnn_dist'] parameters and scores", uns)

    def scores():
        if not a.label:
            return
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

        truth = adata.obs[a.label]
        keep = truth.notna() & (truth.astype(str) != "") & (truth.astype(str) != "nan")
        t = truth[keep].astype(str).values
        d = adata.obs["domain"][keep].astype(str).values
        ari = adjusted_rand_score(t, d)
        nmi = normalized_mutual_info_score(t, d)
        assert abs(ari - summary["ari"]) < 1e-9, (ari, summary["ari"])
        assert abs(nmi - summary["nmi"]) < 1e-9, (nmi, summary["nmi"])

    check("ARI/NMI equal to scikit-learn's on the written labels", scores)

    def pca_of_h():
        if not a.reconstruction:
            return
        from sklearn.decomposition import PCA

        h = np.asarray(adata.obsm["emb"], dtype=np.float64)
        pcs = summary["domains"]["pcs"]
        ref = PCA(n_components=pcs, svd_solver="full").fit_transform(h)
        ours = np.asarray(adata.obsm["emb_pca"], dtype=np.float64)
        # Components with nearly equal variances may rotate into each other: compare the
        # well-separated leading ones, signs included (scikit-learn >= 1.5's convention).
        ev = np.var(ref, axis=0)
        k = 1
        while k < pcs and ev[k - 1] > ev[k] * (1 + 1e-3):
            k += 1
        err = np.abs(ours[:, :k] - ref[:, :k]).max() / np.abs(ref[:, :k]).max()
        assert k >= 2 and err < 1e-3, (k, err)

    check("emb_pca equals scikit-learn's PCA of obsm['emb'] (signs included)", pca_of_h)

    def scanpy_use():
        import scanpy as sc
        import matplotlib

        matplotlib.use("Agg")
        b = adata.copy()
        sc.pp.neighbors(b, use_rep="emb_pca", n_neighbors=10)
        with warnings.catch_warnings():
            # scanpy 1.11's plotting calls matplotlib APIs that matplotlib itself marks as
            # (pending) deprecated: that is about those two packages, not about our file. Any
            # other warning (e.g. about the data) still fails the check.
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            sc.pl.embedding(b, basis="spatial", color="domain", show=False)

    check("scanpy: neighbors on emb_pca, spatial scatter by domain", scanpy_use)

    def round_trip():
        out = os.path.join(a.run_dir, "roundtrip.h5ad")
        adata.write_h5ad(out)
        b = ad.read_h5ad(out)
        assert (b.obs["domain"] == adata.obs["domain"]).all()
        os.remove(out)

    check("anndata write/read round trip", round_trip)

    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
