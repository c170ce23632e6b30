#!/usr/bin/env bash
# Training throughput and accuracy: exp vs a timm/PyTorch loop, on CPU, same
# model, same generated image folder, same batch size, epochs and optimizer.
#
#   scripts/bench_train.sh [ARCH] [EPOCHS]     (default resnet18, 2)
#
# timm's PyPI package has no train.py (it lives only in timm's repository) and
# no `timm.train` module, so the timm side is scripts/bench_train_timm.py: a
# minimal loop with timm.create_model and timm's AdamW parameter groups (no
# weight decay on norms and biases), as train.py would build them. Both sides
# train from random init at 64 px, batch 32, AdamW lr 1e-3 wd 0.05, constant
# lr, no augmentation, all cores; img/s is the last epoch's training rate,
# top-1 is on the test split.
#
# The two sides run alternately REPEATS times (default 3) and the table shows
# the median of each, so a noisy neighbour slows both rather than one. A third
# column runs the same timm loop with torch's fused AdamW (`fused=True`, not
# train.py's default, which on CPU is the per-tensor loop) — the strongest
# peer, for reference. Prints a table and writes it to $OUT/bench_train.md
# (if OUT is set).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/bench_pipeline.sh
ARCH="${1:-resnet18}"
EPOCHS="${2:-2}"
EXP="${EXP_BIN:-target/release/exp}"
[ -x "$EXP" ] || cargo build --release --locked
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bench_pipeline "$ARCH" "$EPOCHS" 1000 200 500 > "$work/bench.exp"
REPEATS="${REPEATS:-3}"
exp_ips=(); exp_top1=""; timm_ips=(); timm_top1=""; fused_ips=(); fused_top1=""
for r in $(seq "$REPEATS"); do
  rm -rf "$work/runs"
  EXP_CACHE="$work/cache" "$EXP" run "$work/bench.exp" --out "$work/runs" --device cpu >"$work/exp.log" 2>&1 || { cat "$work/exp.log"; exit 1; }
  cell="$(dirname "$(find "$work/runs/bench" -mindepth 2 -maxdepth 2 -name metrics.csv | head -1)")"
  exp_ips+=("$(tail -1 "$cell/metrics.csv" | python3 -c 'import sys,csv; r=list(csv.reader(sys.stdin))[0]; print(r[6])')")
  exp_top1="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["top1"])' "$cell/scores.json")"
  for opt in loop fused; do
    extra=(); [ "$opt" = fused ] && extra=(--fused)
    j="$("$EXP_VENV/bin/python" scripts/bench_train_timm.py folder --arch "$ARCH" --root "$work/data" --batch 32 --epochs "$EPOCHS" --lr 1e-3 --weight-decay 0.05 "${extra[@]}")"
    ips="$(echo "$j" | python3 -c 'import json,sys; print(json.load(sys.stdin)["img_s"])')"
    top1="$(echo "$j" | python3 -c 'import json,sys; print(json.load(sys.stdin)["top1"])')"
    if [ "$opt" = loop ]; then timm_ips+=("$ips"); timm_top1="$top1"; else fused_ips+=("$ips"); fused_top1="$top1"; fi
  done
  echo "run $r: exp ${exp_ips[-1]} img/s, timm ${timm_ips[-1]} img/s, timm fused ${fused_ips[-1]} img/s" >&2
done
table="$(python3 - "$ARCH" "$EPOCHS" "$(nproc)" "${exp_ips[*]}" "$exp_top1" "${timm_ips[*]}" "$timm_top1" "${fused_ips[*]}" "$fused_top1" <<'PY'
import statistics, sys
arch, ep, cores, ei, et, ti, tt, fi, ft = sys.argv[1:]
ei, ti, fi = ([float(v) for v in x.split()] for x in (ei, ti, fi))
me, mt, mf = statistics.median(ei), statistics.median(ti), statistics.median(fi)
runs = lambda v: " / ".join(f"{x:.0f}" for x in v)
print("| model | setting | exp img/s | timm img/s | ratio exp/timm | timm + fused AdamW img/s | ratio exp/that | exp top-1 | timm top-1 |")
print("|---|---|---|---|---|---|---|---|---|")
print(f"| {arch} | CPU ({cores} cores), 64 px, batch 32, {ep} epochs, 1000 train / 500 test, median of {len(ei)} alternating runs | {me:.1f} ({runs(ei)}) | {mt:.1f} ({runs(ti)}) | {me/mt:.2f} | {mf:.1f} ({runs(fi)}) | {me/mf:.2f} | {float(et):.3f} | {float(tt):.3f} |")
PY
)"
echo "$table"
if [ -n "${OUT:-}" ]; then echo "$table" > "$OUT/bench_train.md"; fi
