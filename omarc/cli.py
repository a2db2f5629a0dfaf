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
or ``OMARC_DEBUG=1`` raises it with its traceback instead. So is an :class:`omarc.errors.UsageError`
that omarc raises later (a checkpoint that is none, an annotation file without questions). Other
errors of the run keep their traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml
from jsonargparse import ArgumentError, Namespace
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.model_helpers import is_overridden

from omarc.datamodules.benchmarks import BENCHMARKS, benchmark_name, check_folder, detect_benchmark
from omarc.datamodules.datamodule import OmniQADataModule
from omarc.errors import UsageError
from omarc.modules.backbones.default_model import DEFAULT_MODEL
from omarc.modules.evaluation.evaluator import OmniQAEvaluator
from omarc.modules.evaluation.runs import RunFolderError
from omarc.strategies import STRATEGIES
from omarc.strategies.base import check_ratio
from omarc.strategies.registry import check_strategy
from omarc.threads import configure_threads, thread_status

#: Top-level shortcut options, folded into the model's and the datamodule's own options.
SHORTCUTS = ("strategy", "ratio", "benchmark", "data_folder")
#: Options whose bare value is a model name / a folder rather than a config for the whole group.
GROUP_VALUE_FLAGS = {"--model": "--model.model", "--data": "--data_folder"}
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
#: Input folders whose relative value in a ``--config`` file is relative to that file (:func:`anchor_config_paths`).
CONFIG_PATH_KEYS = ("data.data_dir", "data_folder")
#: What building the configured objects raises for a bad option or config value.
USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, MisconfigurationException)


#: The usage line of ``omarc test --help`` (and fit, validate, predict): omarc's own options first.
SUBCOMMAND_USAGE = (
    "%(prog)s [--strategy NAME] [--ratio R] [--model NAME_OR_DIR] [--data FOLDER] [--benchmark NAMES]\n"
    "       [--model.output_dir FOLDER] [--config FILE.yaml] [--model.* ...] [--data.* ...] [--trainer.* ...]"
)
#: ``--ckpt_path`` values that name no file: Lightning finds the checkpoint itself.
CKPT_PATH_NAMES = ("last", "best", "hpc", "registry")
#: Lightning's console lines that are not about the run (advertising tips), by their start.
QUIET_LOGS = ("💡 Tip:",)
#: Warnings about third-party internals or omarc's deliberate design (frozen encoders in eval mode,
#: manual optimization, a data module that also serves validation), not about the user's run.
QUIET_WARNINGS = (
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    r"No seed found, seed set to",
    r"You passed in a `val_dataloader` but have no `validation_step`",
    r"Found \d+ module\(s\) in eval mode at the start of training",
    r"Using ModelCheckpoint with manual optimization and every_n_train_steps",
    r"Total length of `DataLoader` across ranks is zero",  # a resumed run with every sample done
)


#: Experiment commands beside LightningCLI's own: name -> "module:function" (typed signature = options).
EXPERIMENTS = {
    "bench": "omarc.bench.run:run_bench",
    "sweep": "omarc.sweep:run_sweep",
}
EXPERIMENT_HELP = {
    "bench": "latency and memory per strategy and ratio",
    "sweep": "several test runs, one table",
}


def catalogue(experiment: bool = False) -> str:
    """What the help of ``omarc`` and ``omarc test`` (and, ``experiment`` True, of bench and sweep) lists."""
    parts = [f"Strategies (--strategy): {', '.join(sorted(STRATEGIES))}.",
             f"Benchmarks (--benchmark): {', '.join(BENCHMARKS)}."]
    if not experiment:
        parts += ["Shortcuts: --strategy NAME --ratio R --model NAME_OR_CHECKPOINT --data FOLDER --benchmark NAME.",
                  "Experiments: " + ", ".join(f"omarc {name} ({what})" for name, what in EXPERIMENT_HELP.items())
                  + "; each has --help."]
    parts.append("A bad option is one line on stderr; --debug (or OMARC_DEBUG=1) shows its traceback.")
    return " ".join(parts)


