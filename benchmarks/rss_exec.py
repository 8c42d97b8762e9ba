"""Run a command and report its wall time, CPU time and peak RSS: ``python -S rss_exec.py OUT.json CMD...``.

A child's ru_maxrss starts at the RSS of the process it was forked from (Linux keeps the high-water
mark across exec), so the harness (which holds generated data) must not fork contenders itself: this
small launcher does, and its ~10 MiB is the floor. Times are taken around fork/wait, so the launcher's
own start-up is not counted.
"""

import json
import os
import sys
import time

start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "sys": usage.ru_stime, "maxrss_kib": usage.ru_maxrss}, out)
sys.exit(os.waitstatus_to_exitcode(status))
