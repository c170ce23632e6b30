#!/usr/bin/env bash
# System packages the test suite starts for real (sourced by scripts/test.sh):
# add one line per need, with why.
set -euo pipefail
need=()
# (sections are appended by each subsystem's tests)
need+=(chromium)  # report HTML test (tests/it/report_html.rs renders report.html headless)
need+=(fonts-dejavu-core)  # plot labels in report PNG/SVG plots (src/report/plots.rs)
need+=(nodejs)  # editor: tree-sitter generate runs grammar.js, and the TextMate grammar tests run on node
need+=(slurmctld slurmd slurm-client munge)  # slurm test: tests/it/slurm_cluster.rs starts a one-node cluster
if [ ${#need[@]} -gt 0 ]; then
  missing=()
  for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

# editor (issue 8): grammar test tools that Debian does not package, installed
# once when missing (tests/it/editor_grammars.rs names them when they are absent).
exp_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v npm >/dev/null 2>&1; then
  # Debian's nodejs comes without npm (NodeSource's includes it).
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
fi
if [ ! -x "$exp_root/editors/vscode/node_modules/.bin/vscode-tmgrammar-snap" ]; then
  npm ci --prefix "$exp_root/editors/vscode" --no-audit --no-fund --loglevel=error
fi
if ! command -v tree-sitter >/dev/null 2>&1; then
  # Why no default features: they embed QuickJS through bindgen (needs libclang);
  # without them `tree-sitter generate` runs grammar.js on node. A few minutes, once.
  cargo install tree-sitter-cli --locked --version 0.26.13 --no-default-features
fi

# train (issue 15): tests/it/run_tensorboard.rs reads the event files with
# TensorBoard's own reader. Why a venv of its own: TensorBoard and NumPy stay
# out of the torch venv that libtorch is loaded from.
tb_venv="${EXP_TB_VENV:-$HOME/.cache/exp/venv-tensorboard-2.21.0}"
if ! "$tb_venv/bin/python" -c 'import tensorboard' >/dev/null 2>&1; then
  python3 -m venv "$tb_venv"
  "$tb_venv/bin/python" -m pip install --quiet --no-cache-dir tensorboard==2.21.0
fi
