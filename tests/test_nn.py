"""Architectures: shapes, gradients, dtypes, descriptors and FLOPs."""

import pytest
import torch

from restora.errors import InvalidParameterError
from restora.nn import create_model, describe, get_arch, list_archs

TINY = {
    "dncnn": dict(depth=5, features=8),
    "ffdnet": dict(depth=4, features=8),
    "drunet": dict(features=4, levels=3, blocks=1),
    "nlrn": dict(features=8, embed=4, steps=3, window=4),
    "unet": dict(features=4, levels=3),
    "srcnn": dict(features=(8, 4)),
    "vdsr": dict(depth=4, features=8),
    "srresnet": dict(blocks=1, features=8, scale=4),
    "rrdb": dict(blocks=1, features=8, growth=4, scale=4),
    "edsr": dict(blocks=1, features=8, scale=3),
    "vgg-discriminator": dict(features=4),
    "unet-discriminator": dict(features=4),
    "nafnet": dict(width=4, enc_blocks=(1, 1), dec_blocks=(1, 1)),
    "multistage": dict(features=8, growth=4),
    "deepdeblur": dict(features=8, blocks=1),
    "srn": dict(features=4, blocks=1, kernel_size=3),
    "deblurgan": dict(features=4, blocks=1),
    "patchgan": dict(features=4),
    "portrait-3stage": dict(features=8, growth=4, face_size=16, face_features=4, latent_channels=4, bridge_features=8, bridge_blocks=1, orb_cabs=2),
    "face-vae": dict(features=4, latent_channels=4),
    "face-vae-bridge": dict(features=4, latent_channels=4, bridge_features=4, bridge_blocks=1),
    "stylegan2-generator": dict(resolution=32, z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8),
    "stylegan2-discriminator": dict(resolution=32, channel_base=64, channel_max=8),
    "face-fusion": dict(resolution=32, nafnet=dict(width=4, enc_blocks=(1, 1, 1, 1), dec_blocks=(1, 1, 1, 1)),
                        generator=dict(z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8),
                        encoder=dict(width=4), fusion=dict(features=4, blocks=1)),
}
#: Not image-to-image: a latent -> image generator and a fixed-size critic (tests/test_stylegan2.py).
GENERATIVE = {"stylegan2-generator", "stylegan2-discriminator"}
#: Image-to-image at one fixed size (aligned faces at the model's resolution).
FIXED_SIZE = {"face-fusion": 32}


def _inputs(name, model, h=32, w=40):
    d = describe(model, measure_flops=False)
    x = torch.rand(2, d.in_channels, h, w)
    extra = (torch.full((2, 1, h, w), 25 / 255),) if d.condition == "noise_map" else ()
    return d, x, extra


def test_every_arch_is_covered():
    assert {s.name for s in list_archs()} == set(TINY)


@pytest.mark.parametrize("name", sorted(set(TINY) - GENERATIVE))
def test_shapes_and_gradients(name):
    torch.manual_seed(0)
    model = create_model(name, **TINY[name])
    d, x, extra = _inputs(name, model, FIXED_SIZE.get(name, 32), FIXED_SIZE.get(name, 40))
    # odd sizes work for image-to-image models (they pad internally or are fully conv)
    if d.task != "discriminator" and d.size_multiple == 1:
        d, x, extra = _inputs(name, model, 33, 37)
    x.requires_grad_(True)
    y = model(x, *extra)
    if name == "vgg-discriminator":
        assert y.shape == (2, 1)
    elif name == "patchgan":
        assert y.shape == (2, 1, x.shape[2] // 8 - 2, x.shape[3] // 8 - 2)
    elif name == "unet-discriminator":
        assert y.shape == (2, 1, *x.shape[-2:])
    else:
        assert y.shape == (2, d.out_channels, x.shape[2] * d.scale, x.shape[3] * d.scale)
    y.float().square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    if name == "face-fusion":  # by design unused: the mapping MLP (the encoder gives w+) and the
        # generator layers up to 16x16, whose output the encoder's feature map replaces
        grads = [p.grad for n, p in model.named_parameters() if not n.startswith("generator.")]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_generative_shapes_and_gradients():
    torch.manual_seed(0)
    g = create_model("stylegan2-generator", **TINY["stylegan2-generator"])
    d = create_model("stylegan2-discriminator", **TINY["stylegan2-discriminator"])
    img = g(torch.randn(2, 8))
    assert img.shape == (2, 3, 32, 32)
    logit = d(img)
    assert logit.shape == (2, 1)
    logit.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in g.parameters() if p.requires_grad and p.grad is not None)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


