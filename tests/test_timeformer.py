"""Tests for TimeFormer-XL (fast, CPU)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trademl.core import ConfigError, ModelError
from trademl.models.layers import GatedResidualNetwork
from trademl.models.timeformer import (
    CausalTCN,
    MultiheadSelfAttention,
    TimeFormer,
    TimeFormerConfig,
    apply_rope,
    timeformer_loss,
)

pytestmark = pytest.mark.usefixtures('single_thread')  # tiny CPU models: one thread (conftest)


def _inputs(cfg, B=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, cfg.lookback, cfg.price_dim, generator=g),
        torch.randn(B, cfg.kronos_dim, generator=g),
        torch.randn(B, cfg.context_dim, generator=g),
    )


def _model(preset='small', seed=0, **kw):
    torch.manual_seed(seed)
    return TimeFormer(TimeFormerConfig.preset(preset, **kw))


# ------------------------------------------------------------------ shapes / config
@pytest.mark.parametrize('preset,B', [('small', 4), ('default', 2)])
def test_output_shapes_and_dtypes(preset, B):
    m = _model(preset).eval()
    cfg = m.config
    n = sum(p.numel() for p in m.parameters())
    print(f'{preset}: {n:,} parameters')
    with torch.no_grad():
        out = m(*_inputs(cfg, B))
    P, K, H = cfg.n_patches, cfg.n_kronos_tokens, cfg.horizons
    expected = {
        'ret': (B, H),
        'dir_logit': (B, H),
        'log_var': (2,),
        'attn': (B, P),
        'cross_attn': (B, P, K),
    }
    assert {k: tuple(v.shape) for k, v in out.items()} == expected
    for v in out.values():
        assert v.dtype == torch.float32 and torch.isfinite(v).all()
    assert torch.allclose(out['cross_attn'].sum(-1), torch.ones(B, P), atol=1e-5)
    assert (out['attn'] >= 0).all() and (out['attn'].sum(-1) <= 1 + 1e-5).all()
    if preset == 'small':
        assert n < 100_000


def test_config_roundtrip_and_presets():
    cfg = TimeFormerConfig.preset('small')
    assert TimeFormerConfig.from_dict(cfg.to_dict()) == cfg
    d = TimeFormerConfig.preset('default')
    assert (d.d_model, d.n_heads, d.n_layers, d.ffn_dim, d.n_patches) == (256, 8, 6, 512, 12)
    with pytest.raises(ConfigError, match='nope'):
        TimeFormerConfig.preset('nope')
    with pytest.raises(ConfigError, match='bogus'):
        TimeFormerConfig.from_dict({'bogus': 1})
    with pytest.raises(ConfigError, match='lookback'):
        TimeFormerConfig(lookback=121)


# ------------------------------------------------------------------ RoPE
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 500), st.integers(0, 500), st.integers(-200, 200), st.integers(0, 10_000))
def test_rope_relative_and_norm(m, n, shift, seed):
    g = torch.Generator().manual_seed(seed)
    q, k = (
        torch.randn(1, 16, generator=g, dtype=torch.float64),
        torch.randn(1, 16, generator=g, dtype=torch.float64),
    )
    rq = apply_rope(q, torch.tensor([m]))
    assert torch.allclose(rq.norm(), q.norm(), rtol=1e-5)
    s1 = (rq * apply_rope(k, torch.tensor([n]))).sum()
    s2 = (apply_rope(q, torch.tensor([m + shift])) * apply_rope(k, torch.tensor([n + shift]))).sum()
    assert torch.allclose(s1, s2, rtol=1e-4, atol=1e-6)


def test_rope_matches_hand_rotation():
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    y = apply_rope(x, torch.tensor([3]))
    a0, a1 = 3.0, 3.0 * 10000 ** (-2 / 4)
    exp = torch.tensor([[math.cos(a0), math.sin(a0), math.cos(a1), math.sin(a1)]])
    assert torch.allclose(y, exp, atol=1e-6)
    assert torch.equal(apply_rope(x, torch.tensor([0])), x)


def test_rope_is_applied():
    m = _model(dropout=0.0).eval()
    x = _inputs(m.config)
    with torch.no_grad():
        a = m(*x)['ret']
        for mod in m.modules():
            if isinstance(mod, MultiheadSelfAttention):
                mod.use_rope = False
        b = m(*x)['ret']
    assert not torch.allclose(a, b, atol=1e-5)


# ------------------------------------------------------------------ price information flow
def test_gradients_reach_price_and_price_matters():
    m = _model().eval()
    price, kronos, ctx = _inputs(m.config)
    price.requires_grad_(True)
    m(price, kronos, ctx)['ret'].sum().backward()
    assert price.grad is not None and price.grad.abs().sum() > 0
    for i in range(price.shape[0]):  # every sample's price window gets gradient
        assert price.grad[i].abs().sum() > 0
    with torch.no_grad():
        a = m(price, kronos, ctx)
        b = m(price + torch.randn_like(price), kronos, ctx)
    assert not torch.allclose(a['ret'], b['ret'], atol=1e-5)
    assert not torch.allclose(a['dir_logit'], b['dir_logit'], atol=1e-5)


def test_all_parameters_get_gradients():
    m = _model(dropout=0.0)
    out = m(*_inputs(m.config))
    loss, _ = timeformer_loss(out, torch.randn(4, 3), torch.randint(0, 2, (4, 3)).float())
    loss.backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing


# ------------------------------------------------------------------ causal TCN
def test_tcn_is_causal():
    torch.manual_seed(0)
    tcn = CausalTCN(8, 3, (1, 2, 4)).eval()
    x = torch.randn(2, 12, 8)
    y = tcn(x)
    assert y.shape == x.shape
    for p in range(12):
        x2 = x.clone()
        x2[:, p + 1 :] += torch.randn_like(x2[:, p + 1 :]) * 5
        y2 = tcn(x2)
        assert torch.allclose(y[:, : p + 1], y2[:, : p + 1], atol=1e-6)
        if p > 0:  # and it does look back
            x3 = x.clone()
            x3[:, p - 1] += 5
            assert not torch.allclose(tcn(x3)[:, p], y[:, p])


def test_grn_shapes():
    g = GatedResidualNetwork(6, 10, 4, d_context=3)
    assert g(torch.randn(5, 6), torch.randn(5, 3)).shape == (5, 4)


def test_weights_saved_with_the_old_grn_key_names_still_load():
    m = _model()
    old = {
        k.replace('.gate.glu.', '.gate.').replace('.gate.norm.', '.norm.'): v
        for k, v in m.state_dict().items()
    }
    assert 'grn1.gate.weight' in old and 'grn1.norm.bias' in old
    fresh = _model()
    fresh.load_state_dict(old)  # strict: every old key finds its new home
    assert all(
        torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), m.state_dict().values())
    )


# ------------------------------------------------------------------ loss
def test_loss_hand_computation_with_nan_mask():
    out = {
        'ret': torch.tensor([[0.1, 0.2], [0.3, -0.4]]),
        'dir_logit': torch.tensor([[0.0, 2.0], [-1.0, 1.0]]),
        'log_var': torch.tensor([0.5, -0.3]),
    }
    ret_t = torch.tensor([[0.0, float('nan')], [0.5, -0.4]])
    dir_t = torch.tensor([[1.0, 0.0], [float('nan'), 1.0]])
    scale = 2.0
    loss, parts = timeformer_loss(out, ret_t, dir_t, ret_scale=scale)
    # valid ret errors: 0.1, -0.2, 0.0 (scaled by 1/2) -> mse = (0.0025 + 0.01 + 0) / 3
    mse = (0.05**2 + 0.1**2 + 0.0) / 3
    sp = lambda z: math.log1p(math.exp(z))  # bce(logit z, y) = softplus(z) - y*z
    bce = ((sp(0.0) - 0.0) + (sp(2.0) - 0.0) + (sp(1.0) - 1.0)) / 3
    exp = math.exp(-0.5) * mse + 0.5 + math.exp(0.3) * bce - 0.3
    assert abs(loss.item() - exp) < 1e-6
    assert parts['mse'] == pytest.approx(mse, abs=1e-7) and parts['bce'] == pytest.approx(
        bce, abs=1e-7
    )
    assert parts['s_ret'] == pytest.approx(0.5) and parts['s_dir'] == pytest.approx(-0.3)


def test_loss_gradients_finite_with_nans_and_all_nan():
    m = _model(dropout=0.0)
    out = m(*_inputs(m.config))
    rt = torch.full((4, 3), float('nan'))
    rt[0, 0] = 0.1
    loss, parts = timeformer_loss(out, rt, torch.full((4, 3), float('nan')))
    loss.backward()
    assert torch.isfinite(loss) and parts['bce'] == 0.0
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    with pytest.raises(ModelError, match='shape'):
        timeformer_loss(out, torch.zeros(4, 2), torch.zeros(4, 3))


# ------------------------------------------------------------------ training behaviour
def _train(model, data, steps, lr=3e-3):
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    price, kronos, ctx, rt, dt = data
    hist = []
    for _ in range(steps):
        opt.zero_grad()
        loss, parts = timeformer_loss(model(price, kronos, ctx), rt, dt)
        loss.backward()
        opt.step()
        hist.append(parts)
    return hist


def _data(cfg, B=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    price, kronos, ctx = _inputs(cfg, B, seed)
    rt = torch.randn(B, cfg.horizons, generator=g)
    dt = (torch.rand(B, cfg.horizons, generator=g) > 0.5).float()
    return price, kronos, ctx, rt, dt


def test_overfits_tiny_batch():
    m = _model(dropout=0.0)
    data = _data(m.config)
    hist = _train(m, data, 150)
    first, last = hist[0], hist[-1]
    assert last['mse'] < 0.1 * first['mse'], (first, last)
    assert last['bce'] < 0.1 * first['bce'], (first, last)
    m.eval()
    with torch.no_grad():
        out = m(*data[:3])
    acc = ((out['dir_logit'] > 0).float() == data[4]).float().mean().item()
    assert acc >= 0.99, acc


def test_determinism():
    a, b = _model(seed=7), _model(seed=7)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and torch.equal(pa, pb)
    data = _data(a.config, B=8)
    torch.manual_seed(123)
    _train(a, data, 20)
    torch.manual_seed(123)  # dropout masks identical too
    _train(b, data, 20)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.log_var, _model(seed=7).log_var)  # it actually trained


# ------------------------------------------------------------------ input validation
@pytest.mark.parametrize(
    'which,bad,name',
    [
        (0, torch.randn(2, 100, 5), 'price'),
        (0, torch.randn(2, 120, 4), 'price'),
        (0, torch.randn(120, 5), 'price'),
        (1, torch.randn(2, 256), 'kronos'),
        (1, torch.randn(2, 1, 512), 'kronos'),
        (2, torch.randn(2, 30), 'context'),
        (2, torch.randn(3, 29), 'batch'),
    ],
)
def test_bad_shapes_raise(which, bad, name):
    m = _model()
    x = list(_inputs(m.config, B=2))
    x[which] = bad
    with pytest.raises(ModelError, match=name):
        m(*x)
