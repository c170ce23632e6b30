#!/usr/bin/env bash
# System packages needed to BUILD exp (both README commands run this first).
# libjpeg-turbo: DCT-domain scaled JPEG decode for the decode cache (src/data/tj.rs).
set -euo pipefail
need=(libturbojpeg0-dev pkg-config)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "exp: installing build packages: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
