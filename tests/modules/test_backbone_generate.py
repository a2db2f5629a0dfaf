"""Decoding on compressed sequences: budgets, positions, one prefill per prompt, log-probs, DeepStack."""

from __future__ import annotations

import pytest
import torch

from omarc.modules.backbones.qwen_omni import next_positions
from omarc.modules.backbones.sampling import logits_warpers
from omarc.strategies import Compressor, Modality, SamplePlan, TokenSequence, pack
from omarc.strategies.budget import retained

RATIO = 0.7


class EvenlySpaced(Compressor):
    """Test-only strategy (not registered): keep budgeted video and audio tokens at even spacing."""

    def plan_sample(self, seq: TokenSequence, video_budget: int, audio_budget: int) -> SamplePlan:
        keep = seq.attention_mask[0].clone()
        for modality, budget in ((Modality.VIDEO, video_budget), (Modality.AUDIO, audio_budget)):
            idx = (seq.modality[0] == modality).nonzero().squeeze(1)
            chosen = torch.linspace(0, len(idx) - 1, budget).round().long()
            keep[idx] = False
            keep[idx[chosen]] = True
        return SamplePlan(keep=keep)


class LanguageModelCalls:
    """Records (batch, length, position_ids) of every ``language_model`` call."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.calls: list[tuple[int, int, torch.Tensor]] = []
        self.handle = module.register_forward_pre_hook(self.record, with_kwargs=True)

    def record(self, module, args, kwargs) -> None:
        embeds = kwargs["inputs_embeds"]
        self.calls.append((embeds.shape[0], embeds.shape[1], kwargs["position_ids"].clone()))

    def __enter__(self) -> "LanguageModelCalls":
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


@pytest.fixture(scope="module")
def compressed(tiny_backbone, make_batch):
    family, thinker, backbone = tiny_backbone
    with torch.no_grad():
        seq = backbone.encode(make_batch(thinker, family))
    return seq, EvenlySpaced(ratio=RATIO)(seq)


def test_ratio_07_prefills_budgeted_length_and_decodes_at_max_position_plus_one(tiny_backbone, compressed):
    _, _, backbone = tiny_backbone
    seq, out = compressed
    steps = 5
    with LanguageModelCalls(backbone.language_model) as lm, torch.no_grad():
        gen = backbone.generate(out.sequence, max_new_tokens=steps)
    prefill, *decode = lm.calls
    expected = [
        int((seq.sample(b).modality[0] >= 0).sum())
        - int(seq.count(Modality.VIDEO)[b]) + retained(int(seq.count(Modality.VIDEO)[b]), RATIO)
        - int(seq.count(Modality.AUDIO)[b]) + retained(int(seq.count(Modality.AUDIO)[b]), RATIO)
        for b in range(seq.batch_size)
    ]
    assert out.sequence.attention_mask.sum(-1).tolist() == expected
    assert prefill[:2] == (2, max(expected))
    assert gen.tokens.shape == (2, steps) and len(decode) == steps - 1
    # the compressed rows keep their original positions, so max + 1 is far beyond the length
    start = torch.stack([seq.positions[:, b, seq.attention_mask[b]].max() for b in range(2)]) + 1
    assert (start > torch.tensor(expected)).all()
    for step, (batch, length, positions) in enumerate(decode):
        assert (batch, length) == (2, 1)
        assert torch.equal(positions, (start + step).view(1, 2, 1).expand(3, 2, 1).to(positions.dtype))


def test_compressed_prefill_equals_language_model_on_the_gathered_tokens(tiny_backbone, compressed):
    """Row b of the padded compressed batch equals a direct language_model run on its tokens alone."""
    _, _, backbone = tiny_backbone
    _, out = compressed
    with torch.no_grad():
        gen = backbone.generate(out.sequence, max_new_tokens=1)
        for b in range(2):
            row = out.sequence.sample(b)
            hidden = backbone.language_model(
                inputs_embeds=row.embeds, position_ids=row.positions, **backbone.prefill_extras(row)
            ).last_hidden_state
            assert (backbone.lm_head(hidden[:, -1])[0] - gen.first_logits[b]).abs().max() <= 1e-5


def test_sampling_prefills_once_per_prompt_and_expands_the_cache(tiny_backbone, compressed):
    _, _, backbone = tiny_backbone
    _, out = compressed
    n, steps = 3, 4
    with LanguageModelCalls(backbone.language_model) as lm, torch.no_grad():
        gen = backbone.generate(
            out.sequence, max_new_tokens=steps, do_sample=True, temperature=1.5, num_return_sequences=n,
            generator=torch.Generator().manual_seed(0),
        )
    prefills = [c for c in lm.calls if c[1] > 1]
    assert [c[0] for c in prefills] == [2]  # one prefill, B rows, not B·n
    assert all(c[0] == 2 * n and c[1] == 1 for c in lm.calls[1:])
    assert gen.tokens.shape == (2 * n, steps) and gen.first_logits.shape[0] == 2
    assert len({tuple(r) for r in gen.tokens.tolist()}) > 2  # temperature 1.5 on random weights: rows differ


def test_tiny_top_p_is_greedy_for_every_sample(tiny_backbone, compressed):
    _, _, backbone = tiny_backbone
    _, out = compressed
    with torch.no_grad():
        greedy = backbone.generate(out.sequence, max_new_tokens=4)
        nucleus = backbone.generate(out.sequence, max_new_tokens=4, do_sample=True, top_p=1e-6, num_return_sequences=2)
    assert torch.equal(nucleus.tokens, greedy.tokens.repeat_interleave(2, dim=0))


@pytest.mark.parametrize("use_compressed", [False, True])
def test_completion_logprobs_match_the_rollout(tiny_backbone, compressed, use_compressed):
    _, _, backbone = tiny_backbone
    seq, out = compressed
    prompt = out.sequence if use_compressed else seq
    temperature = 0.8
    with torch.no_grad():
        gen = backbone.generate(
            prompt, max_new_tokens=6, do_sample=True, temperature=temperature, num_return_sequences=2,
            generator=torch.Generator().manual_seed(1),
        )
    logp = backbone.completion_logprobs(prompt, gen.tokens, temperature=temperature)
    assert logp.requires_grad and logp.shape == gen.tokens.shape
    valid = torch.arange(gen.tokens.shape[1])[None] < gen.lengths[:, None]
    assert (logp.detach() - gen.logprobs)[valid].abs().max() <= 1e-4


def test_a_row_stops_at_its_end_token_and_is_padded_after_it(tiny_backbone, compressed):
    _, _, backbone = tiny_backbone
    _, out = compressed
    steps = 5
    with torch.no_grad():
        free = backbone.generate(out.sequence, max_new_tokens=steps)
        end = int(free.tokens[0, 1])  # row 0's second greedy token becomes the end-of-turn id
        assert end not in free.tokens[1].tolist(), "pick seeds where row 1 never emits row 0's token"
        stopping = type(backbone)(backbone.thinker, eos_token_ids=[end], pad_token_id=backbone.pad_token_id)
        gen = stopping.generate(out.sequence, max_new_tokens=steps)
        timed = stopping.generate(out.sequence, max_new_tokens=steps, ignore_eos=True)
    assert torch.equal(timed.tokens, free.tokens) and timed.lengths.tolist() == [steps, steps]
    pad = backbone.pad_token_id
    assert gen.tokens[0].tolist() == free.tokens[0, :2].tolist() + [pad] * (steps - 2)
    assert torch.equal(gen.tokens[1], free.tokens[1])
    assert gen.lengths.tolist() == [2, steps]
    assert (gen.logprobs[0, 2:] == 0).all()


def test_deepstack_companions_are_applied_and_follow_the_compressor(tiny_backbone, compressed):
    family, _, backbone = tiny_backbone
    seq, out = compressed
    c = out.sequence
    if family == "qwen2_5_omni":  # no DeepStack: nothing rides along, nothing extra goes in
        assert c.companions == {} and backbone.prefill_extras(c) == {}
        return
    extras = backbone.prefill_extras(c)
    visual = (c.modality == Modality.VIDEO) & c.attention_mask
    assert torch.equal(extras["visual_pos_masks"], visual)
    assert [e.shape[0] for e in extras["deepstack_visual_embeds"]] == [int(visual.sum())] * 2
    # kept slots carry exactly the DeepStack rows of their source tokens
    for b in range(2):
        src = seq.sample(b)
        kept = c.sample(b)
        for name in ("deepstack_0", "deepstack_1"):
            rows = src.companions[name][0][src.modality[0] == Modality.VIDEO]
            kept_rows = kept.companions[name][0][kept.modality[0] == Modality.VIDEO]
            assert all((rows == r).all(-1).any() for r in kept_rows)
    with torch.no_grad():
        with_ds = backbone.generate(c, max_new_tokens=1).first_logits
        without = backbone.generate(c.replace(companions={}), max_new_tokens=1).first_logits
    assert (with_ds - without).abs().max() > 1e-3


def test_top_p_warper_keeps_the_smallest_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))

    def kept(top_p: float, temperature: float = 1.0) -> list[list[bool]]:
        return torch.isfinite(logits_warpers(temperature, top_p)(None, logits)).tolist()

    assert kept(0.75) == [[True, True, False, False]]  # 0.5 < 0.75 <= 0.8
    assert kept(0.8) == [[True, True, False, False]]
    assert kept(0.81) == [[True, True, True, False]]
    assert kept(1e-9) == [[True, False, False, False]]
    assert kept(0.75, temperature=0.25) == [[True, False, False, False]]  # temperature first: p = 0.5 -> 0.88
    assert len(logits_warpers()) == 0, "temperature 1 and top-p 1 leave the logits as they are"


def test_next_positions_ignore_padding():
    positions = torch.tensor([[[1, 1, 5, 9], [0, 3, 4, 4]]]).expand(3, 2, 4)
    mask = torch.tensor([[False, False, True, True], [True, True, True, True]])
    seq = TokenSequence(
        embeds=torch.zeros(2, 4, 1), positions=positions, attention_mask=mask,
        modality=torch.zeros(2, 4, dtype=torch.long), frame=torch.zeros(2, 4, dtype=torch.long),
        time=torch.zeros(2, 4), patch_hw=torch.zeros(2, 4, 2, dtype=torch.long),
        query_mask=torch.zeros(2, 4, dtype=torch.bool),
    )
    assert next_positions(seq).tolist() == [10, 5]


def test_model_rope_deltas_follow_the_compressed_prompt(tiny_backbone, compressed, make_batch):
    """After a prefill, the thinker's own rope_deltas put the next token at max(position) + 1."""
    family, thinker, backbone = tiny_backbone
    seq, out = compressed
    with torch.no_grad():
        backbone.generate(seq, max_new_tokens=1)
        batch = make_batch(thinker, family)
        _, hf_deltas = thinker.model.get_rope_index(
            batch["input_ids"], None, batch["video_grid_thw"], batch["attention_mask"], True,
            batch["feature_attention_mask"].sum(-1), batch["video_second_per_grid"],
        )
        assert torch.equal(thinker.model.rope_deltas.to(hf_deltas.dtype), hf_deltas)
        backbone.generate(out.sequence, max_new_tokens=1)
    kept = out.sequence.attention_mask.sum(-1)
    assert torch.equal(thinker.model.rope_deltas[:, 0], next_positions(out.sequence) - kept)
    assert (thinker.model.rope_deltas > hf_deltas).all()  # fewer tokens, same last position


