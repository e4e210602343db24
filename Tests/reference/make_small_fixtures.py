#!/usr/bin/env python3
"""Make the small reference fixtures committed in Tests/reference/ with the ORIGINAL code:
GraphST 1.1.1 (PyTorch, CPU), scanpy 1.11.5, R mclust (EEE) and numpy's own argsort.

Usage (see README.md beside this file for the environment):
  python make_small_fixtures.py --stgnn .build/release/stgnn-dist [--out Tests/reference] [--allow-other-versions]

The data is the project's own synthetic slide (`stgnn-dist synth`, a hexagonal Visium-like
lattice with layered domains and negative-binomial counts), so no third-party data is committed;
only the fixtures are, in the format of shared/reference (its README describes every field), so
Sources/STData/ReferenceFixture.swift and `stgnn-dist verify` read them unchanged. Every dataset
is gzip-compressed (with the shuffle filter) to keep each file small.

Files written:
  model_synth300_10x.h5   GraphST on 300 spots x 80 genes, `10x` normalisation (Encoder)
  model_synth300_kipf.h5  the same slide, `kipf` normalisation (Encoder_sparse, GraphST's "Stereo" path)
  prep_synth300.h5        scanpy seurat_v3 HVGs (40 of 83 genes; 3 genes duplicated so that a group of
                          exactly tied genes straddles the cut) + normalize_total/log1p/scale
  gmm_synth300_eee7.h5    PCA-20 of the preprocessed slide -> R mclust Mclust(pcs, 7, "EEE"): more
                          components than the slide's 4 domains, so EM has local optima to miss
  argsort_numpy.h5        np.argsort (numpy's default kind) of float64 keys with many ties, sizes
                          100...5000, incl. a dominant minimum (x86-simd-sort's std::sort fallback) and NaN

The model recipe is the one of shared/reference/make_reference.py (GraphST's own preprocessing,
graph construction, Encoder and training loop, exactly as GraphST.train runs them); GraphST's code
is run, never copied. GraphST keeps every gene when there are fewer than 3000, as here.
"""
import argparse
import importlib
import os
import subprocess
import sys
import tempfile

import numpy as np

FORMAT = "stgnn-reference"
VERSION = 1
# The environment the committed fixtures were made in (pip install -r requirements.txt).
PINS = {
    "GraphST": "1.1.1", "torch": "2.13.0+cpu", "scanpy": "1.11.5", "numpy": "2.4.6", "scipy": "1.17.1",
    "scikit-learn": "1.9.1", "scikit-misc": "0.5.3", "POT": "0.9.7.post1", "h5py": "3.16.0",
    "pandas": "2.3.3", "anndata": "0.12.19",
}
SLIDE = dict(spots=300, genes=80, domains=4, seed=7)
GZIP = dict(compression="gzip", compression_opts=9, shuffle=True)
# Compact groups (links in the object header, no B-tree and heap per group); single-chunk datasets without a chunk B-tree; readable by HDF5 ≥ 1.10.
LIBVER = ("v110", "v110")


def installed_versions():
    from importlib.metadata import version
    return {name: version(name) for name in PINS}


def check_versions(allow_other):
    have = installed_versions()
    wrong = {k: (v, PINS[k]) for k, v in have.items() if v != PINS[k]}
    if wrong and not allow_other:
        sys.exit("version mismatch (installed, pinned): %s\n(pip install -r requirements.txt, or --allow-other-versions)" % wrong)
    return have


def mclust_version():
    out = subprocess.run(["Rscript", "-e", 'cat(R.version$major, R.version$minor, as.character(packageVersion("mclust")))'],
                         check=True, capture_output=True, text=True).stdout.split()
    return f"R {out[0]}.{out[1]}, mclust {out[2]}"


def dset(group, name, data):
    """A dataset, gzip-compressed when that pays (a chunked dataset costs ~2 KiB of index)."""
    data = np.asarray(data)
    if data.nbytes <= 4096:
        group.create_dataset(name, data=data)
    else:
        group.create_dataset(name, data=data, **GZIP)


def write_csr(group, name, m, dtype):
    import scipy.sparse as sp
    m = sp.csr_matrix(m)
    m.sort_indices()
    g = group.create_group(name)
    g.attrs["shape"] = np.array(m.shape, dtype=np.int64)
    dset(g, "data", m.data.astype(dtype))
    dset(g, "indices", m.indices.astype(np.int64))
    dset(g, "indptr", m.indptr.astype(np.int64))


