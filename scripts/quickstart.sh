#!/usr/bin/env bash
# The main job from a fresh clone: install libtorch, build exp, run the
# quickstart bake-off (2 backbones x 2 recipes on a generated data set, CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build_deps.sh
source scripts/env.sh
cargo build --release --locked
exec target/release/exp run pipelines/quickstart.exp "$@"
