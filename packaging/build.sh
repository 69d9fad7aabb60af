#!/usr/bin/env bash
# Build the one-folder desktop app: dist/SAMEditor/SAMEditor (Linux x86_64, CPU torch).
#
# It uses its own venv (build/pkg-venv) so the bundle gets the CPU-only torch wheel (~200 MB of
# libraries) instead of the CUDA build the development venv holds (~4 GB with the nvidia-* wheels).
#   TORCH_CPU_SPEC   what to install for torch (default: the CPU wheel on this project's machines;
#                    online: "torch==2.14.1+cpu torchvision==0.29.1+cpu" with
#                    PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu)
#   PYTHON           the interpreter for the venv (3.11)
#   SAM_EDITOR_STRIP 1 strips the shared libraries (off by default: strip breaks numpy's
#                    bundled OpenBLAS, "ELF load command address/offset not page-aligned")
# Then it runs the frozen app's own smoke test (offscreen: open a sample, invert, edit, export).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=${PKG_VENV:-build/pkg-venv}
TORCH_CPU_SPEC=${TORCH_CPU_SPEC:-"torch==2.13.0+cpu torchvision==0.28.0"}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
PY="$VENV/bin/python"
# shellcheck disable=SC2086
"$PY" -m pip install -q $TORCH_CPU_SPEC
# The project's other run-time dependencies, read from pyproject.toml (torch/torchvision are
# already satisfied by the CPU wheels above), plus PyInstaller.
mapfile -t DEPS < <("$PY" - <<'PYEOF'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
extra = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["package"]
for d in deps + extra:
    name = d.split(";")[0].replace(" ", "")
    if not name.lower().startswith(("torch==", "torchvision==")):
        print(name)
PYEOF
)
"$PY" -m pip install -q "${DEPS[@]}"
"$PY" -c "import torch; assert torch.version.cuda is None, 'the package venv must hold CPU torch'; print('torch', torch.__version__)"

rm -rf build/SAMEditor dist/SAMEditor
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --workpath build/pyinstaller --distpath dist packaging/sam_editor.spec

echo "bundle: $(du -sh dist/SAMEditor | cut -f1) in dist/SAMEditor"
if [ "${SAM_EDITOR_SKIP_SMOKE:-0}" != "1" ]; then
  SAMPLE=resources/samples/car_street.png
  OUT=build/smoke-export.png
  rm -f "$OUT"
  QT_QPA_PLATFORM=offscreen dist/SAMEditor/SAMEditor --smoke-test "$SAMPLE" "$OUT" --steps 20
  test -s "$OUT" && echo "smoke test: exported $OUT"
fi
