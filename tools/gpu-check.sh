#!/usr/bin/env bash
# Runs on a Linux machine with an NVIDIA GPU, from the repository root, with .gl/, .devbundle/ and dist/
# made by tools/gpu-prep.sh. Installs nothing from a network. Checks the GPU execution providers against
# the CPU (forward and attribution, f32 and f16, the embedded model and a Gemma-2-2B-sized random-weight
# Llama) and prints the bench table. Output goes to stdout and, when $OUT is set, to $OUT/gpu-check.log.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:-/tmp}/gpu-check.log
# WebGPU (Dawn) needs the Vulkan loader; the NVIDIA driver supplies the ICD.
if ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  [ -f "$icd" ] && export VK_DRIVER_FILES="$icd" && break
done
NODE=$(command -v node || true)
if [ -z "$NODE" ]; then
  xz -dc .devbundle/node.xz > /tmp/node && chmod +x /tmp/node && NODE=/tmp/node
fi
if [ ! -d node_modules/onnxruntime-node ]; then
  mkdir -p node_modules && cp -r .devbundle/node_modules/* node_modules/
  mkdir -p node_modules/onnxruntime-node/bin/napi-v6/linux
  tar -C node_modules/onnxruntime-node/bin/napi-v6/linux -xJf .devbundle/ort-x64.tar.xz
fi
echo "node $($NODE --version), vulkan: $(ldconfig -p | grep -c libvulkan.so.1) loader(s), ICD: ${VK_DRIVER_FILES:-none}"
"$NODE" --max-old-space-size=65536 dist/gpu-check.js "$@" 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
