"""Questions that share a clip: its media tensors are batched once and the encoders run once for it."""

import pytest
import torch

from omarc.datamodules.dataset import CLIP_KEY, PromptInputs
from omarc.datamodules.media import decode_media
from omarc.datamodules.records import QARecord
from omarc.modules.backbones.base import MEDIA_INDEX_KEY
from omarc.modules.backbones.families import FAMILIES
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import load_backbone
from omarc.strategies import Modality
from tests.modules.test_evaluation import write_clip


@pytest.mark.parametrize("model", ["tiny", "tiny-qwen3"])
def test_a_clip_shared_by_two_questions_is_encoded_once_with_the_same_sequence(tmp_path, model):
    backbone, processor, family = load_backbone(model, device="cpu")
    clips = [write_clip(tmp_path / "a.mp4", 2, fps=4), write_clip(tmp_path / "b.mp4", 3, fps=4)]
    media = [decode_media(c, factor=FAMILIES[family].patch_size * 2) for c in clips]
    questions = [("Which colour came first?", 0), ("Which sound played?", 1), ("Was there a tone?", 0)]
    records = [QARecord(id=f"q{i}", benchmark="worldsense", video_path=clips[c], question=q, options=["red", "green"],
                        answer="A") for i, (q, c) in enumerate(questions)]
    prompt_inputs = PromptInputs(InputBuilder(processor, family))
    items = [prompt_inputs(r, media[c]) for r, (_, c) in zip(records, questions)]
    plain = prompt_inputs.collate(items)
    shared = prompt_inputs.collate([{**item, CLIP_KEY: c} for item, (_, c) in zip(items, questions)])

    assert MEDIA_INDEX_KEY not in plain and shared[MEDIA_INDEX_KEY].tolist() == [0, 1, 0]
    assert shared["video_grid_thw"].shape[0] == 2 and plain["video_grid_thw"].shape[0] == 3
    assert shared["input_features"].shape[0] == 2 and torch.equal(shared["input_ids"], plain["input_ids"])
    calls = []
    tower = backbone.thinker.model.visual
    hook = tower.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        a, b = (backbone.encode(batch, audio_saliency=True) for batch in (plain, shared))
    hook.remove()
    assert len(calls) == 2  # one vision-tower call per batch, over 3 clips then over 2
    for name in ("embeds", "positions", "attention_mask", "modality", "frame", "time", "patch_hw", "query_mask",
                 "audio_saliency"):
        assert torch.allclose(getattr(a, name).float(), getattr(b, name).float(), atol=1e-6), name
    assert a.companions.keys() == b.companions.keys()
    assert all(torch.allclose(a.companions[k], b.companions[k], atol=1e-6) for k in a.companions)
    # The shared clip's tokens are the same in both of its questions.
    video = a.modality == int(Modality.VIDEO)
    assert torch.equal(b.embeds[0][video[0]], b.embeds[2][video[2]])
