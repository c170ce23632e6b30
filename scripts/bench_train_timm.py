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

Three modes:
  folder: train on a generated data set (manifest.csv + images/) and report
          train img/s of the last epoch and test top-1 of the final weights.
  synth:  train steps on random 224 px tensors on CUDA, bf16 autocast and
          channels-last, and report img/s (GPU throughput check).
  peer:   the peers of scripts/gpu_check.sh for one model and several batch
          sizes: peer A is a timm loop with fused AdamW, cudnn.benchmark and
          TF32, bf16 autocast, channels-last, each batch copied from pinned
          uint8 host memory and normalised on the GPU; peer B is peer A with
          the model under torch.compile. Also the model's training FLOPs per
          image (forward + backward, torch's FlopCounterMode). `--device cpu`
          runs the same code on the CPU (the script's smoke test).
Prints one JSON object on stdout.
"""
import argparse
import csv
import json
import os
import time

import timm
import timm.optim
import torch
import torch.nn.functional as F


def load_split(root, split, classes, mean, std):
    # Why imported here: only folder mode reads images.
    import numpy as np
    from PIL import Image

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


def peer(a):
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    kw = {"img_size": a.size} if "dinov2" in a.arch else {}
    model = timm.create_model(a.arch, pretrained=False, num_classes=a.classes, **kw)
    model = model.to(dev).to(memory_format=torch.channels_last)
    model.train()
    # Why fused only on CUDA: that is where timm's train.py asks for it; the
    # CPU smoke test takes torch's default.
    opt = timm.optim.create_optimizer_v2(
        model, opt="adamw", lr=a.lr, weight_decay=a.weight_decay, **({"fused": True} if cuda else {})
    )
    mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1) * 255

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def train_flops_per_image():
        x = torch.randn(2, 3, a.size, a.size, device=dev).to(memory_format=torch.channels_last)
        y = torch.zeros(2, dtype=torch.long, device=dev)
        with FlopCounterMode(display=False) as fc:
            F.cross_entropy(model(x), y).backward()
        opt.zero_grad(set_to_none=True)
        return fc.get_total_flops() / 2

    def measure(net, batch):
        pool = 4
        gen = torch.Generator().manual_seed(a.seed)
        host_x = [torch.randint(0, 256, (batch, 3, a.size, a.size), dtype=torch.uint8, generator=gen) for _ in range(pool)]
        host_y = [torch.randint(0, a.classes, (batch,), generator=gen) for _ in range(pool)]
        if cuda:
            host_x = [t.pin_memory() for t in host_x]
            host_y = [t.pin_memory() for t in host_y]

        def step(i):
            xb = host_x[i % pool].to(dev, non_blocking=True)
            yb = host_y[i % pool].to(dev, non_blocking=True)
            x = ((xb.float() - mean) / std).contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev.type, dtype=torch.bfloat16):
                loss = F.cross_entropy(net(x), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for i in range(a.warmup):
            step(i)
        sync()
        t0 = time.perf_counter()
        for i in range(a.steps):
            step(i)
        sync()
        return a.steps * batch / (time.perf_counter() - t0)

    out = {"arch": a.arch, "size": a.size, "device": str(dev), "train_flops_per_img": train_flops_per_image()}
    batches = [int(b) for b in a.batches.split(",")]
    out["peer_a"] = {str(b): measure(model, b) for b in batches}
    if a.compile_backend != "none":
        t0 = time.perf_counter()
        compiled = torch.compile(model, backend=a.compile_backend)
        out["peer_b"] = {str(b): measure(compiled, b) for b in batches}
        out["peer_b_total_s"] = time.perf_counter() - t0
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["folder", "synth", "peer"])
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
    p.add_argument("--device", default="cuda", help="peer mode: cuda, or cpu for the smoke test")
    p.add_argument("--batches", default="64,256", help="peer mode: comma-separated batch sizes")
    p.add_argument(
        "--compile-backend",
        default="inductor",
        help="peer mode: torch.compile backend of peer B (inductor; aot_eager for a quick CPU smoke test; none to skip)",
    )
    a = p.parse_args()
    {"folder": folder, "synth": synth, "peer": peer}[a.mode](a)


if __name__ == "__main__":
    main()
