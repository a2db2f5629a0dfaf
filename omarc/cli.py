"""The ``omarc`` command line: LightningCLI with ``fit`` (C-GRPO) and ``validate`` / ``test`` / ``predict``.

Shortcuts on top of LightningCLI's own ``--model.*`` / ``--data.*`` / ``--trainer.*`` options::

    omarc test --strategy omac --ratio 0.7                  # --model.strategy / --model.ratio
    omarc test --model /ckpt/Qwen2.5-Omni-3B                # --model.model (a name or a checkpoint)
    omarc test --data /data/worldsense --benchmark worldsense

Every option can also come from YAML (``--config file.yaml``), shortcuts included. With no data
given, the run uses the embedded default: a small generated set of real mp4 files with audio.
``--data`` takes one benchmark's folder (recognised by its layout, or named by ``--benchmark``) or
a folder of benchmark folders.

Python runs a job the same way from a config dict (``omarc sweep`` does, per evaluation pass): both
forms go through :func:`run_cli`, the one path from parsing to the finished run.

A bad option or config value (found while parsing, building the model, data and trainer, or looking
for the data folders) is one line on stderr, ``omarc: error: ...``, and exit status 2; ``--debug``
or ``OMARC_DEBUG=1`` raises it with its traceback instead. Errors of the run itself keep theirs.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from jsonargparse import ArgumentError, Namespace
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import Trainer
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.utilities import rank_zero_info

from omarc.datamodules.benchmarks import BENCHMARKS, benchmark_name, check_folder, detect_benchmark
from omarc.datamodules.datamodule import OmniQADataModule
from omarc.modules.evaluation.evaluator import OmniQAEvaluator
from omarc.strategies import STRATEGIES
from omarc.strategies.base import check_ratio
from omarc.strategies.registry import check_strategy
from omarc.threads import configure_threads, thread_status

#: Top-level shortcut options, folded into the model's and the datamodule's own options.
SHORTCUTS = ("strategy", "ratio", "benchmark", "data_folder")
#: Options whose bare value is a model name / a folder rather than a config for the whole group.
GROUP_VALUE_FLAGS = {"--model": "--model.model", "--data": "--data_folder"}
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
#: What building the configured objects raises for a bad option or config value.
USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, MisconfigurationException)


#: Experiment commands beside LightningCLI's own: name -> "module:function" (typed signature = options).
EXPERIMENTS = {
    "bench": "omarc.bench.run:run_bench",
    "sweep": "omarc.sweep:run_sweep",
}


def catalogue() -> str:
    return (
        f"Strategies (--strategy): {', '.join(sorted(STRATEGIES))}. "
        f"Benchmarks (--benchmark): {', '.join(BENCHMARKS)}. "
        "Shortcuts: --strategy NAME --ratio R --model NAME_OR_CHECKPOINT --data FOLDER --benchmark NAME. "
        "Experiments: omarc bench (latency and memory per strategy and ratio), "
        "omarc sweep (several test runs, one table); each has --help. "
        "A bad option is one line on stderr; --debug (or OMARC_DEBUG=1) shows its traceback."
    )


class UsageError(Exception):
    """A bad option or config value, found before anything runs: ``omarc`` prints it as one line."""


@contextmanager
def user_errors() -> Iterator[None]:
    """Re-raise what a bad option or config value raises (:data:`USER_ERRORS`) as a :class:`UsageError`."""
    try:
        yield
    except USER_ERRORS as e:
        raise UsageError(e.args[0] if isinstance(e, KeyError) and e.args else str(e)) from e


def error_line(error: Exception) -> str:
    """``error`` on one line; jsonargparse's ``Parser key "model.ratio": ...`` reads ``--model.ratio: ...``."""
    return re.sub(r'^Parser key "([^"]+)":', r"--\1:", " ".join(str(error).split()))


def run_experiment(name: str, argv: list[str]):
    """``omarc bench|sweep ...``: the function's typed signature is the parser (``--config`` YAML too)."""
    from importlib import import_module

    from jsonargparse import CLI

    module, function = EXPERIMENTS[name].split(":")
    target = getattr(import_module(module), function)
    description = f"omarc {name}: {target.__doc__.splitlines()[0]} {catalogue()}"
    return CLI(target, args=argv, as_positional=False, description=description, exit_on_error=False)


def model_class(args: list[str] | dict[str, Any]) -> type:
    """``fit`` trains with C-GRPO; every other subcommand evaluates (``args``: a command line or a config dict)."""
    if isinstance(args, dict):
        subcommand = args.get("subcommand")
    else:
        subcommand = next((a for a in args if not a.startswith("-")), None)
    if subcommand == "fit":
        from omarc.modules.training.cgrpo import CGRPOModule

        return CGRPOModule
    return OmniQAEvaluator


