#!/usr/bin/env python3
"""The PyTorch side of scripts/bench_ddp.sh: the same model (timm), data,
global batch and optimizer as the exp pipeline, trained by N processes under
torch's DistributedDataParallel over Gloo on the CPU, each rank taking an
equal share of every global batch (as exp's --ddp does). Reports the last
epoch's img/s (global samples per second) and DDP's own logger averages:
backward compute, all-reduce, and their overlap, in milliseconds.

Prints one JSON object on stdout (from rank 0).
"""
import argparse
import csv
import json
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from bench_train_timm import load_split


def worker(rank, a, port, q):
    import timm
    import timm.optim

    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=a.ranks)
    torch.manual_seed(a.seed)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    with open(os.path.join(a.root, "manifest.csv"), newline="") as f:
        classes = sorted({r["label"] for r in csv.DictReader(f)})
    xtr, ytr = load_split(a.root, "train", classes, mean, std)
    model = timm.create_model(a.arch, pretrained=False, num_classes=len(classes))
    model = torch.nn.parallel.DistributedDataParallel(model)
    opt = timm.optim.create_optimizer_v2(model, opt="adamw", lr=a.lr, weight_decay=a.weight_decay, foreach=False)
    n = len(ytr)
    share = a.batch // a.ranks
    ips = []
    for epoch in range(a.epochs):
        model.train()
        g = torch.Generator().manual_seed(a.seed * 1000 + epoch)
        perm = torch.randperm(n, generator=g)
        dist.barrier()
        t0 = time.perf_counter()
        seen = 0
        for i in range(0, n - a.batch + 1, a.batch):
            idx = perm[i + rank * share : i + (rank + 1) * share]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += a.batch
        dist.barrier()
        ips.append(seen / (time.perf_counter() - t0))
    d = model._get_ddp_logging_data()
    if rank == 0:
        ms = lambda k: d.get(k, -1) / 1e6
        q.put(
            {
                "arch": a.arch,
                "ranks": a.ranks,
                "img_s": ips[-1],
                "backward_ms": ms("avg_backward_compute_time"),
                "all_reduce_ms": ms("avg_backward_comm_time"),
                "overlap_ms": ms("avg_backward_compute_comm_overlap_time"),
            }
        )
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--root", required=True)
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    mp.spawn(worker, args=(a, port, q), nprocs=a.ranks, join=True)
    print(json.dumps(q.get()))


if __name__ == "__main__":
    main()