class _LeaveOut(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(QUIET_LOGS)


def quiet_console() -> None:
    """Leave Lightning's tips and seed lines and the :data:`QUIET_WARNINGS` out of the console."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _LeaveOut) for f in logger.filters):
            logger.addFilter(_LeaveOut())
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
    for message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


class StepProgressBar(TQDMProgressBar):
    """Training progress as optimizer steps out of ``max_steps`` (Lightning's bar counts an epoch's batches)."""

    def on_train_epoch_start(self, trainer: Trainer, *args) -> None:
        super().on_train_epoch_start(trainer, *args)
        if trainer.max_steps > 0:
            self.train_progress_bar.total = trainer.max_steps
            self.train_progress_bar.set_description(f"step (epoch {trainer.current_epoch})")
            self._show(trainer.global_step)

    def on_train_batch_end(self, trainer: Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if trainer.max_steps <= 0:
            return super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self._should_update(trainer.global_step, trainer.max_steps):
            self._show(trainer.global_step)
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))

    def _show(self, step: int) -> None:
        if not self.train_progress_bar.disable:
            self.train_progress_bar.n = step
            self.train_progress_bar.refresh()


def check_ckpt_path(ckpt_path: str | None) -> None:
    """A missing ``--ckpt_path`` file is a :class:`UsageError` before anything is built."""
    if ckpt_path is None or ckpt_path in CKPT_PATH_NAMES or ckpt_path.startswith("registry:") or "://" in ckpt_path:
        return
    if not Path(ckpt_path).is_file():
        raise UsageError(f"--ckpt_path {ckpt_path}: checkpoint file not found ('last' resumes the run's last.ckpt)")


@contextmanager
def user_errors() -> Iterator[None]:
    """Re-raise what a bad option or config value raises (:data:`USER_ERRORS`) as a :class:`UsageError`."""
    try:
        yield
    except UsageError:
        raise
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
    description = f"omarc {name}: {target.__doc__.splitlines()[0]} {catalogue(experiment=True)}"
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


def anchor_config_paths(argv: list[str]) -> list[str]:
    """Relative input paths in a subcommand's ``--config FILE`` resolve against FILE's folder, not the working
    directory: each is set again, absolute, right after that ``--config`` (so later options still override
    it). Those paths: :data:`CONFIG_PATH_KEYS`, ``trainer.strategy.init_args.config`` when a string (the
    DeepSpeed JSON), and ``model.model`` when it names a folder beside the config. Outputs (``runs/``,
    the logger's and checkpoints' folders) stay relative to the working directory.
    """
    start = next((i + 1 for i, a in enumerate(argv) if a in LightningCLI.subcommands()), 0)  # 0: no subcommands
    out, i = argv[:start], start
    while i < len(argv):
        flag, eq, value = argv[i].partition("=")
        if flag != "--config" or (not eq and i + 1 == len(argv)):
            out.append(argv[i])
            i += 1
            continue
        if not eq:
            value = argv[i + 1]
        out += argv[i: i + (1 if eq else 2)]
        i += 1 if eq else 2
        out += [f"--{key}={path}" for key, path in config_file_paths(value).items()]
    return out


def config_file_paths(config: str) -> dict[str, str]:
    """``{option: absolute path}`` for the relative input paths in the YAML file ``config`` (nothing when
    ``config`` is not a readable file: the parser reports that)."""
    path = Path(config)
    try:
        content = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(content, dict):
        return {}
    base = path.resolve().parent

    def get(*keys: str) -> Any:
        node = content
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    def anchored(value: Any) -> str | None:
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute() and "://" not in value:
            return str(base / Path(value).expanduser())
        return None

    found: dict[str, str] = {}
    for key in CONFIG_PATH_KEYS:
        value = anchored(get(*key.split(".")))
        if value is not None:
            found[key] = value
    paths = get("data", "paths")
    if isinstance(paths, dict) and any(anchored(v) for v in paths.values()):
        found["data.paths"] = json.dumps({k: anchored(v) or v for k, v in paths.items()})
    model = anchored(get("model", "model"))
    if model is not None and Path(model).is_dir():  # else a name or a hub id
        found["model.model"] = model
    deepspeed = anchored(get("trainer", "strategy", "init_args", "config"))
    if deepspeed is not None:
        found["trainer.strategy.init_args.config"] = deepspeed
    return found


def _is_config(value: str) -> bool:
    return value.lstrip().startswith("{") or (value.endswith(CONFIG_SUFFIXES) and Path(value).is_file())


class OmarcCLI(LightningCLI):
    """LightningCLI plus the shortcuts, folded into ``model.*`` / ``data.*`` before anything is built.

    What a bad option or config value raises while the objects are built is a :class:`UsageError`.
    """

    def setup_parser(self, add_subcommands: bool, main_kwargs: dict, subparser_kwargs: dict) -> None:
        super().setup_parser(add_subcommands, main_kwargs, subparser_kwargs)
        # omarc prints its own results table: Lightning's metric box (trainer.test's `verbose`) only on request.
        for name, parser in getattr(self, "_subcommand_parsers", {}).items():
            if "verbose" in self._subcommand_method_arguments.get(name, ()):
                parser.set_defaults(verbose=False)
        if add_subcommands:  # bench and sweep run apart (main); here they are listed beside the others
            for name, what in EXPERIMENT_HELP.items():
                self.parser._subcommands_action.add_subcommand(
                    name, self.init_parser(description=f"omarc {name}: {what}"), help=f"{what} (omarc {name} --help)"
                )

    def add_default_arguments_to_parser(self, parser) -> None:
        """omarc's own options first, then LightningCLI's (``--seed_everything``, ``--trainer.*``, ...)."""
        parser.add_argument("--strategy", type=str, default=None, metavar="NAME",
                            help=f"compressor, shortcut for --model.strategy: {', '.join(sorted(STRATEGIES))}")
        parser.add_argument("--ratio", type=float, default=None, metavar="R",
                            help="fraction of audio and video tokens removed, shortcut for --model.ratio (0.7 keeps 3 tokens in 10)")
        parser.add_argument("--benchmark", type=str, default=None, metavar="NAMES",
                            help=f"benchmark name(s), comma separated: {', '.join(BENCHMARKS)}")
        parser.add_argument("--data_folder", type=str, default=None, metavar="FOLDER",
                            help="what --data FOLDER sets (its YAML key): one benchmark's folder (recognised by its "
                                 "files, or named by --benchmark) or a folder of them")
        super().add_default_arguments_to_parser(parser)

    def add_arguments_to_parser(self, parser) -> None:
        # The data module runs the model's processor step: the model built first hands it over.
        parser.link_arguments("model.input_builder", "data.inputs", apply_on="instantiate")
        # --model NAME_OR_DIR and --data FOLDER are shortcuts (expand_shortcuts); a config file works as well.
        for flag, metavar, what in (("--model", "NAME_OR_DIR", "--model.model: 'default', 'tiny', a checkpoint folder "
                                     "or a cached hub id"),
                                    ("--data", "FOLDER", "--data_folder: a benchmark's folder or a folder of them")):
            action = parser._option_string_actions[flag]
            action.metavar, action.help = metavar, f"{what}; or a YAML/JSON config file of the group"

    def parse_arguments(self, parser, args) -> None:
        """Parse (a config file's relative paths anchored to it, :func:`anchor_config_paths`), then check the
        shortcuts at once: a bad one is reported before Lightning seeds and logs."""
        super().parse_arguments(parser, anchor_config_paths(list(args)) if isinstance(args, (list, tuple)) else args)
        with user_errors():
            shortcut_options(self.run_config())
            check_ckpt_path(self.run_config().get("ckpt_path"))

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
        self._note = None  # said once the classes are built, so that an error while building them stands alone
        if data.data_dir is None and not data.paths and data.generated:
            self._note = (
                "omarc: no --data given: running the embedded default, a small generated set of real mp4 files "
                f"with audio (cached under {data.cache_dir or os.environ.get('OMARC_CACHE', '~/.cache/omarc')}), "
                f"with model {config.model.model!r}"
                + (" (a tiny random model: expect chance-level answers)" if config.model.model.startswith("tiny") else "")
            )
        elif config.model.model == DEFAULT_MODEL and self.subcommand != "fit":
            self._note = ("omarc: the embedded default model knows only the generated task (docs/default_model.md), "
                          "so expect chance-level answers here; pass --model /path/to/checkpoint to evaluate your model")

    def instantiate_classes(self) -> None:
        with user_errors():
            super().instantiate_classes()
        if self._note:
            rank_zero_info(self._note)

    def instantiate_trainer(self, **kwargs) -> Trainer:
        """Check the data folders first: a missing one is reported before the trainer logs anything."""
        if self.subcommand is not None:
            trainer = {**self._get(self.config_init, "trainer", default={}), **kwargs}
            validates = is_overridden("validation_step", self.model) and trainer.get("limit_val_batches") != 0
            check_data(self.datamodule, self.subcommand, validates=validates)
            rank_zero_info(thread_status())
        if self.subcommand == "fit":
            callbacks = kwargs.get("callbacks", trainer.get("callbacks")) or []
            callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
            if trainer.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
                kwargs["callbacks"] = [*callbacks, StepProgressBar()]
        return super().instantiate_trainer(**kwargs)

    def _run_subcommand(self, subcommand: str) -> None:
        """A run folder that holds another run (found when the run sets up) is a bad option too."""
        try:
            super()._run_subcommand(subcommand)
        except RunFolderError as e:
            raise UsageError(str(e)) from e

    def before_fit(self) -> None:
        if self.run_config().get("ckpt_path") is None:
            check_fresh_run(self.trainer)


def check_fresh_run(trainer: Trainer) -> None:
    """A fresh ``fit`` (no ``--ckpt_path``) into a folder that an earlier run's TensorBoard curves or
    ``last.ckpt`` are in is a :class:`UsageError`: it would mix its curves into theirs, write ``last-v1.ckpt``."""
    folders = [logger.log_dir for logger in trainer.loggers
               if isinstance(logger, TensorBoardLogger) and any(Path(logger.log_dir).glob("events.out.tfevents.*"))]
    folders += [callback.dirpath for callback in trainer.checkpoint_callbacks
                if getattr(callback, "dirpath", None) and (Path(callback.dirpath) / "last.ckpt").is_file()]
    if folders:
        raise UsageError(
            f"{folders[0]} holds an earlier training run: resume it with --ckpt_path last, "
            "or move or remove the folder to start a new run"
        )


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


def check_data(datamodule: OmniQADataModule, subcommand: str, validates: bool = False) -> None:
    """A missing benchmark folder or annotation file that ``subcommand`` would read, found before it runs:
    fit reads its train benchmarks, and the evaluation ones only when it ``validates`` (the model has a
    validation loop that runs); every other subcommand reads the evaluation benchmarks."""
    for name, split in datamodule.reads(subcommand, validates):
        if name in datamodule.paths or datamodule.data_dir is not None or not datamodule.generated:
            check_folder(name, datamodule.folder(name), split)


def _build(cli_class: type[OmarcCLI], args: list[str] | dict[str, Any]) -> OmarcCLI:
    """The CLI for ``args``: a command line (shortcuts expanded) or a config dict, LightningCLI's two input forms."""
    quiet_console()
    description = f"omarc: omni token compression and compression-robust training. {catalogue()}"
    subcommand_help = {name: {"description": description, "usage": SUBCOMMAND_USAGE} for name in LightningCLI.subcommands()}
    with _args_given():
        return cli_class(
            model_class(args),
            OmniQADataModule,
            args=expand_shortcuts(list(args)) if isinstance(args, (list, tuple)) else args,
            parser_kwargs={"description": description, "exit_on_error": False, **subcommand_help},
            save_config_kwargs={"overwrite": True},
            # Lightning's default (True) seeds from PL_GLOBAL_SEED, which every earlier run in the process
            # sets: a sweep's run would take the seed of the run before it.
            seed_everything_default=0,
        )


@contextmanager
def _args_given() -> Iterator[None]:
    """Quiet Lightning's warning that ``args`` is given beside sys.argv: we pass the expanded sys.argv (or a
    config dict, from a script with options of its own) on purpose."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        yield


class _Resolved(Exception):
    def __init__(self, config: dict, cli: _ResolveOnly) -> None:
        self.config, self.cli = config, cli


class _ResolveOnly(OmarcCLI):
    def before_instantiate_classes(self) -> None:
        resolved = self.folded_config().as_dict()
        resolved.pop("config", None)  # where the options came from, not what they are
        raise _Resolved(resolved, self)

    def resolve(self, args: list[str] | dict[str, Any]) -> None:
        """Raise :class:`_Resolved` for ``args`` with this parser: LightningCLI.__init__'s steps from parsing on."""
        with _args_given():
            self.parse_arguments(self.parser, expand_shortcuts(list(args)) if isinstance(args, (list, tuple)) else args)
        self._parse_ckpt_path()
        self.subcommand = self.config["subcommand"]
        self._set_seed()
        self.before_instantiate_classes()


class _Given(Exception):
    def __init__(self, config: Namespace) -> None:
        self.config = config


class _GivenOnly(OmarcCLI):
    def parse_arguments(self, parser, args) -> None:
        raise _Given(parser.parse_args(anchor_config_paths(list(args)), defaults=False))


def resolve_config(args: list[str] | dict[str, Any]) -> dict:
    """The run config ``args`` (a command line or a config dict) resolves to (shortcuts folded, defaults
    filled); nothing is built or run.

    A bad option raises jsonargparse's ArgumentError (parsing) or a :class:`UsageError`.
    """
    return next(resolve_configs([args]))


def resolve_configs(configs: Iterable[list[str] | dict[str, Any]]) -> Iterator[dict]:
    """:func:`resolve_config` of each of ``configs`` in turn (all of one subcommand) with one parser:
    building the parser is most of what resolving one costs."""
    cli: _ResolveOnly | None = None
    for args in configs:
        try:
            if cli is None:
                _build(_ResolveOnly, args)
            else:
                cli.resolve(args)
        except _Resolved as done:
            cli, config = done.cli, done.config
        else:
            raise RuntimeError("the command line was parsed but never resolved")
        yield config


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
