"""Cold-start import time of each Lambda handler, without bytecode, beside a bare interpreter.

Lambda imports a handler from read-only folders (/var/task, /opt/python) whose bytecode caches
the layers do not ship, so every cold start compiles what it imports. This bench reproduces that:
each run starts a fresh interpreter with `-X importtime`, no site initialisation (`-S`, as the
runtime has no editable-install hooks), the functions folder, the core package and this venv's
site-packages on the path, an empty bytecode cache prefix (nothing cached is found or written),
and the environment the CDK app gives the functions. It reports the median of --runs runs of the
handler module's cumulative import time three ways: no bytecode at all; the standard library's
bytecode only (what the Lambda runtime has: its /var/lang/lib ships __pycache__, our code and the
deps layer built off a 3.12 interpreter do not); and everything cached. A bare interpreter
(`import json`) is measured the same ways in the same run. Every module in functions/ is a row.

    python bench/coldstart.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Every Lambda entry point: one module per function in functions/.
HANDLERS = tuple(sorted(p.stem for p in (ROOT / "functions").glob("*.py") if p.stem != "__init__"))
TARGET_MS = 300.0
# What infra/components/functions.py sets on every function, plus what the runtime sets.
LAMBDA_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "loglens",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "LOGLENS_STAGE": "bench",
}
_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")


def import_ms(module: str, *, bytecode: bool, cache: Path, write: bool = False) -> float:
    """Cumulative import time (ms) of `module` in a fresh interpreter; with `bytecode`, what `cache` holds is
    used (and, with `write`, what is missing is written there)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(
            [
                str(ROOT),
                str(ROOT / "functions"),
                str(ROOT / "layers" / "core" / "python"),
                sysconfig.get_path("purelib"),
            ]
        ),
        "POWERTOOLS_SERVICE_NAME": module.rsplit(".", 1)[-1],
        **LAMBDA_ENV,
    }
    if bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(cache)
        if not write:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="coldstart-empty-")
    result = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", f"import {module}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in reversed(result.stderr.splitlines()):
        match = _LINE.search(line)
        if match and match.group(2).strip() == module:
            return int(match.group(1)) / 1000
    raise RuntimeError(f"no import time for {module}: {result.stderr[-500:]}")


def median(module: str, runs: int, *, bytecode: bool, cache: Path) -> float:
    if bytecode:
        import_ms(module, bytecode=True, cache=cache, write=True)  # fill the cache once
    return statistics.median(import_ms(module, bytecode=bytecode, cache=cache) for _ in range(runs))


def stdlib_only(module: str, runs: int, cache: Path) -> float:
    """As on Lambda: the standard library's bytecode is there, nothing else's (`cache` is filled with the
    stdlib modules `module` imports, and whatever else it imports is compiled on every run)."""
    import_ms(module, bytecode=True, cache=cache, write=True)
    stdlib = Path(sysconfig.get_path("stdlib")).resolve()
    for tree in list(cache.rglob("*.pyc")):
        source = Path("/") / tree.relative_to(cache)
        if not source.is_relative_to(stdlib) or "site-packages" in source.parts:
            tree.unlink()
    return statistics.median(import_ms(module, bytecode=True, cache=cache) for _ in range(runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    cache = Path(tempfile.mkdtemp(prefix="coldstart-cache-"))
    # The baseline: the interpreter's own start-up imports are outside -X importtime's module line, so a
    # module every program imports stands in for "nothing of ours" (its cost is the floor of any row).
    runtime = Path(tempfile.mkdtemp(prefix="coldstart-stdlib-"))
    bare = median("json", args.runs, bytecode=False, cache=cache)
    rows = [
        (
            "bare interpreter (import json)",
            bare,
            stdlib_only("json", args.runs, runtime),
            median("json", args.runs, bytecode=True, cache=cache),
        )
    ]
    for handler in HANDLERS:
        module = f"functions.{handler}"
        rows.append(
            (
                module,
                median(module, args.runs, bytecode=False, cache=cache),
                stdlib_only(module, args.runs, runtime),
                median(module, args.runs, bytecode=True, cache=cache),
            )
        )
    print(
        f"\nhandler import time, median of {args.runs} fresh interpreters (ms); "
        f"target <= {TARGET_MS:.0f} ms with only the runtime's (stdlib) bytecode, as on Lambda"
    )
    print(
        f"| {'module':<32} | {'no bytecode':>12} | {'vs bare':>8} | {'stdlib cached':>13} | {'vs bare':>8} "
        f"| {'all cached':>10} | {'vs bare':>8} | {'target':>6} |"
    )
    print(f"|{'-' * 34}|{'-' * 14}|{'-' * 10}|{'-' * 15}|{'-' * 10}|{'-' * 12}|{'-' * 10}|{'-' * 8}|")
    for name, cold, lambda_like, warm in rows:
        verdict = "ok" if lambda_like <= TARGET_MS else "over"  # what a cold Lambda sees
        print(
            f"| {name:<32} | {cold:>12.0f} | {cold / bare:>7.1f}x | {lambda_like:>13.0f} "
            f"| {lambda_like / rows[0][2]:>7.1f}x | {warm:>10.0f} | {warm / rows[0][3]:>7.1f}x | {verdict:>6} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
