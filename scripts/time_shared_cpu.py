"""The tiny fit's wall time on an idle machine and with one core kept busy, per CPU-thread setting.

    python scripts/time_shared_cpu.py                        # 4 steps, 2 rounds
    python scripts/time_shared_cpu.py --steps 8 --rounds 3 --variants '[default, omarc]'

Runs ``omarc fit --config configs/omarc_tiny.yaml --trainer.max_steps N`` as subprocesses (imports
included, as a user sees it), first with nothing else started, then beside a busy-loop process
pinned to one usable CPU. The variants run interleaved round by round, so that drifts in the
machine's other load hit all of them alike; the table gives the median seconds per variant and
load, and busy / idle. Variants:

- ``default``: omarc's library path (``run_cli``), which leaves torch's threads as torch set them;
- ``omarc``: the ``omarc`` command (``omarc.threads.command``): omarc's thread choice and wait policy;
- ``omp1``: ``default`` with ``OMP_NUM_THREADS=1``;
- ``passive``: ``default`` with ``OMP_WAIT_POLICY=passive`` (OpenMP's idle threads sleep, not spin).

Every run writes its logs and checkpoints under a temporary folder. The machine's load average
before each load level is printed: on a machine shared with other jobs the figures are noisy.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jsonargparse import CLI

ROOT = Path(__file__).resolve().parents[1]

#: variant -> (entry: "main" = the omarc command, "library" = run_cli; extra environment)
VARIANTS = {
    "default": ("library", {}),
    "omarc": ("main", {}),
    "omp1": ("library", {"OMP_NUM_THREADS": "1"}),
    "passive": ("library", {"OMP_WAIT_POLICY": "passive"}),
}

LAUNCH = {
    "main": "import sys; from omarc.threads import command; sys.argv = ['omarc'] + sys.argv[1:]; command()",
    "library": "import sys; from omarc.cli import run_cli; run_cli(sys.argv[1:])",
}


def fit_seconds(variant: str, config: Path, steps: int, workdir: Path) -> float:
    """Wall seconds of one ``omarc fit`` subprocess run in ``workdir`` (its runs/ folder lands there)."""
    entry, extra = VARIANTS[variant]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update(extra, PYTHONPATH=str(ROOT))
    args = ["fit", "--config", str(config), "--trainer.max_steps", str(steps)]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", LAUNCH[entry], *args], cwd=workdir, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def busy_loop(cpu: int) -> subprocess.Popen:
    """A process that keeps ``cpu`` busy until killed."""
    code = f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"
    return subprocess.Popen([sys.executable, "-c", code])


def main(
    steps: int = 4,
    rounds: int = 2,
    variants: list[str] = ["default", "omarc", "omp1", "passive"],  # noqa: B006 (jsonargparse reads the default)
    config: Path = ROOT / "configs/omarc_tiny.yaml",
) -> None:
    """Time the tiny fit per variant, idle and with one core busy; print a Markdown table.

    Args:
        steps: C-GRPO steps per fit (``--trainer.max_steps``).
        rounds: timed runs per variant and load; medians are over these.
        variants: which of default, omarc, omp1, passive to run.
        config: the fit's config.
    """
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}; known: {sorted(VARIANTS)}")
    cpus = sorted(os.sched_getaffinity(0))
    seconds: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        fit_seconds(variants[0], Path(config).resolve(), 1, Path(tmp))  # untimed: generates the data, warms caches
        for load in ("idle", "busy"):
            hog = busy_loop(cpus[-1]) if load == "busy" else None
            try:
                time.sleep(0.5)
                print(f"{load}: load average {os.getloadavg()[0]:.2f}, usable CPUs {len(cpus)}", file=sys.stderr)
                for _ in range(rounds):
                    for v in variants:
                        seconds.setdefault((v, load), []).append(fit_seconds(v, Path(config).resolve(), steps, Path(tmp)))
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
    print(f"omarc fit --config {Path(config).name} --trainer.max_steps {steps}: median of {rounds} runs, "
          f"{len(cpus)} usable CPUs, busy = one busy-loop process pinned to CPU {cpus[-1]}\n")
    print("| variant | idle s | one core busy s | busy / idle |")
    print("|---|---|---|---|")
    for v in variants:
        idle, busy = statistics.median(seconds[(v, "idle")]), statistics.median(seconds[(v, "busy")])
        print(f"| {v} | {idle:.1f} | {busy:.1f} | {busy / idle:.2f} |")


if __name__ == "__main__":
    CLI(main, as_positional=False)