def expand_shortcuts(argv: list[str]) -> list[str]:
    """``--model X`` -> ``--model.model X`` and ``--data X`` -> ``--data_folder X`` unless X is a config."""
    out, i = [], 0
    while i < len(argv):
        flag, eq, value = argv[i].partition("=")
        if flag in GROUP_VALUE_FLAGS and not eq and i + 1 < len(argv) and not _is_config(argv[i + 1]):
            out += [GROUP_VALUE_FLAGS[flag], argv[i + 1]]
            i += 2
            continue
        out.append(f"{GROUP_VALUE_FLAGS[flag]}={value}" if flag in GROUP_VALUE_FLAGS and eq and not _is_config(value) else argv[i])
        i += 1
    return out


def _is_config(value: str) -> bool:
    return value.lstrip().startswith("{") or (value.endswith(CONFIG_SUFFIXES) and Path(value).is_file())


class OmarcCLI(LightningCLI):
    """LightningCLI plus the shortcuts, folded into ``model.*`` / ``data.*`` before anything is built.

    What a bad option or config value raises while the objects are built is a :class:`UsageError`.
    """

    def add_arguments_to_parser(self, parser) -> None:
        # The data module runs the model's processor step: the model built first hands it over.
        parser.link_arguments("model.input_builder", "data.inputs", apply_on="instantiate")
        parser.add_argument("--strategy", type=str, default=None,
                            help=f"compressor, shortcut for --model.strategy: {', '.join(sorted(STRATEGIES))}")
        parser.add_argument("--ratio", type=float, default=None,
                            help="fraction of audio and video tokens removed, shortcut for --model.ratio (0.7 keeps 3 tokens in 10)")
        parser.add_argument("--benchmark", type=str, default=None,
                            help=f"benchmark name(s), comma separated: {', '.join(BENCHMARKS)}")
        parser.add_argument("--data_folder", type=str, default=None,
                            help="what --data FOLDER sets: one benchmark's folder (recognised by its files, "
                                 "or named by --benchmark) or a folder of them")

    def parse_arguments(self, parser, args) -> None:
        """Parse, then check the shortcuts at once: a bad one is reported before Lightning seeds and logs."""
        super().parse_arguments(parser, args)
        with user_errors():
            shortcut_options(self.run_config())

    def run_config(self) -> Namespace:
        """The parsed options of the subcommand (of the whole command without one)."""
        subcommand = self.config.get("subcommand")
        return self.config[subcommand] if subcommand else self.config

    def folded_config(self) -> Namespace:
        """:meth:`run_config` with the shortcuts folded in (after a checkpoint's hyperparameters are merged)."""
        config = self.run_config()
        fold_shortcuts(config)
        return config

    @property
    def results(self) -> dict[str, float]:
        """The subcommand's results: the evaluator's flat metrics (its results.json's ``flat``); {} for fit."""
        return getattr(self.model, "results", {}).get(self.subcommand, {})

    def before_instantiate_classes(self) -> None:
        config = self.folded_config()
        data = config.data
        if data.data_dir is None and not data.paths and data.generated:
            rank_zero_info(
                "omarc: no --data given: running the embedded default, a small generated set of real mp4 files "
                f"with audio (cached under {data.cache_dir or os.environ.get('OMARC_CACHE', '~/.cache/omarc')}), "
                f"with model {config.model.model!r}"
                + (" (a tiny random model: expect chance-level answers)" if config.model.model.startswith("tiny") else "")
            )

    def instantiate_classes(self) -> None:
        with user_errors():
            super().instantiate_classes()

    def instantiate_trainer(self, **kwargs) -> Trainer:
        """Check the data folders first: a missing one is reported before the trainer logs anything."""
        if self.subcommand is not None:
            check_data(self.datamodule, self.subcommand)
            rank_zero_info(thread_status())
        return super().instantiate_trainer(**kwargs)


def shortcut_options(config: Namespace) -> dict[str, Any]:
    """The ``model.*`` / ``data.*`` values that ``strategy``, ``ratio``, ``benchmark``, ``data_folder`` set.

    A bad value raises a ValueError (FileNotFoundError for a missing folder) whose message names the option.
    """
    options: dict[str, Any] = {}
    if config.strategy is not None:
        check_strategy(config.strategy, "--strategy")
        options["model.strategy"] = config.strategy
    if config.ratio is not None:
        check_ratio(config.ratio, "--ratio")
        options["model.ratio"] = config.ratio
    try:
        names = [benchmark_name(b) for b in config.benchmark.split(",")] if config.benchmark else None
    except ValueError as e:
        raise ValueError(f"--benchmark: {e}") from e
    if config.data_folder is not None:
        folder = Path(config.data_folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"--data {folder}: no such folder")
        names = names or [n for n in BENCHMARKS if (folder / n).is_dir()] or [_detect(folder)]
        if all((folder / n).is_dir() for n in names):
            options["data.data_dir"] = str(folder)
        elif len(names) == 1:
            options["data.paths"] = {names[0]: str(folder)}
        else:
            raise ValueError(f"--data {folder}: expected one subfolder per benchmark {names}")
    if names:
        options["data.benchmarks"] = names
    return options


