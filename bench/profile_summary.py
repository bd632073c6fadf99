"""Where the time goes, from py-spy's raw output: a short Markdown summary to read.

    python bench/profile_summary.py bench/profiles/scale-100-loaddomain.txt

py-spy's `--format raw` writes one line per distinct stack, `frame;frame;...;frame COUNT`
(outermost first, each frame `function (file:line)`), COUNT samples at `--rate` per
second. The summary gives the functions with the most samples of their own (the leaf of
the stack: where the CPU was, or the wait, recorded with `--idle`) and with the most samples
in all (anywhere in the stack: the time spent inside them and what they call). Line numbers
are dropped, so a function is one entry; paths are shortened to the package.
"""

import re
import sys
from collections import Counter
from pathlib import Path

TOP = 25
LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
FRAME = re.compile(r"^(?P<function>.*?) \((?P<path>[^()]*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    """`function (path:line)` -> `function (package/module.py)`."""
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match["path"]
    for marker in ("site-packages/", "lib/python3", "/work/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    path = re.sub(r"^[^/]*wt-[^/]*/|^main/|^\.\d+/", "", path)
    return f"{match['function']} ({path})"


def summarize(raw: str, title: str) -> str:
    own, total, samples = Counter(), Counter(), 0
    for line in raw.splitlines():
        match = LINE.match(line.strip())
        if not match:
            continue
        count = int(match["count"])
        frames = [short(f) for f in match["stack"].split(";") if f]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    lines = [
        f"# Profile: {title}",
        "",
        f"py-spy, {samples:,} samples at 100 per second (`--idle`: waits on PostgreSQL "
        "and on the disk count too). Made by `bench/run.py --profile`; the full stacks are in "
        "the `.txt` file next to this one (collapsed stacks: open it in "
        "https://www.speedscope.app or give it to flamegraph.pl).",
        "",
    ]
    # The frames every sample passes through (manage.py, Django's command machinery) say
    # nothing: left out of the second list.
    everywhere = [frame for frame, count in total.items() if count == samples]
    for frame in everywhere:
        del total[frame]
    for heading, counter in (
        ("Own samples (the function itself was running or waiting)", own),
        (
            f"Samples in all (the function and what it calls; the {len(everywhere)} frames "
            "found in every sample left out)",
            total,
        ),
    ):
        lines += [f"## {heading}", "", "| share | samples | function |", "|---:|---:|---|"]
        for frame, count in counter.most_common(TOP):
            lines.append(f"| {100 * count / max(samples, 1):.1f}% | {count:,} | `{frame}` |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1])
    print(summarize(path.read_text(), path.stem))
