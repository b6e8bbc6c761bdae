"""How many threads decoding should use by default: one per physical core we may run on, within our CPU quota.

llama.cpp's own tools default to physical cores: two hardware threads of one core share its vector units, so a
second thread per core adds contention, not speed, to the matrix-vector work of decoding. Linux says which
logical CPUs share a core in sysfs; elsewhere (macOS, Windows) the logical count is the best cheap answer (Apple
Silicon has no SMT). A container limited to N CPUs of a bigger host (`docker run --cpus N`) still sees every core
of the host, and more threads than its quota only queue behind each other: the cgroup's quota caps the count.
"""

from __future__ import annotations

import os
from pathlib import Path

SYSFS_CPUS = Path("/sys/devices/system/cpu")
CGROUP = Path("/sys/fs/cgroup")


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


def cpu_quota(cgroup: Path = CGROUP) -> float | None:
    """CPUs' worth of time this process's cgroup may use (cgroup v2 cpu.max, else v1's CFS quota), None if unlimited
    or unknown."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        q, p = float(quota), float(period)
    except ValueError:  # "max": no limit
        return None
    return q / p if q > 0 and p > 0 else None


def default_threads() -> int:
    cores = physical_cores(usable_cpus())
    quota = cpu_quota()
    return cores if quota is None else max(1, min(cores, int(quota)))
