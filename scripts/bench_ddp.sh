#!/usr/bin/env bash
# Data-parallel training on the CPU: `exp run --ddp N` beside torch's
# DistributedDataParallel (scripts/bench_ddp_torch.py), same timm
# architecture, generated data, global batch, epochs and AdamW, N ranks over
# Gloo with THREADS intra-op threads each (default: cores / N, for both).
#
#   scripts/bench_ddp.sh [ARCH] [RANKS]     (default resnet18, 2)
#
# Reports the last epoch's global img/s of each and their ratio, and the
# gradient all-reduce's overlap with the backward pass as each DDP logger
# measures it (exp: libtorch's reducer logger, printed in run.log; torch:
# `_get_ddp_logging_data()`): backward ms, all-reduce ms, and the share of
# the all-reduce that ran while the backward still computed.
# The two sides alternate REPEATS times (default 3); the table shows medians.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/bench_pipeline.sh
ARCH="${1:-resnet18}"
RANKS="${2:-2}"
EPOCHS="${EPOCHS:-2}"
THREADS="${THREADS:-$(( $(nproc) / RANKS > 0 ? $(nproc) / RANKS : 1 ))}"
EXP="${EXP_BIN:-target/release/exp}"
[ -x "$EXP" ] || cargo build --release --locked
"$EXP_VENV/bin/python" -c 'import timm' 2>/dev/null || "$EXP_VENV/bin/python" -m pip install --quiet timm "torchvision==0.26.0"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bench_pipeline "$ARCH" "$EPOCHS" 1024 64 64 > "$work/bench.exp"
REPEATS="${REPEATS:-3}"
rows=()
for r in $(seq "$REPEATS"); do
  rm -rf "$work/runs"
  OMP_NUM_THREADS="$THREADS" EXP_CACHE="$work/cache" "$EXP" run "$work/bench.exp" --out "$work/runs" \
    --device cpu --ddp "$RANKS" --workers 1 >"$work/exp.log" 2>&1 || { cat "$work/exp.log"; exit 1; }
  cell="$(dirname "$(find "$work/runs/bench" -mindepth 2 -maxdepth 2 -name metrics.csv | head -1)")"
  exp_ips="$(tail -1 "$cell/metrics.csv" | cut -d, -f7)"
  exp_ov="$(grep -o 'data-parallel backward [0-9.]* ms, gradient all-reduce [0-9.]* ms' "$cell/run.log" | tail -1 | tr -dc '0-9. ' | xargs)"
  overlap_line="$(grep 'data-parallel backward' "$cell/run.log" | tail -1)"
  torch_json="$(OMP_NUM_THREADS="$THREADS" "$EXP_VENV/bin/python" scripts/bench_ddp_torch.py --arch "$ARCH" \
    --root "$work/data" --ranks "$RANKS" --threads "$THREADS" --batch 32 --epochs "$EPOCHS")"
  rows+=("$exp_ips|$overlap_line|$torch_json")
  echo "run $r: exp $exp_ips img/s ($overlap_line); torch $torch_json" >&2
done
python3 - "$ARCH" "$RANKS" "$THREADS" "$(nproc)" "${rows[@]}" <<'PY'
import json, re, statistics, sys
arch, ranks, threads, cores, *rows = sys.argv[1:]
e_ips, e_bw, e_ar, e_hid, t_ips, t_bw, t_ar, t_hid = ([] for _ in range(8))
for row in rows:
    ips, line, js = row.split("|", 2)
    e_ips.append(float(ips))
    m = re.search(r"backward ([0-9.]+) ms, gradient all-reduce ([0-9.]+) ms, ([0-9]+)% of it hidden", line)
    e_bw.append(float(m[1])); e_ar.append(float(m[2])); e_hid.append(float(m[3]))
    t = json.loads(js)
    t_ips.append(t["img_s"]); t_bw.append(t["backward_ms"]); t_ar.append(t["all_reduce_ms"])
    t_hid.append(100 * min(1.0, max(0.0, t["overlap_ms"] / t["all_reduce_ms"])) if t["all_reduce_ms"] > 0 else 0.0)
med = statistics.median
print("| model | setting | exp img/s | torch DDP img/s | ratio exp/torch | exp backward / all-reduce ms, hidden | torch backward / all-reduce ms, hidden |")
print("|---|---|---|---|---|---|---|")
print(f"| {arch} | CPU ({cores} cores), {ranks} ranks × {threads} thread(s), Gloo, 64 px, global batch 32, 1024 train, last of 2 epochs, median of {len(rows)} alternating runs "
      f"| {med(e_ips):.1f} | {med(t_ips):.1f} | {med(e_ips)/med(t_ips):.2f} "
      f"| {med(e_bw):.1f} / {med(e_ar):.1f}, {med(e_hid):.0f}% | {med(t_bw):.1f} / {med(t_ar):.1f}, {med(t_hid):.0f}% |")
PY
