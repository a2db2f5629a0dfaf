"""C-GRPO at batch 2: every rollout row keeps to its own prompt (rewards, training log-probs, logged
examples), and the paired teacher/student gap (eq. 7) and shaped advantage (eq. 9) reach the loss
row by row, checked against hand-computed values."""

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import Logger

from omarc.datamodules.datamodule import OmniQADataModule
from omarc.datamodules.records import QARecord
from omarc.modules.training import cgrpo
from omarc.modules.training.cgrpo import CGRPOModule, Rollouts
from omarc.modules.training.config import ObjectiveConfig, SamplingConfig
from omarc.modules.training.rewards import REWARDS, register_reward
from omarc.strategies import TokenSequence

# Rewards [B = 2, G = 4] forced onto a training step's rollouts (totals of accuracy + format: 0, 1 or 2).
TEACHER = torch.tensor([[2.0, 1.0, 0.0, 2.0], [0.0, 2.0, 1.0, 0.0]])
STUDENT = torch.tensor([[1.0, 0.0, 0.0, 2.0], [0.0, 1.0, 1.0, 1.0]])
LAM, TAU = 0.5, 1e-3
# Eq. 7, Δ = ReLU(T − S) / (|T| + τ). Prompt 0: T − S = [1, 1, 0, 0] -> [1/2.001, 1/1.001, 0, 0].
# Prompt 1: T − S = [0, 1, 0, −1] -> [0, 1/2.001, 0, 0] (the student beating its teacher is no gap).
GAPS = [[0.4997501, 0.9990010, 0.0, 0.0], [0.0, 0.4997501, 0.0, 0.0]]
# mean of the eight: (2/2.001 + 1/1.001) / 8
GAP_RATIO = 0.2498127
# Group advantages of the students, A = (S − mean) / (unbiased std + 1e-4):
#   prompt 0: mean 0.75, centred [0.25, −0.75, −0.75, 1.25], var 2.75/3, std 0.9574271 -> ÷ 0.9575271
#   prompt 1: mean 0.75, centred [−0.75, 0.25, 0.25, 0.25], var 0.75/3, std 0.5 -> ÷ 0.5001
# Eq. 9, Ã = A + λ·ReLU(A)·Δ, changes only a rollout above its group mean AND hurt by compression:
#   [0, 0]: 0.2610892 · (1 + 0.5/2.001); [1, 1]: 0.4999000 · (1 + 0.5/2.001).
#   [0, 1] is hurt most (Δ ≈ 1) but below its mean (A < 0): unchanged; [0, 3] is good but not hurt.
SHAPED = [[0.3263289, -0.7832676, -0.7832676, 1.3054461], [-1.4997001, 0.6248126, 0.4999000, 0.4999000]]


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny matmuls: thread hand-offs cost more than they give, worst on a shared 2-core machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "omarc_cache"  # test_cgrpo.py's: generated once per session


@pytest.fixture
def build(cache):
    """``build(G, **objective)`` -> a tiny C-GRPO module with G rollouts per prompt and no reference model,
    and the generated UGC-AVQA train split in batches of two (three clips; the first shuffled batch pairs
    two different ones)."""

    def make(num_generations: int, log_every: int = 0, **objective) -> tuple[CGRPOModule, OmniQADataModule]:
        module = CGRPOModule(model="tiny", sampling=SamplingConfig(num_generations=num_generations, max_completion_length=8),
                             objective=ObjectiveConfig(beta=0.0, **objective), log_completions_every_n_steps=log_every)
        data = OmniQADataModule(train_benchmarks=["ugc_avqa"], limit=3, batch_size=2, cache_dir=str(cache),
                                prompt_style="reasoning", inputs=module.input_builder)
        data.prepare_data()
        data.setup("fit")
        return module, data

    return make


@pytest.fixture
def gold_letter_reward() -> str:
    """A reward read off the record alone (its gold letter's index): a row scored against another
    prompt's record shows."""

    @register_reward("test_gold_letter")
    def gold_letter(completions, records):
        return [float(r.letters.index(r.answer)) for r in records]

    yield "test_gold_letter"
    REWARDS.pop("test_gold_letter")


class TextLogger(Logger):
    """Keeps the text tables ``_log_examples`` writes through ``experiment.add_text``."""

    name, version = "text", 0

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    @property
    def experiment(self) -> "TextLogger":
        return self

    def add_text(self, tag: str, text: str, step: int) -> None:
        self.texts.append(text)

    def log_metrics(self, metrics, step=None) -> None:
        pass

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass


