#!/usr/bin/env bash
# Data-path benchmark: exp (libjpeg-turbo DCT-scaled decode + fast_image_resize)
# vs Pillow (decode with draft() + resize) on the same generated JPEGs, one
# core each; and exp's random-order cache read (crop + flip) per core.
#
# Usage: scripts/bench_data.sh [OUT.md]   (env: BENCH_DIR, N_SMALL, N_LARGE, ROUNDS)
# Writes the table to OUT.md when given (docs/benchmarks.md, "Data-path benchmarks", uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/exp-bench-data}"
N_SMALL="${N_SMALL:-48}"
N_LARGE="${N_LARGE:-12}"
ROUNDS="${ROUNDS:-5}"
VENV="${BENCH_VENV:-/work/venvs/data}"
if ! "$VENV/bin/python" -c 'import PIL, numpy' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --no-cache-dir pillow numpy
fi
PY="$VENV/bin/python"
"$PY" scripts/bench_data_pillow.py generate "$BENCH_DIR" "$N_SMALL" "$N_LARGE"

# Why these overrides: an optimised build of the exp crate only; the shared
# dependency builds are already at opt-level 3 in the dev profile.
export CARGO_PROFILE_DEV_OPT_LEVEL=3 CARGO_PROFILE_DEV_DEBUG_ASSERTIONS=false CARGO_PROFILE_DEV_OVERFLOW_CHECKS=false
BIN="$(cargo build --quiet --bench data_decode --message-format=json \
  | "$PY" -c 'import sys, json
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "data_decode" and m.get("executable"):
        print(m["executable"])')"

# One core for both sides.
run1() { taskset -c 0 "$@"; }
rate() { awk '{ printf "%.1f", $1 / $2 }'; }
small_exp=$(run1 "$BIN" decode "$BENCH_DIR/small" 256 "$((ROUNDS * 4))" | rate)
small_pil=$(run1 "$PY" scripts/bench_data_pillow.py decode "$BENCH_DIR/small" 256 "$((ROUNDS * 4))" | rate)
large_exp=$(run1 "$BIN" decode "$BENCH_DIR/large" 256 "$ROUNDS" | rate)
large_pil=$(run1 "$PY" scripts/bench_data_pillow.py decode "$BENCH_DIR/large" 256 "$ROUNDS" | rate)
CACHE_TMP="$(mktemp -d)"
trap 'rm -rf "$CACHE_TMP"' EXIT
cache_read=$(run1 "$BIN" cache "$BENCH_DIR/small" 256 224 200000 "$CACHE_TMP" | rate)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

table=$(cat <<EOT
| measurement (one core, shorter side 256) | exp img/s | Pillow img/s | ratio | target |
|---|---:|---:|---:|---|
| decode + resize, 512×384 JPEG (0.2 MP) | $small_exp | $small_pil | $(ratio "$small_exp" "$small_pil")× | ≥ 1.5× |
| decode + resize, 4000×3000 JPEG (12 MP) | $large_exp | $large_pil | $(ratio "$large_exp" "$large_pil")× | ≥ 1.0× |
| cache read, random order, 224 crop + flip | $cache_read | — | — | ≥ 20000 img/s |
EOT
)
echo "$table"
if [ $# -ge 1 ]; then
  {
    echo "<!-- written by scripts/bench_data.sh on $(date -u +%Y-%m-%d), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) -->"
    echo "$table"
  } > "$1"
fi
