"""What the Qwen2.5-Omni and Qwen3-Omni thinker adapters share: encode, prefill + decode, log-probs.

The compressor sits between :meth:`QwenOmniBackbone.encode` and the LLM. Everything after it
runs on ``language_model`` + ``lm_head`` directly with explicit 3-D positions, never through
``thinker.forward`` or ``thinker.generate``: those recompute positions from the UNCOMPRESSED
ids (``get_rope_index`` re-derives the layout from grids and audio lengths) and keep a stale
``rope_deltas``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Sequence

import torch
from einops import repeat
from torch import Tensor, nn
from torch.nn import functional as F
from transformers import DynamicCache, PreTrainedModel
from transformers.cache_utils import DynamicLayer

from omarc.modules.backbones.base import MEDIA_INDEX_KEY, Generation, OmniBackbone, timed
from omarc.modules.backbones.saliency import AudioSaliencyHook
from omarc.modules.backbones.sampling import next_token, token_logprobs
from omarc.strategies.sequence import Modality, TokenSequence, pack


def left_padded(seq: TokenSequence) -> TokenSequence:
    """``seq`` with every row's padding on the left (what prefill and decoding assume)."""
    if bool(seq.attention_mask[:, -1].all()):
        return seq
    return pack([seq.sample(b) for b in range(seq.batch_size)], padding_side="left")


def repeat_rows(seq: TokenSequence, n: int) -> TokenSequence:
    """Each row repeated ``n`` times in place (rows grouped by prompt, like ``repeat_interleave``)."""
    if n == 1:
        return seq
    B, L = seq.attention_mask.shape
    rows = repeat(torch.arange(B, device=seq.embeds.device), "b -> (b n) l", n=n, l=L)
    cols = repeat(torch.arange(L, device=seq.embeds.device), "l -> (b n) l", b=B, n=n)
    return seq.index(rows, cols)


def next_positions(seq: TokenSequence) -> Tensor:
    """[B] position of the first generated token: max over each row's real positions + 1.

    After compression the prompt is shorter but keeps its original positions, so the offset is
    NOT the length (Qwen's ``rope_deltas`` would be stale); the prompt ends in uncompressed text,
    whose positions are equal in the three rope rows.
    """
    pos = seq.positions
    lowest = torch.finfo(pos.dtype).min if pos.is_floating_point() else torch.iinfo(pos.dtype).min
    return pos.masked_fill(~seq.attention_mask[None], lowest).amax(dim=(0, 2)) + 1


