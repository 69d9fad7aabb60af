"""`sam-editor weights list | fetch NAME… | verify [NAME…]`: the registry from the command line."""

from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path

from . import weights


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("weights", help="list, download and verify pretrained weights",
                                   description=__doc__)  # fmt: skip
    sub = parser.add_subparsers(dest="weights_command", metavar="ACTION")
    p = sub.add_parser("list", help="every known file, and whether it is present")
    p.add_argument("--dir", help="look in this folder (torch-hub files: this torch hub dir) instead of the defaults")
    p.add_argument("--urls", action="store_true", help="also print each download URL and licence")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("fetch", help="download files (resumes interrupted downloads, checks hashes)")
    p.add_argument(
        "names", nargs="+", metavar="NAME", help="registry names or patterns, e.g. stylegan2-car 'edit-cars-*' all"
    )
    p.add_argument("--dir", help="download into this folder (torch-hub files: this torch hub dir)")
    p.add_argument("--force", action="store_true", help="download again even if a good copy exists")
    p.set_defaults(func=cmd_fetch)
    p = sub.add_parser("verify", help="check presence and SHA-256 (all files when no NAME is given)")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--dir", help="check the copy in this folder")
    p.set_defaults(func=cmd_verify)
    parser.set_defaults(func=lambda args: parser.print_help() or 0)


def expand(names: list[str]) -> list[str]:
    """Names, shell patterns and 'all' → registry names, in registry order (WeightsError if none match)."""
    out: list[str] = []
    for n in names:
        hits = list(weights.REGISTRY) if n == "all" else fnmatch.filter(weights.REGISTRY, n)
        if not hits:
            raise weights.UnknownWeights(f"no weights named {n!r}; run `sam-editor weights list`")
        out += [h for h in hits if h not in out]
    return out


def _located(entry: weights.WeightsEntry, directory: str | None) -> Path | None:
    if directory is None:
        return weights.locate(entry)
    p = weights.target_path(entry, directory)
    return p if p.is_file() else None


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for e in weights.REGISTRY.values():
        path = _located(e, args.dir)
        where = str(path) if path else f"(→ {weights.target_path(e, args.dir)})"
        rows.append((e.name, e.kind, "present" if path else "missing", where, e))
    w_name = max(len(r[0]) for r in rows)
    w_kind = max(len(r[1]) for r in rows)
    print(f"{'NAME':<{w_name}}  {'KIND':<{w_kind}}  {'STATE':<7}  LOCATION")
    for name, kind, state, where, e in rows:
        print(f"{name:<{w_name}}  {kind:<{w_kind}}  {state:<7}  {where}")
        if args.urls:
            print(f"{'':<{w_name}}  url: {e.url}\n{'':<{w_name}}  licence: {e.licence}")
    present = sum(r[2] == "present" for r in rows)
    print(f"{present} of {len(rows)} present; downloads go to {weights.weights_dir()} "
          f"(torch-hub files: {weights.torch_hub_dir() / 'checkpoints'})")  # fmt: skip
    return 0


class _Bar:
    """tqdm progress for one download (tqdm is imported only when something is downloaded)."""

    def __init__(self, name: str):
        from tqdm import tqdm

        self.bar = tqdm(desc=name, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, leave=True)

    def __call__(self, done: int, total: int | None) -> None:
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def cmd_fetch(args: argparse.Namespace) -> int:
    try:
        names = expand(args.names)
    except weights.WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        bar = _Bar(name)
        try:
            path = weights.fetch(name, directory=args.dir, progress=bar, force=args.force)
        except (weights.WeightsError, OSError) as exc:  # OSError: the target folder is not writable
            bar.close()
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        bar.close()
        print(f"{name}: {path}")
    return 1 if failed else 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        names = expand(args.names) if args.names else list(weights.REGISTRY)
    except weights.WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bad = 0
    for name in names:
        e = weights.get(name)
        st = weights.verify(e, weights.target_path(e, args.dir) if args.dir else None)
        print(f"{name}: {st.state} — {st.detail}" + (f" ({st.path})" if st.path else ""))
        bad += st.state == "mismatch" or (bool(args.names) and st.state == "missing")
    return 1 if bad else 0
