#!/usr/bin/env bash
# `exp check` / `exp lsp` start-up and memory beside ruff and taplo, measured
# in the same run (scripts/bench_check.py; docs/benchmarks.md has a table).
# Builds the front alone (no torch needed) and installs the peers in a venv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${EXP_PEERS_VENV:-$HOME/.cache/exp/venv-lint-peers}"
if [ ! -x "$venv/bin/ruff" ] || [ ! -x "$venv/bin/taplo" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --no-cache-dir --quiet ruff==0.17.6 taplo==0.9.3
fi
# Why its own target dir: the front alone, without the runtime feature, so
# the measured binary is exactly what `cargo install --no-default-features`
# installs, and a concurrent test build is not blocked.
cargo build --release --locked --no-default-features --bin exp --target-dir target/front
exe=target/front/release/exp
echo "front binary: $(du -h "$exe" | cut -f1), libraries it needs: $(readelf -d "$exe" | grep NEEDED | sed 's/.*\[\(.*\)\]/\1/' | tr '\n' ' ')"
python3 scripts/bench_check.py "$exe" "$venv/bin/ruff" "$venv/bin/taplo"
