"""Small helpers shared by the benchmark scripts: timing, process memory, subprocess workers, tables.

Memory is the process resident set (RSS) read from /proc on Linux: `reset_peak_rss()` resets the
kernel's high-water mark (VmHWM) so that `peak_rss_mib()` afterwards covers only what ran since.
Run each configuration in a fresh process (`run_worker`) so that one configuration's allocator
caches do not inflate or hide another's.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import time

_STATUS = "/proc/self/status"


def _status_kib(field):
    try:
        with open(_STATUS) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mib():
    """Current resident set size in MiB (None where /proc is unavailable)."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib / 1024.0


def reset_peak_rss():
    """Resets the RSS high-water mark to the current RSS; returns False where the OS does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib():
    """Peak resident set size in MiB since the last `reset_peak_rss()` (or process start)."""
    kib = _status_kib("VmHWM")
    if kib is None:  # not Linux: ru_maxrss is KiB on Linux, bytes on macOS
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kib = kib / 1024 if sys.platform == "darwin" else kib
    return kib / 1024.0


def time_call(fn, *, repeats=5, warmup=1):
    """Calls `fn(i)` `warmup` times then `repeats` times.

    Returns the median and min wall seconds, and the median process CPU seconds per call (all
    threads): on a shared machine wall time grows with contention, CPU time much less so.
    """
    for i in range(warmup):
        fn(i)
    times, cpu = [], []
    for i in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(warmup + i)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"median_s": statistics.median(times), "min_s": min(times), "cpu_s": statistics.median(cpu)}


def run_worker(argv, timeout=900, python=None, env=None):
    """Runs `python argv...` in a fresh process (this interpreter unless `python` names
    another; `env` adds environment variables); returns the JSON object on its last stdout
    line."""
    env = {**os.environ, **(env or {})}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        proc = subprocess.run(
            [python or sys.executable, *argv], capture_output=True, text=True, timeout=timeout,
            env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads(lines[-1])


def format_table(headers, rows):
    """Plain-text table with right-aligned columns."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "  ".join(c.rjust(w) for c, w in zip(r, widths))  # noqa: E731
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])
