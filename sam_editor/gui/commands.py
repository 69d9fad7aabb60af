"""Undoable changes to the session (QUndoStack): τ, segment overrides, the edit region, the edit list.

A slider drag pushes one command per movement; consecutive ones of the same kind merge into a
single undo step until the slider is released (`close_merging`).
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand, QUndoStack

from sam_editor.gan.layers import LayerSpace
from sam_editor.session import EditSpec, Session

ID_TAU = 1
ID_EDITS = 2


class _Mergeable(QUndoCommand):
    merge_id = -1

    def __init__(self, text: str, key: object = None) -> None:
        super().__init__(text)
        self.key = key
        self.open = True  # still accepting merges (the slider is held)

    def id(self) -> int:  # noqa: A003  (Qt's name)
        return self.merge_id


class SetTau(_Mergeable):
    merge_id = ID_TAU

    def __init__(self, session: Session, old: float, new: float) -> None:
        super().__init__(f"τ = {new:.3f}")
        self.session, self.old, self.new = session, old, new

    def redo(self) -> None:
        self.session.set_tau(self.new)

    def undo(self) -> None:
        self.session.set_tau(self.old)

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (self.open and isinstance(other, SetTau)):
            return False
        self.new = other.new
        self.open = other.open
        self.setText(f"τ = {self.new:.3f}")
        return True


class SetOverrides(QUndoCommand):
    def __init__(self, session: Session, changes: dict[int, LayerSpace | None]) -> None:
        n = len(changes)
        spaces = {c.value if c else "auto" for c in changes.values()}
        what = next(iter(spaces)) if len(spaces) == 1 else "mixed"
        super().__init__(f"{n} segment{'s' * (n != 1)} → {what}")
        self.session, self.changes = session, dict(changes)
        self.old: dict[int, LayerSpace | None] = {}

    def redo(self) -> None:
        self.old = self.session.set_overrides(self.changes)

    def undo(self) -> None:
        self.session.set_overrides(self.old)


class SetEditRegion(QUndoCommand):
    """Limit edits to some segments (empty: everywhere)."""

    def __init__(self, session: Session, segments: frozenset[int]) -> None:
        n = len(segments)
        super().__init__(f"edit only {n} segment{'s' * (n != 1)}" if n else "edit everywhere")
        self.session, self.new = session, frozenset(segments)
        self.old: frozenset[int] = frozenset()

    def redo(self) -> None:
        self.old = self.session.set_edit_region(self.new)

    def undo(self) -> None:
        self.session.set_edit_region(self.old)


class SetEdits(_Mergeable):
    """Replace the edit list; `key` names the slider, so one drag is one undo step."""

    merge_id = ID_EDITS

    def __init__(self, session: Session, old: list[EditSpec], new: list[EditSpec], text: str, key: object = None) -> None:
        super().__init__(text, key)
        self.session, self.old, self.new = session, list(old), list(new)

    def redo(self) -> None:
        self.session.set_edits(self.new)

    def undo(self) -> None:
        self.session.set_edits(self.old)

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (self.open and isinstance(other, SetEdits) and self.key is not None and other.key == self.key):
            return False
        self.new = other.new
        self.open = other.open
        self.setText(other.text())
        return True


def close_merging(stack: QUndoStack) -> None:
    """End the current drag: the next movement starts a new undo step."""
    if stack.index() > 0:
        cmd = stack.command(stack.index() - 1)
        if isinstance(cmd, _Mergeable):
            cmd.open = False