def coo(m):
    import scipy.sparse as sp
    m = sp.coo_matrix(m)
    order = np.lexsort((m.col, m.row))
    return m.row[order].astype(np.int64), m.col[order].astype(np.int64), m.data[order]


def read_slide(path):
    import scanpy as sc
    adata = sc.read_h5ad(path)
    adata.var_names_make_unique()
    adata.X = adata.X.astype(np.float32)      # integer counts, exact in float32 (as the fixtures store them)
    return adata


# --- model -----------------------------------------------------------------------------------------
def model_fixture(slide, out, normalisation, epochs, seed=41, dim=16, lr=0.001, alpha=10.0, beta=1.0, rows=32, source=""):
    import h5py
    import scanpy as sc
    import torch
    import torch.nn.functional as F
    from torch import nn
    from GraphST.model import Encoder, Encoder_sparse
    gp = importlib.import_module("GraphST.preprocess")  # the module, not the function GraphST re-exports

    torch.set_num_threads(1)
    adata = read_slide(slide)
    datatype = "10X" if normalisation == "10x" else "Stereo"
    gp.fix_seed(seed)  # as GraphST.__init__ does, before preprocessing
    assert adata.n_vars < 3000
    # GraphST.preprocess would ask seurat_v3 for 3000 genes; with fewer, keep them all, in order.
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.scale(adata, zero_center=False, max_value=10)
    adata.var["highly_variable"] = True
    if datatype == "10X":
        gp.construct_interaction(adata)
    else:
        gp.construct_interaction_KNN(adata)
    gp.add_contrastive_label(adata)
    gp.get_feature(adata)

    feat = torch.FloatTensor(adata.obsm["feat"].copy())
    label = torch.FloatTensor(adata.obsm["label_CSL"])
    knn = np.asarray(adata.obsm["graph_neigh"])
    adj_raw = np.asarray(adata.obsm["adj"])
    mask = torch.FloatTensor(knn.copy() + np.eye(adj_raw.shape[0]))
    if datatype == "10X":
        adj_np = gp.preprocess_adj(adj_raw)
        adj = torch.FloatTensor(adj_np)
        model = Encoder(feat.shape[1], dim, mask)
    else:
        adj = gp.preprocess_adj_sparse(adj_raw)
        adj_np = adj.to_dense().numpy()
        model = Encoder_sparse(feat.shape[1], dim, mask)

    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    bce = nn.BCEWithLogitsLoss()
    opt = torch.optim.Adam(model.parameters(), lr, weight_decay=0.0)
    perms, losses, grad0 = [], {"total": [], "feat": [], "sl_1": [], "sl_2": []}, None
    for epoch in range(epochs):
        model.train()
        ids = np.random.permutation(np.arange(feat.shape[0]))  # == GraphST permutation()
        perms.append(ids)
        feat_a = feat[ids]
        _, emb, ret, ret_a = model(feat, feat_a, adj)
        l1, l2 = bce(ret, label), bce(ret_a, label)
        lf = F.mse_loss(feat, emb)
        loss = alpha * lf + beta * (l1 + l2)
        opt.zero_grad()
        loss.backward()
        if epoch == 0:
            grad0 = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
        opt.step()
        for k, v in (("total", loss), ("feat", lf), ("sl_1", l1), ("sl_2", l2)):
            losses[k].append(float(v))
    with torch.no_grad():
        model.eval()
        z, h, _, _ = model(feat, feat[perms[-1]], adj)

    n = feat.shape[0]
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(n, size=min(n, rows), replace=False))
    names = {"weight1": "W1", "weight2": "W2", "disc.f_k.weight": "Wb", "disc.f_k.bias": "b"}
    with h5py.File(out, "w", libver=LIBVER) as f:
        f.attrs.update(format=FORMAT, version=VERSION, kind="model", source=source,
                       dataset=os.path.basename(slide), normalisation=normalisation, alpha=alpha, beta=beta,
                       lr=lr, epochs=epochs, seed=seed, n_spots=n, n_genes=feat.shape[1], dim=dim, k=3)
        dset(f, "spatial", np.asarray(adata.obsm["spatial"], dtype=np.float64))
        dset(f, "gene_names", np.array(adata.var_names[adata.var["highly_variable"]], dtype="S"))
        write_csr(f, "X", adata.obsm["feat"], np.float32)
        g = f.create_group("graph")
        for key, m in (("knn", knn), ("adj", adj_np), ("mask", mask.numpy())):
            r, c, v = coo(m)
            dset(g, f"{key}_row", r)
            dset(g, f"{key}_col", c)
            if key == "adj":
                dset(g, "adj_val", v.astype(np.float32))
        for grp, src in (("init", init), ("grad0", grad0), ("after", dict(model.state_dict()))):
            gg = f.create_group(grp)
            for k, v in src.items():
                if k in names:
                    arr = v.detach().cpu().numpy().astype(np.float32)
                    if names[k] == "Wb":
                        arr = arr.reshape(dim, dim)
                    dset(gg, names[k], arr)
        dset(f, "perm", np.stack(perms).astype(np.int64))
        lg = f.create_group("loss")
        for k, v in losses.items():
            dset(lg, k, np.array(v, dtype=np.float64))
        fg = f["after"]
        dset(fg, "rows", chosen.astype(np.int64))
        dset(fg, "Z_rows", z.numpy()[chosen].astype(np.float32))
        dset(fg, "H_rows", h.numpy()[chosen].astype(np.float32))
    print(f"wrote {out}: n={n} G={feat.shape[1]} d={dim} epochs={epochs} loss {losses['total'][0]:.6f} -> {losses['total'][-1]:.6f}")


