"""C-GRPO training end to end: real Lightning runs of the tiny config through ``omarc fit``, TensorBoard
events read back, a learning signal, exact resume, export, μ > 1, and the DeepSpeed ZeRO-2 configs."""

import contextlib
from pathlib import Path

import yaml

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.plugins.precision.deepspeed import DeepSpeedPrecision
from lightning.pytorch.strategies import DeepSpeedStrategy
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from omarc.cli import OmarcCLI, UsageError, resolve_config, run_cli
from omarc.datamodules.datamodule import OmniQADataModule
from omarc.datamodules.generate import generate_benchmark
from omarc.modules.backbones.loading import load_backbone
from omarc.modules.training.cgrpo import CGRPOModule, export_checkpoint
from omarc.modules.training.config import ObjectiveConfig, OptimConfig, SamplingConfig

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "omarc_tiny.yaml"
STEPS = 40  # the tiny config's length: enough for the format reward to climb
RESUME_AT = 20  # a checkpoint of the run (every 10 steps); 2 clips -> an epoch boundary
WINDOW = 8  # steps averaged at each end of the run to compare the format reward
RUN = Path("runs/omarc_tiny")


@contextlib.contextmanager
def one_thread():
    # Tiny matmuls: thread hand-offs cost more than they give, worst on a shared 2-core machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit(cache: Path, *args: str):
    return run_cli(["fit", "--config", str(TINY), "--data.cache_dir", str(cache), "--trainer.enable_progress_bar", "false", *args])


def scalars(logdir: Path) -> EventAccumulator:
    events = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def series(events: EventAccumulator, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in events.Scalars(tag)}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "omarc_cache"


@pytest.fixture(scope="module")
def run(tmp_path_factory, cache) -> Path:
    """One ``omarc fit --config configs/omarc_tiny.yaml`` run of STEPS steps, in its own directory."""
    root = tmp_path_factory.mktemp("cgrpo_run")
    with contextlib.chdir(root), one_thread():
        cli = fit(cache)
    assert cli.trainer.global_step == STEPS
    return root


@pytest.mark.slow
def test_tensorboard_events_hold_rewards_gap_ratio_and_training_scalars(run):
    events = scalars(run / RUN / "tensorboard")
    tags = set(events.Tags()["scalars"])
    for branch in ("teacher", "student"):
        for name in ("reward", "reward_std", "rewards/accuracy/mean", "rewards/format_graded/mean",
                     "completions/mean_length", "completions/clipped_ratio"):
            assert f"{branch}/{name}" in tags
    for name in ("gap_ratio", "kl", "clip_ratio", "loss", "lr", "tokens_kept", "frac_reward_zero_std", "completions/mean_length"):
        assert name in tags
    assert sorted(series(events, "gap_ratio")) == list(range(STEPS)), "one value per step"
    # the student keeps round(0.3 N) of each modality's N tokens
    assert all(abs(v - 0.3) < 0.02 for v in series(events, "tokens_kept").values())
    assert all(v == 0.0 for v in series(events, "clip_ratio").values()), "μ = 1: the ratio is exactly 1"
    assert all(v == pytest.approx(0.02) for v in series(events, "lr").values())
    kl = series(events, "kl")
    assert kl[0] == pytest.approx(0.0, abs=1e-6) and max(kl.values()) > 0, "the policy leaves the reference"
    assert "completions/text_summary" in events.Tags()["tensors"]


@pytest.mark.slow
def test_format_reward_rises_over_the_run(run):
    fmt = series(scalars(run / RUN / "tensorboard"), "student/rewards/format_graded/mean")
    first = sum(fmt[s] for s in range(WINDOW)) / WINDOW
    last = sum(fmt[s] for s in range(STEPS - WINDOW, STEPS)) / WINDOW
    assert last > first + 0.03, f"format reward {first:.3f} -> {last:.3f}: no learning signal"


