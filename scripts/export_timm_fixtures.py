#!/usr/bin/env python3
"""Export seeded random-init timm models of reduced size, their inputs and
their pooled features, for the parity tests in tests/it/models_parity.rs.

Run once by hand in a venv with timm (no weights are downloaded):

    python scripts/export_timm_fixtures.py            # every fixture
    python scripts/export_timm_fixtures.py NAME...    # only these

For each fixture NAME it writes tests/fixtures/models/NAME.safetensors (the
timm state_dict, classifier included when the model has one) and
NAME.io.safetensors (`input_<i>` images and `expected_<i>` features, f32).
Every parameter and batch-norm statistic is perturbed with seeded noise so
that zero-initialised parts (GRN, biases) and LayerScale matter.

FORMULA fixtures are full-size timm models (`timm.create_model(arch)`, the
exact factory of the published checkpoint) too large to store: their
weights follow a formula of the key and element index that the Rust test
recomputes (`formula_value` in tests/it/models_parity.rs), so only NAME.io
is written.
"""
import math
import sys
import json
import pathlib
from functools import partial

import torch
import torch.nn as nn
from safetensors.torch import save_file

import timm
from timm.layers import get_act_layer
from timm.models.convnext import ConvNeXt
from timm.models.efficientnet import EfficientNet
from timm.models._efficientnet_builder import decode_arch_def, round_channels
from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from timm.models.vision_transformer import VisionTransformer

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/models"

EFFNET_TEST_ARCH = [
    ["cn_r1_k3_s1_e1_c16_skip"],
    ["er_r2_k3_s2_e4_c24"],
    ["er_r1_k3_s2_e4_c32"],
    ["ir_r2_k3_s2_e4_c48_se0.25"],
    ["ir_r1_k3_s1_e6_c64_se0.25"],
    ["ir_r2_k3_s2_e6_c80_se0.25"],
]


def effnet(tf):
    return EfficientNet(
        block_args=decode_arch_def(EFFNET_TEST_ARCH),
        num_features=128,
        stem_size=16,
        round_chs_fn=round_channels,
        pad_type="same" if tf else "",
        norm_layer=partial(nn.BatchNorm2d, eps=1e-3 if tf else 1e-5),
        act_layer=get_act_layer("silu"),
        num_classes=6,
    )


# name -> (constructor, input sizes)
FIXTURES = {
    # = exp's resnet_test (timm's plain stem is always 64 wide); num_classes > 0 so the checkpoint carries `fc.*`,
    # which the loader must ignore.
    "resnet_basic": (lambda: ResNet(BasicBlock, [1, 1, 1, 1], channels=(8, 16, 32, 64), num_classes=5), [64]),
    "resnet_bottleneck": (lambda: ResNet(Bottleneck, [1, 1, 1, 1], channels=(8, 16, 32, 64), num_classes=0), [64]),
    # = exp's convnextv2_test (atto-like, 1x1-conv MLP).
    "convnextv2_convmlp": (
        lambda: ConvNeXt(depths=(1, 1, 2, 1), dims=(8, 16, 32, 64), use_grn=True, ls_init_value=None, conv_mlp=True, num_classes=4),
        [64],
    ),
    # tiny-like (linear MLP on NHWC).
    "convnextv2_linear": (
        lambda: ConvNeXt(depths=(1, 1, 2, 1), dims=(8, 16, 32, 64), use_grn=True, ls_init_value=None, conv_mlp=False, num_classes=0),
        [64],
    ),
    # = exp's efficientnetv2_test; the odd size makes TF "same" padding asymmetric.
    "efficientnetv2": (lambda: effnet(False), [64]),
    "tf_efficientnetv2": (lambda: effnet(True), [45, 64]),
    # = exp's vit_test: DINOv2 structure; 70 px exercises the pos-embed resampling.
    "vit_dinov2": (
        lambda: VisionTransformer(
            img_size=56, patch_size=14, embed_dim=64, depth=2, num_heads=2, init_values=1e-5,
            num_classes=3, dynamic_img_size=True, global_pool="token",
        ),
        [56, 70, 42],
    ),
}


