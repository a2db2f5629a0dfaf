"""C-GRPO maths (eqs. 7–11) against hand-computed values."""

import math

import pytest
import torch

from omarc.modules.training.grpo import (
    compression_gap,
    distillation_weight,
    group_advantages,
    k3_kl,
    policy_loss,
    shaped_advantages,
    teacher_reference,
    zero_std_fraction,
)

TAU = 1e-3
# teacher R_full and student R_comp of one prompt, G = 4, with negative rewards in the last pair.
FULL = torch.tensor([[2.0, 2.0, 0.0, -1.0]])
COMP = torch.tensor([[1.0, 2.0, 1.0, -2.0]])


def test_group_advantage_hand_computed():
    # COMP: mean 0.5, centred [0.5, 1.5, 0.5, -2.5], unbiased var (0.25 + 2.25 + 0.25 + 6.25) / 3 = 3.
    std = math.sqrt(3.0) + 1e-4
    expected = torch.tensor([[0.5, 1.5, 0.5, -2.5]]) / std
    torch.testing.assert_close(group_advantages(COMP), expected, rtol=0, atol=1e-6)


def test_zero_variance_groups_give_exact_zero_never_nan():
    rewards = torch.tensor([[0.1, 0.1, 0.1, 0.1], [1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0]])
    adv = group_advantages(rewards)
    assert torch.equal(adv[:2], torch.zeros(2, 4))
    assert adv[2].ne(0).all() and torch.isfinite(adv).all()
    assert zero_std_fraction(rewards).item() == pytest.approx(2 / 3)
    assert torch.equal(group_advantages(torch.tensor([[3.0], [-1.0]])), torch.zeros(2, 1))
    # a zero-variance group stays at zero after shaping, whatever the gap.
    assert torch.equal(shaped_advantages(adv[:1], torch.ones(1, 4), lam=5.0), torch.zeros(1, 4))


