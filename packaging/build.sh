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

echo "bundle: $(du -sh dist/SAMEditor | cut -f1) in dist/SAMEditor ($(find dist/SAMEditor -type f | wc -l) files)"

# 1. Every module the source tree has is inside the build, and every lazily exported name resolves.
t0=$(date +%s.%N)
QT_QPA_PLATFORM=offscreen dist/SAMEditor/SAMEditor --check-imports > build/check-imports.json || true
t1=$(date +%s.%N)
"$PY" - "$t0" "$t1" <<'PYEOF'
import json, sys
r = json.load(open("build/check-imports.json"))
print(f"check-imports: {r['modules']} modules, {r['lazy_names']} lazy names, missing {len(r['missing'])}"
      f" ({float(sys.argv[2]) - float(sys.argv[1]):.1f} s, frozen={r['frozen']})")
for what, why in r["missing"]:
    print(f"  MISSING in the frozen app: {what}: {why}")
if not (r["ok"] and r["frozen"]):
    sys.exit("the frozen app lacks modules: add the dependency to pyproject.toml or fix the spec")
PYEOF

# 2. The smoke run: open a sample in the real window, invert, edit, export a PNG; then read it back.
if [ "${SAM_EDITOR_SKIP_SMOKE:-0}" != "1" ]; then
  SAMPLE=resources/samples/car_street.png
  OUT=build/smoke-export.png
  rm -f "$OUT"
  QT_QPA_PLATFORM=offscreen dist/SAMEditor/SAMEditor --smoke-test "$SAMPLE" "$OUT" --steps 20 | tee build/smoke.json
  "$PY" - "$SAMPLE" "$OUT" <<'PYEOF'
import json, sys
import numpy as np
from PIL import Image
src, out = (np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) for p in sys.argv[1:3])
assert out.shape == src.shape, f"exported {out.shape}, photo {src.shape}"
assert np.abs(out - src).mean() < np.abs(out - src[::-1]).mean(), "the export is not this photo"
r = [json.loads(l) for l in open("build/smoke.json") if l.startswith("{")][-1]
print(f"smoke test: exported {sys.argv[2]} ({out.shape[1]}x{out.shape[0]}, mean |edit| {np.abs(out - src).mean():.2f});"
      f" start-up to window {r['window_s']:.2f} s, map {r['map_s']:.2f} s, inversion {r['inversion_s']:.2f} s,"
      f" export {r['export_s']:.2f} s")
PYEOF
fi
