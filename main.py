"""Start the SAM Editor window (the packaged app's entry point)."""

import time

T_START = time.perf_counter()  # before the heavy imports: start-up time is measured from here

import sys  # noqa: E402

from sam_editor.runtime import init_torch  # noqa: E402

if __name__ == "__main__":
    init_torch()
    from sam_editor.gui.app import run

    sys.exit(run(sys.argv[1:], t_start=T_START))
