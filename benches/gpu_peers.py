#!/usr/bin/env python3
"""The GPU backend against PyTorch (CUDA) on the same GPU, in the same run.

Reads the crate's `gpu-basics bench --json FILE` output, times PyTorch on the
same ops and shapes on the same device, and prints a markdown table: the
crate's device time (its "kernel" rows: timestamp queries) and torch's (CUDA
events), both as GB/s or GFLOP/s of the bytes and flops the crate counts for
the entry, and the ratio of times. It also measures torch's device-to-device
copy, to set beside the crate's own yardsticks (`limits` in the JSON).

    gpu-basics bench --backends gpu --json bench.json
    python3 benches/gpu_peers.py bench.json --json torch.json > peers.md

matmul runs with TF32 off (torch.backends.cuda.matmul.allow_tf32 = False), so
cuBLAS computes in FP32 as the crate does. Timing: after a warm-up, each op is
repeated until a batch lasts MIN_BATCH_S between two CUDA events; the median
of RUNS batches. Inputs are uniform in [-10, 10), made on the device.

Ops and what torch runs:

    sigmoid             torch.sigmoid(x)
    sigmoid_derivative  s = torch.sigmoid(x); s * (1 - s)
    tanh                torch.tanh(x)
    tanh_derivative     t = torch.tanh(x); 1 - t * t
    relu                torch.relu(x)
    relu_derivative     (x > 0).float()
    multiply            x * y
    softmax             torch.softmax(x, dim=1)
    normalize_rows      x / torch.linalg.vector_norm(x, dim=1, keepdim=True)
    dot                 torch.dot(x, y)
    l1                  torch.sum(torch.abs(y - yhat))
    l2                  torch.sum((y - yhat) ** 2)
    outer               torch.outer(a, b)
    matvec              torch.mv(W, x)
    matmul              A @ B
"""

import argparse
import json
import statistics
import sys

RUNS = 5
MIN_BATCH_S = 0.02

OPS = {
    "sigmoid": lambda t, x: t.sigmoid(x),
    "sigmoid_derivative": lambda t, x: (lambda s: s * (1 - s))(t.sigmoid(x)),
    "tanh": lambda t, x: t.tanh(x),
    "tanh_derivative": lambda t, x: (lambda h: 1 - h * h)(t.tanh(x)),
    "relu": lambda t, x: t.relu(x),
    "relu_derivative": lambda t, x: (x > 0).float(),
    "multiply": lambda t, x, y: x * y,
    "softmax": lambda t, x: t.softmax(x, dim=1),
    "normalize_rows": lambda t, x: x / t.linalg.vector_norm(x, dim=1, keepdim=True),
    "dot": lambda t, x, y: t.dot(x, y),
    "l1": lambda t, y, yh: t.sum(t.abs(y - yh)),
    "l2": lambda t, y, yh: t.sum((y - yh) ** 2),
    "outer": lambda t, a, b: t.outer(a, b),
    "matvec": lambda t, w, x: t.mv(w, x),
    "matmul": lambda t, a, b: a @ b,
}


def device_seconds(torch, fn):
    """Median seconds per call of fn on the device (CUDA events)."""

    def batch(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    fn()
    torch.cuda.synchronize()
    reps = 1
    while batch(reps) < MIN_BATCH_S and reps < 1 << 20:
        reps *= 2
    return statistics.median(batch(reps) / reps for _ in range(RUNS))


def copy_gbps(torch, nbytes=256 << 20):
    src = torch.empty(nbytes // 4, device="cuda")
    dst = torch.empty_like(src)
    s = device_seconds(torch, lambda: dst.copy_(src))
    return 2 * nbytes / s / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", help="the crate's `gpu-basics bench --json` file")
    ap.add_argument("--json", help="write torch's figures here too")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("gpu_peers: PyTorch is not installed here (the lent GPU machines have it)")
    if not torch.cuda.is_available():
        sys.exit("gpu_peers: torch sees no CUDA device")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    with open(args.bench) as f:
        bench = json.load(f)
    rows = [r for r in bench["results"] if r["backend"] == "gpu" and r["timing"] != "end_to_end"]
    if not rows:
        sys.exit("gpu_peers: the bench file has no GPU device-time rows (run bench with the gpu backend)")
    gen = torch.Generator(device="cuda").manual_seed(1)
    out = []
    for r in rows:
        fn = OPS.get(r["op"])
        if fn is None:
            out.append({**r, "torch_s": None})
            continue
        inputs = [
            torch.rand(*shape, device="cuda", generator=gen) * 20 - 10 for shape in r["inputs"]
        ]
        s = device_seconds(torch, lambda: fn(torch, *inputs))
        out.append({**r, "torch_s": s})
    limits = bench.get("limits", {})
    torch_copy = copy_gbps(torch)

    print(f"# gpu-basics vs PyTorch {torch.__version__} on {torch.cuda.get_device_name()}\n")
    print(
        f"Yardsticks (same run): the crate's copy {limits.get('gpu_copy_gbps') or 0:.0f} GB/s, "
        f"read {limits.get('gpu_read_gbps') or 0:.0f} GB/s, "
        f"f32 multiply-add {limits.get('gpu_fma_gflops') or 0:.0f} GFLOP/s; "
        f"torch's copy {torch_copy:.0f} GB/s. Kernels: {bench['machine'].get('gpu_kernels')}.\n"
    )
    print("| op | inputs | variant | crate | torch | crate of limit | crate / torch (speed) |")
    print("|---|---|---|---|---|---|---|")
    for r in out:
        unit, per = ("GFLOP/s", r["flops"]) if r["bound"] == "compute" else ("GB/s", r["bytes"])
        crate = per / r["median_s"] / 1e9
        torch_fig = per / r["torch_s"] / 1e9 if r["torch_s"] else None
        frac = r.get("fraction_of_limit")
        shapes = " x ".join(str(s) for s in r["inputs"])
        torch_txt = "%.1f %s" % (torch_fig, unit) if torch_fig else "n/a"
        frac_txt = "%.0f%%" % (100 * frac) if frac is not None else ""
        ratio_txt = "%.2fx" % (r["torch_s"] / r["median_s"]) if r["torch_s"] else ""
        print(
            f"| {r['op']} | {shapes} | {r.get('variant') or ''} | {crate:.1f} {unit} "
            f"| {torch_txt} | {frac_txt} | {ratio_txt} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "torch": torch.__version__,
                    "device": torch.cuda.get_device_name(),
                    "torch_copy_gbps": torch_copy,
                    "rows": out,
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
