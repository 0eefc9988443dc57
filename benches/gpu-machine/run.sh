#!/usr/bin/env bash
# The whole GPU-machine run in one call (prepared by prepare.sh beside it):
# adapter info, `tune` (first: the bench then runs the picks), the bench on the
# GPU with its same-run yardsticks, the trusted kernels against the checked
# ones on the ops that showed a difference on CPU drivers, and PyTorch on the
# same ops and shapes. Every step is timed and capped; a failed step is
# recorded and the rest still run. What comes back under $OUT (at most 8 files):
#
#   log.txt      every step's output, its exit status and seconds
#   tune.json    the tuning cache this adapter wrote (commit it)
#   bench.json   `bench --backends gpu` (commit it; fill the README's GPU table)
#   checked.json the same ops with --checked-kernels
#   torch.json   PyTorch's figures, and peers.md the side-by-side table
#
#     bash benches/gpu-machine/run.sh            (on the lent machine)
#     GPU_MACHINE_ICD=<icd.json> OUT=/tmp/o bash benches/gpu-machine/run.sh --quick
#                                               (a smoke test on another driver)
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:?OUT must name the folder that comes back}"
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)

if [ -z "${GPU_MACHINE_ICD:-}" ]; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
export VK_DRIVER_FILES="${GPU_MACHINE_ICD:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
export VK_ICD_FILENAMES="$VK_DRIVER_FILES"
export GPU_BASICS_TUNE_CACHE="$out/tune.json"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/gpu-basics-xdg}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
log="$out/log.txt"
cli=.gpu/gpu-basics
[ -x "$cli" ] || cli=target/release/gpu-basics

step() {
    local name=$1 cap=$2
    shift 2
    echo "== $name (at most $cap s): $*" >>"$log"
    local t0=$SECONDS
    timeout "$cap" "$@" >>"$log" 2>&1
    local rc=$?
    echo "== $name: exit $rc after $((SECONDS - t0)) s" | tee -a "$log"
}

step info 60 "$cli" info
step tune 240 "$cli" tune "${quick[@]}"
step info-tuned 60 "$cli" info
step bench 240 "$cli" bench "${quick[@]}" --backends gpu --json "$out/bench.json"
step checked 120 "$cli" bench --quick --checked-kernels --backends gpu \
    --ops sigmoid,softmax,dot,matvec,matmul --json "$out/checked.json"
step peers 240 sh -c "python3 benches/gpu_peers.py '$out/bench.json' --json '$out/torch.json' > '$out/peers.md'"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv >>"$log" 2>&1
fi
