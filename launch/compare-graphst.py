"""GraphST 1.1.1 against stgnn-dist, per training epoch, interleaved, on the same CPUs and threads.

Run through `launch/compare-graphst` (which creates the Python environment); this file is the
driver and, with `graphst` as first argument, the GraphST worker it starts once per round.

GraphST's epoch time comes from its own training loop, unmodified: `GraphST.GraphST.train` iterates
`for epoch in tqdm(range(self.epochs))`, and the worker replaces the module's `tqdm` name with a
generator that records a timestamp before each epoch and after the last one (no progress bar, no
change to what an epoch computes). Set-up (GraphST's preprocessing, graph, model construction) is
timed apart and excluded. stgnn-dist's epoch times are the `seconds` of each line of its
metrics.jsonl (one `Trainer.step`: the permutation, forward, backward, allreduce and Adam, as
GraphST's loop body) and `seconds_per_epoch` of its summary.json (the training loop's wall time
over the epochs, the first epoch and writing metrics.jsonl included; reading, preprocessing and
clustering excluded). The ratios compare like with like (medians; means of epochs 2..E) and,
most conservatively, GraphST's median with stgnn-dist's whole-run mean.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def thread_env(threads):
    """The environment of every timed process: T threads for every BLAS / OpenMP runtime."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "STGNN_THREADS"):
        env[name] = str(threads)
    return env