def test_a_flat_group_of_eight_gives_exact_zero():
    """Eight equal rewards of 0.1: the float32 mean is not exactly 0.1, so (r − mean) / (std + eps) alone is not 0."""
    rewards = torch.full((2, 8), 0.1)
    rewards[1] = torch.tensor([0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    adv = group_advantages(rewards)
    assert torch.equal(adv[0], torch.zeros(8))
    # the other group: mean 0.1125, centred 0.0875 on one rollout, std sqrt(0.01 · 7/8 / 7) = 0.0353553
    assert adv[1, 1].item() == pytest.approx(0.0875 / (0.0353553 + 1e-4), rel=1e-5)


def test_compression_gap_eq7_with_negative_rewards():
    gap = compression_gap(FULL, COMP, TAU)
    # relu(2-1)/(2+τ), relu(0)/.., relu(-1)=0, relu(-1-(-2))/(|-1|+τ)
    expected = torch.tensor([[1 / 2.001, 0.0, 0.0, 1 / 1.001]])
    torch.testing.assert_close(gap, expected, rtol=0, atol=1e-7)


def test_weight_and_shaped_advantage_eq8_eq9():
    adv = group_advantages(COMP)
    gap = compression_gap(FULL, COMP, TAU)
    a0 = 0.5 / (math.sqrt(3.0) + 1e-4)
    # only rollout 0 is both better than its group (A > 0) and hurt by compression (Δ > 0);
    # rollout 3 is hurt (Δ ≈ 1) but has A < 0, so w = 0.
    w = torch.tensor([[a0 / 2.001, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(distillation_weight(adv, gap), w, rtol=0, atol=1e-7)
    lam = 2.0
    expected = adv + lam * w
    torch.testing.assert_close(shaped_advantages(adv, gap, lam), expected, rtol=0, atol=1e-7)
    assert shaped_advantages(adv, gap, lam)[0, 0] > adv[0, 0]
    torch.testing.assert_close(shaped_advantages(adv, gap, 0.0), adv)


def test_gap_reference_mean_uses_teacher_group_mean():
    ref = teacher_reference(FULL, "mean")
    assert torch.equal(ref, torch.full((1, 4), 0.75))
    assert torch.equal(teacher_reference(FULL, "paired"), FULL)
    with pytest.raises(ValueError, match="gap_reference"):
        teacher_reference(FULL, "pairs")


def test_k3_kl_values_and_clamp():
    logp = torch.tensor([-1.0, -2.0, -100.0])
    ref = torch.tensor([-1.0, -1.5, 0.0])
    r = torch.tensor([0.0, 0.5, 10.0])  # the last log-ratio 100 is clamped to 10
    torch.testing.assert_close(k3_kl(logp, ref), torch.exp(r) - r - 1)
    assert torch.isfinite(k3_kl(torch.tensor([0.0]), torch.tensor([-1e4]))).all()


def _logps(values):
    return torch.tensor(values, requires_grad=True)


def test_loss_gradient_sign_raising_positive_rollout_lowers_loss():
    logps = _logps([[-1.0, -2.0], [-1.5, -0.5]])
    mask = torch.ones(2, 2, dtype=torch.bool)
    adv = torch.tensor([1.3, -0.7])
    out = policy_loss(logps, logps.detach(), adv, mask)
    out.loss.backward()
    assert (logps.grad[0] < 0).all(), "gradient descent must raise the positively shaped rollout"
    assert (logps.grad[1] > 0).all(), "and lower the negatively shaped one"
    with torch.no_grad():
        raised = logps.clone()
        raised[0] += 0.05
    assert policy_loss(raised, logps.detach(), adv, mask).loss < out.loss


def test_aggregation_grpo_vs_dapo_and_micro_batches():
    # ratio 1 and β = 0: per-token loss = -A. Row 0: one token, A = 1; row 1: three tokens, A = -1.
    logps = torch.zeros(2, 3)
    mask = torch.tensor([[True, False, False], [True, True, True]])
    adv = torch.tensor([1.0, -1.0])
    grpo = policy_loss(logps, logps, adv, mask, aggregation="grpo").loss
    dapo = policy_loss(logps, logps, adv, mask, aggregation="dapo").loss
    assert grpo.item() == pytest.approx((-1.0 + 1.0) / 2)
    assert dapo.item() == pytest.approx((-1.0 + 3.0) / 4)
    for agg, whole in (("grpo", grpo), ("dapo", dapo)):
        parts = sum(
            policy_loss(logps[i : i + 1], logps[i : i + 1], adv[i : i + 1], mask[i : i + 1], aggregation=agg,
                        total_sequences=2, total_tokens=4).loss
            for i in range(2)
        )
        assert parts.item() == pytest.approx(whole.item())
    with pytest.raises(ValueError, match="aggregation"):
        policy_loss(logps, logps, adv, mask, aggregation="mean")


@pytest.mark.parametrize(("aggregation", "parts"), [
    ("grpo", [-1.0 / 2, -0.5 / 2]),  # each row's token mean (−1, −0.5) over the batch's 2 sequences
    ("dapo", [-1.0 / 4, -1.5 / 4]),  # each row's token sum (−1, −3 · 0.5) over the batch's 4 tokens
])
def test_micro_batch_losses_are_scaled_by_the_whole_batch(aggregation, parts):
    """Ratio 1, β = 0: per-token loss −A. Row 0: one token, A = 1; row 1: three tokens, A = 0.5 (no cancelling)."""
    logps = torch.zeros(2, 3)
    mask = torch.tensor([[True, False, False], [True, True, True]])
    adv = torch.tensor([1.0, 0.5])
    got = [policy_loss(logps[i : i + 1], logps[i : i + 1], adv[i : i + 1], mask[i : i + 1], aggregation=aggregation,
                       total_sequences=2, total_tokens=4).loss.item() for i in range(2)]
    assert got == pytest.approx(parts)
    whole = policy_loss(logps, logps, adv, mask, aggregation=aggregation).loss.item()
    assert whole == pytest.approx(sum(parts))  # grpo −0.75, dapo −0.625


def test_an_empty_completion_row_adds_nothing_and_no_nan():
    """A row with no real token: GRPO's token mean of it is 0 (not 0 / 0); statistics count real tokens only."""
    logps = torch.tensor([[-1.0, -2.0], [-1.0, -1.0]])
    ref = torch.tensor([[-1.5, -2.0], [0.0, 0.0]])
    mask = torch.tensor([[True, True], [False, False]])
    old = logps - torch.tensor([[0.0, 0.0], [1.0, 1.0]])  # the padded row's ratio e > 1 + ε with A > 0: "clipped"
    out = policy_loss(logps, old, torch.tensor([2.0, 3.0]), mask, ref_logps=ref, beta=0.1)
    kl0 = math.exp(-0.5) + 0.5 - 1  # row 0's first token; its second has ref = logp, KL 0
    # row 0: mean of (−2 + 0.1·kl0, −2) over 2 tokens; row 1: 0; over 2 sequences
    assert out.loss.item() == pytest.approx((-2.0 + 0.05 * kl0) / 2)
    assert out.kl.item() == pytest.approx(kl0 / 2), "the padded row's large KL is left out"
    assert out.clip_ratio.item() == 0.0 and out.tokens.item() == 2


def test_zero_advantage_tokens_are_never_counted_as_clipped():
    """A flat group (A = 0) far outside the clip range: no loss, no gradient, and no clipping to report."""
    logps = _logps([[math.log(0.5), math.log(1.5)]])
    out = policy_loss(logps, torch.zeros(1, 2), torch.zeros(1), torch.ones(1, 2, dtype=torch.bool), epsilon=0.2)
    out.loss.backward()
    assert out.loss.item() == 0.0 and torch.equal(logps.grad, torch.zeros(1, 2))
    assert out.clip_ratio.item() == 0.0


def test_clipping_after_an_update_mu_greater_than_one():
    # Second pass over the same rollouts: the policy already moved by +0.5 nats (ratio e^0.5 > 1.2).
    logps = _logps([[-1.0, -1.0], [-1.0, -1.0]])
    old = logps.detach() - 0.5
    mask = torch.ones(2, 2, dtype=torch.bool)
    adv = torch.tensor([1.0, -1.0])
    out = policy_loss(logps, old, adv, mask, epsilon=0.2)
    out.loss.backward()
    assert torch.equal(logps.grad[0], torch.zeros(2)), "clipped: no further push on a positive rollout"
    assert (logps.grad[1] > 0).all(), "a negative rollout whose ratio rose is not clipped"
    assert out.clip_ratio.item() == pytest.approx(0.5)
    # the clipped value is (1 + ε)·A for the positive row: loss = (-(1.2) + e^0.5) / 2
    assert out.loss.item() == pytest.approx((-1.2 * 1.0 + math.exp(0.5) * 1.0) / 2, abs=1e-6)
    # a wider upper bound (ε_high, DAPO's clip-higher) lets it through again
    wide = policy_loss(logps, old, adv, mask, epsilon=0.2, epsilon_high=1.0)
    assert wide.clip_ratio.item() == 0.0


# Asymmetric clip, ε = 0.1 below and ε_high = 0.3 above: clip(ρ) to [0.9, 1.3]. Per token
# loss = −min(ρ·A, clip(ρ)·A); its gradient in log π is −A·ρ when ρ·A is the minimum, 0 when the clip is.
ASYMMETRIC = [  # ratio ρ, advantage A, per-token loss, d loss / d logp
    (1.5, 1.0, -1.3, 0.0),  # above 1 + ε_high, A > 0: −min(1.5, 1.3) = −1.3, clipped
    (1.2, 1.0, -1.2, -1.2),  # inside [0.9, 1.3]: −1.2 (a bound of 1 + ε = 1.1 would clip it to −1.1)
    (0.5, -1.0, 0.9, 0.0),  # below 1 − ε, A < 0: −min(−0.5, −0.9) = 0.9, clipped
    (0.8, -1.0, 0.9, 0.0),  # below 1 − ε = 0.9 (not below 1 − ε_high = 0.7): −min(−0.8, −0.9) = 0.9, clipped
    (0.5, 1.0, -0.5, -0.5),  # A > 0 below the range: min(0.5, 0.9) = 0.5 unclipped, −0.5
    (1.5, -1.0, 1.5, 1.5),  # A < 0 above the range: min(−1.5, −1.3) = −1.5 unclipped, 1.5
]


@pytest.mark.parametrize(("ratio", "advantage", "loss", "grad"), ASYMMETRIC)
def test_asymmetric_clip_per_token_loss_and_gradient(ratio, advantage, loss, grad):
    logps = _logps([[math.log(ratio)]])  # against old log-prob 0: ρ = ratio
    out = policy_loss(logps, torch.zeros(1, 1), torch.tensor([advantage]), torch.ones(1, 1, dtype=torch.bool),
                      epsilon=0.1, epsilon_high=0.3)
    out.loss.backward()
    assert out.loss.item() == pytest.approx(loss, abs=1e-6)
    assert logps.grad.item() == pytest.approx(grad, abs=1e-6)
    assert out.clip_ratio.item() == (1.0 if grad == 0.0 else 0.0)


def test_kl_term_weighted_by_beta():
    logps = _logps([[-1.0, -2.0]])
    ref = torch.tensor([[-1.5, -2.0]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    adv = torch.zeros(1)
    out = policy_loss(logps, logps.detach(), adv, mask, ref_logps=ref, beta=0.04)
    kl0 = math.exp(-0.5) + 0.5 - 1
    assert out.kl.item() == pytest.approx(kl0 / 2)
    assert out.loss.item() == pytest.approx(0.04 * kl0 / 2)
    out.loss.backward()
    # d/dlogp [exp(ref - logp) - (ref - logp) - 1] = 1 - exp(ref - logp) > 0 when logp > ref: pulled back to ref
    assert logps.grad[0, 0] > 0 and logps.grad[0, 1] == 0
    with pytest.raises(ValueError, match="ref_logps"):
        policy_loss(logps, logps.detach(), adv, mask, beta=0.04)