def fold_shortcuts(config: Namespace) -> None:
    """Move the shortcuts into the model / data options (:func:`shortcut_options`), in place."""
    for key, value in shortcut_options(config).items():
        config[key] = value
    for name in SHORTCUTS:
        config[name] = None


def _detect(folder: Path) -> str:
    try:
        return detect_benchmark(folder)
    except ValueError as e:
        raise ValueError(f"--data {e}; or subfolders named {', '.join(BENCHMARKS)}; or pass --benchmark NAME") from e


def check_data(datamodule: OmniQADataModule, subcommand: str) -> None:
    """A missing benchmark folder or annotation file that ``subcommand`` would read, found before it runs."""
    reads = [(name, datamodule.split) for name in datamodule.benchmarks]
    if subcommand == "fit":
        reads += [(name, datamodule.train_split) for name in datamodule.train_benchmarks]
    for name, split in reads:
        if name in datamodule.paths or datamodule.data_dir is not None or not datamodule.generated:
            check_folder(name, datamodule.folder(name), split)


def _build(cli_class: type[OmarcCLI], args: list[str] | dict[str, Any]) -> OmarcCLI:
    """The CLI for ``args``: a command line (shortcuts expanded) or a config dict, LightningCLI's two input forms."""
    description = f"omarc: omni token compression and compression-robust training. {catalogue()}"
    subcommand_help = {name: {"description": description} for name in LightningCLI.subcommands()}
    with warnings.catch_warnings():
        # We pass the expanded sys.argv (or a config dict) on purpose.
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        return cli_class(
            model_class(args),
            OmniQADataModule,
            args=expand_shortcuts(list(args)) if isinstance(args, (list, tuple)) else args,
            parser_kwargs={"description": description, "exit_on_error": False, **subcommand_help},
            save_config_kwargs={"overwrite": True},
        )


class _Resolved(Exception):
    def __init__(self, config: dict) -> None:
        self.config = config


class _ResolveOnly(OmarcCLI):
    def before_instantiate_classes(self) -> None:
        resolved = self.folded_config().as_dict()
        resolved.pop("config", None)  # where the options came from, not what they are
        raise _Resolved(resolved)


class _Given(Exception):
    def __init__(self, config: Namespace) -> None:
        self.config = config


class _GivenOnly(OmarcCLI):
    def parse_arguments(self, parser, args) -> None:
        raise _Given(parser.parse_args(args, defaults=False))


def resolve_config(args: list[str] | dict[str, Any]) -> dict:
    """The run config ``args`` (a command line or a config dict) resolves to (shortcuts folded, defaults
    filled); nothing is built or run.

    A bad option raises jsonargparse's ArgumentError (parsing) or a :class:`UsageError`.
    """
    try:
        _build(_ResolveOnly, args)
    except _Resolved as done:
        return done.config
    raise RuntimeError("the command line was parsed but never resolved")


def given_options(argv: list[str], subcommand: str = "test") -> dict[str, Any]:
    """The options a ``omarc SUBCOMMAND`` command line sets, as a config dict: only those given (a
    ``--config`` file's included), shortcuts not folded, no defaults. Merged into other config dicts,
    it runs through :func:`run_cli` like the command line itself.

    A bad option raises jsonargparse's ArgumentError.
    """
    try:
        _build(_GivenOnly, [subcommand, *map(str, argv)])
    except _Given as done:
        given = done.config.as_dict().get(subcommand, {})
        given.pop("config", None)  # where the options came from; their values are in ``given``
        return given
    raise RuntimeError("the command line was never parsed")


def run_cli(args: list[str] | dict[str, Any] | None = None) -> OmarcCLI:
    """Every job's one path: parse ``args``, build the classes and run the subcommand; returns the CLI,
    whose ``results`` are the subcommand's.

    ``args``: a command line (default ``sys.argv[1:]``; ``omarc test ...``) or a config dict keyed
    like LightningCLI's, ``{"subcommand": "test", "test": {"model": {...}, "data": {...}, ...}}``,
    shortcuts (strategy, ratio, benchmark, data_folder) allowed beside the groups.
    A bad option raises jsonargparse's ArgumentError (parsing) or a :class:`UsageError` (building).
    """
    return _build(OmarcCLI, sys.argv[1:] if args is None else args)


def main() -> None:
    """Console entry point ``omarc``: a bad option is ``omarc: error: ...`` on stderr and exit status 2."""
    debug = "--debug" in sys.argv[1:] or os.environ.get("OMARC_DEBUG", "") not in ("", "0")
    argv = [a for a in sys.argv[1:] if a != "--debug"]
    configure_threads()  # torch's CPU threads: the CPUs this process may use (omarc/threads.py)
    try:
        if argv and argv[0] in EXPERIMENTS:
            run_experiment(argv[0], argv[1:])
        else:
            run_cli(argv)
    except (ArgumentError, UsageError) as e:
        if debug:
            raise
        print(f"omarc: error: {error_line(e)}", file=sys.stderr)
        sys.exit(2)
