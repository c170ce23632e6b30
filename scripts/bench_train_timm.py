#!/usr/bin/env python3
"""The timm side of scripts/bench_train.sh and scripts/gpu_check.sh.

timm's PyPI package ships no train.py (it lives only in timm's repository) and
has no `timm.train` module, so this is a minimal loop with the same pieces
train.py uses for this setting: `timm.create_model`, AdamW with weight decay
off for norms and biases (`timm.optim.create_optimizer_v2`, as train.py
does), constant lr, cross-entropy, no augmentation, the same batch size and
epochs as the exp pipeline it is compared with. Images are decoded once into
memory (exp's decode cache does the same) so both sides measure training,
not PNG decoding.

Two modes:
  folder: train on a generated data set (manifest.csv + images/) and report
          train img/s of the last epoch and test top-1 of the final weights.
  synth:  train steps on random 224 px tensors on CUDA, bf16 autocast and
          channels-last, and report img/s (GPU throughput check).
Prints one JSON object on stdout.
"""
import argparse
import csv
import json
import os
import time

import numpy as np
import timm
import timm.optim
import torch
import torch.nn.functional as F
from PIL import Image


def load_split(root, split, classes, mean, std):
    rows = []
    with open(os.path.join(root, "manifest.csv"), newline="") as f:
        for r in csv.DictReader(f):
            if r["split"] == split:
                rows.append(r)
    xs = np.stack([np.asarray(Image.open(os.path.join(root, r["path"])).convert("RGB"), dtype=np.float32) / 255.0 for r in rows])
    x = torch.from_numpy(xs).permute(0, 3, 1, 2).contiguous()
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    y = torch.tensor([classes.index(r["label"]) for r in rows])
    return x, y


def folder(a):
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads or os.cpu_count())
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    with open(os.path.join(a.root, "manifest.csv"), newline="") as f:
        classes = sorted({r["label"] for r in csv.DictReader(f)})
    xtr, ytr = load_split(a.root, "train", classes, mean, std)
    xte, yte = load_split(a.root, "test", classes, mean, std)
    model = timm.create_model(a.arch, pretrained=False, num_classes=len(classes))
    # Why foreach/fused spelled out: train.py leaves both to torch, which on
    # CPU picks the per-tensor loop; --fused asks for the fused kernel.
    kw = {"fused": True} if a.fused else {"foreach": False}
    opt = timm.optim.create_optimizer_v2(model, opt="adamw", lr=a.lr, weight_decay=a.weight_decay, **kw)
    n = len(ytr)
    ips = []
    for epoch in range(a.epochs):
        model.train()
        g = torch.Generator().manual_seed(a.seed * 1000 + epoch)
        perm = torch.randperm(n, generator=g)
        t0 = time.perf_counter()
        seen = 0
        for i in range(0, n - a.batch + 1, a.batch):  # drop_last, as exp's train loader
            idx = perm[i : i + a.batch]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
        ips.append(seen / (time.perf_counter() - t0))
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(yte), 256):
            correct += (model(xte[i : i + 256]).argmax(1) == yte[i : i + 256]).sum().item()
    print(json.dumps({"arch": a.arch, "fused": a.fused, "img_s": ips[-1], "img_s_epochs": ips, "top1": correct / len(yte), "train": n, "test": len(yte)}))


def synth(a):
    torch.manual_seed(a.seed)
    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    kw = {"img_size": a.size} if "dinov2" in a.arch else {}
    model = timm.create_model(a.arch, pretrained=False, num_classes=a.classes, **kw).to(dev).to(memory_format=torch.channels_last)
    opt = timm.optim.create_optimizer_v2(model, opt="adamw", lr=a.lr, weight_decay=a.weight_decay)
    x = torch.randn(a.batch, 3, a.size, a.size, device=dev).to(memory_format=torch.channels_last)
    y = torch.randint(0, a.classes, (a.batch,), device=dev)
    model.train()

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(json.dumps({"arch": a.arch, "img_s": a.steps * a.batch / dt, "batch": a.batch, "size": a.size}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["folder", "synth"])
    p.add_argument("--arch", required=True)
    p.add_argument("--root")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--fused", action="store_true", help="torch's fused AdamW (folder mode)")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=10)
    a = p.parse_args()
    folder(a) if a.mode == "folder" else synth(a)


if __name__ == "__main__":
    main()