# --- prep ------------------------------------------------------------------------------------------
def hvg_table(adata, n_top):
    import scanpy as sc
    a = adata.copy()
    sc.pp.highly_variable_genes(a, flavor="seurat_v3", n_top_genes=n_top)
    return a.var


def with_duplicates(adata, genes, copies):
    """The slide with `copies` extra copies of each gene in `genes` appended as new columns."""
    import anndata as ad
    import scipy.sparse as sp
    cols = [adata.var_names.get_loc(g) for g in genes for _ in range(copies)]
    names = [f"{g}_copy{c + 1}" for g in genes for c in range(copies)]
    X = sp.hstack([sp.csr_matrix(adata.X), sp.csr_matrix(adata.X)[:, cols]]).tocsr().astype(np.float32)
    out = ad.AnnData(X=X, obs=adata.obs.copy())
    out.var_names = list(adata.var_names) + names
    out.obsm["spatial"] = adata.obsm["spatial"].copy()
    return out


def straddling_tie_groups(var):
    """Groups of genes with exactly equal variances_norm, some selected and some not."""
    groups = []
    for v, idx in var.groupby("variances_norm").groups.items():
        sel = var.loc[idx, "highly_variable"]
        if len(idx) > 1 and sel.any() and not sel.all():
            groups.append(list(idx))
    return groups


def prep_fixture(slide, out, n_top, source):
    import h5py
    import scanpy as sc
    import scipy.sparse as sp
    base = read_slide(slide)
    # Exact ties in variances_norm happen between genes with identical counts statistics (many
    # low-count genes in real data); numpy's unstable argsort then decides which tied genes are
    # selected. Duplicate the genes around the cut until a tied group straddles it.
    ranks = hvg_table(base, n_top)["highly_variable_rank"]
    order = list(ranks.sort_values().index)
    adata, ties = None, []
    for start in range(n_top - 2, n_top + 3):
        cand = with_duplicates(base, [order[start]], 3)
        ties = straddling_tie_groups(hvg_table(cand, n_top))
        if ties:
            adata = cand
            break
    if adata is None:
        sys.exit("prep: no duplicated gene group straddles the HVG cut; choose other genes")
    raw = sp.csr_matrix(adata.X).copy()
    sc.pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=n_top)
    var = adata.var
    assert straddling_tie_groups(var) == ties
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.scale(adata, zero_center=False, max_value=10)
    hv = adata[:, adata.var["highly_variable"]]
    with h5py.File(out, "w", libver=LIBVER) as f:
        f.attrs.update(format=FORMAT, version=VERSION, kind="prep", source=source,
                       dataset=os.path.basename(slide) + " + 3 copies of " + ties[0][0],
                       n_top_genes=n_top, target_sum=1e4, max_value=10.0)
        write_csr(f, "counts", raw, np.float32)
        dset(f, "gene_names", np.array(adata.var_names, dtype="S"))
        h = f.create_group("hvg")
        for col in ("means", "variances", "variances_norm", "highly_variable_rank"):
            dset(h, col, np.nan_to_num(var[col].to_numpy(dtype=np.float64), nan=-1.0))
        dset(h, "highly_variable", var["highly_variable"].to_numpy().astype(np.int8))
        write_csr(f, "X", hv.X, np.float32)
        dset(f, "hvg_names", np.array(hv.var_names, dtype="S"))
    sel = {g: bool(var.loc[g, "highly_variable"]) for g in ties[0]}
    print(f"wrote {out}: {adata.n_obs} x {adata.n_vars} -> {hv.n_vars} HVGs; tied group across the cut: {sel}")


