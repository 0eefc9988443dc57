#!/usr/bin/env python3
"""The CPU backend against numpy, numexpr and JAX (jit), same machine, same run.

Reads the crate's `gpu-basics bench --json FILE` output, times numpy, numexpr and
JAX on the same ops and shapes, and prints a markdown table of effective GB/s and
ratios, with the issue's targets (ratio to numpy) checked.

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install numpy numexpr "jax[cpu]"
    # run the crate's bench now, then the peers, and print the table:
    /tmp/peers/bin/python benches/cpu_vs_peers.py --run bench.json
    # or only read a bench file made a moment ago on this machine:
    /tmp/peers/bin/python benches/cpu_vs_peers.py bench.json

Effective GB/s = the entry's own "bytes" (inputs read once + output written once,
as the crate counts them) / time, for the crate and the peers alike, so the
ratios are ratios of times.

Rounds: this VM's speed drifts by up to 1.5x over minutes (4x at 10^7 elements,
where fresh output pages dominate), so with --run the crate's bench and the peers
take turns, --rounds times (default 3), and each side's figure for an entry is
its fastest per-round median. The same rule for both sides: neither gets the
quiet minutes alone. Each round's crate JSON is kept (JSON-round1.json, ...).
Without --run, every file given is one crate round and the peers run once. Timing
of the peers: time.perf_counter, median of RUNS runs, each repeating the op until
it lasts MIN_RUN_S, after a warm-up call; gc off (as `gpu-basics bench` times the
crate). numpy
ufuncs use one core; numexpr uses every core; JAX/XLA picks its own threads. The
best peer is the fastest of the three for that op and shape, which the crate must
also beat (the bar: beat the best peer, measured in the same run).

numexpr is given its variables explicitly (local_dict): it cannot see closures.
Only the `cpu` backend's entries are compared (others are listed once, below).
Entries whose op the script has no peer for are listed with the crate's figure
only. Ops and the numpy each peer runs:

    sigmoid             1 / (1 + exp(-x))
    sigmoid_derivative  s = 1 / (1 + exp(-x)); s * (1 - s)
    multiply            x * y
    tanh                np.tanh(x)
    tanh_derivative     t = np.tanh(x); 1 - t * t
    relu                np.maximum(x, 0)
    relu_derivative     np.heaviside(x, 0)           (1 for x > 0, else 0; NaN kept)
    softmax             e = exp(x - max(x, axis=1)); e / sum(e, axis=1)
    normalize_rows      x / norm(x, axis=1)
    dot                 np.dot(x, y)                 (BLAS sdot)
    l1                  np.sum(np.abs(y - yhat))
    l2                  np.sum((y - yhat) ** 2)
    outer               np.outer(a, b)
    matvec              W @ x                        (BLAS sgemv)
    matmul              A @ B                        (BLAS sgemm)

The crate's "into" entries (its `_into` variants writing into one reused
output) get a second table against numpy's ufuncs with `out=` chained in place
and numexpr's `out`: no fresh memory on either side.

numexpr has no matrix product: its matvec cell is empty; its dot, l1 and l2 are
`sum(...)` reductions and its outer a broadcast `a * b`. JAX runs the jnp
equivalents under jit.
"""

import argparse
import gc
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

TARGETS = {  # the targets: crate time ratio to numpy, at least
    "sigmoid": 2.0,
    "sigmoid_derivative": 2.0,
    "softmax": 2.0,
    "normalize_rows": 2.0,
    "l1": 2.0,
    "l2": 2.0,
    "multiply": 1.0,
    "dot": 1.0,
    "matvec": 1.0,
    "outer": 1.0,
    "matmul": 0.8,
}

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument(
    "json",
    nargs="+",
    help="the crate's bench --json output(s) (read; with --run, the stem of each round's file)",
)
ap.add_argument(
    "--run",
    action="store_true",
    help="run the crate's bench first (--bench-cmd), in this same run",
)
ap.add_argument(
    "--bench-cmd",
    default="cargo run --release --quiet -- bench --json {json}",
    help="command for --run; {json} is replaced by the JSON path",
)
ap.add_argument(
    "--rounds", type=int, default=3, help="with --run: crate bench and peers take turns this often"
)
ap.add_argument("--runs", type=int, default=9, help="runs per measurement (median)")
ap.add_argument("--min-run-s", type=float, default=0.03, help="seconds per run at least")
ap.add_argument("--no-jax", action="store_true", help="skip JAX (slow to import, compile)")
ap.add_argument("--no-numexpr", action="store_true")
args = ap.parse_args()

