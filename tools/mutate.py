"""Mutation testing of the core maths, one module at a time, in a private copy of the repo (issue 36).

    .venv/bin/python tools/mutate.py sam_editor/inversion/losses.py   # one module
    .venv/bin/python tools/mutate.py                                  # every module in tools/mutation.toml
    make mutate MODULE=sam_editor/edits/blend.py                      # the same through make

mutmut 3 always works in ./mutants of the directory it runs in, so two runs in one checkout would
overwrite each other. Each module therefore runs in its own copy of the repo (default
/tmp/sam-editor-mutate-$USER/<module>/), against only the tests tools/mutation.toml lists for it, with
one worker and one thread per worker (the machines are shared). mutmut puts that copy's mutants/ first
on sys.path, ahead of the editable install's finder (which only answers after the path), and its
forced-fail check stops the run if the tests did not import the mutated code.

At the end it prints, per module: mutants, killed, survivors listed as equivalent in tools/mutation.toml,
the score with those excluded, and the diff of every other survivor. Exit status 1 when any module has
a survivor that is not listed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "tools" / "mutation.toml"
# What the copy leaves out: environments, build outputs, caches, history and the docs' images.
IGNORE = shutil.ignore_patterns(
    ".venv", "mutants", "dist", "build", ".git", "docs", "__pycache__", "*.egg-info", ".pytest_cache",
    ".ruff_cache", ".hypothesis", "runs", ".whl", ".gl",
)
# Read at run time through paths relative to the package (parents[2] / "weights"), i.e. from mutants/.
LINKED_INTO_MUTANTS = ("weights", "resources")
KILLED = {"killed", "timeout", "segfault", "suspicious"}  # the tests noticed (timeouts: a mutant looping)


def load_config() -> dict[str, dict]:
    return tomllib.loads(CONFIG.read_text("utf-8"))["modules"]


def mangled_function(mutant: str, module: str) -> str:
    """`sam_editor.inversion.losses.x_loss_w__mutmut_3` -> `loss_w`; `...xǁPhiǁsave__mutmut_1` -> `Phi.save`."""
    name = mutant[len(module_dotted(module)) + 1 :]
    name = re.sub(r"__mutmut_\d+$", "", name)
    if name.startswith("xǁ"):
        return name[2:].replace("ǁ", ".")
    return name[2:] if name.startswith("x_") else name


def module_dotted(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def changed_lines(diff: str) -> str:
    """The `-`/`+` lines of a unified diff, each as `- text` / `+ text` with the indentation dropped."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("---", "+++")) or not line.startswith(("-", "+")):
            continue
        out.append(f"{line[0]} {line[1:].strip()}")
    return "\n".join(out)


def prepare_copy(module: str, tests: list[str], workdir: Path, keep: bool, rev: str | None = None) -> None:
    """A fresh copy of the working tree (tracked or not), or of commit `rev`, with [tool.mutmut]
    narrowed to one module."""
    mutants = workdir / "mutants"
    if workdir.exists():
        for child in workdir.iterdir():
            if child.name == "mutants" and keep:
                continue
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    if rev is not None:  # e.g. the tests before a change, for its "before" score
        archive = subprocess.run(["git", "archive", rev], cwd=REPO, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(workdir), "--exclude=docs"], input=archive, check=True)
    for child in ([] if rev is not None else REPO.iterdir()):
        if IGNORE(str(REPO), [child.name]):
            continue
        if child.is_dir():
            shutil.copytree(child, workdir / child.name, ignore=IGNORE, symlinks=True)
        else:
            shutil.copy2(child, workdir / child.name)
    pyproject = workdir / "pyproject.toml"
    text = pyproject.read_text("utf-8")
    header = "[tool.mutmut]\n"
    if header not in text:
        raise SystemExit("pyproject.toml has no [tool.mutmut] section")
    narrowed = f"only_mutate = {json.dumps([module])}\npytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
    pyproject.write_text(text.replace(header, header + narrowed, 1), "utf-8")
    mutants.mkdir(exist_ok=True)
    for name in LINKED_INTO_MUTANTS:
        link = mutants / name
        if (workdir / name).exists() and not link.exists():
            link.symlink_to(workdir / name, target_is_directory=True)