def test_right_padded_sequences_decode_like_left_padded(tiny_backbone, compressed):
    _, _, backbone = tiny_backbone
    _, out = compressed
    right = pack([out.sequence.sample(b) for b in range(2)], padding_side="right")
    assert not right.attention_mask[:, -1].all()
    with torch.no_grad():
        left_gen = backbone.generate(out.sequence, max_new_tokens=3)
        right_gen = backbone.generate(right, max_new_tokens=3)
        logp = backbone.completion_logprobs(right, left_gen.tokens)
    assert (left_gen.first_logits - right_gen.first_logits).abs().max() <= 1e-5
    assert torch.equal(left_gen.tokens, right_gen.tokens)
    assert (logp - left_gen.logprobs).abs().max() <= 1e-4


def test_prefill_by_length_prefills_each_length_unpadded_and_decodes_as_one_batch(tiny_backbone, compressed):
    """Full and compressed rows interleaved (four lengths): each length is prefilled alone, the rows come
    back in their order, and the answers are those of one padded prefill."""
    _, _, backbone = tiny_backbone
    seq, out = compressed
    mixed = pack([seq.sample(0), out.sequence.sample(1), out.sequence.sample(0), seq.sample(1)])
    lengths = mixed.attention_mask.sum(-1).tolist()
    with torch.no_grad():
        padded = backbone.generate(mixed, max_new_tokens=4)
        with LanguageModelCalls(backbone.language_model) as lm:
            grouped = backbone.generate(mixed, max_new_tokens=4, prefill_by_length=True)
    prefills = sorted((batch, length) for batch, length, _ in lm.calls if length > 1)
    assert prefills == sorted((lengths.count(n), n) for n in set(lengths))  # no padding in any prefill
    assert all(batch == 4 for batch, length, _ in lm.calls if length == 1)  # one decoding loop for all rows
    assert (grouped.first_logits - padded.first_logits).abs().max() <= 1e-5
    assert torch.equal(grouped.tokens, padded.tokens) and torch.equal(grouped.lengths, padded.lengths)
    assert (grouped.logprobs - padded.logprobs).abs().max() <= 1e-4


def test_rollouts_in_training_mode_with_checkpointing_keep_the_cache(tiny_backbone, compressed):
    """C-GRPO samples from a model in train mode with gradient checkpointing: the KV cache must stay."""
    from omarc.modules.backbones.loading import wrap_thinker
    from omarc.modules.backbones.tiny import build_tiny_thinker

    family, _, backbone = tiny_backbone
    _, out = compressed
    trained = build_tiny_thinker(family, seed=0)  # same weights as the fixture's thinker
    trained.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    policy = wrap_thinker(trained.train(), family)
    with torch.no_grad():
        expected = backbone.generate(out.sequence, max_new_tokens=4)
    got = policy.generate(out.sequence, max_new_tokens=4)
    assert policy.training and torch.equal(got.tokens, expected.tokens)
    logp = policy.completion_logprobs(out.sequence, got.tokens)
    assert logp.requires_grad and (logp.detach() - got.logprobs).abs().max() <= 1e-4