def graphst_worker(argv):
    """One GraphST training run; writes its timings as JSON."""
    p = argparse.ArgumentParser(prog="compare-graphst.py graphst")
    p.add_argument("--input", required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--json", required=True)
    a = p.parse_args(argv)

    import torch
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    import importlib
    import importlib.metadata
    import warnings
    warnings.filterwarnings("ignore")
    import scanpy as sc
    trainer = importlib.import_module("GraphST.GraphST")

    stamps = []

    def timed_loop(iterable, *args, **kwargs):
        # Stands in for tqdm(range(epochs)) in GraphST's training loop: a timestamp at the start
        # of every epoch and one after the last.
        for item in iterable:
            stamps.append(time.perf_counter())
            yield item
        stamps.append(time.perf_counter())

    trainer.tqdm = timed_loop

    t0 = time.perf_counter()
    adata = sc.read_h5ad(a.input)
    adata.var_names_make_unique()
    t1 = time.perf_counter()
    model = trainer.GraphST(adata, device=torch.device("cpu"), epochs=a.epochs)
    t2 = time.perf_counter()
    model.train()
    t3 = time.perf_counter()
    if len(stamps) != a.epochs + 1:
        sys.exit(f"compare-graphst: GraphST ran {len(stamps) - 1} epochs, expected {a.epochs} "
                 "(its training loop no longer iterates through tqdm?)")
    per_epoch = [stamps[i + 1] - stamps[i] for i in range(a.epochs)]
    out = {
        "spots": int(model.features.shape[0]), "genes": int(model.features.shape[1]),
        "epochs": a.epochs, "threads": torch.get_num_threads(),
        "torch": torch.__version__, "graphst": importlib.metadata.version("GraphST"),
        "read_seconds": t1 - t0, "setup_seconds": t2 - t1, "train_seconds": t3 - t2,
        "epoch_seconds": per_epoch,
    }
    with open(a.json, "w") as f:
        json.dump(out, f)


def run(cmd, env, log):
    """Runs cmd, its output to log; exits with the log's tail on failure."""
    with open(log, "w") as f:
        r = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        with open(log) as f:
            tail = f.read()[-3000:]
        sys.exit(f"compare-graphst: {' '.join(cmd)} failed (exit {r.returncode}):\n{tail}")


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "graphst":
        return graphst_worker(sys.argv[2:])
    sys.stdout.reconfigure(line_buffering=True)   # progress lines as they come, also into a file
    p = argparse.ArgumentParser(prog="launch/compare-graphst",
                                description="GraphST 1.1.1 against stgnn-dist per epoch, interleaved runs.")
    p.add_argument("--input", default="../shared/data/DLPFC_151676.h5ad", help=".h5ad slide (raw counts in X)")
    p.add_argument("--epochs", type=int, default=20, help="training epochs of every run (default 20)")
    p.add_argument("--rounds", type=int, default=3, help="GraphST, stgnn-dist pairs (default 3)")
    p.add_argument("--threads", type=int, default=2, help="threads of both (default 2)")
    p.add_argument("--cpus", help="taskset CPU list of every run (default 0..threads-1)")
    p.add_argument("--no-bench", action="store_true", help="skip stgnn-bench epoch (sgemm rate, floor)")
    p.add_argument("--keep", help="keep every run's output and log in this folder")
    p.add_argument("--stgnn", required=True, help=argparse.SUPPRESS)
    p.add_argument("--bench", required=True, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.epochs < 2 or a.rounds < 1 or a.threads < 1:
        sys.exit("compare-graphst: need --epochs ≥ 2, --rounds ≥ 1, --threads ≥ 1")
    if not os.path.isfile(a.input):
        sys.exit(f"compare-graphst: {a.input}: no such file")
    cpus = a.cpus or (f"0-{a.threads - 1}" if a.threads > 1 else "0")
    if shutil.which("taskset") is None:
        sys.exit("compare-graphst: taskset not found (util-linux)")
    env = thread_env(a.threads)
    pin = ["taskset", "-c", cpus]
    work = a.keep or tempfile.mkdtemp(prefix="compare-graphst-")
    os.makedirs(work, exist_ok=True)

    print(f"slide {a.input}, {a.epochs} epochs per run, {a.rounds} rounds, {a.threads} threads, CPUs {cpus}")
    print(f"before: {uptime()}")
    rows = []
    for r in range(a.rounds):
        gj = os.path.join(work, f"graphst-{r}.json")
        run(pin + [sys.executable, os.path.abspath(__file__), "graphst", "--input", a.input,
                   "--epochs", str(a.epochs), "--threads", str(a.threads), "--json", gj],
            env, os.path.join(work, f"graphst-{r}.log"))
        with open(gj) as f:
            g = json.load(f)
        out = os.path.join(work, f"stgnn-{r}")
        run(pin + [a.stgnn, "run", "--input", a.input, "--epochs", str(a.epochs), "--threads", str(a.threads),
                   "--progress-every", "0", "--output", out],
            env, os.path.join(work, f"stgnn-{r}.log"))
        with open(os.path.join(out, "summary.json")) as f:
            s = json.load(f)
        with open(os.path.join(out, "metrics.jsonl")) as f:
            se = [json.loads(line)["seconds"] for line in f if line.strip()]
        # Epoch 1 of GraphST includes torch's one-time allocations; the median of the epochs is
        # its steady state, the mean over epochs 2..E the like of stgnn-dist's mean.
        ge = g["epoch_seconds"]
        row = {"graphst_median": statistics.median(ge), "graphst_mean": statistics.fmean(ge[1:]),
               "graphst_first": ge[0], "graphst_setup": g["setup_seconds"],
               "stgnn": s["seconds_per_epoch"], "stgnn_median": statistics.median(se),
               "stgnn_mean": statistics.fmean(se[1:]) if len(se) > 1 else se[0],
               "spots": g["spots"], "genes": g["genes"]}
        # Three ratios: the two like-for-like ones (median against median; mean of epochs 2..E
        # against the same), and GraphST's median against stgnn-dist's whole-run mean (its first
        # epoch and the loop's bookkeeping included), the most conservative.
        row["ratio_median"] = row["graphst_median"] / row["stgnn_median"]
        row["ratio_mean"] = row["graphst_mean"] / row["stgnn_mean"]
        row["ratio"] = row["graphst_median"] / row["stgnn"]
        rows.append(row)
        print(f"round {r + 1}: GraphST {row['graphst_median'] * 1e3:.1f} ms/epoch (median; first "
              f"{row['graphst_first'] * 1e3:.0f} ms, set-up {row['graphst_setup']:.1f} s), "
              f"stgnn-dist {row['stgnn_median'] * 1e3:.2f} ms/epoch (median; seconds_per_epoch "
              f"{row['stgnn'] * 1e3:.2f}), ratio {row['ratio_median']:.0f}× (medians), "
              f"{row['ratio_mean']:.0f}× (means of epochs 2..E), {row['ratio']:.0f}× (against the whole-run mean)", flush=True)

    bench = None
    if not a.no_bench:
        if not os.access(a.bench, os.X_OK):
            sys.exit(f"compare-graphst: {a.bench} not found (swift build -c release --product stgnn-bench), or --no-bench")
        bj = os.path.join(work, "bench.json")
        run(pin + [a.bench, "epoch", "--input", a.input, "--threads", str(a.threads), "--json", bj],
            env, os.path.join(work, "bench.log"))
        with open(bj) as f:
            bench = json.load(f)
    after = uptime()

    print()
    print(f"GraphST {g['graphst']} (torch {g['torch']}, {g['threads']} threads) against stgnn-dist, "
          f"{rows[0]['spots']} spots × {rows[0]['genes']} genes, {a.epochs} epochs per run, CPUs {cpus}:")
    print()
    print("| round | GraphST ms/epoch (median) | GraphST mean, epochs 2..E | stgnn-dist median epoch (metrics.jsonl) "
          "| stgnn-dist mean, epochs 2..E | stgnn-dist seconds_per_epoch (whole run) | ratio of medians "
          "| ratio of means, epochs 2..E | GraphST median / seconds_per_epoch |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    keys = ("graphst_median", "graphst_mean", "stgnn_median", "stgnn_mean", "stgnn", "ratio_median", "ratio_mean", "ratio")
    def line(label, row):
        print(f"| {label} | {row['graphst_median'] * 1e3:.1f} | {row['graphst_mean'] * 1e3:.1f} | "
              f"{row['stgnn_median'] * 1e3:.2f} | {row['stgnn_mean'] * 1e3:.2f} | {row['stgnn'] * 1e3:.2f} | "
              f"{row['ratio_median']:.0f}× | {row['ratio_mean']:.0f}× | {row['ratio']:.0f}× |")
    for i, row in enumerate(rows):
        line(str(i + 1), row)
    med = {k: statistics.median(r[k] for r in rows) for k in keys}
    line("median", med)
    if bench:
        floor_ms = bench["floor_ms_at_sgemm"]
        print()
        print(f"stgnn-bench epoch (same CPUs, after the rounds): {bench['epoch_ms_median']:.2f} ms/epoch (median), "
              f"OpenBLAS sgemm {bench['sgemm_gflops']:.1f} GFLOP/s, work floor {bench['floor_gflop_per_epoch']:.3f} GFLOP "
              f"= {floor_ms:.2f} ms → fraction of the floor reached {floor_ms / bench['epoch_ms_median']:.2f} "
              f"(stgnn-dist's median seconds_per_epoch: {floor_ms / (med['stgnn'] * 1e3):.2f}); "
              f"GraphST's median epoch is {med['graphst_median'] * 1e3 / floor_ms:.0f}× the floor")
    print()
    print(f"after: {after}")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
