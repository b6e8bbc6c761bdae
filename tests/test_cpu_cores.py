"""Default decoding threads: one per physical core, read from sysfs (hardware threads of a core count once)."""

from __future__ import annotations

from pathlib import Path

from dspark_chat.engine import cpu_cores, llama


def _fake_sysfs(root: Path, siblings: dict[int, str]) -> Path:
    for cpu, text in siblings.items():
        topo = root / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "thread_siblings_list").write_text(text + "\n")
    return root


def test_hardware_threads_of_one_core_count_once(tmp_path):
    # 4 cores x 2 threads, numbered as Linux does on x86 (cpu n and n+4 share a core)
    sysfs = _fake_sysfs(tmp_path, {n: f"{n % 4},{n % 4 + 4}" for n in range(8)})
    assert cpu_cores.physical_cores(list(range(8)), sysfs) == 4
    assert cpu_cores.physical_cores([0, 4], sysfs) == 1  # pinned to both threads of one core
    assert cpu_cores.physical_cores([0, 1, 5], sysfs) == 2


def test_without_topology_every_usable_cpu_counts(tmp_path):
    sysfs = _fake_sysfs(tmp_path, {0: "0"})
    assert cpu_cores.physical_cores([0, 1, 2], sysfs) == 3  # cpu1 has no topology: sysfs cannot tell
    assert cpu_cores.physical_cores([], tmp_path) == 1


def test_a_cgroup_quota_caps_the_count(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("250000 100000\n")  # docker run --cpus 2.5
    assert cpu_cores.cpu_quota(v2) == 2.5
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cpu_cores.cpu_quota(v2) is None
    v1 = tmp_path / "v1" / "cpu"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("150000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_cores.cpu_quota(v1.parent) == 1.5
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")  # unlimited
    assert cpu_cores.cpu_quota(v1.parent) is None
    assert cpu_cores.cpu_quota(tmp_path / "none") is None


def test_the_engine_default_is_this_machines_core_count_within_its_quota():
    cpus = cpu_cores.usable_cpus()
    expected = len({(cpu_cores.SYSFS_CPUS / f"cpu{c}" / "topology" / "thread_siblings_list").read_text()
                     for c in cpus}) if cpu_cores.SYSFS_CPUS.exists() else len(cpus)
    quota = cpu_cores.cpu_quota()
    if quota is not None:
        expected = max(1, min(expected, int(quota)))
    assert llama.default_threads() == expected >= 1
