#!/usr/bin/env bash
# Sourced by the README's commands: makes sure libtorch (PyPI torch==2.11.0, the
# version tch 0.24.0 is built for) is installed in a virtual environment and
# exports what torch-sys needs to find it.
#
# Why a shared venv under ~/.cache: torch with its CUDA libraries is several GB;
# every clone on this machine reuses one copy instead of downloading it again.
set -euo pipefail
EXP_VENV="${EXP_VENV:-$HOME/.cache/exp/venv-torch-2.11.0}"
if ! "$EXP_VENV/bin/python" -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.11.0")' 2>/dev/null; then
  echo "exp: installing torch==2.11.0 into $EXP_VENV (one time)" >&2
  python3 -m venv "$EXP_VENV"
  "$EXP_VENV/bin/python" -m pip install --quiet --no-cache-dir --upgrade pip
  "$EXP_VENV/bin/python" -m pip install --quiet --no-cache-dir torch==2.11.0
fi
export PATH="$EXP_VENV/bin:$HOME/.cargo/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
export PYTHON_SYS_EXECUTABLE="$EXP_VENV/bin/python"
TORCH_LIB="$("$EXP_VENV/bin/python" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