# --- gmm -------------------------------------------------------------------------------------------
def gmm_fixture(slide, out, clusters, source, label="ground_truth"):
    import h5py
    import scanpy as sc
    import scipy.sparse as sp
    from sklearn.decomposition import PCA
    adata = read_slide(slide)
    assert adata.n_vars < 3000
    adata.var["highly_variable"] = True        # as make_reference.py gmm: every gene below 3000
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.scale(adata, zero_center=False, max_value=10)
    Xh = adata[:, adata.var["highly_variable"]].X
    Xh = Xh.toarray() if sp.issparse(Xh) else np.asarray(Xh)
    pcs = PCA(n_components=20, random_state=42).fit_transform(Xh)
    # mclust through Rscript on a CSV written with 17 significant digits (exact round trip).
    with tempfile.TemporaryDirectory() as tmp:
        np.savetxt(f"{tmp}/pcs.csv", pcs, delimiter=",", fmt="%.17g")
        script = f"""
            suppressPackageStartupMessages(library(mclust))
            pcs <- as.matrix(read.csv("{tmp}/pcs.csv", header = FALSE))
            set.seed(2020)
            res <- Mclust(pcs, {clusters}, "EEE")
            w <- function(x, name) write.table(format(x, digits = 17), file.path("{tmp}", name),
                                               row.names = FALSE, col.names = FALSE, quote = FALSE)
            w(c(res$loglik, res$bic), "scalars.txt")
            w(res$classification, "labels.txt")
            w(res$parameters$pro, "pro.txt")
            w(t(res$parameters$mean), "mean.txt")
            w(res$parameters$variance$Sigma, "sigma.txt")
        """
        subprocess.run(["Rscript", "-e", script], check=True)
        rd = lambda name: np.loadtxt(f"{tmp}/{name}", ndmin=1)
        loglik, bic = rd("scalars.txt")
        labels = rd("labels.txt").astype(np.int64)
        pro = rd("pro.txt")
        mean = np.loadtxt(f"{tmp}/mean.txt", ndmin=2).reshape(clusters, 20)
        sigma = np.loadtxt(f"{tmp}/sigma.txt", ndmin=2).reshape(20, 20)
    with h5py.File(out, "w", libver=LIBVER) as f:
        f.attrs.update(format=FORMAT, version=VERSION, kind="gmm", source=source,
                       dataset=os.path.basename(slide), clusters=clusters, loglik=float(loglik), bic=float(bic))
        dset(f, "pcs", pcs.astype(np.float64))
        dset(f, "labels", labels)
        dset(f, "pro", pro.astype(np.float64))
        dset(f, "mean", mean.astype(np.float64))
        dset(f, "sigma", sigma.astype(np.float64))
        dset(f, "truth", np.array(adata.obs[label].astype(str), dtype="S"))
    print(f"wrote {out}: {pcs.shape[0]} x 20, {clusters} components, loglik {loglik:.4f}")


