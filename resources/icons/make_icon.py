"""Render the app icon (resources/icons/sam-editor.png) from Material Design Icons via qtawesome
(run once; the PNG is committed so packaging tools can use it)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QRectF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QGuiApplication, QImage, QLinearGradient, QPainter  # noqa: E402


def main() -> None:
    app = QGuiApplication([])
    import qtawesome as qta

    size = 256
    img = QImage(size, size, QImage.Format.Format_ARGB32)
    img.fill(Qt.GlobalColor.transparent)
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    grad = QLinearGradient(0, 0, size, size)
    grad.setColorAt(0, QColor(47, 111, 202))
    grad.setColorAt(1, QColor(252, 137, 0))
    p.setBrush(grad)
    p.setPen(Qt.PenStyle.NoPen)
    p.drawRoundedRect(QRectF(8, 8, size - 16, size - 16), 48, 48)
    qta.icon("mdi6.car-sports", color="white").paint(p, 36, 36, size - 72, size - 72)
    p.end()
    out = Path(__file__).with_name("sam-editor.png")
    img.save(str(out))
    print(out)
    del app


if __name__ == "__main__":
    main()
