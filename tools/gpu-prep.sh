#!/usr/bin/env bash
# Prepares, on a machine with the npm registry and Debian's packages, what tools/gpu-check.sh needs on a
# GPU machine that has neither: the Vulkan loader (WebGPU on Linux runs on Vulkan), a Node.js binary, and
# onnxruntime-node's linux-x64 binaries (the rest of node_modules stays behind: dist/ bundles it).
# Output: .gl/*.deb, .devbundle/{node.xz,ort-x64.tar.xz,node_modules/}, dist/ — carry those three.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gl .devbundle /tmp/amd64/partial
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update -qq
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
[ -f .devbundle/node.xz ] || xz -T2 -6 -c "$(readlink -f "$(command -v node)")" > .devbundle/node.xz
[ -f .devbundle/ort-x64.tar.xz ] || tar -C node_modules/onnxruntime-node/bin/napi-v6/linux -cJf .devbundle/ort-x64.tar.xz x64
rm -rf .devbundle/node_modules && mkdir -p .devbundle/node_modules/onnxruntime-node
cp -r node_modules/onnxruntime-common .devbundle/node_modules/
(cd node_modules/onnxruntime-node && cp -r package.json dist lib ../../.devbundle/node_modules/onnxruntime-node/ 2>/dev/null || cp -r package.json dist ../../.devbundle/node_modules/onnxruntime-node/)
npm run build >/dev/null
du -sh .gl .devbundle dist
