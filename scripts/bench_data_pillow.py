#!/usr/bin/env python3
"""Helper of scripts/bench_data.sh.

generate DIR N_SMALL N_LARGE   write DIR/small/*.jpg (512x384) and DIR/large/*.jpg
                               (4000x3000), photo-like (smooth shapes, texture,
                               mild noise), quality 90, deterministic.
decode DIR SIZE ROUNDS         Pillow decode + resize (shorter side SIZE) of every
                               *.jpg in DIR on one core, with draft(); prints
                               "images seconds".
"""
import os
import sys
import time

import numpy as np
from PIL import Image


def photo(w, h, rng):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        img[..., c] = 80 + 60 * np.sin(x / w * rng.uniform(2, 6) + rng.uniform(0, 6)) * np.cos(
            y / h * rng.uniform(2, 6) + rng.uniform(0, 6)
        )
    for _ in range(12):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.3) * min(w, h)
        mask = ((x - cx) ** 2 + (y - cy) ** 2) < r * r
        img[mask] = img[mask] * 0.4 + rng.uniform(0, 255, 3) * 0.6
    img += 12 * np.sin(x / 3.0 + y / 5.0)[..., None]  # fine texture
    img += rng.normal(0, 4, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def generate(root, n_small, n_large):
    rng = np.random.default_rng(0)
    for name, (w, h), n in (("small", (512, 384), n_small), ("large", (4000, 3000), n_large)):
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        for i in range(n):
            p = os.path.join(d, f"{i:03d}.jpg")
            if not os.path.exists(p):
                photo(w, h, rng).save(p, quality=90)


def decode(d, size, rounds):
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".jpg"))

    def one(p):
        im = Image.open(p)
        w, h = im.size
        s = size / min(w, h)
        dw, dh = max(1, round(w * s)), max(1, round(h * s))
        im.draft("RGB", (dw, dh))
        im = im.convert("RGB")
        return im.resize((dw, dh), Image.BILINEAR)

    for p in files:  # warm the page cache, as the exp side does
        one(p)
    t = time.perf_counter()
    n = 0
    for _ in range(rounds):
        for p in files:
            one(p).tobytes()
            n += 1
    print(n, f"{time.perf_counter() - t:.6f}")


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "decode":
        decode(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
