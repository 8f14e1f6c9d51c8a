"""Optional py-spy sampling of the workers, summarised as the busiest functions."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the worker `pid` (folded stacks), or None when py-spy is unavailable."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        return None
    cmd = [
        str(spy),
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        "200",
        "--nonblocking",
        "-o",
        str(out),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile_table(folded: Path, top: int = 12) -> list[tuple[str, float, float]]:
    """(function, self %, inclusive %) of the busiest functions in py-spy's folded stacks."""
    self_n: dict[str, int] = {}
    incl_n: dict[str, int] = {}
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r" \((.*/)?", " (", f) for f in stack.split(";") if f]
        if not frames or not count.isdigit():
            continue
        n = int(count)
        total += n
        self_n[frames[-1]] = self_n.get(frames[-1], 0) + n
        for frame in set(frames):
            incl_n[frame] = incl_n.get(frame, 0) + n
    if not total:
        return []
    busiest = sorted(self_n, key=lambda f: -self_n[f])[:top]
    return [(f, 100 * self_n[f] / total, 100 * incl_n[f] / total) for f in busiest]
