#!/usr/bin/env bash
# CI: compile every WGSL kernel variant the crate builds with Tint (Chrome's WGSL
# compiler) through Dawn's null backend, no GPU or driver needed, and create a
# compute pipeline for every entry point with its override constants (those
# needing more workgroup memory than null allows on Dawn's Vulkan backend over
# SwiftShader, from .ci/swiftshader.sh).
# Fails on any Tint error, and when node/npm are missing (it never skips).
#
#     .ci/tint/run.sh            (from any directory)
set -euo pipefail

start=$(date +%s.%N)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

for tool in node npm cargo; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "tint-check: FAIL: '$tool' not found on PATH (install Node.js >= 18 with npm)" >&2
        exit 1
    fi
done

# webgpu@0.6.2 exactly as package-lock.json pins it (dawn.node ships in the package).
installed=$(node -e 'try { console.log(require(process.argv[1]).version) } catch { }' \
    "$here/node_modules/webgpu/package.json")
if [ "$installed" != "0.6.2" ]; then
    echo "== npm ci in .ci/tint (webgpu@0.6.2)"
    (cd "$here" && npm ci --silent --no-audit --no-fund)
fi

manifest="$(mktemp "${TMPDIR:-/tmp}/gpu-basics-kernels.XXXXXX.json")"
trap 'rm -f "$manifest"' EXIT

echo "== kernel manifest (cargo run --release --example kernel_manifest)"
(cd "$root" && cargo run --release --quiet --example kernel_manifest) >"$manifest"

echo "== Tint (Dawn backend=null): every module and pipeline"
# Pipelines needing more workgroup memory than Dawn null allows are built on
# Dawn's Vulkan backend over SwiftShader (Dawn refuses Mesa 22.3's lavapipe).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/gpu-basics-xdg}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
status=0
VK_ICD_FILENAMES="$("$root/.ci/swiftshader.sh")" node "$here/check.mjs" "$manifest" || status=$?

end=$(date +%s.%N)
awk -v a="$start" -v b="$end" 'BEGIN { printf "tint-check: %.1f s in all\n", b - a }'
exit "$status"
