"""O-MARC training: the C-GRPO LightningModule (paper §5, appendix A.1; docs/training.md).

One training step, per batch of B prompts::

    encode (no grad) ──► full sequence ──► G teacher rollouts ─┐
                     └─► compressor ─────► G student rollouts ─┴─► rewards [B, G] each
    A = group advantage of the students; Δ (eq. 7) pairs teacher i with student i; Ã = A + λ·ReLU(A)·Δ (eq. 9)
    for μ iterations: per student rollout, log-probs on exactly the compressed prompt the rollout
    used, clipped ratio loss (eq. 10) + β·KL to the frozen reference (eq. 11), backward; one optimizer step.

Only the student rollouts carry gradient; the teacher shapes their advantage
(``objective.teacher_loss_weight`` > 0 adds plain GRPO on the teacher rollouts, an ablation).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import torch
from einops import rearrange
from torch import Tensor
from transformers import get_constant_schedule_with_warmup

from omarc.datamodules.records import QARecord
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import export_pretrained, load_backbone
from omarc.modules.backbones.qwen_omni import QwenOmniBackbone
from omarc.modules.evaluation.answers import completion_texts
from omarc.modules.training.config import ObjectiveConfig, OptimConfig, SamplingConfig, check
from omarc.modules.training.grpo import (
    compression_gap,
    group_advantages,
    policy_loss,
    shaped_advantages,
    teacher_reference,
    zero_std_fraction,
)
from omarc.strategies import Modality, TokenSequence, build_compressor

#: Rollout rows shown per branch in the TensorBoard text log: enough to read, small enough to render.
EXAMPLE_ROWS = 4
#: Spacing between per-step rollout seeds of different ranks (so DDP ranks never share a stream).
RANK_SEED_STRIDE = 1_000_003


@dataclass
class Rollouts:
    """G completions per prompt of one branch (rows grouped by prompt).

    tokens [B·G, T] (pad after each end), lengths [B·G] (end-of-turn included), logprobs [B·G, T]
    of the sampled tokens while decoding, truncated [B·G] (hit the length limit without ending),
    texts (decoded, special tokens dropped), rewards [B, G] total and per reward function.
    """

    tokens: Tensor
    lengths: Tensor
    logprobs: Tensor
    truncated: Tensor
    texts: list[str]
    rewards: Tensor
    parts: dict[str, Tensor]


@dataclass
class Branch:
    """What one branch contributes to the loss: its rollouts, the prompts they were sampled from,
    one advantage per rollout [B·G] and the branch's loss weight."""

    rollouts: Rollouts
    prompts: TokenSequence
    advantages: Tensor
    weight: float
    is_teacher: bool


