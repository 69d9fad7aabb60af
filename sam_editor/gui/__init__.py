"""PySide6 front end of SAM Editor: windows, widgets and workers; no maths (see CONVENTIONS.md)."""
