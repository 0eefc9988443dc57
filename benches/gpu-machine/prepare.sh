#!/usr/bin/env bash
# Prepares a run of gpu-basics on a lent NVIDIA machine (../shared/gpu-machine.md):
# that machine has the driver but no Rust, no Vulkan loader and no network, so
# the CLI is built here and travels with the loader in two ignored folders.
#
#     bash benches/gpu-machine/prepare.sh
#
# then, with the device tool: command "bash benches/gpu-machine/run.sh",
# carry [".gl", ".gpu"]. Everything is one call: each machine start costs minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

for d in /.gl/ /.gpu/; do
    grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude
done
if ! compgen -G ".gl/*.deb" >/dev/null; then
    echo "== the Vulkan loader (libvulkan1, amd64) into .gl"
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086
    apt-get $o update -qq
    # shellcheck disable=SC2086
    (cd .gl && apt-get $o download libvulkan1)
fi
echo "== the CLI into .gpu"
cargo build --release --quiet
mkdir -p .gpu
cp target/release/gpu-basics .gpu/
strip .gpu/gpu-basics 2>/dev/null || true
du -sh .gl .gpu
echo "ready: run 'bash benches/gpu-machine/run.sh' with carry [\".gl\", \".gpu\"]"