@pytest.mark.slow
def test_resume_reproduces_the_next_step_and_last_continues(run, cache):
    (checkpoint,) = (run / RUN / "checkpoints").glob(f"*step={RESUME_AT}.ckpt")
    with contextlib.chdir(run), one_thread():
        cli = fit(cache, "--ckpt_path", "last", "--trainer.max_steps", str(STEPS + 1),
                  "--trainer.logger.init_args.version", "last")
        fit(cache, "--ckpt_path", str(checkpoint), "--trainer.max_steps", str(RESUME_AT + 1),
            "--trainer.logger.init_args.version", "resumed")
    whole = scalars(run / RUN / "tensorboard")
    resumed = scalars(run / RUN / "resumed")
    for tag in ("loss", "student/reward", "teacher/reward", "gap_ratio", "kl"):
        (step, value), = series(resumed, tag).items()
        assert step == RESUME_AT
        assert value == pytest.approx(series(whole, tag)[RESUME_AT], rel=1e-5, abs=1e-7), tag

    assert sorted(series(scalars(run / RUN / "last"), "loss")) == [STEPS], "--ckpt_path last starts at the saved step"
    assert cli.trainer.global_step == STEPS + 1
    state = cli.trainer.optimizers[0].state
    assert {int(s["step"]) for s in state.values()} == {STEPS + 1}, "AdamW state restored, then one more step"


@pytest.mark.slow
def test_export_writes_a_checkpoint_that_load_backbone_reads(run, tmp_path):
    ckpt = run / RUN / "checkpoints" / "last.ckpt"
    exported = export_checkpoint(ckpt, tmp_path / "hf")
    backbone, processor, family = load_backbone(str(exported), device="cpu")
    assert family == "qwen2_5_omni"
    trained = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    initial = load_backbone("tiny", device="cpu")[0].state_dict()
    loaded = backbone.state_dict()
    assert set(loaded) == {k.removeprefix("backbone.") for k in trained}
    for name, value in trained.items():
        assert torch.equal(loaded[name.removeprefix("backbone.")], value), name
    key = "thinker.lm_head.weight"
    assert not torch.equal(loaded[key], initial[key]), "the export holds the trained weights"
    assert processor.tokenizer.decode(processor.tokenizer("<think>").input_ids) == "<think>"


@pytest.fixture
def batch_module(cache):
    """A C-GRPO module and one training batch of the generated UGC-AVQA train split."""

    def build(**configs):
        configs.setdefault("sampling", SamplingConfig(max_completion_length=8))
        module = CGRPOModule(model="tiny", log_completions_every_n_steps=0, **configs)
        data = OmniQADataModule(train_benchmarks=["ugc_avqa"], limit=2, cache_dir=str(cache),
                                prompt_style="reasoning", inputs=module.input_builder)
        data.prepare_data()
        data.setup("fit")
        return module, data

    return build


