"""From (Prompt, Media) to the processor tensors of one sample, and their batching.

The user turn is laid out as ``[video (+ its audio)] user_prefix query user_suffix``; the
processor expands the media placeholders. With ``use_audio_in_video`` the video placeholder
becomes ``<vision_bos><audio_bos> [V][A][V][A]… <audio_eos><vision_eos>`` (2-s chunks for
Qwen2.5-Omni, time-merged for Qwen3-Omni); without it the audio gets its own span after the
video.
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import ProcessorMixin

from omarc.datamodules.records import Media, Prompt
from omarc.modules.backbones.base import MEDIA_INDEX_KEY
from omarc.modules.backbones.families import family_spec

# Per-token keys padded on the left in a batch, with their padding value (None: the tokenizer's pad id).
_TOKEN_KEYS: dict[str, int | bool | None] = {"input_ids": None, "attention_mask": 0, "query_mask": False}
# Audio features keys padded on the right along their last (time) axis, then concatenated.
_AUDIO_KEYS = ("input_features", "feature_attention_mask")


class InputBuilder:
    """Picklable ``builder(prompt, media) -> dict[str, Tensor]`` for ONE sample (runs in workers).

    Output: input_ids [L], attention_mask [L], query_mask [L] bool (the tokens of
    ``prompt.query``), pixel_values_videos [N, C·t·p·p], video_grid_thw [1, 3],
    video_second_per_grid [1] (= temporal patch / fps: 2.0 s at 1 fps), input_features
    [1, mel, F] and feature_attention_mask [1, F] when ``media.audio`` is not None, and
    ``use_audio_in_video`` (bool: the flag the model's forward and rope index need). An odd
    frame count is completed by the processor (last frame repeated) to whole temporal grids.

    Audio is never cut at Whisper's 30 s (Qwen2.5-Omni's processor would), so audio tokens span
    the whole clip as the video tokens do. Frames keep the size the decoder gave them, bounded by
    the video processor's own ``size`` (its min/max pixels), not the processor class's larger
    defaults.
    """

    def __init__(self, processor: ProcessorMixin, family: str, use_audio_in_video: bool = True) -> None:
        expected = family_spec(family).processor_class
        if not isinstance(processor, expected):
            raise TypeError(f"family {family!r} needs a {expected.__name__}, got {type(processor).__name__}")
        self.processor = processor
        self.family = family
        self.use_audio_in_video = use_audio_in_video

    @property
    def pad_token_id(self) -> int:
        return self.processor.tokenizer.pad_token_id

    def conversation(self, prompt: Prompt, media: Media) -> list[dict]:
        """Chat messages: system text, user turn = media items + one text item, no assistant yet."""
        media_items = [{"type": "video"}]
        if media.audio is not None and not self.use_audio_in_video:
            media_items.append({"type": "audio"})
        return [
            {"role": "system", "content": [{"type": "text", "text": prompt.system}]},
            {"role": "user", "content": [*media_items, {"type": "text", "text": _user_text(prompt)}]},
        ]

    def __call__(self, prompt: Prompt, media: Media) -> dict[str, Tensor | bool]:
        _check_media(media, self.processor.feature_extractor.sampling_rate)
        if not prompt.query.strip():
            raise ValueError("prompt.query is empty: the query span is what OMAC scores frames against (eq. 2)")
        text = self.processor.apply_chat_template(self.conversation(prompt, media), tokenize=False,
                                                  add_generation_prompt=True)
        user_start = text.rfind(_user_text(prompt))
        if user_start < 0:
            raise ValueError(f"the chat template changed the user text; cannot locate prompt.query {prompt.query!r}")
        # Placeholder expansion happens before the user text, so distances to the END are stable.
        query_start_from_end = len(text) - user_start - len(prompt.user_prefix)
        query_end_from_end = query_start_from_end - len(prompt.query)

        with_audio = media.audio is not None
        in_video = with_audio and self.use_audio_in_video
        audio_kwargs = {}
        if with_audio:
            audio_kwargs = dict(audio=[media.audio.float().numpy()], audio_from_video_indices=[0 if in_video else None])
        out = self.processor(
            text=[text],
            videos=[media.frames],
            load_audio_from_video=in_video,
            videos_kwargs={"fps": media.fps, "size": dict(self.processor.video_processor.size)},
            # Whisper's extractor cuts at 30 s by default; the video goes on, so its audio must too.
            audio_kwargs={"truncation": False},
            text_kwargs={"return_offsets_mapping": True, "padding": False},
            return_tensors="pt",
            **audio_kwargs,
        )
        offsets = out.pop("offset_mapping")[0]
        expanded_len = int(offsets[:, 1].max())
        q_start, q_end = expanded_len - query_start_from_end, expanded_len - query_end_from_end
        item: dict[str, Tensor | bool] = dict(out)
        item["input_ids"] = out["input_ids"][0]
        item["attention_mask"] = out["attention_mask"][0]
        # A token belongs to the query if its characters overlap the query's characters.
        item["query_mask"] = (offsets[:, 0] < q_end) & (offsets[:, 1] > q_start)
        item["use_audio_in_video"] = in_video
        return item

    def collate(self, items: list[dict], clips: list[int] | None = None) -> dict[str, Tensor | bool]:
        """Batch samples: token tensors LEFT-padded to [B, L]; media tensors concatenated in order.

        ``clips``: per sample, which clip its media comes from (numbered in order of first
        appearance). Samples of one clip (several questions on one video) have the same media
        tensors: they are batched once, and :data:`MEDIA_INDEX_KEY` [B] says which media row each
        sample reads (absent when every sample has its own clip). Audio features are right-padded
        along time first (masked out by feature_attention_mask).
        """
        if not items:
            raise ValueError("collate got an empty list of samples")
        flags = {bool(item["use_audio_in_video"]) for item in items}
        if len(flags) > 1:
            raise ValueError("samples disagree on use_audio_in_video (some have no audio); "
                             "transformers takes one flag per batch")
        length = max(item["input_ids"].shape[0] for item in items)
        batch: dict[str, Tensor | bool] = {"use_audio_in_video": flags.pop()}
        for key, pad in _TOKEN_KEYS.items():
            pad = self.pad_token_id if pad is None else pad
            rows = [item[key] for item in items]
            out = torch.full((len(rows), length), pad, dtype=rows[0].dtype)
            for i, row in enumerate(rows):
                out[i, length - row.shape[0]:] = row
            batch[key] = out
        clips = list(range(len(items))) if clips is None else clips
        if sorted(set(clips)) != list(range(len(set(clips)))) or len(clips) != len(items):
            raise ValueError(f"clips must give each sample's clip as 0 … n-1, got {clips}")
        firsts = [items[clips.index(c)] for c in range(len(set(clips)))]
        if len(firsts) < len(items):
            batch[MEDIA_INDEX_KEY] = torch.tensor(clips, dtype=torch.long)
        media_keys = dict.fromkeys(k for item in items for k in item if k not in batch)
        for key in media_keys:
            parts = [item[key] for item in firsts if key in item]
            if key in _AUDIO_KEYS:
                frames = max(p.shape[-1] for p in parts)
                parts = [torch.nn.functional.pad(p, (0, frames - p.shape[-1])) for p in parts]
            batch[key] = torch.cat(parts, 0)
        return batch


def _user_text(prompt: Prompt) -> str:
    return prompt.user_prefix + prompt.query + prompt.user_suffix


def _check_media(media: Media, sampling_rate: int) -> None:
    frames = media.frames
    if frames.dtype != torch.uint8 or frames.dim() != 4 or frames.shape[1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"media.frames must be uint8 [T>0, 3, H, W], got {frames.dtype} {tuple(frames.shape)}")
    if not media.fps > 0:
        raise ValueError(f"media.fps must be positive, got {media.fps}")
    if media.audio is None:
        return
    if media.audio.dim() != 1 or media.audio.numel() == 0:
        raise ValueError(f"media.audio must be a non-empty mono waveform [S], got {tuple(media.audio.shape)}")
    if media.sample_rate != sampling_rate:
        raise ValueError(f"media.sample_rate={media.sample_rate} but the processor expects {sampling_rate} Hz")
