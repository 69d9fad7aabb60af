"""Picklable tasks for the batch tests (imported by the worker processes)."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

from sam_editor.batch import TaskError


def square(payload: dict) -> dict:
    """Squares `x`; records each call in `calls/`; `die` kills its own worker on the first attempt
    (a marker file tells later attempts apart); `bad` is an unreadable input."""
    calls = Path(payload["dir"]) / "calls"
    calls.mkdir(parents=True, exist_ok=True)
    (calls / f"{payload['x']}-{uuid.uuid4().hex}").touch()
    if payload.get("bad"):
        raise TaskError(f"item {payload['x']}: not an image")
    if payload.get("die"):
        marker = Path(payload["dir"]) / f"died-{payload['x']}"
        if not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies mid-task
    return {"x": payload["x"], "y": payload["x"] ** 2, "pid": os.getpid()}


def calls(folder: Path) -> list[int]:
    return sorted(int(p.name.split("-")[0]) for p in (folder / "calls").iterdir()) if (folder / "calls").is_dir() else []
