#!/usr/bin/env bash
# benches/gpu.sh — the one-command GPU check (issue 18, docs/gpu.md) for a machine where nothing can be
# downloaded: it runs a release binary built beforehand and installs nothing, except that it unpacks a
# Vulkan loader from .gl/*.deb when the system has none. Prints one Markdown table:
#   FP32 FMA peak (a plain WGSL kernel), matmul 1024³ and 4096³ (GFLOP/s, % of that peak), the conv
#   passes (fwd+bias+ReLU, dX, dW) at every VGG19 layer shape at batch 128, the Task-1 step (steps/s) and
#   the VGG19 step (ms), then the same models/batches/updates in PyTorch eager (benches/torch_gpu.py: CUDA
#   if there is one, else the CPU, and the row says which), then `pathprox task1 --iters 2000`'s wall time.
#
# Usage: benches/gpu.sh [--small] [path/to/pathprox]      (default binary: target/release/pathprox)
#   --small: sizes that finish in a few minutes on a CPU adapter (lavapipe), so the script cannot rot:
#            matmul 256³/512³, conv batch 2, VGG19 batch 4, task1 --iters 200.
# Environment: PATHPROX_ADAPTER picks an adapter by name (default: the first, a GPU if there is one);
#   PYTHON (default /usr/bin/python3) runs the PyTorch peer. Budget: under 8 minutes on a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
small=""
bin=target/release/pathprox
for a in "$@"; do
    case "$a" in
        --small) small=--small ;;
        -h|--help) sed -n 2,16p "$0"; exit 0 ;;
        *) bin="$a" ;;
    esac
done
if [ ! -x "$bin" ]; then
    echo "gpu.sh: no pathprox binary at $bin; build one first: cargo build --release" >&2
    exit 1
fi
start=$(date +%s)

# A Vulkan loader: unpacked from .gl/*.deb (see docs/gpu.md for how to fetch them beforehand) if missing.
# (grep without -q: with pipefail, -q's early exit would fail the pipeline on ldconfig's SIGPIPE)
if ! ldconfig -p 2>/dev/null | grep 'libvulkan\.so' > /dev/null; then
    if compgen -G ".gl/*.deb" > /dev/null; then
        for f in .gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
    else
        echo "gpu.sh: no libvulkan on this system and no .gl/*.deb to unpack one from (wgpu may still find GL)" >&2
    fi
fi
# No Vulkan driver manifest where the loader looks, but NVIDIA's container one: point the loader at it.
if [ -z "${VK_DRIVER_FILES:-}" ] && ! compgen -G "/usr/share/vulkan/icd.d/*.json" > /dev/null && ! compgen -G "/etc/vulkan/icd.d/*.json" > /dev/null \
    && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi

adapter=()
if [ -n "${PATHPROX_ADAPTER:-}" ]; then adapter=(--adapter "$PATHPROX_ADAPTER"); fi
echo "adapters found:"
"$bin" adapters "${adapter[@]}" 2>&1 | sed 's/^/  /'

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# 1. The engine's figures (tuned: the first run on a machine times every candidate kernel per shape).
if ! timeout 330 "$bin" bench --gpu-check $small "${adapter[@]}" > "$out/check.txt" 2> "$out/check.err"; then
    echo "gpu.sh: pathprox bench --gpu-check failed or timed out:" >&2
    cat "$out/check.txt" "$out/check.err" >&2
    exit 1
fi

# 2. The PyTorch peer (optional: nothing is installed here).
python=${PYTHON:-/usr/bin/python3}
if "$python" -c "import torch" 2> /dev/null; then
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE timeout 150 "$python" benches/torch_gpu.py $small > "$out/torch.txt" 2> "$out/torch.err" \
        || echo "| torch peer failed: $(tail -1 "$out/torch.err")" > "$out/torch.txt"
else
    echo "| torch peer: no PyTorch for $python (nothing is installed by this script) |" > "$out/torch.txt"
fi

# 3. A whole Task-1 run (both methods, with evaluation and checkpoints) on the bundled MNIST subset.
iters=2000
if [ -n "$small" ]; then iters=200; fi
t0=$(date +%s.%N)
if timeout 240 "$bin" task1 --iters $iters --runs-dir "$out/runs" "${adapter[@]}" > "$out/task1.txt" 2>&1; then
    wall=$(echo "$(date +%s.%N) - $t0" | bc)
    task1_row=$(printf "| %-32s | %-44s | %12.1f | %-8s | %9s |" "task1 --iters $iters (wall)" "wd + pathprox, tuned, with evaluation" "$wall" "s" "")
else
    task1_row="| task1 --iters $iters failed: $(tail -1 "$out/task1.txt") |"
fi

cat "$out/check.txt"
grep '^|' "$out/torch.txt"
echo "$task1_row"
grep -v '^|' "$out/torch.txt" || true
echo "gpu.sh: $(( $(date +%s) - start )) s in all"
