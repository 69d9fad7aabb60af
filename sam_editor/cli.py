"""`sam-editor …`: every capability of the app, scriptable without a window.

Each area registers its own subcommands (`register(subparsers)`), so this file only wires them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .runtime import init_torch

# Modules that contribute subcommands. They import their heavy dependencies (torch, cv2, Qt)
# inside the command functions, so that building the parser (and `--help`) stays fast.
COMMAND_MODULES = (
    "sam_editor.weights_commands",
    "sam_editor.session.invert_commands",
    "sam_editor.session.family_commands",
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
    except Exception as exc:  # noqa: BLE001 - the one error path of every command
        if os.environ.get("SAM_EDITOR_DEBUG"):
            raise
        code, text = describe_error(exc)
        print(f"error: {text}", file=sys.stderr)
        return code


# Our own error classes that are not ValueErrors but still mean "this input cannot be used".
USER_ERRORS = {"CheckpointError", "ClipWeightsMissing", "WeightsError", "CommandError", "TaskError"}


def describe_error(exc: BaseException) -> tuple[int, str]:
    """→ (exit status, one line) for an exception that reached the top of a command.

    Files that are not what they claim (ValueError and its kind: our FileFormatError,
    UnreadableFile, CheckpointError, RecipeError …), files we cannot reach (OSError) and
    files whose headers ask for absurd memory are the user's input: exit 2. Anything else is a
    bug of ours: exit 1, said as such (SAM_EDITOR_DEBUG=1 shows the traceback)."""
    import pickle
    import zipfile

    from .util import UNSAFE_FILE

    text = " ".join(str(exc).split()) or type(exc).__name__
    if "weights_only" in text:  # never pass on torch's advice to load the file unsafely
        text = UNSAFE_FILE
    if isinstance(exc, OSError):
        if not exc.strerror:
            return 2, text[:500]
        where = exc.filename if exc.filename is not None else ""
        return 2, f"{where}: {exc.strerror}" if where else exc.strerror
    if isinstance(exc, MemoryError):
        return 2, f"not enough memory for what a file asks for ({text[:200]}); the file is damaged or not what it claims"
    if isinstance(exc, RecursionError):
        return 2, "a file is nested too deeply to be one of ours"
    ours = {c.__name__ for c in type(exc).__mro__} & USER_ERRORS
    if ours or isinstance(exc, ValueError | KeyError | EOFError | pickle.UnpicklingError | zipfile.BadZipFile | UnicodeError):
        return 2, text[:500]
    return 1, f"internal error ({type(exc).__name__}: {text[:300]}); set SAM_EDITOR_DEBUG=1 to see where"


if __name__ == "__main__":
    sys.exit(main())