@pytest.mark.slow
def test_more_than_one_iteration_steps_per_pass_and_clips(batch_module):
    module, data = batch_module(objective=ObjectiveConfig(beta=0.0, num_iterations=2, rewards=("format_graded",)),
                                optim=OptimConfig(lr=0.05))
    trainer = pl.Trainer(max_steps=4, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    with one_thread():
        trainer.fit(module, datamodule=data)
    assert trainer.global_step == 4 and trainer.fit_loop.epoch_loop.batch_progress.total.completed == 2
    assert trainer.callback_metrics["clip_ratio"] > 0, "the second pass sees ratios outside [1 - ε, 1 + ε]"


@pytest.mark.parametrize(("config", "values", "message"), [
    (SamplingConfig, {"num_generations": 0}, "num_generations must be >= 1, got 0"),
    (SamplingConfig, {"top_p": 0.0}, r"top_p must be in \(0, 1\], got 0.0"),
    (ObjectiveConfig, {"gap_reference": "pair"}, "gap_reference must be 'paired' or 'mean', got 'pair'"),
    (ObjectiveConfig, {"epsilon": 1.0}, r"epsilon must be in \(0, 1\), got 1.0"),
    (ObjectiveConfig, {"rewards": ("fmt",)}, "unknown reward 'fmt'"),
    (ObjectiveConfig, {"reward_weights": (1.0,)}, "reward_weights has 1 values for 2 rewards"),
    (OptimConfig, {"warmup_steps": -1}, "warmup_steps must be >= 0, got -1"),
])
def test_a_bad_setting_is_an_error_naming_the_field(config, values, message):
    with pytest.raises(ValueError, match=message):
        config(**values)


def test_a_bad_setting_on_the_command_line_is_a_usage_error():
    with pytest.raises(UsageError, match="loss_aggregation must be one of"):
        run_cli(["fit", "--model.objective.loss_aggregation", "sum"])
    with pytest.raises(UsageError, match="prompt_style must be one of"):
        run_cli(["fit", "--data.prompt_style", "terse"])


@pytest.mark.slow
def test_python_built_module_checkpoint_loads_back_with_its_configs(batch_module, tmp_path):
    module, data = batch_module(objective=ObjectiveConfig(beta=0.0, lam=0.5), optim=OptimConfig(lr=0.05, warmup_steps=2))
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    with one_thread():
        trainer.fit(module, datamodule=data)
    trainer.save_checkpoint(tmp_path / "module.ckpt")
    loaded = CGRPOModule.load_from_checkpoint(tmp_path / "module.ckpt", map_location="cpu")  # weights_only by default
    assert (loaded.sampling, loaded.objective, loaded.optim) == (module.sampling, module.objective, module.optim)
    assert loaded.sampling.max_completion_length == 8 and loaded.objective.lam == 0.5 and loaded.optim.warmup_steps == 2
    for name, value in module.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


@pytest.mark.slow
def test_cli_checkpoint_loads_back_with_the_configs_of_its_yaml(run):
    loaded = CGRPOModule.load_from_checkpoint(run / RUN / "checkpoints" / "last.ckpt", map_location="cpu")
    assert loaded.sampling == SamplingConfig(num_generations=8, max_completion_length=16)
    assert loaded.objective == ObjectiveConfig(rewards=("accuracy", "format_graded"))
    assert loaded.optim == OptimConfig(lr=0.02)
    assert loaded.log_completions_every_n_steps == 10 and loaded.reference is not None


@pytest.mark.parametrize(("name", "expected"), [
    ("omarc_tiny", {"model": "tiny", "sampling.num_generations": 8, "sampling.max_completion_length": 16,
                    "objective.rewards": ("accuracy", "format_graded"), "objective.beta": 0.04, "optim.lr": 0.02, "optim.gradient_checkpointing": False}),
    ("omarc_3b", {"model": "Qwen/Qwen2.5-Omni-3B", "sampling.num_generations": 4, "sampling.max_completion_length": 1024,
                  "objective.rewards": ("accuracy", "format"), "objective.beta": 0.04, "objective.lam": 1.0,
                  "objective.epsilon": 0.2, "optim.lr": 1e-5, "optim.gradient_checkpointing": True}),
    ("omarc_7b", {"model": "Qwen/Qwen2.5-Omni-7B", "sampling.max_completion_length": 1024, "objective.tau": 1e-3,
                  "objective.gap_reference": "paired", "optim.lr": 1e-5, "optim.freeze_encoders": True}),
])
def test_shipped_configs_resolve_to_their_nested_settings(name, expected):
    with contextlib.chdir(REPO):
        model = resolve_config(["fit", "--config", f"configs/{name}.yaml"])["model"]
    for key, value in expected.items():
        group, _, field = key.rpartition(".")
        assert (model[group][field] if group else model[field]) == value, key
    for group, config in (("sampling", SamplingConfig), ("objective", ObjectiveConfig), ("optim", OptimConfig)):
        config(**model[group])  # the values pass the checks


@pytest.mark.slow
def test_logged_gap_ratio_against_the_teacher_group_mean(batch_module, monkeypatch):
    """gap_reference "mean", rewards forced on one step's rollouts (B = 1, G = 4): the logged gap ratio by hand."""
    # teacher [2, 1, 0, 1], mean 1; student [1, 0, 2, 1]: Δ = ReLU(1 − S) / (1 + τ) = [0, 1, 0, 0] / 1.001,
    # gap ratio 0.25 / 1.001 = 0.2497502 (paired would give (1/2.001 + 1/1.001) / 4 = 0.3746876)
    forced = iter([torch.tensor([[2.0, 1.0, 0.0, 1.0]]), torch.tensor([[1.0, 0.0, 2.0, 1.0]])])
    module, data = batch_module(sampling=SamplingConfig(num_generations=4, max_completion_length=8),
                                objective=ObjectiveConfig(beta=0.0, tau=1e-3, gap_reference="mean", rewards=("format",)))
    rollout = module.rollout

    def with_rewards(*args):
        out = rollout(*args)
        out.rewards = next(forced)  # the teacher is rolled out first
        return out

    monkeypatch.setattr(module, "rollout", with_rewards)
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    with one_thread():
        trainer.fit(module, datamodule=data)
    assert trainer.callback_metrics["gap_ratio"].item() == pytest.approx(0.25 / 1.001, abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["omarc_3b", "omarc_7b"])
def test_paper_configs_resolve_and_the_cli_builds_the_deepspeed_zero2_strategy(name, tmp_path):
    with contextlib.chdir(tmp_path):  # not the repository root: the JSON path is relative to the config
        # No GPU here: the same config on the CPU with the tiny model, built by the CLI without running.
        cli = OmarcCLI(CGRPOModule, OmniQADataModule, run=False, args=[
            "--config", str(REPO / "configs" / f"{name}.yaml"), "--model.model", "tiny", "--trainer.accelerator", "cpu",
            "--trainer.devices", "1", "--trainer.logger", "false", "--trainer.callbacks", "[]"])
    built = cli.trainer.strategy
    assert isinstance(built, DeepSpeedStrategy) and built.zero_stage_3 is False
    assert built.config["zero_optimization"]["stage"] == 2 and built.config["bf16"]["enabled"]
    assert built.config["managed_gradient_accumulation"] is False, "several backward passes per optimizer step"
    assert isinstance(cli.trainer.precision_plugin, DeepSpeedPrecision) and cli.trainer.precision == "bf16-mixed"
    assert cli.model.optim.gradient_checkpointing and cli.model.backbone.thinker.is_activation_checkpointing


@pytest.mark.parametrize("name", ["omarc_tiny", "omarc_3b", "omarc_7b"])
@pytest.mark.slow
def test_each_shipped_fit_config_trains_a_step_from_another_folder_with_only_its_train_folder(name, tmp_path, monkeypatch):
    """The paper's command with only the UGC-AVQA train folder (no evaluation benchmark folder, no generated set),
    run outside the repository; the folder comes from a second config that names it relative to itself."""
    generate_benchmark(tmp_path / "ugc_avqa", "ugc_avqa", n_videos=1, seconds=2, split="train")
    (tmp_path / "configs").mkdir()
    data = tmp_path / "configs" / "data.yaml"
    data.write_text(yaml.safe_dump({"data": {"paths": {"ugc_avqa": "../ugc_avqa"}, "num_workers": 0}}))
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("OMARC_CACHE", str(tmp_path / "cache"))  # the generated set would be written here
    with one_thread():
        cli = run_cli(["fit", "--config", str(REPO / "configs" / f"{name}.yaml"), "--config", str(data),
                       "--model.model", "tiny", "--trainer.accelerator", "cpu", "--trainer.devices", "1",
                       "--trainer.strategy", "auto", "--trainer.precision", "32", "--trainer.max_steps", "1",
                       "--trainer.enable_progress_bar", "false", "--model.sampling.max_completion_length", "8"])
    assert cli.trainer.global_step == 1
    assert cli.datamodule.folder("ugc_avqa") == tmp_path / "configs" / ".." / "ugc_avqa"
    assert not (tmp_path / "cache").exists(), "fit read only its train folder"
    assert (work / "runs" / name / "checkpoints" / "last.ckpt").is_file(), "outputs go to the working directory"
