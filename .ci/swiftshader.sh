#!/usr/bin/env bash
# Unpacks SwiftShader (Google's Vulkan driver on the CPU, the one Chrome falls
# back to) from Debian's chromium-common package, without installing chromium or
# its dependencies (the .so needs only libc, libgcc and zlib), and prints the
# path of an ICD file that points at it. Fails, never skips, when it cannot.
#
#     VK_ICD_FILENAMES=$(.ci/swiftshader.sh) cargo test --release
set -euo pipefail
dir="${SWIFTSHADER_DIR:-/tmp/gpu-basics-swiftshader}"
lib="$dir/x/usr/lib/chromium/libvk_swiftshader.so"
if [ ! -f "$lib" ]; then
    mkdir -p "$dir"
    (
        cd "$dir"
        apt-get download chromium-common >/dev/null 2>&1 || {
            apt-get update -qq >/dev/null && apt-get download chromium-common >/dev/null
        }
        dpkg -x chromium-common_*.deb x
    ) >&2
fi
[ -f "$lib" ] || { echo "swiftshader: $lib missing after unpacking" >&2; exit 1; }
# The packaged ICD names the library relatively ("./libvk_swiftshader.so").
icd="$dir/vk_swiftshader_icd.json"
printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.0.5"}}\n' \
    "$lib" >"$icd"
echo "$icd"
