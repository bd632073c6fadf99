"""Run one command and write its wall time, peak RSS and exit code to a file.

    python -I -S bench/measure.py RESULT_FILE COMMAND [ARG ...]

Why a launcher: on Linux a process's ru_maxrss keeps the high-water mark of the memory it
had before exec, so a command forked straight from the benchmark's Python (tens of MB)
could never report less than that. This launcher imports nothing but os, sys and time
(about 7 MB), forks the command, and takes its ru_maxrss (KB) from os.wait4.
"""

import os
import sys
import time

result_file, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(result_file, "w") as out:
    out.write(f"{wall!r} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}\n")
