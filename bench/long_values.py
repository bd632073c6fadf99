"""How long one long string value takes to check (issue 20, point 3): a file whose one
contact message is N MiB, timed through the readers (as `loaddomain --dry-run` reads it),
and with `--dry-run` through the whole `loaddomain --dry-run` on a scratch SQLite database.

    .venv/bin/python bench/long_values.py [--sizes 4,8,16,64] [--dry-run]

Each size is read in its own process, so that one run's memory does not weigh on the next.
The figures are in docs/benchmarks.md ("Long values").
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_FILE = ROOT / "tests" / "datatransfer" / "data" / "node-export-1.0.json"

READ = """
import sys, time, django
django.setup()
from datatransfer.formats import open_reader
started = time.perf_counter()
with open_reader(sys.argv[1]) as reader:
    for _, table in reader.tables():
        for _ in table:
            pass
print(time.perf_counter() - started)
"""


def build(path: Path, mib: int) -> None:
    """The Node.js fixture with its contact message made `mib` MiB long, laid out as the
    tools write it (two-space indentation)."""
    document = json.loads(NODE_FILE.read_text(encoding="utf-8"))
    document["data"]["contactMessages"][0]["message"] = "x" * (mib << 20)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def environment(folder: Path) -> dict:
    return {
        **os.environ,
        "ENV_FILE": "/dev/null",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PROJECT_DATABASE_URL": f"sqlite:///{folder / 'project.sqlite3'}",
        "DATABASE_URL": f"sqlite:///{folder / 'platform.sqlite3'}",
        "DATABASE_URL_TARGET": f"sqlite:///{folder / 'target.sqlite3'}",
    }


def timed(command, env) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed: {result.stderr.strip()[-500:]}")
    return time.perf_counter() - started, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4,8,16,64", help="MiB, comma-separated")
    parser.add_argument("--dry-run", action="store_true", help="time loaddomain --dry-run too")
    options = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        env = environment(folder)
        if options.dry_run:
            for alias in ("default", "target"):
                timed([python, "manage.py", "migrate", "--database", alias, "-v", "0"], env)
        for mib in (int(size) for size in options.sizes.split(",")):
            path = folder / f"long-{mib}.json"
            build(path, mib)
            _, out = timed([python, "-c", READ, str(path)], env)
            line = f"{mib:>4} MiB value: read {float(out):6.2f} s"
            if options.dry_run:
                command = ["manage.py", "loaddomain", str(path), "--database", "target"]
                wall, _ = timed([python, *command, "--dry-run"], env)
                line += f", loaddomain --dry-run {wall:6.2f} s"
            print(line, flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