def run_mutmut(workdir: Path, python: str, max_children: int, log: Path, names: list[str]) -> int:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", QT_QPA_PLATFORM="offscreen")
    env.pop("PYTHONPATH", None)  # nothing but the copy's mutants/ may provide sam_editor
    with open(log, "w") as out:
        proc = subprocess.run(
            [python, "-m", "mutmut", "run", "--max-children", str(max_children), *names],
            cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    return proc.returncode


def sample_pattern(module: str, digits: str | None) -> str | None:
    """mutmut's name filter for the mutants whose number ends in one of `digits` ("05": a fifth)."""
    return None if not digits else f"{module_dotted(module)}.*__mutmut_*[{digits}]"


def results(module: str, workdir: Path, pattern: str | None = None) -> dict[str, str]:
    import fnmatch

    from mutmut.stats import status_by_exit_code

    meta = json.loads((workdir / "mutants" / (module + ".meta")).read_text("utf-8"))
    return {name: status_by_exit_code[code] for name, code in meta["exit_code_by_key"].items()
            if pattern is None or fnmatch.fnmatch(name, pattern)}


def exit_codes(module: str, workdir: Path) -> dict[str, int | None]:
    return json.loads((workdir / "mutants" / (module + ".meta")).read_text("utf-8"))["exit_code_by_key"]


def keep_verdicts(module: str, workdir: Path, before: dict[str, int | None]) -> None:
    """After a --survivors run: mutmut may forget the verdicts of mutants it was not asked to rerun
    (seen when the tests changed: the killed ones came back 'not checked'). Tests are only added
    between the runs, so a mutant killed before is still killed: restore its exit code."""
    from mutmut.stats import status_by_exit_code

    path = workdir / "mutants" / (module + ".meta")
    meta = json.loads(path.read_text("utf-8"))
    codes = meta["exit_code_by_key"]
    for name, code in before.items():
        if name in codes and codes[name] is None and status_by_exit_code[code] in KILLED:
            codes[name] = code
    path.write_text(json.dumps(meta, indent=4), "utf-8")


def diff_of(mutant: str, module: str, workdir: Path) -> str:
    from mutmut.configuration import reset_config
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    here = os.getcwd()
    os.chdir(workdir)
    try:
        reset_config()
        return get_diff_for_mutant(mutant, path=module)
    finally:
        os.chdir(here)


def report(module: str, spec: dict, workdir: Path, seconds: float, pattern: str | None = None) -> dict:
    status = results(module, workdir, pattern)
    equivalents = spec.get("equivalent", [])
    used = [False] * len(equivalents)
    new_survivors: list[tuple[str, str]] = []
    equivalent = 0
    for mutant, state in sorted(status.items()):
        if state in KILLED:
            continue
        diff = diff_of(mutant, module, workdir)
        function, changed = mangled_function(mutant, module), changed_lines(diff)
        for i, entry in enumerate(equivalents):
            if entry["function"] == function and entry["mutation"].strip() == changed:
                used[i] = True
                equivalent += 1
                break
        else:
            new_survivors.append((f"{mutant} ({state})", diff))
    total = len(status)
    killed = sum(state in KILLED for state in status.values())
    score = killed / (total - equivalent) if total > equivalent else 1.0
    for mutant, diff in new_survivors:
        print(f"\n--- survivor {mutant}\n{diff}")
    for entry, hit in zip(equivalents, used, strict=True):
        if not hit and pattern is None:  # with --sample an entry may just be outside the sample
            print(f"\n(stale equivalent in tools/mutation.toml, no longer generated: {entry['function']}: "
                  f"{entry['mutation'].strip()!r})")
    summary = dict(module=module, mutants=total, killed=killed, equivalent=equivalent,
                   survived=len(new_survivors), score=round(100 * score, 1), seconds=round(seconds))
    (workdir / "summary.json").write_text(json.dumps(summary, indent=1), "utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    modules = load_config()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("module", nargs="*", help=f"default: all of {', '.join(modules)}")
    parser.add_argument("--workdir", type=Path,
                        default=Path(os.environ.get("TMPDIR", "/tmp")) / f"sam-editor-mutate-{os.environ.get('USER', 'user')}",
                        help="where each module's private copy goes (one sub-folder per module)")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutants (default 1: shared cores)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the previous mutants/ and its results (mutmut then reruns only what changed)")
    parser.add_argument("--report-only", action="store_true", help="report the last run's results, run nothing")
    parser.add_argument("--survivors", action="store_true",
                        help="rerun only the last run's survivors against the current tests (keeps its mutants/ "
                             "and verdicts: a mutant a test killed stays killed while tests are only added)")
    parser.add_argument("--rev", help="measure this commit instead of the working tree (a score before a change); "
                        "give it its own --workdir")
    parser.add_argument("--sample", metavar="DIGITS",
                        help="only the mutants whose number ends in one of DIGITS (e.g. 05: a fifth) — an estimate "
                             "for modules too big for one sitting; report with the same --sample")
    args = parser.parse_args(argv)

    chosen = args.module or list(modules)
    unknown = [m for m in chosen if m not in modules]
    if unknown:
        parser.error(f"not in tools/mutation.toml: {', '.join(unknown)}")
    summaries = []
    for module in chosen:
        workdir = args.workdir / module_dotted(module)
        seconds = 0.0
        if not args.report_only:
            print(f"== {module}: copying the repo to {workdir}", flush=True)
            names: list[str] = []
            verdicts: dict[str, int | None] = {}
            if args.survivors:
                verdicts = exit_codes(module, workdir)
                pattern = sample_pattern(module, args.sample)
                names = [n for n, st in results(module, workdir, pattern).items() if st not in KILLED]
                if not names:
                    summaries.append(report(module, modules[module], workdir, seconds, pattern))
                    continue
            prepare_copy(module, modules[module]["tests"], workdir, args.keep or args.survivors, args.rev)
            log = workdir / "mutmut.log"
            print(f"== {module}: running mutmut against {' '.join(modules[module]['tests'])} (log: {log})", flush=True)
            start = time.monotonic()
            pattern = sample_pattern(module, args.sample)
            rc = run_mutmut(workdir, sys.executable, args.max_children, log, names or ([pattern] if pattern else []))
            seconds = time.monotonic() - start
            if verdicts:
                keep_verdicts(module, workdir, verdicts)
            if rc != 0:
                print(log.read_text("utf-8", errors="replace")[-4000:])
                print(f"== {module}: mutmut failed (exit {rc}), see {log}")
                summaries.append(dict(module=module, failed=rc))
                continue
        summaries.append(report(module, modules[module], workdir, seconds, sample_pattern(module, args.sample)))

    print("\nmodule | mutants | killed | equivalent | new survivors | score (equivalents excluded) | time")
    for s in summaries:
        if "failed" in s:
            print(f"{s['module']} | mutmut failed (exit {s['failed']})")
            continue
        print(f"{s['module']} | {s['mutants']} | {s['killed']} | {s['equivalent']} | {s['survived']} | "
              f"{s['score']} % | {s['seconds']} s")
    return 1 if any("failed" in s or s["survived"] for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
