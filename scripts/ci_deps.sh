#!/usr/bin/env bash
# System packages the test suite starts for real (sourced by scripts/test.sh):
# add one line per need, with why.
set -euo pipefail
need=()
# (sections are appended by each subsystem's tests)
need+=(slurmctld slurmd slurm-client munge)  # slurm test: tests/slurm_cluster.rs starts a one-node cluster
need+=(libturbojpeg0-dev pkg-config)  # data: DCT-scaled JPEG decode via the turbojpeg crate
if [ ${#need[@]} -gt 0 ]; then
  missing=()
  for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
