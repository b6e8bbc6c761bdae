"""How many threads decoding should use by default: one per physical core we may run on.

llama.cpp's own tools default to physical cores: two hardware threads of one core share its vector units, so a
second thread per core adds contention, not speed, to the matrix-vector work of decoding. Linux says which
logical CPUs share a core in sysfs; elsewhere (macOS, Windows) the logical count is the best cheap answer (Apple
Silicon has no SMT).
"""

from __future__ import annotations

import os
from pathlib import Path

SYSFS_CPUS = Path("/sys/devices/system/cpu")


def usable_cpus() -> list[int]:
    """The logical CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return list(range(os.cpu_count() or 1))


def physical_cores(cpus: list[int], sysfs: Path = SYSFS_CPUS) -> int:
    """Distinct cores among `cpus` (a core's hardware threads count once); len(cpus) where sysfs cannot tell."""
    cores = set()
    for cpu in cpus:
        try:
            siblings = (sysfs / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text().strip()
        except OSError:
            return max(1, len(cpus))
        cores.add(siblings)
    return max(1, len(cores))


def default_threads() -> int:
    return physical_cores(usable_cpus())
