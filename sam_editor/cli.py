"""`sam-editor …`: every capability of the app, scriptable without a window.

Each area registers its own subcommands (`register(subparsers)`), so this file only wires them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .runtime import init_torch

# Modules that contribute subcommands. They import their heavy dependencies (torch, cv2, Qt)
# inside the command functions, so that building the parser (and `--help`) stays fast.
COMMAND_MODULES = (
    "sam_editor.weights_commands",
    "sam_editor.session.invert_commands",
    "sam_editor.invertibility.commands",
    "sam_editor.edits.commands",
    "sam_editor.demo.commands",
    "sam_editor.session.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sam-editor", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="start the editor window")
    gui.add_argument("image", nargs="?", help="image to open")
    gui.set_defaults(func=_run_gui)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _run_gui(args: argparse.Namespace) -> int:
    from .gui.app import run

    return run([args.image] if args.image else [])


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    init_torch()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
