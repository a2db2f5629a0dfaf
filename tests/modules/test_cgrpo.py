"""C-GRPO training end to end: real Lightning runs of the tiny config through ``omarc fit``, TensorBoard
events read back, a learning signal, exact resume, export, μ > 1, and the DeepSpeed ZeRO-2 configs."""

import contextlib
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.plugins.precision.deepspeed import DeepSpeedPrecision
from lightning.pytorch.strategies import DeepSpeedStrategy
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from omarc.cli import OmarcCLI, run_cli
from omarc.datamodules.datamodule import OmniQADataModule
from omarc.modules.backbones.loading import load_backbone
from omarc.modules.training.cgrpo import CGRPOModule, export_checkpoint

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "omarc_tiny.yaml"
STEPS = 30  # the tiny config's length: enough for the format reward to climb
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
    assert all(v == pytest.approx(0.01) for v in series(events, "lr").values())
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

    def build(**kwargs):
        module = CGRPOModule(model="tiny", max_completion_length=8, log_completions_every_n_steps=0, **kwargs)
        data = OmniQADataModule(train_benchmarks=["ugc_avqa"], limit=2, cache_dir=str(cache))
        data.prepare_data()
        data.setup("fit")
        data.set_transform(module.inputs, module.inputs.builder.collate)
        return module, data

    return build


@pytest.mark.slow
def test_more_than_one_iteration_steps_per_pass_and_clips(batch_module):
    module, data = batch_module(beta=0.0, num_iterations=2, lr=0.05, rewards=["format_graded"])
    trainer = pl.Trainer(max_steps=4, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    with one_thread():
        trainer.fit(module, datamodule=data)
    assert trainer.global_step == 4 and trainer.fit_loop.epoch_loop.batch_progress.total.completed == 2
    assert trainer.callback_metrics["clip_ratio"] > 0, "the second pass sees ratios outside [1 - ε, 1 + ε]"


@pytest.mark.slow
def test_logged_gap_ratio_against_the_teacher_group_mean(batch_module, monkeypatch):
    """gap_reference "mean", rewards forced on one step's rollouts (B = 1, G = 4): the logged gap ratio by hand."""
    # teacher [2, 1, 0, 1], mean 1; student [1, 0, 2, 1]: Δ = ReLU(1 − S) / (1 + τ) = [0, 1, 0, 0] / 1.001,
    # gap ratio 0.25 / 1.001 = 0.2497502 (paired would give (1/2.001 + 1/1.001) / 4 = 0.3746876)
    forced = iter([torch.tensor([[2.0, 1.0, 0.0, 1.0]]), torch.tensor([[1.0, 0.0, 2.0, 1.0]])])
    module, data = batch_module(beta=0.0, num_generations=4, tau=1e-3, gap_reference="mean", rewards=["format"])
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


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match="num_generations must be >= 1, got 0"):
        CGRPOModule(num_generations=0)
    with pytest.raises(ValueError, match="gap_reference must be 'paired' or 'mean', got 'pair'"):
        CGRPOModule(gap_reference="pair")
    with pytest.raises(ValueError, match="unknown reward 'fmt'"):
        CGRPOModule(rewards=["fmt"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["omarc_3b", "omarc_7b"])
def test_paper_configs_resolve_and_the_cli_builds_the_deepspeed_zero2_strategy(name):
    with contextlib.chdir(REPO):
        # No GPU here: the same config on the CPU with the tiny model, built by the CLI without running.
        cli = OmarcCLI(CGRPOModule, OmniQADataModule, run=False, args=[
            "--config", f"configs/{name}.yaml", "--model.model", "tiny", "--trainer.accelerator", "cpu",
            "--trainer.devices", "1", "--trainer.logger", "false", "--trainer.callbacks", "[]"])
    built = cli.trainer.strategy
    assert isinstance(built, DeepSpeedStrategy) and built.zero_stage_3 is False
    assert built.config["zero_optimization"]["stage"] == 2 and built.config["bf16"]["enabled"]
    assert built.config["managed_gradient_accumulation"] is False, "several backward passes per optimizer step"
    assert isinstance(cli.trainer.precision_plugin, DeepSpeedPrecision) and cli.trainer.precision == "bf16-mixed"
    assert cli.model.hparams.gradient_checkpointing and cli.model.backbone.thinker.is_activation_checkpointing
