"""Cold-start import time of each Lambda handler, without bytecode, beside a bare interpreter.

Lambda imports a handler from read-only folders (/var/task, /opt/python) whose bytecode caches
the layers do not ship, so every cold start compiles what it imports. This bench reproduces that:
each run starts a fresh interpreter with `-X importtime`, no site initialisation (`-S`, as the
runtime has no editable-install hooks), the functions folder, the core package and this venv's
site-packages on the path, an empty bytecode cache prefix (nothing cached is found or written),
and the environment the CDK app gives the functions. It reports the median of --runs runs of the
handler module's cumulative import time, the same for `--bytecode` (a warm cache), and a bare
interpreter (`import sys`) measured the same way in the same run.

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
HANDLERS = ("collect", "load", "maintain", "archive", "ask", "migrate", "alerts")
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


def import_ms(module: str, *, bytecode: bool, cache: Path) -> float:
    """Cumulative import time (ms) of `module` in a fresh interpreter."""
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
        import_ms(module, bytecode=True, cache=cache)  # fill the cache once
    return statistics.median(import_ms(module, bytecode=bytecode, cache=cache) for _ in range(runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    cache = Path(tempfile.mkdtemp(prefix="coldstart-cache-"))
    # The baseline: the interpreter's own start-up imports are outside -X importtime's module line, so a
    # module every program imports stands in for "nothing of ours" (its cost is the floor of any row).
    bare = median("json", args.runs, bytecode=False, cache=cache)
    rows = [("bare interpreter (import json)", bare, median("json", args.runs, bytecode=True, cache=cache))]
    for handler in HANDLERS:
        module = f"functions.{handler}"
        rows.append(
            (
                module,
                median(module, args.runs, bytecode=False, cache=cache),
                median(module, args.runs, bytecode=True, cache=cache),
            )
        )
    print(
        f"\nhandler import time, median of {args.runs} fresh interpreters (ms); "
        f"target <= {TARGET_MS:.0f} ms without bytecode"
    )
    print(
        f"| {'module':<32} | {'no bytecode':>12} | {'vs bare':>8} | {'bytecode':>9} | {'vs bare':>8} | {'target':>6} |"
    )
    print(f"|{'-' * 34}|{'-' * 14}|{'-' * 10}|{'-' * 11}|{'-' * 10}|{'-' * 8}|")
    for name, cold, warm in rows:
        verdict = "ok" if cold <= TARGET_MS else "over"
        print(
            f"| {name:<32} | {cold:>12.0f} | {cold / bare:>7.1f}x "
            f"| {warm:>9.0f} | {warm / rows[0][2]:>7.1f}x | {verdict:>6} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
