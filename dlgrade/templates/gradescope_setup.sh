#!/usr/bin/env bash
# dlgrade's Gradescope autograder, image build step (made by `dlgrade export @ASSIGNMENT@ --format gradescope`).
#
# Gradescope runs this once, as root, when it builds the grading image, with this zip unpacked in
# /autograder/source. It installs bubblewrap (the sandbox student code runs in), Python @PYTHON_VERSION@, and a
# virtualenv at /autograder/dlgrade-venv holding the pinned environment: torch==@TORCH_VERSION@ (the CPU build;
# the default wheel pulls CUDA) and everything else exactly as constraints.txt pins it, then dlgrade itself
# from project/. run_autograder grades with that interpreter.
set -euo pipefail

ROOT="${DLGRADE_AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="$ROOT/dlgrade-venv"
PYTHON="python@PYTHON_VERSION@"
TORCH_INDEX="${DLGRADE_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends bubblewrap ca-certificates

# The pins were resolved for Python @PYTHON_VERSION@: the image's own python3 only if it is that version.
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  if ! apt-get install -y -qq --no-install-recommends "$PYTHON" "$PYTHON-venv"; then
    apt-get install -y -qq --no-install-recommends software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$PYTHON" "$PYTHON-venv"
  fi
fi
"$PYTHON" -m venv "$VENV" || { apt-get install -y -qq --no-install-recommends "$PYTHON-venv"; "$PYTHON" -m venv "$VENV"; }

"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q --index-url "$TORCH_INDEX" "torch==@TORCH_VERSION@"
"$VENV/bin/pip" install -q -c "$SOURCE/constraints.txt" "$SOURCE/project"

# Fail the image build now, not at the first submission, if the environment is not the pinned one.
"$VENV/bin/python" - <<'PY'
import torch

import dlgrade.grading  # noqa: F401

assert torch.__version__.split("+")[0] == "@TORCH_VERSION@", torch.__version__
print("dlgrade autograder ready: torch", torch.__version__)
PY
