#!/usr/bin/env bash
# The GPU check, for a machine with a GPU (run it whenever one is at hand; `npm install` first):
#   1. the adapter Dawn finds (vendor, architecture, driver);
#   2. the WebGPU engine's parity test on that GPU (DEEPRNN_GPU_TESTS=hardware: not SwiftShader);
#   3. npm run bench:gpu (WebGPU against the native engine, GEMM GFLOP/s);
#   4. where PyTorch sees CUDA, the same shapes on nn.LSTM (cuDNN), for the ratio.
# Output goes to the terminal and, with OUT=DIR, to DIR/gpu-check.log and DIR/bench-gpu.jsonl.
# In a container, the GPU's Vulkan driver needs NVIDIA_DRIVER_CAPABILITIES to include graphics.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-}"
log() { if [ -n "$out" ]; then tee -a "$out/gpu-check.log"; else cat; fi; }
[ -n "$out" ] && mkdir -p "$out" && : > "$out/gpu-check.log"
seconds="${BENCH_SECONDS:-10}"

echo "== adapter" | log
node --import tsx -e "
const { probeNodeGpu } = await import('./trainer/engines/webgpu/node.ts');
console.log(JSON.stringify(probeNodeGpu()));
" 2>&1 | log

echo "== parity on this GPU (test/trainer/webgpu.test.ts, the Node cases)" | log
DEEPRNN_GPU_TESTS=hardware npx vitest run test/trainer/webgpu.test.ts -t 'Dawn|deeprnn train' 2>&1 | log

echo "== npm run bench:gpu (${seconds} s per engine and shape)" | log
BENCH_SECONDS="$seconds" npm run --silent bench:gpu 2>&1 | tee ${out:+"$out/bench-gpu.jsonl"} | log

if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "== PyTorch nn.LSTM (cuDNN), the same shapes" | log
  python3 scripts/gpu/lstm_cudnn.py "$seconds" 2>&1 | tee -a ${out:+"$out/bench-gpu.jsonl"} | log
else
  echo "== PyTorch with CUDA not found here: no cuDNN ratio" | log
fi