class QwenOmniBackbone(OmniBackbone):
    """A transformers Qwen-Omni thinker behind the :class:`OmniBackbone` interface.

    Args:
        thinker: a ``...ThinkerForConditionalGeneration`` (eval mode is the caller's choice).
        eos_token_ids: ids that end a completion (``<|im_end|>``, ``<|endoftext|>``).
        pad_token_id: written after a row's end in :attr:`Generation.tokens`.
        special_token_ids: template tokens marked ``Modality.OTHER`` besides the media
            placeholders and their bos/eos, which come from the config.
    """

    family: str = ""

    def __init__(
        self,
        thinker: PreTrainedModel,
        *,
        eos_token_ids: Sequence[int],
        pad_token_id: int,
        special_token_ids: Iterable[int] = (),
    ) -> None:
        super().__init__()
        if not eos_token_ids:
            raise ValueError("eos_token_ids must name at least one end-of-turn token id")
        self.thinker = thinker
        cfg = thinker.config
        self.audio_token_id = cfg.audio_token_id
        self.video_token_id = cfg.video_token_id
        self.seconds_per_position = 1.0 / cfg.position_id_per_seconds
        config_special = (
            cfg.audio_token_id, cfg.video_token_id, cfg.image_token_id, cfg.audio_start_token_id,
            getattr(cfg, "audio_end_token_id", None), getattr(cfg, "vision_start_token_id", None),
            getattr(cfg, "vision_end_token_id", None),
        )
        self.eos_token_ids = [int(i) for i in eos_token_ids]
        self.pad_token_id = int(pad_token_id)
        every = (*config_special, *special_token_ids, *self.eos_token_ids, self.pad_token_id)
        self.special_token_ids = sorted({int(i) for i in every if i is not None})

    # ----------------------------------------------------------------- model parts
    @property
    def language_model(self) -> nn.Module:
        return self.thinker.model.language_model

    @property
    def lm_head(self) -> nn.Module:
        return self.thinker.lm_head

    @property
    def encoders(self) -> tuple[nn.Module, nn.Module]:
        """The audio and vision towers: what the compressor's inputs come from."""
        return self.thinker.model.audio_tower, self.thinker.model.visual

    def freeze_encoders(self) -> None:
        """Keep the audio and vision towers' weights fixed (training then updates the LLM only)."""
        for tower in self.encoders:
            tower.requires_grad_(False)

    def embed(self, ids: Tensor) -> Tensor:
        return self.thinker.get_input_embeddings()(ids)

    @abstractmethod
    def video_features(self, pixel_values_videos: Tensor, video_grid_thw: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Vision tower: [N_video, D] merged tokens (raster t, h, w per video) and per-token companions."""

    @abstractmethod
    def audio_encoder_lengths(self, feature_lens: Tensor) -> tuple[Tensor, int]:
        """Frames per clip in the audio encoder's last layer, and how many frames make one LLM token."""

    @abstractmethod
    def audio_attention(self) -> nn.Module:
        """Self-attention module of the audio encoder's last layer (hooked for saliency)."""

    def prefill_extras(self, seq: TokenSequence, extra_tokens: int = 0) -> dict:
        """Extra ``language_model`` inputs for a full forward over ``seq`` (+ ``extra_tokens`` text)."""
        return {}

    # ----------------------------------------------------------------- encode
    def encode(self, batch: dict[str, Tensor], audio_saliency: bool = False) -> TokenSequence:
        """Processor batch -> the uncompressed :class:`TokenSequence` (encoder outputs in place).

        Positions come from the model's own ``get_rope_index`` on the uncompressed ids, so they
        are exactly those of ``thinker.forward``. With :data:`MEDIA_INDEX_KEY` (questions sharing a
        clip) the encoders run once per distinct clip and each sample takes its clip's outputs.
        """
        for name in ("input_ids", "attention_mask", "query_mask"):
            if name not in batch:
                raise KeyError(f"backbone batch is missing {name!r} (has: {', '.join(sorted(batch))})")
        device = self.device
        input_ids = batch["input_ids"].to(device)
        attention_mask = batch["attention_mask"].to(device).bool()
        audio_mask = (input_ids == self.audio_token_id) & attention_mask
        video_mask = (input_ids == self.video_token_id) & attention_mask
        index = _on(batch.get(MEDIA_INDEX_KEY), device)
        embeds, saliency = self._place_audio(batch, self.embed(input_ids), audio_mask, audio_saliency, index)
        embeds, companions = self._place_video(batch, embeds, video_mask, index)
        grid, second_per_grid = (_rows(_on(batch.get(key), device), index)
                                 for key in ("video_grid_thw", "video_second_per_grid"))
        has_audio = batch.get("input_features") is not None
        feature_lens = _rows(batch["feature_attention_mask"].to(device), index).sum(-1) if has_audio else None
        positions, _ = self.thinker.model.get_rope_index(
            input_ids,
            None,
            grid,
            attention_mask.long(),
            _flag(batch.get("use_audio_in_video", False)),
            feature_lens,
            second_per_grid,
        )
        frame, patch_hw, seconds = self._token_grid(video_mask, audio_mask, grid, second_per_grid)

        special = torch.isin(input_ids, torch.tensor(self.special_token_ids, device=device))
        modality = torch.full_like(input_ids, int(Modality.OTHER))
        modality = modality.masked_fill(attention_mask & ~special, int(Modality.TEXT))
        modality = modality.masked_fill(video_mask, int(Modality.VIDEO)).masked_fill(audio_mask, int(Modality.AUDIO))
        return TokenSequence(
            embeds=embeds,
            positions=positions,
            attention_mask=attention_mask,
            modality=modality,
            frame=frame,
            time=seconds,
            patch_hw=patch_hw,
            query_mask=batch["query_mask"].to(device).bool() & attention_mask,
            audio_saliency=saliency,
            companions=companions,
        )

    def _place_audio(
        self, batch: dict[str, Tensor], embeds: Tensor, audio_mask: Tensor, audio_saliency: bool, index: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """Audio tower outputs written into the audio placeholders; saliency [B, L] when asked."""
        saliency = torch.zeros(audio_mask.shape, dtype=torch.float32, device=embeds.device) if audio_saliency else None
        if batch.get("input_features") is None:
            if audio_mask.any():
                raise ValueError("input_ids contain audio placeholders but the batch has no input_features")
            return embeds, saliency
        feature_mask = batch["feature_attention_mask"].to(embeds.device)
        audio, scores = self._audio_features(batch["input_features"].to(embeds.device), feature_mask, audio_saliency)
        audio = _per_sample(audio, audio_mask, index)
        scores = None if scores is None else _per_sample(scores, audio_mask, index)
        self._check_count("audio", audio.shape[0], audio_mask)
        if scores is not None:
            saliency[audio_mask] = scores
        return embeds.masked_scatter(audio_mask[..., None], audio.to(embeds.dtype)), saliency

    def _place_video(
        self, batch: dict[str, Tensor], embeds: Tensor, video_mask: Tensor, index: Tensor | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Vision tower outputs written into the video placeholders; companions [B, L, D] zero elsewhere."""
        if batch.get("pixel_values_videos") is None:
            if video_mask.any():
                raise ValueError("input_ids contain video placeholders but the batch has no pixel_values_videos")
            return embeds, {}
        device = embeds.device
        video, levels = self.video_features(batch["pixel_values_videos"].to(device), batch["video_grid_thw"].to(device))
        video = _per_sample(video, video_mask, index)
        levels = {name: _per_sample(f, video_mask, index) for name, f in levels.items()}
        self._check_count("video", video.shape[0], video_mask)
        mask = video_mask[..., None]
        companions = {
            name: torch.zeros_like(embeds).masked_scatter(mask, f.to(embeds.dtype)) for name, f in levels.items()
        }
        return embeds.masked_scatter(mask, video.to(embeds.dtype)), companions

    def _audio_features(self, features: Tensor, feature_mask: Tensor, saliency: bool) -> tuple[Tensor, Tensor | None]:
        get = self.thinker.model.get_audio_features
        if not saliency:
            return get(features, feature_mask).last_hidden_state, None
        lengths, pool = self.audio_encoder_lengths(feature_mask.sum(-1))
        with AudioSaliencyHook(self.audio_attention(), lengths, pool) as hook:
            audio = get(features, feature_mask).last_hidden_state
        if hook.scores is None or hook.scores.shape[0] != audio.shape[0]:
            raise RuntimeError("audio saliency hook did not record one score per audio token")
        return audio, hook.scores

    @staticmethod
    def _check_count(kind: str, n_features: int, mask: Tensor) -> None:
        if n_features != int(mask.sum()):
            raise ValueError(
                f"{kind} encoder gave {n_features} tokens but input_ids hold {int(mask.sum())} {kind} placeholders "
                f"(per sample: {mask.sum(-1).tolist()}); the processor and the model config disagree"
            )

    def _token_grid(
        self, video_mask: Tensor, audio_mask: Tensor, grid: Tensor | None, second_per_grid: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """frame [B, L], patch_hw [B, L, 2] and time [B, L] (seconds) of every video and audio token.

        One video per sample, tokens in raster (t, h, w) order; audio token j of a sample starts at
        j / position_id_per_seconds seconds, video grid t at t · video_second_per_grid.
        """
        B, L = video_mask.shape
        device = video_mask.device
        frame = torch.full((B, L), -1, dtype=torch.long, device=device)
        patch_hw = torch.full((B, L, 2), -1, dtype=torch.long, device=device)
        seconds = torch.zeros(B, L, dtype=torch.float32, device=device)
        if video_mask.any():
            has_video = video_mask.any(-1)
            if grid is None or grid.shape[0] != int(has_video.sum()):
                raise ValueError(
                    f"video_grid_thw has {0 if grid is None else grid.shape[0]} rows but {int(has_video.sum())} "
                    "samples hold video tokens; the backbone takes one video per sample"
                )
            if second_per_grid is None:
                raise KeyError("backbone batch has videos but no 'video_second_per_grid'")
            video_of_sample = (has_video.long().cumsum(0) - 1).clamp_min(0)
            merge = self.thinker.model.spatial_merge_size
            grid_w = (grid[video_of_sample, 2] // merge)[:, None]
            per_frame = (grid[video_of_sample, 1] // merge)[:, None] * grid_w
            k = video_mask.long().cumsum(-1) - 1
            t = k // per_frame
            frame = torch.where(video_mask, t, frame)
            rc = torch.stack([(k % per_frame) // grid_w, k % grid_w], dim=-1)
            patch_hw = torch.where(video_mask[..., None], rc, patch_hw)
            spg = second_per_grid.float()[video_of_sample][:, None]
            seconds = torch.where(video_mask, t.float() * spg, seconds)
        if audio_mask.any():
            j = (audio_mask.long().cumsum(-1) - 1).float()
            seconds = torch.where(audio_mask, j * self.seconds_per_position, seconds)
        return frame, patch_hw, seconds

    # ----------------------------------------------------------------- LLM
    def _run_llm(self, embeds: Tensor, positions: Tensor, attention_mask: Tensor, cache=None, **extras) -> Tensor:
        out = self.language_model(
            inputs_embeds=embeds,
            position_ids=positions,
            attention_mask=attention_mask.long(),
            cache=cache,
            use_cache=cache is not None,
            **extras,
        )
        return out.last_hidden_state

    @torch.no_grad()
    def generate(
        self,
        seq: TokenSequence,
        *,
        max_new_tokens: int,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        num_return_sequences: int = 1,
        generator: torch.Generator | None = None,
        ignore_eos: bool = False,
        prefill_by_length: bool = False,
    ) -> Generation:
        """Prefill ``seq`` once per prompt, expand the KV cache to ``num_return_sequences`` rows,
        decode at positions max(position) + 1 + step until an end-of-turn id or ``max_new_tokens``
        (exactly ``max_new_tokens`` with ``ignore_eos``, for timing). ``prefill_by_length``: see
        :meth:`_prefill_by_length`.

        Returns tokens [B·n, T] (pad after each row's end), lengths [B·n], first_logits [B, V]
        and logprobs [B·n, T] (temperature-scaled, 0 after the end).
        """
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if num_return_sequences < 1:
            raise ValueError(f"num_return_sequences must be >= 1, got {num_return_sequences}")
        device = self.device
        seq = left_padded(seq.to(device))
        n = num_return_sequences
        eos = torch.tensor([] if ignore_eos else self.eos_token_ids, dtype=torch.long, device=device)

        seconds: dict[str, float] = {}
        with timed(seconds, "prefill", device):
            cache, first_logits = self._prefill_by_length(seq) if prefill_by_length else self._prefill(seq)
        # Keep the model's own decode offset right too, for anyone continuing through thinker.forward.
        self.thinker.model.rope_deltas = (next_positions(seq) - seq.attention_mask.sum(-1))[:, None]

        with timed(seconds, "decode", device):
            cache.batch_repeat_interleave(n)
            logits = first_logits.repeat_interleave(n, dim=0)
            mask = seq.attention_mask.long().repeat_interleave(n, dim=0)
            position = next_positions(seq).repeat_interleave(n, dim=0)
            rows = logits.shape[0]
            done = torch.zeros(rows, dtype=torch.bool, device=device)
            lengths = torch.zeros(rows, dtype=torch.long, device=device)
            tokens, logprobs = [], []
            for step in range(max_new_tokens):
                token = next_token(logits, do_sample=do_sample, temperature=temperature, top_p=top_p, generator=generator)
                token = token.masked_fill(done, self.pad_token_id)
                logprobs.append(token_logprobs(logits, token, temperature).masked_fill(done, 0.0))
                tokens.append(token)
                lengths += (~done).long()
                done |= torch.isin(token, eos)
                if step == max_new_tokens - 1 or bool(done.all()):
                    break
                mask = torch.cat([mask, mask.new_ones(rows, 1)], dim=1)
                step_positions = repeat(position + step, "r -> 3 r 1")  # the same on the three rope rows
                hidden = self._run_llm(self.embed(token[:, None]), step_positions, mask, cache)
                logits = self.lm_head(hidden[:, -1]).float()
        return Generation(
            tokens=torch.stack(tokens, dim=1),
            lengths=lengths,
            first_logits=first_logits,
            prefill_seconds=seconds["prefill"],
            decode_seconds=seconds["decode"],
            logprobs=torch.stack(logprobs, dim=1),
        )

    def _prefill(self, seq: TokenSequence) -> tuple[DynamicCache, Tensor]:
        """(KV cache, first-token logits [B, V]) of the left-padded ``seq``."""
        cache = DynamicCache(config=self.thinker.config.get_text_config())
        hidden = self._run_llm(seq.embeds, seq.positions, seq.attention_mask, cache, **self.prefill_extras(seq))
        return cache, self.lm_head(hidden[:, -1]).float()

    def _prefill_by_length(self, seq: TokenSequence) -> tuple[DynamicCache, Tensor]:
        """:meth:`_prefill` with the rows of each length as a batch of their own, then their caches
        left-padded to ``seq``'s length and put back in row order: a short row does not pay for a long
        one's padding, and unpadded prompts take attention's causal fast path. Equal to :meth:`_prefill`
        up to float rounding (another batch). Caches with sliding-window layers (more state than keys
        and values) are prefilled as one batch."""
        lengths = seq.attention_mask.sum(-1)
        sizes = lengths.unique().tolist()
        layers = DynamicCache(config=self.thinker.config.get_text_config()).layers
        if len(sizes) == 1 or any(type(layer) is not DynamicLayer for layer in layers):
            return self._prefill(seq)
        groups = [(lengths == n).nonzero().flatten() for n in sizes]
        # Left-padded, a row of length n holds its tokens in the last n columns: gathered, they are unpadded.
        parts = [self._prefill(seq.index(rows[:, None], torch.arange(seq.length - n, seq.length, device=rows.device)[None]))
                 for n, rows in zip(sizes, groups)]
        order = torch.cat(groups).argsort()

        def merged(i: int, name: str) -> Tensor:
            states = [getattr(cache.layers[i], name) for cache, _ in parts]  # [rows, heads, length, dim] each
            return torch.cat([F.pad(x, (0, 0, seq.length - x.shape[-2], 0)) for x in states]).index_select(0, order)

        cache = parts[0][0]
        for i, layer in enumerate(cache.layers):
            layer.keys, layer.values = merged(i, "keys"), merged(i, "values")
        return cache, torch.cat([logits for _, logits in parts]).index_select(0, order)

    def completion_logprobs(self, seq: TokenSequence, completions: Tensor, temperature: float = 1.0) -> Tensor:
        """[R, T] log p(completion token | prompt, earlier tokens) at ``temperature``, with grad.

        One forward over prompt embeddings + completion embeddings, completion positions
        max(position) + 1 + t, the same as :meth:`generate` used. ``completions`` may hold
        R = B · n rows (n per prompt, grouped as :meth:`generate` returns them). Values after a
        row's end (its pad tokens) are meaningless: mask them with :attr:`Generation.lengths`.
        """
        device = self.device
        seq = left_padded(seq.to(device))
        completions = completions.to(device)
        R, T = completions.shape
        if R % seq.batch_size:
            raise ValueError(f"completions have {R} rows, not a multiple of the {seq.batch_size} prompts")
        seq = repeat_rows(seq, R // seq.batch_size)
        L = seq.length
        steps = torch.arange(T, device=device).to(seq.positions.dtype)
        completion_positions = repeat(next_positions(seq)[:, None] + steps, "r t -> 3 r t")
        hidden = self._run_llm(
            torch.cat([seq.embeds, self.embed(completions)], dim=1),
            torch.cat([seq.positions, completion_positions], dim=-1),
            torch.cat([seq.attention_mask, seq.attention_mask.new_ones(R, T)], dim=1),
            **self.prefill_extras(seq, extra_tokens=T),
        )
        return token_logprobs(self.lm_head(hidden[:, L - 1 : L + T - 1]), completions, temperature)


def _rows(value: Tensor | None, index: Tensor | None) -> Tensor | None:
    """Per-clip rows -> per-sample rows (sample b takes row ``index[b]``); unchanged without an index."""
    return value if value is None or index is None else value[index]


def _per_sample(features: Tensor, mask: Tensor, index: Tensor | None) -> Tensor:
    """Encoder outputs of the distinct clips, concatenated [ΣN_clip, ...] -> those of every sample in
    placeholder order [ΣN_b, ...], sample b taking clip ``index[b]``'s ``mask[b].sum()`` tokens."""
    if index is None or features.shape[0] != int(mask[_first_of_each(index)].sum()):
        return features  # one clip per sample (a count mismatch is reported by the caller)
    counts = mask.sum(-1)
    clip_counts = counts[_first_of_each(index)]
    clip_starts = clip_counts.cumsum(0) - clip_counts
    sample_starts = counts.cumsum(0) - counts
    within = torch.arange(int(counts.sum()), device=features.device) - sample_starts.repeat_interleave(counts)
    return features[clip_starts[index].repeat_interleave(counts) + within]


def _first_of_each(index: Tensor) -> Tensor:
    """[n] the first sample of each clip 0 … n-1."""
    n = int(index.max()) + 1
    first = torch.full((n,), index.numel(), dtype=torch.long, device=index.device)
    return first.scatter_reduce(0, index, torch.arange(index.numel(), device=index.device), reduce="amin")


def _on(value: Tensor | None, device: torch.device) -> Tensor | None:
    return None if value is None else value.to(device)


def _flag(value) -> bool:
    """``use_audio_in_video`` as one bool, whether the collate kept a bool, a list or a tensor."""
    if isinstance(value, Tensor):
        return bool(value.all())
    if isinstance(value, (list, tuple)):
        return all(bool(v) for v in value)
    return bool(value)