# name -> (timm model name, input sizes); weights from `formula_value`.
FORMULA = {
    # The report's EfficientNetV2-S (`tf_efficientnetv2_s.in21k_ft_in1k`);
    # 61 px makes TF "same" padding asymmetric at every stride-2 layer.
    "tf_efficientnetv2_s_full": ("tf_efficientnetv2_s", [61]),
}


def key_hash(name):
    return sum((j + 1) * b for j, b in enumerate(name.encode())) % 997


def formula_value(name, shape):
    """Deterministic weights, computed in float64 then cast to float32:
    u_i = sin(0.7 i + 0.1 h(name)); BN variances 1 + 0.5 u, means 0.1 u,
    other rank <= 1 weights 1 + 0.1 u, biases 0.1 u, rank >= 2 tensors
    u * sqrt(1 / fan_in)."""
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float64)
    u = torch.sin(0.7 * i + 0.1 * key_hash(name))
    if name.endswith("running_var"):
        v = 1.0 + 0.5 * u
    elif name.endswith("running_mean"):
        v = 0.1 * u
    elif len(shape) <= 1:
        v = 1.0 + 0.1 * u if name.endswith("weight") else 0.1 * u
    else:
        v = u * math.sqrt(1.0 / (n // shape[0]))
    return v.reshape(shape).to(torch.float32)


def export_formula(name, arch, sizes, summary):
    model = timm.create_model(arch, pretrained=False, num_classes=0).eval()
    with torch.no_grad():
        for key, t in list(model.named_parameters()) + list(model.named_buffers()):
            if t.is_floating_point():
                t.copy_(formula_value(key, tuple(t.shape)))
    gen = torch.Generator().manual_seed(3000)
    io = {}
    with torch.no_grad():
        for j, s in enumerate(sizes):
            x = torch.randn(1, 3, s, s, generator=gen)
            feats = model.forward_head(model.forward_features(x), pre_logits=True)
            io[f"input_{j}"] = x.contiguous()
            io[f"expected_{j}"] = feats.contiguous()
    save_file(io, str(OUT / f"{name}.io.safetensors"))
    summary["fixtures"][name] = {"arch": arch, "sizes": sizes, "formula_weights": True,
                                 "params": sum(p.numel() for p in model.parameters()),
                                 "feature_dim": int(feats.shape[1]),
                                 "feature_abs_mean": float(feats.abs().mean())}
    print(name, summary["fixtures"][name])


def perturb(model, gen):
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.is_floating_point():
                continue
            noise = torch.randn(t.shape, generator=gen)
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif name.endswith("running_mean"):
                t.copy_(noise * 0.1)
            elif name.endswith("pos_embed") or name.endswith("cls_token"):
                t.copy_(noise * 0.5)
            elif t.dim() <= 1:
                t.add_(noise * 0.1)
            else:
                t.add_(noise * 0.01)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[1:])
    summary_path = OUT / "fixtures.json"
    summary = json.loads(summary_path.read_text()) if only and summary_path.exists() else {"fixtures": {}}
    summary["timm_version"] = timm.__version__
    summary["torch_version"] = torch.__version__
    for name, (arch, sizes) in FORMULA.items():
        if not only or name in only:
            export_formula(name, arch, sizes, summary)
    for i, (name, (make, sizes)) in enumerate(FIXTURES.items()):
        if only and name not in only:
            continue
        torch.manual_seed(1000 + i)
        gen = torch.Generator().manual_seed(2000 + i)
        model = make().eval()
        perturb(model, gen)
        sd = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(sd, str(OUT / f"{name}.safetensors"))
        io = {}
        with torch.no_grad():
            for j, s in enumerate(sizes):
                x = torch.randn(2, 3, s, s, generator=gen)
                feats = model.forward_head(model.forward_features(x), pre_logits=True)
                io[f"input_{j}"] = x.contiguous()
                io[f"expected_{j}"] = feats.contiguous()
        save_file(io, str(OUT / f"{name}.io.safetensors"))
        summary["fixtures"][name] = {"sizes": sizes, "params": sum(p.numel() for p in model.parameters()),
                                     "feature_dim": int(feats.shape[1])}
        print(name, summary["fixtures"][name])
    summary_path.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