class CGRPOModule(pl.LightningModule):
    """C-GRPO on a Qwen-Omni thinker with a token compressor (manual optimisation).

    Args:
        model: "tiny", a checkpoint directory or a cached hub id (``load_backbone``).
        strategy, ratio: the student's compressor, ``build_compressor(strategy, ratio=ratio)``.
        use_audio_in_video: the audio track interleaved with the video (appendix A.1).
        sampling: the rollouts (G, length, temperature, seed).
        objective: the rewards and the loss of eqs. 7–11.
        optim: the optimiser, what it trains and gradient checkpointing.
        log_completions_every_n_steps: example rollouts as TensorBoard text (0: never).
    """

    def __init__(
        self,
        *,
        model: str = "tiny",
        strategy: str = "omac",
        ratio: float = 0.7,
        use_audio_in_video: bool = True,
        sampling: SamplingConfig = SamplingConfig(),
        objective: ObjectiveConfig = ObjectiveConfig(),
        optim: OptimConfig = OptimConfig(),
        log_completions_every_n_steps: int = 50,
    ) -> None:
        super().__init__()
        check(log_completions_every_n_steps >= 0, "log_completions_every_n_steps", log_completions_every_n_steps, ">= 0")
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.sampling, self.objective, self.optim = sampling, objective, optim
        self.log_completions_every_n_steps = log_completions_every_n_steps

        self.compressor = build_compressor(strategy, ratio=ratio)
        self.reward_set = objective.reward_set()
        backbone, self.processor, self.family = load_backbone(model, dtype=torch.float32, device="cpu")
        self.backbone: QwenOmniBackbone = backbone
        if optim.freeze_encoders:
            backbone.freeze_encoders()
        self._policy_mode(training=True)
        if optim.gradient_checkpointing:
            backbone.thinker.activation_checkpointing_enable({"use_reentrant": False})
        # The frozen reference is the starting policy, rebuilt from ``model`` (also on resume): it is
        # kept out of the module tree so checkpoints hold the policy only.
        self._reference: list[QwenOmniBackbone] = []
        if objective.beta > 0:
            reference = load_backbone(model, dtype=torch.float32, device="cpu")[0].requires_grad_(False)
            self._reference.append(reference)
        #: The processor step the data module runs (the command line passes it to ``--data``).
        self.input_builder = InputBuilder(self.processor, self.family, use_audio_in_video)

    def _policy_mode(self, training: bool) -> None:
        """Train mode for the trainable parts (gradient checkpointing acts only then); eval for
        rollouts (KV-cache decoding) and for frozen encoders."""
        self.backbone.train(training)
        if self.optim.freeze_encoders:
            for tower in self.backbone.encoders:
                tower.eval()

    # ----------------------------------------------------------------- Lightning wiring
    @property
    def reference(self) -> QwenOmniBackbone | None:
        return self._reference[0] if self._reference else None

    def on_fit_start(self) -> None:
        if self.reference is not None:
            dtype = next(self.backbone.parameters()).dtype
            self.reference.to(device=self.device, dtype=dtype).eval()

    def configure_optimizers(self):
        params = [p for p in self.backbone.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.optim.lr, weight_decay=self.optim.weight_decay)
        # transformers' warm-up gives lr·k/n at optimizer step k (lr 0 at the first step); started one step in
        # (last_epoch=0, which needs initial_lr) with n = warmup + 1 it gives lr·min(1, (k + 1) / (warmup + 1)):
        # no step at lr 0, the full lr from step ``warmup_steps`` on.
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        scheduler = get_constant_schedule_with_warmup(optimizer, self.optim.warmup_steps + 1, last_epoch=0)
        # ``name``: the tag LearningRateMonitor (the configs' callbacks) logs it under.
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "name": "lr"}}

    # ----------------------------------------------------------------- rollouts
    def _generator(self, step: int) -> torch.Generator:
        seed = self.sampling.seed + step + RANK_SEED_STRIDE * self.global_rank
        return torch.Generator(device=self.device).manual_seed(seed)

    @torch.no_grad()
    def rollout(self, seq: TokenSequence, records: list[QARecord], generator: torch.Generator) -> Rollouts:
        """G sampled completions per prompt of ``seq`` (prefilled once per prompt), decoded and rewarded."""
        sampling = self.sampling
        G = sampling.num_generations
        self._policy_mode(training=False)  # gradient checkpointing in train mode would switch the KV cache off
        try:
            out = self.backbone.generate(
                seq, max_new_tokens=sampling.max_completion_length, do_sample=True, temperature=sampling.temperature,
                top_p=sampling.top_p, num_return_sequences=G, generator=generator,
            )
        finally:
            self._policy_mode(training=True)
        tokens, lengths = out.tokens, out.lengths
        last = tokens.gather(1, (lengths - 1).clamp_min(0)[:, None]).squeeze(1)
        ended = torch.isin(last, torch.tensor(self.backbone.eos_token_ids, device=tokens.device))
        texts = completion_texts(self.processor.tokenizer, out)
        per_row = [r for r in records for _ in range(G)]
        total, parts = self.reward_set(texts, per_row)
        return Rollouts(
            tokens=tokens, lengths=lengths, logprobs=out.logprobs, truncated=~ended, texts=texts,
            rewards=rearrange(total, "(b g) -> b g", g=G).to(self.device),
            parts={k: rearrange(v, "(b g) -> b g", g=G) for k, v in parts.items()},
        )

    # ----------------------------------------------------------------- training
    def training_step(self, batch: dict, batch_idx: int) -> Tensor | None:
        objective = self.objective
        records: list[QARecord] = batch["records"]
        if batch.get("failed"):
            self.log("data/failed", float(len(batch["failed"])), on_step=True, reduce_fx="sum", batch_size=1)
        if not records:
            if self.trainer.world_size > 1:
                # The other ranks would wait forever in their gradient all-reduce.
                raise RuntimeError(f"rank {self.global_rank}: every sample of the batch failed {batch.get('failed')}; "
                                   "under DDP each rank must train at each step: remove the unreadable samples")
            return None
        B = len(records)
        step = self.global_step  # before this batch's optimizer step(s)
        inputs = batch["inputs"]
        with torch.no_grad():
            full = self.backbone.encode(inputs, audio_saliency=self.compressor.needs_audio_saliency)
            compressed = self.compressor(full)
        generator = self._generator(step)
        teacher = self.rollout(full, records, generator)
        student = self.rollout(compressed.sequence, records, generator)

        advantages = group_advantages(student.rewards)
        gaps = compression_gap(teacher_reference(teacher.rewards, objective.gap_reference), student.rewards, objective.tau)
        shaped = shaped_advantages(advantages, gaps, objective.lam)
        branches = [Branch(student, compressed.sequence, shaped.flatten(), 1.0, is_teacher=False)]
        if objective.teacher_loss_weight > 0:
            teacher_advantages = group_advantages(teacher.rewards).flatten()
            branches.append(Branch(teacher, full, teacher_advantages, objective.teacher_loss_weight, is_teacher=True))

        stats = self._optimise(branches, inputs)
        self._log_step(teacher, student, gaps, shaped, compressed.reports, stats, B)
        every = self.log_completions_every_n_steps
        if every and step % every == 0:
            self._log_examples(records, teacher, student, step)
        return stats["loss"]

    def _optimise(self, branches: list[Branch], inputs: dict) -> dict[str, Tensor]:
        """μ passes of per-rollout micro-batches (forward, loss, backward) and one optimizer step each."""
        objective, max_grad_norm = self.objective, self.optim.max_grad_norm
        optimizer = self.optimizers()
        scheduler = self.lr_schedulers()
        old: dict[tuple[int, int], Tensor] = {}
        ref: dict[tuple[int, int], Tensor] = {}
        loss_sum = kl_sum = clip_sum = token_sum = torch.zeros((), device=self.device)
        for iteration in range(objective.num_iterations):
            optimizer.zero_grad()
            prompts = self._prompts_with_grad(branches, inputs)
            jobs = [(k, r) for k, branch in enumerate(branches) for r in range(branch.rollouts.tokens.shape[0])]
            for j, (k, r) in enumerate(jobs):
                branch = branches[k]
                rollouts = branch.rollouts
                logps = self.row_logprobs(prompts[k] if prompts else branch.prompts, rollouts, r)
                if iteration == 0:
                    old[k, r] = logps.detach()  # the rollout policy: no update has happened yet
                    if self.reference is not None:
                        with torch.no_grad():
                            ref[k, r] = self.row_logprobs(branch.prompts, rollouts, r, self.reference)
                out = policy_loss(
                    logps, old[k, r], branch.advantages[r : r + 1], torch.ones_like(logps, dtype=torch.bool),
                    ref_logps=ref.get((k, r)), epsilon=objective.epsilon, epsilon_high=objective.epsilon_high,
                    beta=objective.beta, aggregation=objective.loss_aggregation, total_sequences=rollouts.tokens.shape[0],
                    total_tokens=int(rollouts.lengths.sum()),
                )
                retain = bool(prompts) and j < len(jobs) - 1  # the encoder graph is shared by all rows
                self.manual_backward(out.loss * branch.weight, retain_graph=retain)
                if not branch.is_teacher:
                    loss_sum = loss_sum + out.loss.detach()
                    kl_sum = kl_sum + out.kl * out.tokens
                    clip_sum = clip_sum + out.clip_ratio * out.tokens
                    token_sum = token_sum + out.tokens
            if max_grad_norm:
                self.clip_gradients(optimizer, gradient_clip_val=max_grad_norm, gradient_clip_algorithm="norm")
            optimizer.step()
            scheduler.step()
        tokens = token_sum.clamp_min(1)
        return {"loss": loss_sum / objective.num_iterations, "kl": kl_sum / tokens, "clip_ratio": clip_sum / tokens}

    def row_logprobs(self, seq: TokenSequence, rollouts: Rollouts, row: int, policy: QwenOmniBackbone | None = None) -> Tensor:
        """[1, n] log-probs of rollout ``row``'s n tokens given its own prompt in ``seq`` (prompt ``row // G``),
        under ``policy`` (default: the trained one, with grad)."""
        n = int(rollouts.lengths[row])
        prompt = seq.sample(row // self.sampling.num_generations)
        return (policy or self.backbone).completion_logprobs(prompt, rollouts.tokens[row : row + 1, :n], self.sampling.temperature)

    def _prompts_with_grad(self, branches: list[Branch], inputs: dict) -> list[TokenSequence]:
        """With trainable encoders: the branches' prompts re-encoded with grad (same decisions: the
        compressor is deterministic given its inputs). Empty when the encoders are frozen."""
        if self.optim.freeze_encoders:
            return []
        full = self.backbone.encode(inputs, audio_saliency=self.compressor.needs_audio_saliency)
        compressed = self.compressor(full).sequence
        return [full if branch.is_teacher else compressed for branch in branches]

    # ----------------------------------------------------------------- logging
    def _log_step(self, teacher: Rollouts, student: Rollouts, gaps: Tensor, shaped: Tensor, reports, stats, B: int) -> None:
        log = dict(on_step=True, on_epoch=False, batch_size=B, sync_dist=True)
        for name, r in (("teacher", teacher), ("student", student)):
            self.log(f"{name}/reward", r.rewards.mean(), prog_bar=name == "student", **log)
            self.log(f"{name}/reward_std", r.rewards.std(-1).nan_to_num(0).mean(), **log)
            for fn, values in r.parts.items():
                self.log(f"{name}/rewards/{fn}/mean", values.mean().to(self.device), **log)
            self.log(f"{name}/completions/mean_length", r.lengths.float().mean(), **log)
            self.log(f"{name}/completions/clipped_ratio", r.truncated.float().mean(), **log)
        self.log("frac_reward_zero_std", zero_std_fraction(student.rewards), **log)
        self.log("gap_ratio", gaps.mean(), prog_bar=True, **log)
        self.log("advantage/shaped_mean", shaped.mean(), **log)
        self.log("completions/mean_length", student.lengths.float().mean(), **log)
        media = [m.name.lower() for m in (Modality.VIDEO, Modality.AUDIO)]
        kept = sum(r.tokens_out.get(m, 0) for r in reports for m in media)
        total = sum(r.tokens_in.get(m, 0) for r in reports for m in media)
        self.log("tokens_kept", kept / max(total, 1), **log)
        self.log("loss", stats["loss"], prog_bar=True, **log)
        self.log("kl", stats["kl"], **log)
        self.log("clip_ratio", stats["clip_ratio"], **log)

    def _log_examples(self, records: list[QARecord], teacher: Rollouts, student: Rollouts, step: int) -> None:
        experiment = getattr(self.logger, "experiment", None)
        if not hasattr(experiment, "add_text"):
            return
        G = self.sampling.num_generations
        lines = ["| branch | record | gold | reward | completion |", "|---|---|---|---|---|"]
        for name, r in (("teacher", teacher), ("student", student)):
            for i in range(min(EXAMPLE_ROWS, len(r.texts))):
                text = r.texts[i].replace("|", "\\|").replace("\n", " ")
                record = records[i // G]
                lines.append(f"| {name} | {record.id} | {record.answer} | {float(r.rewards.flatten()[i]):.2f} | {text} |")
        experiment.add_text("completions", "\n".join(lines), step)


def export_checkpoint(ckpt_path: str | Path, directory: str | Path) -> Path:
    """Lightning checkpoint of a C-GRPO run -> transformers checkpoint directory (thinker + processor).

    A DeepSpeed checkpoint (a directory) is first consolidated into one fp32 state dict.
    """
    ckpt_path = Path(ckpt_path)
    if not ckpt_path.exists():
        raise FileNotFoundError(f"checkpoint not found: {ckpt_path}")
    with tempfile.TemporaryDirectory() as tmp:
        if ckpt_path.is_dir():
            from lightning.pytorch.utilities.deepspeed import convert_zero_checkpoint_to_fp32_state_dict

            consolidated = Path(tmp) / "consolidated.ckpt"
            convert_zero_checkpoint_to_fp32_state_dict(ckpt_path, consolidated)
            ckpt_path = consolidated
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        # The policy alone: no reference model, compressor or rewards to build.
        backbone, processor, _ = load_backbone(checkpoint["hyper_parameters"]["model"], dtype=torch.float32, device="cpu")
        prefix = "backbone."
        policy = {k.removeprefix(prefix): v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
        backbone.load_state_dict(policy)
        return export_pretrained(backbone, processor, directory)
