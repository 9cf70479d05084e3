#!/usr/bin/python3
"""The PyTorch peer of `pathprox bench --gpu-check` (benches/gpu.sh): the same models, batches and updates
in PyTorch eager, fp32, on CUDA when there is one, else on the CPU (then say so: it is no GPU figure).

Rows (Markdown, the columns of the check's table, appended to it by gpu.sh):
- Task-1 step (MLP-3-400 factorized, batch 200, u8 gather + normalise, CE, update) for weight decay and
  PathProx, as benches/torch_task1_step.py defines them (lr 0.3, λ 1e-4);
- VGG19 step (CIFAR-sized 3×32×32 inputs, batch 128, or --vgg19-batch) with PathProx: SGD on CE, then
  layer-wise balancing over the 8 conv pairs, each unit's w (a conv's output channel) projected to the
  unit sphere with its bias, and the group soft-threshold of its v (the next conv's input channel).
Timing: warm-up, then best of three runs, each ending with torch.cuda.synchronize() (CUDA) or nothing
pending (CPU ops are synchronous). Run: /usr/bin/python3 benches/torch_gpu.py [--small]
"""
import argparse, math, time

import torch
import torch.nn as nn
import torch.nn.functional as F

import torch_vgg19_check  # beside this file: python puts the script's folder first on sys.path

p = argparse.ArgumentParser()
p.add_argument("--small", action="store_true", help="the sizes of `pathprox bench --gpu-check --small`")
p.add_argument("--threads", type=int, default=2, help="CPU threads when there is no CUDA")
args = p.parse_args()
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
if dev.type == "cpu":
    torch.set_num_threads(args.threads)
torch.manual_seed(0)
lr, lam = 0.3, 1e-4


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timed(step, reps):
    for _ in range(3):
        step()
    sync()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            step()
        sync()
        best = min(best, (time.perf_counter() - t) / reps)
    return best


def unit_norms(w):  # ‖w_u‖ per unit u = output row (Linear) or output channel (conv)
    return w.flatten(1).norm(dim=1)


def in_norms(v):  # ‖v_u‖ per unit u = input column (Linear) or input channel (conv)
    return v.transpose(0, 1).flatten(1).norm(dim=1)


def bcast(s, t, dim):  # s per unit along `dim` of t, shaped to broadcast
    shape = [1] * t.dim()
    shape[dim] = -1
    return s.view(shape)


def update(ws, bs, groups, method):
    with torch.no_grad():
        for w in ws:
            if method == "wd":
                w.mul_(1 - lr * lam).sub_(w.grad, alpha=lr)
            else:
                w.sub_(w.grad, alpha=lr)
        for b in bs:
            b.sub_(b.grad, alpha=lr)
        if method != "pathprox":
            return
        prods = [max(float((unit_norms(ws[a]) * in_norms(ws[b])).sum()), 1e-6) for a, b in groups]
        mean = math.exp(sum(math.log(q) for q in prods) / len(prods))
        for g, (a, b) in enumerate(groups):
            s = mean / max(float((unit_norms(ws[a]) * in_norms(ws[b])).sum()), 1e-6)
            ws[b].mul_(s); bs[b].mul_(s)
            if g + 1 < len(groups):
                a2, b2 = groups[g + 1]
                bs[a2].mul_(s); ws[b2].div_(s)
        for a, b in groups:
            n = unit_norms(ws[a]).clamp_min(1e-6)
            ws[a].div_(bcast(n, ws[a], 0)); bs[a].div_(n)
            z = in_norms(ws[b])
            ws[b].mul_(bcast(torch.clamp(1 - lr * lam / z.clamp_min(1e-30), min=0), ws[b], 1))


def task1(method):
    widths = [784, 400, 400, 400, 400, 400, 10]
    relu = [True, False, True, False, True, False]
    ws = [(torch.rand(widths[i + 1], widths[i], device=dev) * 2 - 1).div_(math.sqrt(widths[i])).requires_grad_() for i in range(6)]
    bs = [torch.zeros(widths[i + 1], device=dev, requires_grad=True) for i in range(6)]
    images = torch.randint(0, 256, (1000, 784), dtype=torch.uint8, device=dev)
    labels = torch.randint(0, 10, (1000,), device=dev)
    idx = torch.randint(0, 1000, (200,), device=dev)

    def step():
        for t in ws + bs:
            t.grad = None
        x = (images.index_select(0, idx).float() / 255 - 0.1307) / 0.3081
        for i in range(6):
            x = F.linear(x, ws[i], bs[i])
            if relu[i]:
                x = torch.relu(x)
        F.cross_entropy(x, labels.index_select(0, idx)).backward()
        update(ws, bs, [(0, 1), (2, 3), (4, 5)], method)

    return timed(step, 50 if args.small else 200)


def vgg19(batch, method):
    # The same network as the one-step check against the engine (torch_vgg19_check.py), as one Sequential.
    v = torch_vgg19_check.vgg19()
    model = nn.Sequential(*v.features, nn.Flatten(), v.classifier).to(dev)
    mods = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    ws, bs = [m.weight for m in mods], [m.bias for m in mods]
    images = torch.randint(0, 256, (1000, 3, 32, 32), dtype=torch.uint8, device=dev)
    labels = torch.randint(0, 10, (1000,), device=dev)
    idx = torch.randint(0, 1000, (batch,), device=dev)
    mean = torch.tensor([0.4914, 0.4822, 0.4465], device=dev).view(1, 3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616], device=dev).view(1, 3, 1, 1)

    def step():
        for t in ws + bs:
            t.grad = None
        x = (images.index_select(0, idx).float() / 255 - mean) / std
        F.cross_entropy(model(x), labels.index_select(0, idx)).backward()
        update(ws, bs, [(2 * k, 2 * k + 1) for k in range(8)], method)

    return timed(step, 2 if args.small else 10)


where = f"CUDA {torch.cuda.get_device_name(0)}" if dev.type == "cuda" else f"CPU, {args.threads} threads (no CUDA)"
peer = f"PyTorch {torch.__version__} {dev.type}"
for m, name in [("wd", "weight decay"), ("pathprox", "pathprox")]:
    s = task1(m)
    print(f"| {'torch task1 step (' + name + ')':<32} | {peer + ', B=200':<44} | {1 / s:>12.1f} | {'steps/s':<8} | {'':>9} |")
batch = 4 if args.small else 128
s = vgg19(batch, "pathprox")
print(f"| {'torch vgg19 step (pathprox)':<32} | {peer + f', B={batch}':<44} | {s * 1e3:>12.1f} | {'ms':<8} | {'':>9} |")
print(f"torch ran on: {where}")
