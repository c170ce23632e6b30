#!/usr/bin/env bash
# The whole test suite from a fresh clone: install what the tests need, then
# formatting, lints and every test. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build_deps.sh
source scripts/env.sh
# Why: a one-shot build gains nothing from incremental caches, which held
# 4 GB for the test binaries; CI's disk is not large.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
./scripts/ci_deps.sh
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