@pytest.mark.parametrize("name", ["dncnn", "unet", "nafnet", "rrdb", "multistage"])
def test_bfloat16_forward_close_to_float32(name):
    torch.manual_seed(0)
    model = create_model(name, **TINY[name]).eval()
    d, x, extra = _inputs(name, model)
    assert "bfloat16" in d.dtypes
    with torch.no_grad():
        ref = model(x, *extra)
        low = model.to(torch.bfloat16)(x.bfloat16(), *(e.bfloat16() for e in extra)).float()
    assert low.dtype == torch.float32
    assert (low - ref).abs().mean() < 0.05 * ref.abs().mean() + 1e-2


def test_edsr_with_image_skip_starts_as_bicubic_upscaling():
    import torch.nn.functional as F

    x = torch.rand(1, 3, 12, 10)
    for scale in (2, 3, 4):
        model = create_model("edsr", features=8, blocks=2, scale=scale)
        with torch.no_grad():
            assert torch.equal(model(x), F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False))
    plain = create_model("edsr", features=8, blocks=2, scale=2, image_skip=False)  # the paper's EDSR
    with torch.no_grad():
        assert not torch.allclose(plain(x), F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False), atol=1e-2)


def test_flops_match_analytic_count_for_dncnn():
    model = create_model("dncnn", in_channels=1, features=64, depth=17)
    d = describe(model)
    macs = 9 * 1 * 64 + 15 * 9 * 64 * 64 + 9 * 64 * 1
    assert d.flops_per_pixel == pytest.approx(2 * macs, rel=1e-9)
    assert d.params == 556_097  # the published DnCNN-S count with BN (0.56 M)


def test_flops_scale_with_output_resolution_for_sr():
    m4 = describe(create_model("srresnet", blocks=1, features=8, scale=4))
    m2 = describe(create_model("srresnet", blocks=1, features=8, scale=2))
    assert m4.flops_per_pixel > m2.flops_per_pixel


def test_descriptor_fields():
    d = describe(create_model("unet", features=4, levels=4))
    assert d.size_multiple == 8 and d.task == "restore" and d.scale == 1
    assert describe(create_model("rrdb", scale=2, blocks=1, features=8, growth=4)).size_multiple == 2


def test_unknown_arch_and_bad_args_are_one_line_errors():
    with pytest.raises(InvalidParameterError, match="unknown architecture 'nope'; available: .*dncnn"):
        get_arch("nope")
    with pytest.raises(InvalidParameterError, match="bad arguments for architecture 'dncnn'"):
        create_model("dncnn", colour=True)


def test_multistage_and_multiscale_expose_intermediate_outputs():
    ms = create_model("multistage", **TINY["multistage"])
    outs = ms.forward_stages(torch.rand(1, 3, 30, 34))
    assert len(outs) == 3 and all(o.shape == (1, 3, 30, 34) for o in outs)
    dd = create_model("deepdeblur", **TINY["deepdeblur"])
    scales = dd.forward_scales(torch.rand(1, 3, 32, 32))
    assert [s.shape[-1] for s in scales] == [8, 16, 32]


def test_nlrn_window_non_local_is_a_softmax_mean_over_the_window():
    """The batched window block against a direct computation for one pixel, both grids."""
    from restora.nn.nlrn import NLRN, WindowNonLocal

    torch.manual_seed(0)
    block = WindowNonLocal(features=3, embed=2, size=4)
    x = torch.rand(1, 3, 8, 8)
    theta, phi = block.theta(x)[0], block.phi(x)[0]
    for shift, (i, j), rows, cols in ((False, (5, 2), slice(4, 8), slice(0, 4)), (True, (1, 1), [6, 7, 0, 1], [6, 7, 0, 1])):
        out, logits = block(x, shift=shift)
        nb_phi = phi[:, rows][:, :, cols].reshape(2, 16)
        nb_x = x[0][:, rows][:, :, cols].reshape(3, 16)
        w = torch.softmax(theta[:, i, j] @ nb_phi * 2**-0.5, dim=0)
        assert torch.allclose(out[0, :, i, j], x[0, :, i, j] + nb_x @ w, atol=1e-5), shift
    # correlation propagation: previous logits shift this step's weights
    out, logits = block(x)
    out2, logits2 = block(x, logits)
    assert torch.allclose(logits2, 2 * logits, atol=1e-5) and not torch.allclose(out2, out)
    # one recurrent cell: more steps add no parameters
    assert sum(p.numel() for p in NLRN(steps=2).parameters()) == sum(p.numel() for p in NLRN(steps=6).parameters())
