"""Face prior parts (issue 19): inversion encoder, fusion net, the composed model, contextual loss."""

import pytest
import torch

from restora.errors import InvalidParameterError
from restora.nn.face_prior import (
    FaceFusionNet,
    FaceFusionOutput,
    FusionNet,
    InversionEncoder,
    build_face_fusion,
    ws_groups,
)
from restora.train.contextual import (
    ContextualLoss,
    contextual_loss_maps,
    contextual_loss_vectors,
    contextual_similarity,
)

TINY = dict(
    generator=dict(z_dim=8, w_dim=8, mapping_layers=2, channel_base=128, channel_max=8),
    encoder=dict(width=4, max_width=8),
    nafnet=dict(width=4, enc_blocks=(1, 1), dec_blocks=(1, 1)),
    fusion=dict(features=8),
)


def _model(**kw):
    torch.manual_seed(0)
    return build_face_fusion(32, **TINY, **kw)


def test_ws_groups_split_by_pyramid_level():
    assert ws_groups(10) == (4, 2, 4)
    assert ws_groups(8) == (4, 2, 2)
    assert ws_groups(6) == (4, 2, 0)


def test_encoder_outputs_w_plus_and_feature_map():
    torch.manual_seed(0)
    e = InversionEncoder(resolution=32, num_ws=8, w_dim=8, feature_channels=6, width=4, max_width=8)
    inv = e(torch.rand(2, 3, 32, 32))
    assert inv.ws.shape == (2, 8, 8) and inv.feature.shape == (2, 6, 16, 16)
    # different images give different latents in every group
    inv2 = e(torch.rand(2, 3, 32, 32))
    assert ((inv.ws - inv2.ws).abs().amax(dim=(0, 2)) > 0).all()
    with pytest.raises(InvalidParameterError, match="32x32"):
        e(torch.rand(1, 3, 16, 16))
    with pytest.raises(InvalidParameterError, match=">= 16"):
        InversionEncoder(resolution=8)


def test_fusion_shape_and_inputs():
    torch.manual_seed(0)
    f = FusionNet(features=8)
    assert len(f.body) == 8
    x_r, x_g = torch.rand(2, 3, 20, 24), torch.rand(2, 3, 20, 24)
    y = f(x_r, x_g)
    assert y.shape == (2, 3, 20, 24)
    assert not torch.allclose(f(x_r, torch.rand_like(x_g)), y)  # both branches matter
    assert not torch.allclose(f(torch.rand_like(x_r), x_g), y)
    with pytest.raises(InvalidParameterError, match="equal shapes"):
        f(x_r, x_g[..., :20])


def test_residual_fusion_starts_at_the_regression_output_and_learns_from_both():
    torch.manual_seed(0)
    f = FusionNet(features=8, blocks=2, residual=True)
    x_r, x_g = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    assert torch.equal(f(x_r, x_g), x_r)
    f(x_r, x_g).sub(x_g).square().mean().backward()
    assert f.conv_out.weight.grad.abs().sum() > 0  # the zero-initialised output conv is trained
    assert f.conv_g.weight.grad is None or f.conv_g.weight.grad.abs().sum() == 0  # (zero out-conv: no grad behind it yet)


def test_composed_model_outputs_and_gradient_reaches_every_part():
    m = _model()
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    out = m(x)
    assert isinstance(out, FaceFusionOutput)
    assert out.x_r.shape == out.x_g.shape == out.x.shape == (2, 3, 32, 32)
    out.x.square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for part in (m.restorer, m.encoder, m.fusion):
        assert all(p.grad is not None for p in part.parameters())
        assert sum(float(p.grad.abs().sum()) for p in part.parameters()) > 0
    g_missing = {n.split(".")[0] + "." + n.split(".")[1] for n, p in m.generator.named_parameters() if p.grad is None}
    # w+ comes from the encoder (no mapping); the 16x16 convs are replaced by the feature map
    # (convs_up.1 / convs.1 are the 16x16 layers of a 32 px generator); everything else learns
    assert g_missing == {"mapping.layers", "convs_up.1", "convs.1"}
    assert float(m.generator.to_rgbs[-1].conv.weight.grad.abs().sum()) > 0


def test_without_feature_map_the_16x16_layers_train():
    m = _model(use_feature=False)
    m(torch.rand(1, 3, 32, 32)).x.mean().backward()
    assert m.generator.convs[1].conv.weight.grad is not None
    assert m.generator.const.grad is not None


