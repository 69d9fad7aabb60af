import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from sam_editor.runtime import init_torch  # noqa: E402

init_torch()
