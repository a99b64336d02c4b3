"""Tests for TFT-XL (fast, CPU)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trademl.core import ConfigError, ModelError
from trademl.models.tft import TFT, TFTConfig, count_parameters, tft_loss

pytestmark = pytest.mark.usefixtures('single_thread')  # tiny CPU models: one thread (conftest)


def make_inputs(cfg, B=4, seed=0, scale=1.0):
    """Random (price, kronos, context) batch matching ``cfg``."""
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, cfg.lookback, cfg.price_dim, generator=g) * scale,
        torch.randn(B, cfg.kronos_dim, generator=g) * scale,
        torch.randn(B, cfg.context_dim, generator=g) * scale,
    )


def small_model(seed=0, **kw):
    """Seeded small-preset model."""
    torch.manual_seed(seed)
    return TFT(TFTConfig.preset('small', **kw))


def assert_no_cross(q):
    assert torch.isfinite(q).all()
    assert (q[..., 0] <= q[..., 1]).all() and (q[..., 1] <= q[..., 2]).all()


# ---------------------------------------------------------------- config / shapes
def test_config_roundtrip_and_presets():
    for name in ('default', 'small'):
        cfg = TFTConfig.preset(name)
        assert TFTConfig.from_dict(cfg.to_dict()) == cfg
    assert TFTConfig.preset('default') == TFTConfig()
    with pytest.raises(ConfigError, match='huge'):
        TFTConfig.preset('huge')
    with pytest.raises(ConfigError, match='bogus'):
        TFTConfig.from_dict({'bogus': 1})
    with pytest.raises(ConfigError, match='hidden_size'):
        TFTConfig(hidden_size=30, n_heads=8)
    with pytest.raises(ConfigError, match='quantiles'):
        TFTConfig(quantiles=(0.5, 0.1, 0.9))


@pytest.mark.parametrize('preset', ['small', 'default'])
def test_shapes_and_weights(preset):
    torch.manual_seed(0)
    cfg = TFTConfig.preset(preset)
    model = TFT(cfg).eval()
    n = count_parameters(model)
    print(f'\n{preset}: {n:,} parameters')
    if preset == 'small':
        assert n < 100_000
    B, L, H = 3, cfg.lookback, cfg.horizons
    with torch.no_grad():
        out = model(*make_inputs(cfg, B), return_attention=True)
    assert out['quantiles'].shape == (B, H, 3)
    assert out['ret'].shape == (B, H) and out['dir_logit'].shape == (B, H)
    assert torch.equal(out['ret'], out['quantiles'][..., 1])
    assert out['var_weights'].shape == (B, L, 3)
    assert torch.allclose(out['var_weights'].sum(-1), torch.ones(B, L), atol=1e-5)
    assert (out['var_weights'] >= 0).all()
    assert out['attn'].shape == (B, L)
    assert len(out['attn_layers']) == cfg.n_layers
    for a in out['attn_layers']:
        assert a.shape == (B, L, L)
        assert torch.allclose(a.sum(-1), torch.ones(B, L), atol=1e-5)
    assert torch.equal(out['attn'], out['attn_layers'][-1][:, -1])
    assert_no_cross(out['quantiles'])


# ---------------------------------------------------------------- non-crossing quantiles
@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.sampled_from([1e-6, 1.0, 100.0, 1e4]),
    wscale=st.sampled_from([0.1, 1.0, 10.0]),
)
def test_quantiles_never_cross(seed, scale, wscale):
    model = small_model(seed % 1000, lookback=16).eval()
    with torch.no_grad():
        for p in model.parameters():  # random (possibly large) weights
            p.mul_(wscale)
    with torch.no_grad():
        out = model(*make_inputs(model.config, B=8, seed=seed, scale=scale))
    assert_no_cross(out['quantiles'])


def test_quantiles_never_cross_after_training():
    model = small_model(1, lookback=16)
    cfg = model.config
    x = make_inputs(cfg, B=16, seed=3)
    y = torch.randn(16, cfg.horizons) * 5
    opt = torch.optim.AdamW(model.parameters(), lr=5e-2)
    for _ in range(30):
        loss, _ = tft_loss(model(*x), y, (y > 0).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert_no_cross(model(*x)['quantiles'].detach())
    model.eval()
    with torch.no_grad():
        assert_no_cross(model(*make_inputs(cfg, B=64, seed=9, scale=50.0))['quantiles'])


# ---------------------------------------------------------------- gradients / sensitivity
def test_gradients_reach_price_and_price_matters():
    model = small_model(0).eval()
    price, kronos, context = make_inputs(model.config, B=2)
    price.requires_grad_(True)
    out = model(price, kronos, context)
    (out['quantiles'].sum() + out['dir_logit'].sum()).backward()
    assert price.grad is not None and price.grad.abs().sum() > 0
    assert price.grad[:, -1].abs().sum() > 0 and price.grad[:, 0].abs().sum() > 0
    with torch.no_grad():
        out2 = model(price + torch.randn_like(price), kronos, context)
    assert not torch.allclose(out['quantiles'].detach(), out2['quantiles'])
    for p in model.parameters():
        p.grad = None
    loss, _ = tft_loss(model(price, kronos, context), torch.randn(2, 3), torch.ones(2, 3))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


# ---------------------------------------------------------------- causality
def test_attention_is_causal():
    model = small_model(0, n_layers=2).eval()
    with torch.no_grad():
        out = model(*make_inputs(model.config, B=3), return_attention=True)
    L = model.config.lookback
    upper = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1)
    for a in out['attn_layers']:
        assert (a[:, upper] == 0).all()
        assert (a[:, ~upper] > 0).any()


@pytest.mark.parametrize('t', [0, 37, 118])
def test_temporal_stack_is_causal(t):
    model = small_model(0, n_layers=2).eval()
    price, kronos, context = make_inputs(model.config, B=3)
    perturbed = price.clone()
    perturbed[:, t + 1 :] += 10 * torch.randn_like(perturbed[:, t + 1 :])
    with torch.no_grad():
        a = model.encode(price, kronos, context)
        b = model.encode(perturbed, kronos, context)
    assert torch.allclose(a['states'][:, : t + 1], b['states'][:, : t + 1], atol=1e-6)
    assert not torch.allclose(a['states'][:, t + 1 :], b['states'][:, t + 1 :], atol=1e-3)
    assert torch.allclose(a['var_weights'][:, : t + 1], b['var_weights'][:, : t + 1], atol=1e-6)
    for la, lb in zip(a['attn_layers'], b['attn_layers']):
        assert torch.allclose(la[:, : t + 1], lb[:, : t + 1], atol=1e-6)


# ---------------------------------------------------------------- loss
def test_loss_matches_hand_computation_with_nan_mask():
    q = torch.tensor([[[-1.0, 0.0, 2.0], [0.5, 1.0, 1.5]]])  # B=1, H=2
    logit = torch.tensor([[0.3, -2.0]])
    out = {'quantiles': q, 'dir_logit': logit}
    ret = torch.tensor([[1.0, float('nan')]])
    dirt = torch.tensor([[1.0, 0.0]])
    loss, parts = tft_loss(out, ret, dirt)

    def pin(y, qhat, tau):
        e = y - qhat
        return max(tau * e, (tau - 1) * e)

    pin_h = (pin(1.0, -1.0, 0.1) + pin(1.0, 0.0, 0.5) + pin(1.0, 2.0, 0.9)) / 3
    assert pin_h == pytest.approx((0.2 + 0.5 + 0.1) / 3)

    def bce(z, y):
        return -(
            y * math.log(1 / (1 + math.exp(-z))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-z)))
        )

    bce_h = (bce(0.3, 1.0) + bce(-2.0, 0.0)) / 2
    assert parts['pinball'] == pytest.approx(pin_h, rel=1e-6)
    assert parts['bce'] == pytest.approx(bce_h, rel=1e-6)
    assert float(loss) == pytest.approx(pin_h + 0.5 * bce_h, rel=1e-6)

    # ret_scale divides the target; NaN in dir_target masked independently
    loss2, parts2 = tft_loss(
        out, torch.tensor([[2.0, 7.0]]), torch.tensor([[1.0, float('nan')]]), ret_scale=2.0
    )
    pin2 = (pin_h + (pin(3.5, 0.5, 0.1) + pin(3.5, 1.0, 0.5) + pin(3.5, 1.5, 0.9)) / 3) / 2
    assert parts2['pinball'] == pytest.approx(pin2, rel=1e-6)
    assert parts2['bce'] == pytest.approx(bce(0.3, 1.0), rel=1e-6)

    # all-NaN targets: finite zero loss, finite gradients
    qq = q.clone().requires_grad_(True)
    loss3, _ = tft_loss(
        {'quantiles': qq, 'dir_logit': logit},
        torch.full((1, 2), float('nan')),
        torch.full((1, 2), float('nan')),
    )
    loss3.backward()
    assert float(loss3.detach()) == 0.0 and torch.isfinite(qq.grad).all()
    with pytest.raises(ModelError, match='ret_target'):
        tft_loss(out, torch.zeros(1, 3), dirt)


# ---------------------------------------------------------------- training behaviour
def test_overfits_tiny_batch():
    model = small_model(0, lookback=32, dropout=0.0)
    cfg = model.config
    x = make_inputs(cfg, B=32, seed=1)
    g = torch.Generator().manual_seed(2)
    y = torch.randn(32, cfg.horizons, generator=g)
    d = (torch.rand(32, cfg.horizons, generator=g) > 0.5).float()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(250):
        loss, _ = tft_loss(model(*x), y, d)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(*x)
        final, _ = tft_loss(out, y, d)
    print(f'\noverfit loss {first:.4f} -> {float(final):.4f}')
    assert float(final) < 0.2 * first
    acc = ((out['dir_logit'] > 0).float() == d).float().mean()
    assert acc >= 0.97


def _train(seed, steps=20):
    model = small_model(seed, lookback=24)
    torch.manual_seed(seed + 1)
    cfg = model.config
    x = make_inputs(cfg, B=8, seed=seed)
    y = torch.randn(8, cfg.horizons)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):  # dropout active: exercises RNG determinism too
        loss, _ = tft_loss(model(*x), y, (y > 0).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return model, losses


def test_determinism():
    a, b = small_model(7), small_model(7)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert not torch.equal(small_model(8).q_head.weight, a.q_head.weight)
    m1, l1 = _train(3)
    m2, l2 = _train(3)
    assert l1 == l2
    for v1, v2 in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(v1, v2)


# ---------------------------------------------------------------- validation
def test_bad_shapes_raise():
    model = small_model(0)
    cfg = model.config
    price, kronos, context = make_inputs(cfg, B=2)
    with pytest.raises(ModelError, match='price'):
        model(price[:, :-1], kronos, context)
    with pytest.raises(ModelError, match='price'):
        model(price[..., :4], kronos, context)
    with pytest.raises(ModelError, match='price'):
        model(price[0], kronos, context)
    with pytest.raises(ModelError, match='kronos'):
        model(price, kronos[:, :100], context)
    with pytest.raises(ModelError, match='context'):
        model(price, kronos, context[:, None])
    with pytest.raises(ModelError, match='batch'):
        model(price, kronos[:1], context)
    with pytest.raises(ModelError, match='kronos'):
        model(price, np.zeros((2, 512), dtype=np.float32), context)


# ---------------------------------------------------------------- the last-position path
@pytest.mark.parametrize('n_layers', [1, 3])
def test_last_position_path_equals_the_full_stack(n_layers):
    """forward() computes the last layer for the last query only and fuses earlier layers' attention: same outputs as the full stack."""
    model = small_model(0, n_layers=n_layers).eval()
    x = make_inputs(model.config, B=5)
    with torch.no_grad():
        full, fast = model(*x, return_attention=True), model(*x)
    assert 'attn_layers' not in fast
    for k in ('quantiles', 'ret', 'dir_logit', 'attn', 'var_weights'):
        assert torch.allclose(full[k], fast[k], atol=2e-6, rtol=1e-5), k
    state, attn, _ = model.last_state(*x)
    assert torch.allclose(state, model.encode(*x)['states'][:, -1], atol=2e-6)


def test_last_position_path_trains_like_the_full_stack():
    """Without dropout, gradients through the fused path equal those through the full stack."""
    model = small_model(0, n_layers=2, dropout=0.0).train()
    x = make_inputs(model.config, B=4)
    grads = []
    for full in (True, False):
        model.zero_grad()
        model(*x, return_attention=full)['ret'].sum().backward()
        grads.append(
            [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters()]
        )
    assert any(g.abs().sum() > 0 for g in grads[1])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)
