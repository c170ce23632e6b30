#!/usr/bin/env bash
# GPU check for a machine with PyTorch 2.11 + timm and no Rust, given a
# prebuilt exp binary:
#
#   LD_LIBRARY_PATH=<torch>/lib scripts/gpu_check.sh [path/to/exp]   (default ./exp)
#
# 1. the quickstart end to end with --device cuda;
# 2. each backbone's bf16 channels-last training throughput at 224 px, batch
#    64, random init: exp (a 1-sweep pipeline on generated 224 px images, 2
#    epochs, img/s of the last epoch from metrics.csv — loader included) side
#    by side with timm (scripts/bench_train_timm.py synth: the same model,
#    AdamW, autocast bf16, channels-last, on a fixed random batch already on
#    the GPU — no loader);
# 3. one summary table (also $OUT/gpu_check.md when OUT is set).
# Finishes in well under 8 minutes on one H100/H200.
set -euo pipefail
cd "$(dirname "$0")/.."
EXP="$(realpath "${1:-./exp}")"
PY="${PYTHON:-python3}"
if [ -z "${LD_LIBRARY_PATH:-}" ] || ! ldd "$EXP" | grep -q "libtorch.*=> /"; then
  export LD_LIBRARY_PATH="$("$PY" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
work="$(mktemp -d)"
out="${OUT:-$work}"
export EXP_CACHE="$work/cache"
t0=$(date +%s)

echo "== quickstart on cuda"
cp pipelines/quickstart.exp "$work/quickstart.exp"
sed -i "s|root   = \"../runs/data/shapes\"|root   = \"$work/shapes\"|" "$work/quickstart.exp"
qs_start=$(date +%s)
"$EXP" run "$work/quickstart.exp" --device cuda --out "$work/qs" 2>&1 | grep -v " epoch " | tee "$out/quickstart.log"
qs_secs=$(( $(date +%s) - qs_start ))
cp "$work/qs/quick/results.csv" "$out/quickstart_results.csv"

echo "== throughput at 224 px, bf16, channels-last, batch 64"
ARCHS=(resnet50 convnextv2_tiny efficientnetv2_s vit_small_patch14_dinov2)
{
  cat <<EXP
data synth {
  source = generated(classes = 10, train = 1280 samples, val = 64 samples, test = 64 samples,
                     size = 224, seed = 1, image_signal = 0.5, metadata_signal = 0.0)
  root = "$work/synth"
  image_size = 224
}
recipe r_tput {
  optimizer = adamw(lr = 1e-3, finetune_lr = 1e-3, weight_decay = 0.05)
  schedule  = constant
  warmup    = 0 steps
  batch     = 64
  precision = bf16
}
budget b_tput {
  frozen   = 0 epochs
  finetune = 2 epochs
}
score s_tput {
  split   = "test"
  metrics = [top1]
}
EXP
  names=()
  for a in "${ARCHS[@]}"; do
    cat <<EXP
backbone g_$a {
  arch       = "$a"
  input_size = 224
  mean       = [0.485, 0.456, 0.406]
  std        = [0.229, 0.224, 0.225]
}
EXP
    names+=("g_$a")
  done
  echo "sweep tput {"
  echo "  data = synth"
  echo "  backbone = [$(IFS=,; echo "${names[*]}" | sed 's/,/, /g')]"
  echo "  recipe = r_tput"
  echo "  budget = b_tput"
  echo "  score = s_tput"
  echo "}"
} > "$work/tput.exp"
"$EXP" run "$work/tput.exp" --device cuda --out "$work/tput" 2>&1 | grep -v " epoch " | tee "$out/tput.log" || true

rows=()
for a in "${ARCHS[@]}"; do
  m="$(find "$work/tput/tput" -maxdepth 2 -path "*g_$a*" -name metrics.csv | head -1)"
  e="n/a"
  [ -n "$m" ] && e="$(tail -1 "$m" | cut -d, -f7)"
  t="$("$PY" scripts/bench_train_timm.py synth --arch "$a" --batch 64 --size 224 --steps 30 --warmup 10 --classes 10 2>/dev/null \
       | "$PY" -c 'import json,sys; print(round(json.load(sys.stdin)["img_s"], 1))' || echo n/a)"
  rows+=("$a,$e,$t")
done

{
  echo "GPU: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  echo
  echo "quickstart --device cuda: ${qs_secs}s"
  echo '```'
  cat "$out/quickstart_results.csv"
  echo '```'
  echo
  echo "| backbone (224 px, bf16, channels-last, batch 64) | exp img/s (with loader) | timm img/s (GPU-resident batch) | ratio |"
  echo "|---|---|---|---|"
  for r in "${rows[@]}"; do
    IFS=, read -r a e t <<<"$r"
    ratio="$("$PY" -c "import sys; e,t=sys.argv[1:]; print(f'{float(e)/float(t):.2f}' if e!='n/a' and t!='n/a' else 'n/a')" "$e" "$t")"
    echo "| $a | $e | $t | $ratio |"
  done
  echo
  echo "total: $(( $(date +%s) - t0 ))s"
} | tee "$out/gpu_check.md"
