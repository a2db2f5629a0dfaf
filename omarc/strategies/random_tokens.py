"""``random``: keep a uniformly random subset of each modality's tokens, reproducibly.

The file is not called ``random.py`` so that it cannot shadow the standard library's module.
"""

from __future__ import annotations

import torch
from torch import Tensor

from omarc.strategies.base import Compressor
from omarc.strategies.plan import SamplePlan, subset_plan
from omarc.strategies.registry import register
from omarc.strategies.sequence import Modality, TokenSequence

#: Modulus of the sample hash (2^31 − 1, prime): products of two residues fit in int64.
PRIME = 2**31 - 1


def sample_key(seq: TokenSequence) -> int:
    """A per-sample integer from the sample's own content (B = 1, unpadded), the same in any batch.

    A TokenSequence carries no sample id, so the key hashes what identifies the sample and is
    computed bit-exactly: the embeddings of its text and special tokens (embedding-table rows, so
    the question and options) and the rope positions of all its tokens (the layout: frames, grid
    sizes, audio length). Audio and video embeddings are left out: encoder outputs may differ in
    their last bits between a batch and a sample alone. Float bits are read as integers and
    combined as Σ bits_i · (i + 1) mod 2^31 − 1, vectorised, with one read to the host.
    """
    text = seq.attention_mask[0] & (seq.modality[0] != int(Modality.VIDEO)) & (seq.modality[0] != int(Modality.AUDIO))
    parts = [seq.embeds[0, text].float().reshape(-1), seq.positions[:, 0].float().reshape(-1)]
    bits = torch.cat(parts).contiguous().view(torch.int32).long() % PRIME
    weight = torch.arange(1, bits.numel() + 1, device=bits.device) % PRIME
    return int(((bits * weight) % PRIME).sum() % PRIME)


def random_subset(n: int, k: int, generator: torch.Generator, device: torch.device | str) -> Tensor:
    """``k`` of ``n`` indices drawn uniformly without replacement, ascending (drawn on the CPU, so the
    same on every device)."""
    return torch.randperm(n, generator=generator)[:k].sort().values.to(device)


@register("random")
class RandomTokens(Compressor):
    """Random sampling: each modality keeps exactly its budget of tokens, a uniformly random subset.

    Reproducible: the draw is seeded by ``seed`` (the run's seed) and the sample's own
    content (:func:`sample_key`), so two runs give the same tokens, hence the same answers, and a
    sample draws the same tokens alone or in a padded batch; another ``seed`` draws others. Video
    is drawn first, then audio, from one CPU generator. Nothing is merged; positions and order of
    the survivors are kept, text is untouched.

    Args:
        seed: run seed mixed into every sample's draw; by default torch's seed when the compressor is
            built, i.e. the run's ``--seed_everything`` under ``omarc test``.
    """

    def __init__(self, ratio: float = 0.7, audio_ratio: float | None = None, video_ratio: float | None = None,
                 *, seed: int | None = None) -> None:
        super().__init__(ratio, audio_ratio, video_ratio)
        self.seed = torch.initial_seed() if seed is None else int(seed)

    def plan_sample(self, seq: TokenSequence, video_budget: int, audio_budget: int) -> SamplePlan:
        counts = seq.count(Modality.VIDEO)[0], seq.count(Modality.AUDIO)[0]
        n_video, n_audio = torch.stack(counts).tolist()
        generator = torch.Generator().manual_seed((self.seed * PRIME + sample_key(seq)) % 2**63)
        device = seq.embeds.device
        return subset_plan(seq, {
            Modality.VIDEO: random_subset(n_video, video_budget, generator, device),
            Modality.AUDIO: random_subset(n_audio, audio_budget, generator, device),
        })

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", seed={self.seed})"
