"""torch's CPU threads for the CPUs this process may use, on shared machines too.

torch starts one OpenMP thread per core of the host. On a cluster node or in a container the job
may use fewer: its CPU affinity (``os.sched_getaffinity``) and its cgroup's CPU quota
(``cpu.max`` in cgroup v2, ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` in v1) say how many.
The ``omarc`` command sets torch's threads to that count (:func:`configure_threads`) unless
``OMP_NUM_THREADS`` is set; Python code that calls :func:`omarc.cli.run_cli` keeps whatever
threads it chose itself.

When another process keeps one of those CPUs busy, OpenMP's default wait policy (spin at every
barrier) makes torch's threads spin against it: the tiny fit ran 3.6× its idle time with 2 threads
and one core busy. ``OMP_WAIT_POLICY=passive`` (waiting threads sleep) cut that about in half, as
much as a single thread did, while keeping both threads when the machine is idle
(docs/performance.md, "Shared machines"). OpenMP reads the policy once, when torch loads it, so
the ``omarc`` command (:func:`command`) sets it before anything imports torch, unless it is set.
This module imports torch only inside :func:`configure_threads`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"
CFS_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")  # cgroup v1: quota in µs, -1 for none
CFS_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _read(path: Path) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(cpu_max: Path = CPU_MAX, cfs_quota: Path = CFS_QUOTA, cfs_period: Path = CFS_PERIOD) -> float | None:
    """CPUs' worth of time the cgroup may use per period (e.g. 1.5), or None without a quota."""
    text = _read(cpu_max)
    if text:
        quota, _, period = text.partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    quota, period = _read(cfs_quota), _read(cfs_period)
    if quota and period and int(quota) > 0 and int(period) > 0:
        return int(quota) / int(period)
    return None


def usable_cpus(
    affinity: set[int] | None = None,
    cpu_max: Path = CPU_MAX,
    cfs_quota: Path = CFS_QUOTA,
    cfs_period: Path = CFS_PERIOD,
) -> int:
    """CPUs this process may use: its affinity, capped by the cgroup quota rounded up (at least 1).

    A quota of 1.5 CPUs gives 2: the quota throttles all of the cgroup's threads together, so a
    second thread costs no straggler, and a whole CPU of the affinity is not left idle.
    """
    cpus = len(os.sched_getaffinity(0) if affinity is None else affinity) or (os.cpu_count() or 1)
    limit = cgroup_cpu_limit(cpu_max, cfs_quota, cfs_period)
    if limit is not None:
        cpus = min(cpus, math.ceil(limit))
    return max(1, cpus)


def prepare_openmp(env: dict | None = None) -> None:
    """Set ``OMP_WAIT_POLICY=passive`` unless set: call before torch is imported (see module doc)."""
    env = os.environ if env is None else env
    env.setdefault("OMP_WAIT_POLICY", "passive")


def configure_threads(env: dict | None = None, **cpu_sources) -> int:
    """Set torch's intra-op threads to :func:`usable_cpus` unless ``OMP_NUM_THREADS`` is set; return the count.

    ``cpu_sources`` (affinity, cpu_max, cfs_quota, cfs_period) go to :func:`usable_cpus`. Silent:
    :func:`thread_status` is the status line, logged once the run's options have been checked
    (so that a bad option stays the only line a failed command prints).
    """
    import torch

    env = os.environ if env is None else env
    if not env.get("OMP_NUM_THREADS"):
        torch.set_num_threads(usable_cpus(**cpu_sources))
    return torch.get_num_threads()


def thread_status(env: dict | None = None, **cpu_sources) -> str:
    """One line: torch's CPU threads, where they come from, the usable CPUs and OpenMP's wait policy."""
    import torch

    env = os.environ if env is None else env
    threads, usable = torch.get_num_threads(), usable_cpus(**cpu_sources)
    if env.get("OMP_NUM_THREADS"):
        source = f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}"
    else:
        source = "the usable CPUs" if threads == usable else "the caller's torch.set_num_threads"
    return (f"omarc: {threads} torch CPU threads ({source}); {usable} usable CPUs (affinity and cgroup quota), "
            f"OMP_WAIT_POLICY {env.get('OMP_WAIT_POLICY', 'unset')}")


def thread_meta() -> dict:
    """Threads and load when a measurement runs: for ``omarc bench``'s bench.json and report."""
    import torch

    return dict(
        torch_threads=torch.get_num_threads(),
        torch_interop_threads=torch.get_num_interop_threads(),
        usable_cpus=usable_cpus(),
        cpu_count=os.cpu_count(),
        load_average=[round(x, 2) for x in os.getloadavg()],
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
        omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
    )


def command() -> None:
    """The ``omarc`` console script: OpenMP's wait policy before torch loads, then :func:`omarc.cli.main`."""
    prepare_openmp()
    from omarc.cli import main

    main()
