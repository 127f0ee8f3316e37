"""Run every benchmark under bench/ in turn (``--quick`` for the small versions).

Each benchmark is a script named ``bench_*.py`` that prints its own figures;
this runner only sequences them and reports which failed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    extra = ["--quick"] if "--quick" in argv else []
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {script.name} {' '.join(extra)}".rstrip(), flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(script), *extra], check=False)
        print(
            f"=== {script.name}: exit {result.returncode} in {time.perf_counter() - started:.1f} s"
        )
        if result.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
