"""Start the SAM Editor window (the packaged app's entry point)."""

import sys

from sam_editor.runtime import init_torch

if __name__ == "__main__":
    init_torch()
    from sam_editor.gui.app import run

    sys.exit(run(sys.argv[1:]))
