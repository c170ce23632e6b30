#!/usr/bin/env python3
"""Write the timm state_dict key list (name and shape) of every full-size
backbone in the zoo to tests/fixtures/models/keys.json.

Run once by hand in a venv with timm (no weights are downloaded: the models
are built with random init). The classifier head (`fc.`, `head.fc.`,
`classifier.`, `head.`) is left out: `exp` replaces it with its own head.

    python scripts/export_timm_keys.py
"""
import json
import pathlib

import timm

ARCHS = [
    "resnet18", "resnet34", "resnet50",
    "convnextv2_atto", "convnextv2_femto", "convnextv2_pico",
    "convnextv2_nano", "convnextv2_tiny", "convnextv2_base",
    "efficientnetv2_s", "tf_efficientnetv2_s",
    "vit_small_patch14_dinov2",
]

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/models/keys.json"


def main():
    result = {"timm_version": timm.__version__, "archs": {}}
    for arch in ARCHS:
        # Why num_classes=0: timm then drops the classifier, which is exactly
        # the set of keys a headless backbone has.
        model = timm.create_model(arch, pretrained=False, num_classes=0)
        keys = [[k, list(v.shape)] for k, v in model.state_dict().items()]
        result["archs"][arch] = keys
        print(arch, len(keys))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=0) + "\n")


if __name__ == "__main__":
    main()
