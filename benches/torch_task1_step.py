#!/usr/bin/python3
"""The Task-1 training step of `pathprox bench`, in PyTorch on the CPU, for a same-host comparison.

Same model (MLP-3-400 factorized: 784→400→400→400→400→400→10, ReLU after layers 1, 3, 5), batch 200,
input gathered from a resident u8 training set and normalised, mean softmax cross-entropy, and the same
updates: weight decay = SGD on CE + (λ/2)‖θ‖² over the weights (biases excluded), lr 0.3, λ 1e-4;
PathProx = SGD on CE, then layer-wise balancing, projection of each unit's w to the unit sphere (its bias
scaled alike) and the group soft-threshold of its v (docs/algorithm.md, Algorithm 1).

Timed as `pathprox bench` times its step: warm-up, then the best of three runs of 200 steps, each run
ending with nothing pending (PyTorch's CPU ops are synchronous). Threads: --threads (default 2).
Run with Debian's interpreter: /usr/bin/python3 benches/torch_task1_step.py
"""
import argparse, math, os, platform, time

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--steps", type=int, default=200)
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)

widths = [784, 400, 400, 400, 400, 400, 10]
relu_after = [True, False, True, False, True, False]
groups = [(0, 1), (2, 3), (4, 5)]
lr, lam, batch = 0.3, 1e-4, 200

def init():
    ws, bs = [], []
    for i in range(6):
        bound = 1 / math.sqrt(widths[i])
        ws.append(torch.empty(widths[i + 1], widths[i]).uniform_(-bound, bound).requires_grad_())
        bs.append(torch.empty(widths[i + 1]).uniform_(-bound, bound).requires_grad_())
    return ws, bs

rows = 1000
images = torch.randint(0, 256, (rows, 784), dtype=torch.uint8)
labels = torch.randint(0, 10, (rows,))

def loss_of(ws, bs, idx):
    x = (images.index_select(0, idx).float() / 255 - 0.1307) / 0.3081
    for i in range(6):
        x = F.linear(x, ws[i], bs[i])
        if relu_after[i]:
            x = torch.relu(x)
    return F.cross_entropy(x, labels.index_select(0, idx))

def step(ws, bs, idx, method):
    for t in ws + bs:
        t.grad = None
    loss_of(ws, bs, idx).backward()
    with torch.no_grad():
        for w in ws:
            if method == "wd":
                w.mul_(1 - lr * lam).sub_(w.grad, alpha=lr)  # θ ← θ − γ(∇L + λθ)
            else:
                w.sub_(w.grad, alpha=lr)
        for b in bs:
            b.sub_(b.grad, alpha=lr)
        if method == "pathprox":
            # Balancing: every group to the geometric mean of the groups' Σ‖w‖‖v‖.
            prods = [max(float((ws[a].norm(dim=1) * ws[b].norm(dim=0)).sum()), 1e-6) for a, b in groups]
            mean = math.exp(sum(math.log(q) for q in prods) / len(prods))
            for g, (a, b) in enumerate(groups):
                pg = max(float((ws[a].norm(dim=1) * ws[b].norm(dim=0)).sum()), 1e-6)
                s = mean / pg
                ws[b].mul_(s); bs[b].mul_(s)
                if g + 1 < len(groups):
                    a2, b2 = groups[g + 1]
                    bs[a2].mul_(s); ws[b2].div_(s)
            for a, b in groups:
                n = ws[a].norm(dim=1).clamp_min(1e-6)
                ws[a].div_(n[:, None]); bs[a].div_(n)
                z = ws[b].norm(dim=0)
                ws[b].mul_(torch.clamp(1 - lr * lam / z.clamp_min(1e-30), min=0)[None, :])

def bench(method):
    ws, bs = init()
    order = torch.randint(0, rows, (args.steps + 20, batch))
    for s in range(20):
        step(ws, bs, order[s], method)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for s in range(args.steps):
            step(ws, bs, order[s], method)
        best = min(best, (time.perf_counter() - t) / args.steps)
    return 1 / best

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
print(f"PyTorch {torch.__version__}, {args.threads} threads, host CPU: {cpu}")
for m in ["wd", "pathprox"]:
    print(f"Task 1 step, {m}: {bench(m):.1f} steps/s")
