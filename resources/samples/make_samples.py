"""Write the sample pictures behind File ▸ Open Sample (run once; the PNGs are committed).

Car-world scenes (the demo generator's world) with clutter it never saw — fences, signs, text —
so the invertibility map has something to find. 256 px, so the app's downscaling shows too.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sam_editor.demo import clutter

HERE = Path(__file__).resolve().parent
PICKS = {0: "car_fence.png", 1: "car_sign.png", 3: "car_clutter.png", 5: "car_street.png"}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        records = clutter.write_samples(tmp, n=max(PICKS) + 1, seed=7, size=256, clutter=True)
        for index, name in PICKS.items():
            shutil.copyfile(Path(tmp) / records[index]["file"], HERE / name)
            print(f"{name}: {records[index]['caption']} (clutter {records[index]['clutter_fraction']:.0%})")


if __name__ == "__main__":
    main()
