"""torch's CPU threads follow the CPUs the process may use (omarc/threads.py), from fake cgroup files."""

import pytest
import torch

from omarc.threads import cgroup_cpu_limit, configure_threads, prepare_openmp, thread_status, usable_cpus


@pytest.fixture
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def cgroup(tmp_path, v2: str | None = None, quota: str | None = None, period: str | None = None) -> dict:
    """Paths for usable_cpus: fake cgroup files with the given text (absent where None)."""
    paths = dict(cpu_max=tmp_path / "cpu.max", cfs_quota=tmp_path / "cpu.cfs_quota_us",
                 cfs_period=tmp_path / "cpu.cfs_period_us")
    for key, text in (("cpu_max", v2), ("cfs_quota", quota), ("cfs_period", period)):
        if text is not None:
            paths[key].write_text(text + "\n")
    return paths


@pytest.mark.parametrize("files, affinity, expected", [
    (dict(), {0, 1, 2, 3}, 4),                                   # no cgroup: the affinity
    (dict(v2="max 100000"), {0, 1, 2, 3}, 4),                    # v2 without a quota
    (dict(v2="200000 100000"), set(range(16)), 2),               # v2 quota of 2 CPUs on a 16-core host
    (dict(v2="150000 100000"), set(range(16)), 2),               # 1.5 CPUs rounds up
    (dict(v2="50000 100000"), set(range(16)), 1),                # half a CPU: still 1 thread
    (dict(v2="800000 100000"), {2, 5}, 2),                       # the affinity is the tighter limit
    (dict(quota="300000", period="100000"), set(range(8)), 3),   # v1 quota
    (dict(quota="-1", period="100000"), set(range(8)), 8),       # v1 without a quota
])
def test_usable_cpus_from_affinity_and_cgroup_quota(tmp_path, files, affinity, expected):
    assert usable_cpus(affinity=affinity, **cgroup(tmp_path, **files)) == expected


def test_cgroup_v2_wins_over_v1(tmp_path):
    assert cgroup_cpu_limit(**cgroup(tmp_path, v2="100000 100000", quota="400000", period="100000")) == 1.0


def test_threads_set_to_usable_cpus(tmp_path, keep_threads):
    torch.set_num_threads(2)
    assert configure_threads(env={}, affinity={0}, **cgroup(tmp_path)) == 1 == torch.get_num_threads()
    torch.set_num_threads(1)
    assert configure_threads(env={}, affinity=set(range(8)), **cgroup(tmp_path, v2="200000 100000")) == 2


def test_omp_num_threads_is_respected(tmp_path, keep_threads):
    torch.set_num_threads(2)
    assert configure_threads(env={"OMP_NUM_THREADS": "2"}, affinity={0}, **cgroup(tmp_path)) == 2
    assert torch.get_num_threads() == 2
    assert "2 torch CPU threads (OMP_NUM_THREADS=2); 1 usable CPUs" in thread_status({"OMP_NUM_THREADS": "2"}, affinity={0})
    assert "(the caller's torch.set_num_threads)" in thread_status({}, affinity={0})


def test_wait_policy_set_unless_the_user_set_it():
    env = {}
    prepare_openmp(env)
    assert env == {"OMP_WAIT_POLICY": "passive"}
    env = {"OMP_WAIT_POLICY": "active"}
    prepare_openmp(env)
    assert env == {"OMP_WAIT_POLICY": "active"}