import numpy as np  # noqa: E402  (after argparse, so --help works without numpy)

try:
    import numexpr as ne
except ImportError:
    ne = None
    print("numexpr not installed: its column is empty", file=sys.stderr)
if args.no_numexpr:
    ne = None
jax = jnp = None
if not args.no_jax:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        print("jax not installed: its column is empty", file=sys.stderr)


def med(fn):
    """Median per-call seconds over args.runs runs of >= args.min_run_s each."""
    fn()
    ts = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(args.runs):
            reps, t0 = 0, time.perf_counter()
            while True:
                fn()
                reps += 1
                t = time.perf_counter() - t0
                if t >= args.min_run_s:
                    break
            ts.append(t / reps)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(ts)


def peers(op, shape, rng, inputs=None):
    """{peer name: zero-argument callable} computing `op` on fresh random data.

    `inputs`: every input's shape (the entry's "inputs"), for the ops whose
    inputs differ in shape (outer, matvec)."""
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.standard_normal(shape).astype(np.float32)
    out = {}
    if op in ("outer", "matvec", "matmul"):
        a = rng.standard_normal(inputs[0]).astype(np.float32)
        b = rng.standard_normal(inputs[1]).astype(np.float32)
    if op == "dot":
        out["numpy"] = lambda: np.dot(x, y)
        if ne:
            out["numexpr"] = lambda: ne.evaluate("sum(x * y)", local_dict={"x": x, "y": y})
        if jax:
            f = jax.jit(jnp.dot)
            jx, jy = jnp.asarray(x), jnp.asarray(y)
            out["jax"] = lambda: f(jx, jy).block_until_ready()
    elif op in ("l1", "l2"):
        # x is yhat, y the labels (the crate's argument order).
        if op == "l1":
            out["numpy"] = lambda: np.sum(np.abs(y - x))
            expr = "sum(abs(y - x))"
            jf = lambda p, t: jnp.sum(jnp.abs(t - p))  # noqa: E731
        else:
            out["numpy"] = lambda: np.sum((y - x) ** 2)
            expr = "sum((y - x) ** 2)"
            jf = lambda p, t: jnp.sum((t - p) ** 2)  # noqa: E731
        if ne:
            out["numexpr"] = lambda: ne.evaluate(expr, local_dict={"x": x, "y": y})
        if jax:
            f = jax.jit(jf)
            jx, jy = jnp.asarray(x), jnp.asarray(y)
            out["jax"] = lambda: f(jx, jy).block_until_ready()
    elif op == "outer":
        out["numpy"] = lambda: np.outer(a, b)
        if ne:
            col, row = a.reshape(-1, 1), b.reshape(1, -1)
            out["numexpr"] = lambda: ne.evaluate("c * r", local_dict={"c": col, "r": row})
        if jax:
            f = jax.jit(jnp.outer)
            ja, jb = jnp.asarray(a), jnp.asarray(b)
            out["jax"] = lambda: f(ja, jb).block_until_ready()
    elif op == "matmul":
        out["numpy"] = lambda: a @ b
        if jax:
            f = jax.jit(lambda p, q: p @ q)
            ja, jb = jnp.asarray(a), jnp.asarray(b)
            out["jax"] = lambda: f(ja, jb).block_until_ready()
    elif op == "matvec":
        out["numpy"] = lambda: a @ b
        if jax:
            f = jax.jit(lambda w, v: w @ v)
            ja, jb = jnp.asarray(a), jnp.asarray(b)
            out["jax"] = lambda: f(ja, jb).block_until_ready()
    elif op == "sigmoid":
        out["numpy"] = lambda: 1 / (1 + np.exp(-x))
        if ne:
            out["numexpr"] = lambda: ne.evaluate("1 / (1 + exp(-x))", local_dict={"x": x})
        if jax:
            f = jax.jit(jax.nn.sigmoid)
            jx = jnp.asarray(x)
            out["jax"] = lambda: f(jx).block_until_ready()
    elif op == "sigmoid_derivative":

        def np_sd():
            s = 1 / (1 + np.exp(-x))
            return s * (1 - s)

        out["numpy"] = np_sd
        if ne:
            out["numexpr"] = lambda: ne.evaluate(
                "(1 / (1 + exp(-x))) * (1 - 1 / (1 + exp(-x)))", local_dict={"x": x}
            )
        if jax:

            def sd(a):
                s = jax.nn.sigmoid(a)
                return s * (1 - s)

            f = jax.jit(sd)
            jx = jnp.asarray(x)
            out["jax"] = lambda: f(jx).block_until_ready()
    elif op == "tanh":
        out["numpy"] = lambda: np.tanh(x)
        if ne:
            out["numexpr"] = lambda: ne.evaluate("tanh(x)", local_dict={"x": x})
        if jax:
            f = jax.jit(jnp.tanh)
            jx = jnp.asarray(x)
            out["jax"] = lambda: f(jx).block_until_ready()
    elif op == "tanh_derivative":

        def np_td():
            t = np.tanh(x)
            return 1 - t * t

        out["numpy"] = np_td
        if ne:
            out["numexpr"] = lambda: ne.evaluate("1 - tanh(x) ** 2", local_dict={"x": x})
        if jax:
            f = jax.jit(lambda a: 1 - jnp.tanh(a) ** 2)
            jx = jnp.asarray(x)
            out["jax"] = lambda: f(jx).block_until_ready()
    elif op == "relu":
        out["numpy"] = lambda: np.maximum(x, 0)
        if ne:
            out["numexpr"] = lambda: ne.evaluate("where(x > 0, x, 0)", local_dict={"x": x})
        if jax:
            f = jax.jit(jax.nn.relu)
            jx = jnp.asarray(x)
            out["jax"] = lambda: f(jx).block_until_ready()
    elif op == "relu_derivative":
        out["numpy"] = lambda: np.heaviside(x, np.float32(0))
        if ne:
            out["numexpr"] = lambda: ne.evaluate("where(x > 0, x * 0 + 1, x * 0)", local_dict={"x": x})
        if jax:
            f = jax.jit(lambda a: (a > 0).astype(jnp.float32))
            jx = jnp.asarray(x)
            out["jax"] = lambda: f(jx).block_until_ready()
    elif op == "multiply":
        out["numpy"] = lambda: x * y
        if ne:
            out["numexpr"] = lambda: ne.evaluate("x * y", local_dict={"x": x, "y": y})
        if jax:
            f = jax.jit(lambda a, b: a * b)
            jx, jy = jnp.asarray(x), jnp.asarray(y)
            out["jax"] = lambda: f(jx, jy).block_until_ready()
    elif op == "softmax" and len(shape) == 2:

        def np_smx():
            e = np.exp(x - x.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

        out["numpy"] = np_smx
        if ne:

            def ne_smx():
                m = x.max(axis=1, keepdims=True)
                e = ne.evaluate("exp(x - m)", local_dict={"x": x, "m": m})
                s = e.sum(axis=1, keepdims=True)
                return ne.evaluate("e / s", local_dict={"e": e, "s": s})

            out["numexpr"] = ne_smx
        if jax:
            f = jax.jit(lambda a: jax.nn.softmax(a, axis=1))
            jx = jnp.asarray(x)
            out["jax"] = lambda: f(jx).block_until_ready()
    elif op == "normalize_rows" and len(shape) == 2:
        out["numpy"] = lambda: x / np.linalg.norm(x, axis=1, keepdims=True)
        if ne:

            def ne_norm():
                s = np.sqrt(ne.evaluate("sum(x * x, axis=1)", local_dict={"x": x}))
                s = s.reshape(-1, 1)
                return ne.evaluate("x / s", local_dict={"x": x, "s": s})

            out["numexpr"] = ne_norm
        if jax:
            f = jax.jit(lambda a: a / jnp.linalg.norm(a, axis=1, keepdims=True))
            jx = jnp.asarray(x)
            out["jax"] = lambda: f(jx).block_until_ready()
    return out


def round_path(stem, k):
    base = stem[:-5] if stem.endswith(".json") else stem
    return f"{base}-round{k}.json"


def run_crate(path):
    cmd = args.bench_cmd.replace("{json}", shlex.quote(path))
    print(f"running: {cmd}", file=sys.stderr)
    t0 = time.time()
    subprocess.run(cmd, shell=True, check=True)
    print(f"crate bench: {time.time() - t0:.0f} s", file=sys.stderr)
    return path


def peers_into(op, shape, rng, inputs=None):
    """{peer name: callable} writing `op` into a preallocated output (`out=`),
    for the crate's "into" entries: numpy's ufuncs chained in place (no
    temporaries) and numexpr's `out`. JAX has no `out=`: its jit already reuses
    its buffers, so its figure is in the main table."""
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.standard_normal(shape).astype(np.float32)
    z, t = np.empty_like(x), np.empty_like(x)
    out = {}

    def np_sigmoid(dst):
        np.negative(x, out=dst)
        np.exp(dst, out=dst)
        np.add(dst, 1, out=dst)
        np.reciprocal(dst, out=dst)

    if op == "sigmoid":
        out["numpy"] = lambda: np_sigmoid(z)
        expr = "1 / (1 + exp(-x))"
    elif op == "sigmoid_derivative":

        def np_sd():
            np_sigmoid(z)
            np.subtract(1, z, out=t)
            np.multiply(z, t, out=z)

        out["numpy"] = np_sd
        expr = "(1 / (1 + exp(-x))) * (1 - 1 / (1 + exp(-x)))"
    elif op == "multiply":
        out["numpy"] = lambda: np.multiply(x, y, out=z)
        expr = "x * y"
    elif op == "tanh":
        out["numpy"] = lambda: np.tanh(x, out=z)
        expr = "tanh(x)"
    elif op == "tanh_derivative":

        def np_td_into():
            np.tanh(x, out=z)
            np.multiply(z, z, out=z)
            np.subtract(1, z, out=z)

        out["numpy"] = np_td_into
        expr = "1 - tanh(x) ** 2"
    elif op == "relu":
        out["numpy"] = lambda: np.maximum(x, 0, out=z)
        expr = "where(x > 0, x, 0)"
    elif op == "relu_derivative":
        out["numpy"] = lambda: np.heaviside(x, np.float32(0), out=z)
        expr = "where(x > 0, x * 0 + 1, x * 0)"
    elif op == "softmax" and len(shape) == 2:
        # Only the per-row max and sum (one float per row) are new arrays.
        def np_smx():
            np.subtract(x, x.max(axis=1, keepdims=True), out=z)
            np.exp(z, out=z)
            np.divide(z, z.sum(axis=1, keepdims=True), out=z)

        out["numpy"] = np_smx
        if ne:

            def ne_smx():
                m = x.max(axis=1, keepdims=True)
                ne.evaluate("exp(x - m)", local_dict={"x": x, "m": m}, out=z)
                s = z.sum(axis=1, keepdims=True)
                ne.evaluate("z / s", local_dict={"z": z, "s": s}, out=z)

            out["numexpr"] = ne_smx
        return out
    elif op == "normalize_rows" and len(shape) == 2:
        def np_norm():
            np.multiply(x, x, out=z)
            np.divide(x, np.sqrt(z.sum(axis=1, keepdims=True)), out=z)

        out["numpy"] = np_norm
        if ne:

            def ne_norm():
                s = np.sqrt(ne.evaluate("sum(x * x, axis=1)", local_dict={"x": x}))
                ne.evaluate("x / s", local_dict={"x": x, "s": s.reshape(-1, 1)}, out=z)

            out["numexpr"] = ne_norm
        return out
    elif op == "outer":
        a = rng.standard_normal(inputs[0]).astype(np.float32)
        b = rng.standard_normal(inputs[1]).astype(np.float32)
        o = np.empty((a.size, b.size), np.float32)
        col, row = a.reshape(-1, 1), b.reshape(1, -1)
        out["numpy"] = lambda: np.multiply(col, row, out=o)
        if ne:
            out["numexpr"] = lambda: ne.evaluate("c * r", local_dict={"c": col, "r": row}, out=o)
        return out
    else:
        return out
    if ne:
        out["numexpr"] = lambda: ne.evaluate(expr, local_dict={"x": x, "y": y}, out=z)
    return out


def run_peers(cpu):
    """{(op, shape, timing): {peer: median seconds}} for the crate's cpu entries."""
    rng = np.random.default_rng(0)
    out = {}
    for r in cpu:
        op, shape, timing = r["op"], tuple(r["shape"]), r["timing"]
        make = peers_into if timing == "into" else peers
        times = {k: med(f) for k, f in make(op, shape, rng, r.get("inputs")).items()}
        out[(op, shape, timing)] = times
        print(
            f"  {op} {list(shape)} {timing}: "
            + ", ".join(f"{k} {v * 1e6:.1f} us" for k, v in times.items()),
            file=sys.stderr,
        )
    return out


def load_cpu(path):
    """The file and its cpu entries: end to end ("end_to_end") and, for the
    ops that have one, the `_into` variant into a reused output ("into")."""
    with open(path) as fh:
        doc = json.load(fh)
    return doc, [r for r in doc["results"] if r["backend"] == "cpu"]


def main():
    if args.run and len(args.json) != 1:
        sys.exit("--run takes one JSON stem")
    rounds = max(args.rounds, 1) if args.run else len(args.json)
    files, peer_rounds = [], []
    t0 = time.time()
    for k in range(rounds):
        if args.run:
            files.append(run_crate(round_path(args.json[0], k + 1)))
        else:
            files.append(args.json[k])
        if args.run or k == 0:
            print(f"peers, round {k + 1}", file=sys.stderr)
            peer_rounds.append(run_peers(load_cpu(files[-1])[1]))
    wall_s = time.time() - t0
    doc, cpu = load_cpu(files[0])
    results = doc["results"]
    others = sorted({r["backend"] for r in results} - {"cpu"})
    # Each side's fastest per-round median, entry by entry.
    crate_best = {}
    for f in files:
        for r in load_cpu(f)[1]:
            key = (r["op"], tuple(r["shape"]), r["timing"])
            crate_best[key] = min(crate_best.get(key, float("inf")), r["median_s"])
    names = ["numpy", "numexpr", "jax"]
    rows, into_rows = [], []
    for r in cpu:
        key = (r["op"], tuple(r["shape"]), r["timing"])
        times = {}
        for pr in peer_rounds:
            for k, v in pr.get(key, {}).items():
                times[k] = min(times.get(k, float("inf")), v)
        (into_rows if r["timing"] == "into" else rows).append((r, crate_best[key], times))

    machine = doc.get("machine", {})
    print(
        f"# CPU backend vs peers, float32: {platform.machine()}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}"
        + (f", numexpr {ne.__version__} ({ne.nthreads} threads)" if ne else "")
        + (f", jax {jax.__version__}" if jax else "")
    )
    print()
    print(
        f"- crate results: {', '.join(os.path.basename(f) for f in files)}"
        + (f" ({rounds} rounds, each followed by the peers)" if args.run else "")
    )
    if machine:
        print(f"- crate's machine block: {json.dumps(machine, sort_keys=True)}")
    print(
        f"- peers: median of {args.runs} runs of >= {args.min_run_s * 1e3:.0f} ms per round, "
        f"{len(peer_rounds)} round(s); {wall_s:.0f} s in all, finished "
        f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')}"
    )
    print(
        "- each side's time for an entry: its fastest per-round median; GB/s = the crate's "
        "bytes for the entry / that time; ratios are time ratios\n"
    )
    print(
        "| op | shape | cpu GB/s | numpy GB/s | numexpr GB/s | JAX jit GB/s | "
        "cpu / numpy | cpu / best peer | target (x numpy) | met |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    missed = 0
    for r, t, times in rows:
        by = r["bytes"]
        gb = lambda s: f"{by / s / 1e9:.1f}" if s else "—"  # noqa: E731
        cells = [gb(times.get(k)) for k in names]
        np_t = times.get("numpy")
        best = min(times.values()) if times else None
        target = TARGETS.get(r["op"])
        vs_np = np_t / t if np_t else None
        vs_best = best / t if best else None
        met = "—"
        if target is not None and vs_np is not None:
            ok = vs_np >= target and vs_best >= 1.0
            met = "yes" if ok else "**no**"
            missed += not ok
        print(
            f"| {r['op']} | {'x'.join(map(str, r['shape']))} | {by / t / 1e9:.1f} | "
            + " | ".join(cells)
            + f" | {f'{vs_np:.2f}x' if vs_np else '—'} | {f'{vs_best:.2f}x' if vs_best else '—'}"
            + f" | {f'{target:g}x' if target else '—'} | {met} |"
        )
    print(
        "\nmet = at least the target ratio to numpy and at least 1x the best peer."
        + (f" Missed: {missed}." if missed else " All met.")
    )
    if into_rows:
        print(
            "\nInto a reused output (the crate's `_into` variants; numpy's ufuncs with "
            "`out=` chained in place, numexpr's `out`): no fresh memory on either side.\n"
        )
        print(
            "| op | shape | cpu into GB/s | numpy out= GB/s | numexpr out= GB/s | "
            "cpu into / numpy out= | cpu into / cpu allocating |"
        )
        print("|---|---|---|---|---|---|---|")
        for r, t, times in into_rows:
            by = r["bytes"]
            gb = lambda s: f"{by / s / 1e9:.1f}" if s else "—"  # noqa: E731
            alloc = crate_best.get((r["op"], tuple(r["shape"]), "end_to_end"))
            np_t = times.get("numpy")
            print(
                f"| {r['op']} | {'x'.join(map(str, r['shape']))} | {by / t / 1e9:.1f} | "
                f"{gb(np_t)} | {gb(times.get('numexpr'))} | "
                f"{f'{np_t / t:.2f}x' if np_t else '—'} | {f'{alloc / t:.2f}x' if alloc else '—'} |"
            )
    if others:
        print(f"\nOther backends in the file (not compared here): {', '.join(others)}.")


if __name__ == "__main__":
    main()