# --- argsort ---------------------------------------------------------------------------------------
def argsort_cases():
    """Keys with many ties, by size and shape."""
    cases = []
    for n in (100, 257, 1000, 5000):
        rng = np.random.default_rng(1000 + n)
        # Few distinct values, evenly spread: the partitions and the sorting networks.
        cases.append((f"few-distinct-{n}", rng.integers(0, 7, n).astype(np.float64) - 3))
        # A dominant minimum: the median-of-8 pivot is the range's minimum again and again, the
        # range never shrinks, and past 2·log2(n) levels x86-simd-sort hands it to std::sort.
        k = rng.integers(0, 40, n)
        cases.append((f"dominant-minimum-{n}", np.where(k < 36, -5.0, k.astype(np.float64) / 4)))
        # seurat_v3-like: -variances_norm, mostly distinct with runs of exact ties.
        v = np.round(rng.gamma(1.5, 1.0, n) * 256) / 256
        v[rng.random(n) < 0.3] = 0.75
        cases.append((f"seurat-like-{n}", -v))
    rng = np.random.default_rng(7)
    k = rng.integers(0, 5, 1000).astype(np.float64)
    k[rng.random(1000) < 0.02] = np.nan
    cases.append(("nan-1000", k))                     # with NaN: std::sort, NaN last
    s = np.sort(np.random.default_rng(8).integers(0, 9, 600)).astype(np.float64)
    cases.append(("sorted-600", s))                   # already sorted: the identity
    return cases


def argsort_fixture(out, source):
    import h5py
    with h5py.File(out, "w", libver=LIBVER) as f:
        f.attrs.update(format="stgnn-argsort", version=1, source=source,
                       note="expected = np.argsort(keys) (default kind) on this CPU; "
                            "simd: " + " ".join(simd_found()))
        for name, keys in argsort_cases():
            g = f.create_group(name)
            dset(g, "keys", keys)
            dset(g, "expected", np.argsort(keys).astype(np.int32))
    print(f"wrote {out}: {len(argsort_cases())} argsort cases")


def simd_found():
    from numpy._core._multiarray_umath import __cpu_features__ as feats
    return [k for k in ("AVX2", "AVX512F", "AVX512_SKX", "AVX512_ICL", "AVX512_SPR") if feats.get(k)]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stgnn", required=True, help="the stgnn-dist executable (its `synth` writes the slide)")
    p.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--allow-other-versions", action="store_true")
    p.add_argument("--only", choices=["model", "prep", "gmm", "argsort"], action="append")
    a = p.parse_args()
    have = check_versions(a.allow_other_versions)
    only = set(a.only or ["model", "prep", "gmm", "argsort"])
    stgnn_version = subprocess.run([a.stgnn, "--version"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        slide = os.path.join(tmp, "synth_{spots}x{genes}_d{domains}_s{seed}.h5ad".format(**SLIDE))
        subprocess.run([a.stgnn, "synth", "--spots", str(SLIDE["spots"]), "--genes", str(SLIDE["genes"]),
                        "--domains", str(SLIDE["domains"]), "--seed", str(SLIDE["seed"]), "--output", slide],
                       check=True, stdout=subprocess.DEVNULL)
        tail = f" (Tests/reference/make_small_fixtures.py; slide: stgnn-dist {stgnn_version} synth)"
        model_src = f"GraphST {have['GraphST']}, torch {have['torch']} (CPU, 1 thread), scanpy {have['scanpy']}, numpy {have['numpy']}" + tail
        prep_src = f"scanpy {have['scanpy']}, scikit-misc {have['scikit-misc']}, numpy {have['numpy']} (argsort on {'/'.join(simd_found())})" + tail
        if "model" in only:
            for norm in ("10x", "kipf"):
                model_fixture(slide, os.path.join(a.out, f"model_synth300_{norm}.h5"), norm, a.epochs, source=model_src)
        if "prep" in only:
            prep_fixture(slide, os.path.join(a.out, "prep_synth300.h5"), 40, prep_src)
        if "gmm" in only:
            gmm_src = (f"{mclust_version()} Mclust(pcs, G, 'EEE') after set.seed(2020); PCA-20 by scikit-learn {have['scikit-learn']}, "
                       f"scanpy {have['scanpy']}" + tail)
            gmm_fixture(slide, os.path.join(a.out, "gmm_synth300_eee7.h5"), 7, gmm_src)
        if "argsort" in only:
            argsort_fixture(os.path.join(a.out, "argsort_numpy.h5"), f"numpy {have['numpy']}" + tail)
    for name in sorted(os.listdir(a.out)):
        if name.endswith(".h5"):
            print(f"  {name}: {os.path.getsize(os.path.join(a.out, name)) / 1024:.1f} KiB")


if __name__ == "__main__":
    sys.exit(main())
