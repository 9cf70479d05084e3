#!/usr/bin/python3
"""A pathprox VGG19 checkpoint loaded into the usual PyTorch CIFAR VGG19 (no batch norm), evaluated on
the first images of CIFAR-10's binary test batch: the mean cross-entropy and predictions to compare with
`pathprox eval CHECKPOINT` on a run whose test set is that batch. Agreement checks the checkpoint's names
and layouts (OIHW filters, padding 1, floor pooling, flatten order) against PyTorch's own layers.

    /usr/bin/python3 benches/torch_vgg19_check.py runs/task3-<time>/checkpoints/wd.safetensors \
        tests/fixtures/rgb/cifar-10-binary.tar.gz [N]

Needs only torch and numpy (the safetensors file is parsed here: an 8-byte header length, a JSON header,
raw little-endian tensors).
"""
import json, struct, sys, tarfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"]).copy())
    return out


def vgg19():
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
    layers, c = [], 3
    for x in cfg:
        if x == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, x, 3, padding=1), nn.ReLU()]
            c = x
    m = nn.Module()
    m.features = nn.Sequential(*layers, nn.AvgPool2d(2))
    m.classifier = nn.Linear(512, 10)
    return m


def test_batch(path, n):
    with tarfile.open(path) as t:
        raw = t.extractfile("cifar-10-batches-bin/test_batch.bin").read()
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)[:n]
    labels = torch.from_numpy(rec[:, 0].astype(np.int64))
    x = torch.from_numpy(rec[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2023, 0.1994, 0.2010]).view(1, 3, 1, 1)
    return (x - mean) / std, labels


def main():
    ck, data = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    m = vgg19()
    m.load_state_dict(load_safetensors(ck))  # strict: every name and shape must match
    x, y = test_batch(data, n)
    with torch.no_grad():
        logits = m.classifier(m.features(x).flatten(1))
    print(f"images {len(y)}  test CE {F.cross_entropy(logits, y).item():.5f}  accuracy {(logits.argmax(1) == y).float().mean().item() * 100:.2f}%")
    print("predictions", logits.argmax(1).tolist())
    print("logits[0]", [round(v, 5) for v in logits[0].tolist()])


if __name__ == "__main__":
    main()