def test_composed_model_is_deterministic_and_checks_sizes():
    m = _model().eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(m(x).x, m(x).x)  # constant generator noise
    g = m.generator
    e = InversionEncoder(resolution=32, num_ws=6, w_dim=8, feature_channels=8, width=4, max_width=8)
    with pytest.raises(InvalidParameterError, match="encoder predicts 6 x 8"):
        FaceFusionNet(m.restorer, e, g, m.fusion)


# -- contextual loss -----------------------------------------------------------------------


def test_contextual_loss_zero_for_identical_sets_and_permutation_invariant():
    torch.manual_seed(0)
    f = torch.randn(2, 16, 6, 6)
    other = torch.randn(2, 16, 6, 6)
    assert float(contextual_loss_maps(f, f)) == pytest.approx(0.0, abs=1e-4)
    perm = torch.randperm(36)
    shuffled = f.flatten(2)[:, :, perm].reshape_as(f)
    assert float(contextual_loss_maps(shuffled, f)) == pytest.approx(0.0, abs=1e-4)
    base = contextual_loss_maps(f, other)
    assert float(base) > 0.5
    assert torch.allclose(contextual_loss_maps(shuffled, other), base, atol=1e-5)
    assert torch.allclose(contextual_loss_maps(f, other.flatten(2)[:, :, perm].reshape_as(other)), base, atol=1e-5)


def test_contextual_similarity_bounds_and_bandwidth():
    torch.manual_seed(0)
    x, y = torch.randn(1, 20, 8), torch.randn(1, 30, 8)
    cx = contextual_similarity(x, y)
    assert 0 < float(cx) < 1
    # h -> 0: CX tends to the fraction of targets that are some output's nearest neighbour
    # (cosine, after centring on the target mean); h -> inf: the affinity is flat, CX -> 1/M
    mu = y.mean(1, keepdim=True)
    cos = torch.nn.functional.normalize(x - mu, dim=2) @ torch.nn.functional.normalize(y - mu, dim=2).transpose(1, 2)
    frac = cos[0].argmax(dim=1).unique().numel() / 30
    assert float(contextual_similarity(x, y, h=1e-3)) == pytest.approx(frac, abs=0.01)  # 1/30 per target
    assert float(contextual_similarity(x, y, h=1e4)) == pytest.approx(1 / 30, rel=1e-3)
    assert contextual_loss_vectors(x, y, h=0.1) < contextual_loss_vectors(x, y, h=0.5) < contextual_loss_vectors(x, y, h=1.0)
    # closer sets score better
    near = y[:, :20] + 0.05 * torch.randn(1, 20, 8)
    assert contextual_loss_vectors(near, y[:, :20]) < contextual_loss_vectors(x, y[:, :20])
    with pytest.raises(InvalidParameterError, match="bandwidth"):
        contextual_similarity(x, y, h=0)


def test_contextual_loss_on_images_random_features_and_rgb_patches():
    torch.manual_seed(0)
    a = torch.rand(2, 3, 32, 32)
    b = torch.rand(2, 3, 32, 32)
    pix = torch.randperm(32 * 32)
    a_shuffled = a.flatten(2)[:, :, pix].reshape_as(a)
    for loss in (ContextualLoss(), ContextualLoss(None)):
        same = float(loss(a, a))
        assert same == pytest.approx(0.0, abs=1e-3)
        assert float(loss(a, b)) > same + 0.5
        assert float(loss(a_shuffled, a)) > same + 0.5  # pixel shuffling destroys the patches
    # gradient reaches the output
    out = a.clone().requires_grad_(True)
    ContextualLoss()(out, b).backward()
    assert out.grad is not None and out.grad.abs().sum() > 0
    with pytest.raises(InvalidParameterError, match="layers"):
        ContextualLoss(layers=("conv9",))


def test_contextual_loss_caps_vectors_reproducibly():
    torch.manual_seed(0)
    fx, fy = torch.randn(1, 4, 40, 40), torch.randn(1, 4, 40, 40)
    a = contextual_loss_maps(fx, fy, max_vectors=100, generator=torch.Generator().manual_seed(3))
    b = contextual_loss_maps(fx, fy, max_vectors=100, generator=torch.Generator().manual_seed(3))
    c = contextual_loss_maps(fx, fy, max_vectors=100, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(contextual_loss_maps(fx, fx, max_vectors=100)) == pytest.approx(0.0, abs=1e-4)
