#!/usr/bin/env bash
# The whole test suite from a fresh clone: install what the tests need, then
# formatting, lints and every test. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build_deps.sh
source scripts/env.sh
./scripts/ci_deps.sh
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
