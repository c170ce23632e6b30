#!/usr/bin/env python3
"""timm's training throughput for the same settings as exp's GPU check
(tests/it/models_gpu.rs): every full-size backbone, random init, batch 32 at
224 px, forward + backward under bf16 autocast, channels-last, drop-path 0.1,
5 timed steps after 2 warm-up steps. Prints one line per backbone in the
same format as the Rust test, so the two can be put side by side:

    python scripts/export_timm_throughput.py [--json out.json]
    cargo test --release --test it models_gpu:: -- --ignored --nocapture
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

import timm

ARCHS = [
    "resnet18", "resnet34", "resnet50",
    "convnextv2_atto", "convnextv2_femto", "convnextv2_pico",
    "convnextv2_nano", "convnextv2_tiny", "convnextv2_base",
    "efficientnetv2_s", "tf_efficientnetv2_s",
    "vit_small_patch14_dinov2",
]
BATCH, SIZE, STEPS = 32, 224, 5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    args = ap.parse_args()
    assert torch.cuda.is_available(), "needs a CUDA device"
    dev = torch.device("cuda")
    out = {}
    for arch in ARCHS:
        kw = {"img_size": SIZE} if "vit" in arch else {}
        model = timm.create_model(arch, num_classes=10, drop_path_rate=0.1, drop_rate=0.1, **kw)
        model = model.to(dev).to(memory_format=torch.channels_last).train()
        x = torch.randn(BATCH, 3, SIZE, SIZE, device=dev).to(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (BATCH,), device=dev)

        def step():
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
            model.zero_grad(set_to_none=False)
            loss.backward()
            return loss

        for _ in range(2):
            step()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(STEPS):
            step()
        torch.cuda.synchronize()
        ips = BATCH * STEPS / (time.perf_counter() - t0)
        out[arch] = ips
        print(f"{arch:<26} timm fwd+bwd bf16 channels-last {SIZE}px batch {BATCH}: {ips:8.1f} img/s", flush=True)
        del model
        torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"timm_version": timm.__version__, "torch_version": torch.__version__, "img_per_s": out}, f, indent=1)


if __name__ == "__main__":
    main()