@pytest.mark.slow
def test_each_row_is_rewarded_and_trained_on_its_own_prompt(build, gold_letter_reward):
    G = 2  # with B = 2, a row -> prompt map of row % G instead of row // G is wrong without failing to index
    module, data = build(G, rewards=(gold_letter_reward,))
    batch = next(iter(data.train_dataloader()))
    records = batch["records"]
    assert len(records) == 2 and records[0].video_path != records[1].video_path
    assert records[0].answer != records[1].answer
    with torch.no_grad():
        compressed = module.compressor(module.backbone.encode(batch["inputs"])).sequence
        rollouts = module.rollout(compressed, records, torch.Generator().manual_seed(0))
        gold = torch.tensor([[float(r.letters.index(r.answer))] * G for r in records])
        assert torch.equal(rollouts.rewards, gold), "row b·G + g is scored against record b"
        for row in range(2 * G):
            n = int(rollouts.lengths[row])
            torch.testing.assert_close(module.row_logprobs(compressed, rollouts, row)[0], rollouts.logprobs[row, :n],
                                       rtol=0, atol=1e-4)  # float32: same tokens, same prompt, same positions
        # the check tells the prompts apart: row 0's tokens after the OTHER prompt are off by far more than atol
        other = module.backbone.completion_logprobs(compressed.sample(1), rollouts.tokens[:1, : int(rollouts.lengths[0])])
        assert (other[0] - rollouts.logprobs[0, : int(rollouts.lengths[0])]).abs().max() > 1e-3


@pytest.mark.slow
def test_training_step_pairs_teacher_and_student_rows_in_gap_and_shaped_advantage(build, monkeypatch):
    module, data = build(4, log_every=1, lam=LAM, tau=TAU)
    seen: list[tuple[TokenSequence, list[QARecord]]] = []
    rollout = module.rollout

    def forced(seq: TokenSequence, records: list[QARecord], generator: torch.Generator) -> Rollouts:
        out = rollout(seq, records, generator)  # real tokens and log-probs, chosen rewards
        out.rewards = (TEACHER, STUDENT)[len(seen)].clone()  # training_step rolls the teacher out first
        seen.append((seq, records))
        return out

    compression_gap, policy_loss = cgrpo.compression_gap, cgrpo.policy_loss
    gaps: list[torch.Tensor] = []
    shaped: list[float] = []

    def gap_spy(*args, **kwargs) -> torch.Tensor:
        gaps.append(compression_gap(*args, **kwargs))
        return gaps[-1]

    def loss_spy(logps, old_logps, advantages, *args, **kwargs):
        shaped.extend(advantages.tolist())  # one call per rollout row, in row order
        return policy_loss(logps, old_logps, advantages, *args, **kwargs)

    monkeypatch.setattr(module, "rollout", forced)
    monkeypatch.setattr(cgrpo, "compression_gap", gap_spy)
    monkeypatch.setattr(cgrpo, "policy_loss", loss_spy)
    logger = TextLogger()
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", logger=logger, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=data)

    (full, records), (compressed, student_records) = seen
    assert records == student_records and len(records) == 2 and records[0].id != records[1].id
    assert int(full.attention_mask.sum()) > int(compressed.attention_mask.sum()), "TEACHER went to the full prompt"
    (gap,) = gaps
    torch.testing.assert_close(gap, torch.tensor(GAPS), rtol=0, atol=1e-6)
    assert len(shaped) == 8, "one advantage per student row, no teacher branch"
    torch.testing.assert_close(torch.tensor(shaped), torch.tensor(SHAPED).flatten(), rtol=0, atol=1e-6)
    assert trainer.callback_metrics["gap_ratio"].item() == pytest.approx(GAP_RATIO, abs=1e-6)

    # The logged examples (first 4 rows per branch = prompt 0's group) name row i's record and reward.
    (table,) = logger.texts
    rows = [line.split(" | ")[:4] for line in table.splitlines()[2:]]
    expected = [[f"| {name}", records[0].id, records[0].answer, f"{reward:.2f}"]
                for name, rewards in (("teacher", TEACHER), ("student", STUDENT)) for reward in rewards[0].tolist()]
    assert rows == expected
