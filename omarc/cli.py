"""The ``omarc`` command line: LightningCLI with ``fit`` (C-GRPO) and ``validate`` / ``test`` / ``predict``.

Shortcuts on top of LightningCLI's own ``--model.*`` / ``--data.*`` / ``--trainer.*`` options::

    omarc test --strategy omac --ratio 0.7                  # --model.strategy / --model.ratio
    omarc test --model /ckpt/Qwen2.5-Omni-3B                # --model.model (a name or a checkpoint)
    omarc test --data /data/worldsense --benchmark worldsense

Every option can also come from YAML (``--config file.yaml``), shortcuts included. With no data
given, the run uses the embedded default: a small generated set of real mp4 files with audio.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from lightning.pytorch.cli import LightningCLI

from omarc.datamodules.benchmarks import BENCHMARKS, benchmark_name
from omarc.datamodules.datamodule import OmniQADataModule
from omarc.modules.evaluation import OmniQAEvaluator
from omarc.strategies import STRATEGIES

#: Top-level shortcut options, folded into the model's and the datamodule's own options.
SHORTCUTS = ("strategy", "ratio", "benchmark", "data_folder")
#: Options whose bare value is a model name / a folder rather than a config for the whole group.
GROUP_VALUE_FLAGS = {"--model": "--model.model", "--data": "--data_folder"}
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


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
        "omarc sweep (several test runs, one table); each has --help."
    )


def run_experiment(name: str, argv: list[str]):
    """``omarc bench|sweep ...``: the function's typed signature is the parser (``--config`` YAML too)."""
    from importlib import import_module

    from jsonargparse import CLI

    module, function = EXPERIMENTS[name].split(":")
    target = getattr(import_module(module), function)
    return CLI(target, args=argv, as_positional=False, description=f"omarc {name}: {target.__doc__.splitlines()[0]} {catalogue()}")


def model_class(argv: list[str]) -> type:
    """``fit`` trains with C-GRPO; every other subcommand evaluates."""
    if "fit" in [a for a in argv if not a.startswith("-")][:1]:
        from omarc.modules.cgrpo import CGRPOModule

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
    """LightningCLI plus the shortcuts, folded into ``model.*`` / ``data.*`` before anything is built."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--strategy", type=str | None, default=None,
                            help=f"compressor, shortcut for --model.strategy: {', '.join(sorted(STRATEGIES))}")
        parser.add_argument("--ratio", type=float | None, default=None,
                            help="fraction of audio and video tokens removed, shortcut for --model.ratio (0.7 keeps 3 tokens in 10)")
        parser.add_argument("--benchmark", type=str | None, default=None,
                            help=f"benchmark name(s), comma separated: {', '.join(BENCHMARKS)}")
        parser.add_argument("--data_folder", type=str | None, default=None,
                            help="what --data FOLDER sets: one benchmark's folder (with --benchmark) or a folder of them")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        fold_shortcuts(config)
        data = config.data
        if data.data_dir is None and not data.paths and data.generated:
            print(
                "omarc: no --data given: running the embedded default, a small generated set of real mp4 files "
                f"with audio (cached under {data.cache_dir or os.environ.get('OMARC_CACHE', '~/.cache/omarc')}), "
                f"with model {config.model.model!r}"
                + (" (a tiny random model: expect chance-level answers)" if config.model.model.startswith("tiny") else "")
            )


def fold_shortcuts(config) -> None:
    """Move ``strategy``, ``ratio``, ``benchmark``, ``data_folder`` into the model / data options, in place."""
    if config.strategy is not None:
        config.model.strategy = config.strategy
    if config.ratio is not None:
        config.model.ratio = config.ratio
    names = [benchmark_name(b) for b in config.benchmark.split(",")] if config.benchmark else None
    if names:
        config.data.benchmarks = names
    if config.data_folder is not None:
        folder = Path(config.data_folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"--data {folder}: no such folder")
        if names is None:
            names = [n for n in BENCHMARKS if (folder / n).is_dir()]
            if not names:
                raise ValueError(f"--data {folder}: no benchmark subfolder ({', '.join(BENCHMARKS)}); pass --benchmark NAME")
            config.data.benchmarks = names
        if all((folder / n).is_dir() for n in names):
            config.data.data_dir = str(folder)
        elif len(names) == 1:
            config.data.paths = {names[0]: str(folder)}
        else:
            raise ValueError(f"--data {folder}: expected one subfolder per benchmark {names}")
    for name in SHORTCUTS:
        setattr(config, name, None)


def _build(cli_class: type[OmarcCLI], argv: list[str]) -> OmarcCLI:
    description = f"omarc: omni token compression and compression-robust training. {catalogue()}"
    subcommand_help = {name: {"description": description} for name in LightningCLI.subcommands()}
    with warnings.catch_warnings():
        # We pass the expanded sys.argv on purpose.
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        return cli_class(
            model_class(argv),
            OmniQADataModule,
            args=expand_shortcuts(argv),
            parser_kwargs={"description": description, **subcommand_help},
            save_config_kwargs={"overwrite": True},
        )


class _Resolved(Exception):
    def __init__(self, config: dict) -> None:
        self.config = config


class _ResolveOnly(OmarcCLI):
    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        fold_shortcuts(config)
        resolved = config.as_dict()
        resolved.pop("config", None)  # where the options came from, not what they are
        raise _Resolved(resolved)


def resolve_config(argv: list[str]) -> dict:
    """The run config ``argv`` resolves to (shortcuts folded, defaults filled); nothing is built or run."""
    try:
        _build(_ResolveOnly, list(argv))
    except _Resolved as done:
        return done.config
    raise RuntimeError("the command line was parsed but never resolved")


def run_cli(argv: list[str] | None = None) -> OmarcCLI:
    """Parse ``argv`` (default ``sys.argv[1:]``), build the classes and run the subcommand."""
    return _build(OmarcCLI, list(sys.argv[1:] if argv is None else argv))


def main() -> None:
    """Console entry point ``omarc``."""
    argv = sys.argv[1:]
    if argv and argv[0] in EXPERIMENTS:
        run_experiment(argv[0], argv[1:])
        return
    run_cli(argv)
