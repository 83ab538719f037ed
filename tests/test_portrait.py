"""Issue 18: pattern-noise degradation, offline face detection, the portrait networks and
the ``portrait-pattern-noise`` bench task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restora.degrade import pattern_noise
from restora.degrade.pattern import PATTERN_KINDS, draw_patterns, pattern_field
from restora.errors import InvalidParameterError, MissingResourceError, RestoraError
from restora.metrics import ssim
from restora.nn import create_model
from restora.nn.mprnet import CAB, ORB, MultiStageNet, ORSNet
from restora.nn.portrait import FaceVAE, FaceVAEBridge, Portrait3Stage, kl_divergence

TINY = dict(features=8, growth=4, levels=3, face_size=16, face_features=4, latent_channels=4, bridge_features=8,
            bridge_blocks=1, n_orb=3, orb_cabs=2)


def _face_images(data_dir, n=3):
    from restora.io import read_image

    files = sorted((data_dir / "test" / "Faces").iterdir())[:n]
    return [np.asarray(read_image(f), np.float32)[:, :, :3] for f in files]


def _have_mtcnn() -> bool:
    from restora.faces import mtcnn_weights_dir

    try:
        mtcnn_weights_dir()
        return True
    except MissingResourceError:
        return False


needs_mtcnn = pytest.mark.skipif(not _have_mtcnn(), reason="MTCNN weights (faces extra: facenet-pytorch) not installed")


# ----------------------------------------------------------------------------- degradation
def test_pattern_noise_is_seeded_and_calibrated(rgb):
    a = pattern_noise(rgb, 7)
    b = pattern_noise(rgb, 7)
    c = pattern_noise(rgb, 8)
    assert np.array_equal(a.image, b.image) and a.record == b.record
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == rgb.shape and a.image.dtype == np.float32
    assert np.array_equal(a.image, np.round(a.image * 255) / 255)  # 8-bit, clipped
    assert a.image.min() >= 0 and a.image.max() <= 1
    s = ssim(a.image, rgb)
    assert s <= 0.5 and s == pytest.approx(a.record["calibration"]["ssim"])
    assert a.record["op"] == "pattern_noise" and 1 <= len(a.record["patterns"]) <= 3
    import json

    json.dumps(a.record)


def test_pattern_noise_without_calibration_and_strength_order(rgb):
    weak = pattern_noise(rgb, 3, strength=0.05, target_ssim=None)
    strong = pattern_noise(rgb, 3, strength=1.0, target_ssim=None)
    assert weak.record["calibration"]["steps"] == 0 and weak.record["strength"] == 0.05
    assert ssim(weak.image, rgb) > ssim(strong.image, rgb)


def test_pattern_noise_gray_kinds_and_errors(gray, rgb):
    out = pattern_noise(gray, 1, kinds=("stripes",))
    assert out.image.shape == gray.shape and ssim(out.image, gray) <= 0.5
    assert {p["kind"] for p in out.record["patterns"]} == {"stripes"}
    with pytest.raises(InvalidParameterError, match="kind"):
        pattern_noise(rgb, 1, kinds=("plaid",))
    with pytest.raises(InvalidParameterError, match="strength"):
        pattern_noise(rgb, 1, strength=0)
    with pytest.raises(RestoraError, match="target_ssim"):
        pattern_noise(rgb, 1, target_ssim=-0.99, max_steps=1)


@pytest.mark.parametrize("kind", PATTERN_KINDS)
def test_pattern_fields_are_periodic_and_bounded(kind):
    spec = draw_patterns(0, kinds=(kind,), count=1)[0]
    spec.update(period=8.0, angle=0.0)
    if kind == "moire":
        spec.update(period2=8.0, angle2=0.0)
    lum = np.full((32, 48), 0.5, np.float32)
    p = pattern_field(32, 48, spec, luminance=lum)
    assert p.shape == (32, 48, 3) and p.min() >= -1 and p.max() <= 1 and p.std() > 0.1
    assert np.allclose(p[:, :-8], p[:, 8:], atol=1e-4)  # one period along x (angle 0)


@pytest.mark.data
def test_pattern_noise_on_test_faces_meets_the_ssim_bound(data_dir):
    for i, face in enumerate(_face_images(data_dir, 3)):
        out = pattern_noise(face, i)
        s = ssim(out.image, face, round_to_uint8=True)
        assert 0.3 < s <= 0.5  # heavily damaged, not destroyed (calibration starts weak)


# ----------------------------------------------------------------------------- detection
def test_detector_names_the_extra_when_weights_are_missing(tmp_path, monkeypatch, rgb):
    from restora.faces import detect_faces

    monkeypatch.setenv("RESTORA_MTCNN_DIR", str(tmp_path))
    with pytest.raises(MissingResourceError, match="faces.*facenet-pytorch"):
        detect_faces(rgb)


@needs_mtcnn
@pytest.mark.data
def test_detector_finds_the_test_faces(data_dir):
    from restora.faces import detect_faces

    for face in _face_images(data_dir, 2):
        found = detect_faces(face)
        assert found and found[0].score > 0.95
        x1, y1, x2, y2 = found[0].box
        assert 0.3 * 256 < x2 - x1 < 256 and 30 < (x1 + x2) / 2 < 226
        lm = found[0].landmarks
        assert lm.shape == (5, 2)
        assert np.all((lm[:, 0] > x1) & (lm[:, 0] < x2) & (lm[:, 1] > y1) & (lm[:, 1] < y2))
        assert lm[0, 0] < lm[1, 0] and lm[:2, 1].mean() < lm[2, 1] < lm[3:, 1].mean()  # eyes, nose, mouth


@needs_mtcnn
def test_detector_finds_nothing_in_noise(rgb):
    from restora.faces import detect_faces

    assert detect_faces(np.random.default_rng(0).random((96, 96, 3)).astype(np.float32)) == []


@needs_mtcnn
@pytest.mark.data
def test_detector_finds_a_face_pasted_into_a_scene(data_dir):
    from restora.faces import detect_faces, paste_face
    from restora.io import read_image

    face = _face_images(data_dir, 1)[0]
    bg = np.asarray(read_image(sorted((data_dir / "train" / "CBSD432").iterdir())[0]), np.float32)
    scene, rec = paste_face(face, bg, 3)
    x0, y0, x1, y1 = rec["face_region"]
    found = detect_faces(scene)
    assert found
    cx, cy = (found[0].box[0] + found[0].box[2]) / 2, (found[0].box[1] + found[0].box[3]) / 2
    assert x0 < cx < x1 and y0 < cy < y1
    # and under the task's pattern noise too
    noisy = pattern_noise(scene, 3).image
    found = detect_faces(noisy)
    assert found and x0 < (found[0].box[0] + found[0].box[2]) / 2 < x1


def test_paste_and_augment_are_seeded(rgb):
    from restora.faces import augment_face, paste_face

    bg = np.random.default_rng(1).random((120, 150, 3)).astype(np.float32)
    s1, r1 = paste_face(rgb, bg, 5, size=96)
    s2, r2 = paste_face(rgb, bg, 5, size=96)
    assert np.array_equal(s1, s2) and r1 == r2 and s1.shape == (96, 96, 3)
    x0, y0, x1, y1 = r1["face_region"]
    assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 96
    a1, _ = augment_face(rgb, 2)
    a2, _ = augment_face(rgb, 2)
    assert np.array_equal(a1, a2) and a1.shape == rgb.shape


# ----------------------------------------------------------------------------- networks
def test_orb_cab_count_is_configurable_and_multistage_default_unchanged():
    assert sum(isinstance(m, CAB) for m in ORB(8).body) == 4
    assert sum(isinstance(m, CAB) for m in ORB(8, 8).body) == 8
    o = ORSNet(8, 4, n_cab=8)
    assert all(sum(isinstance(m, CAB) for m in orb.body) == 8 for orb in o.orbs)
    default = MultiStageNet(features=8, growth=4)
    assert set(default.state_dict()) == set(MultiStageNet(features=8, growth=4, orb_cabs=4).state_dict())
    assert all(sum(isinstance(m, CAB) for m in orb.body) == 4 for orb in default.stage3.orbs)
    assert create_model("multistage").arch_args == {"in_channels": 3, "features": 40, "growth": 20}
    big = create_model("multistage", features=8, growth=4, orb_cabs=8)
    assert all(sum(isinstance(m, CAB) for m in orb.body) == 8 for orb in big.stage3.orbs)


def test_portrait_3stage_shapes_gradients_and_stages():
    torch.manual_seed(0)
    m = create_model("portrait-3stage", **TINY)
    x = torch.rand(2, 3, 33, 37, requires_grad=True)
    outs = m.forward_stages(x)
    assert len(outs) == 3 and all(o.shape == x.shape for o in outs)
    sum(o.square().mean() for o in outs).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    assert x.grad.abs().sum() > 0
    orbs = m.stage3.orbs
    assert len(orbs) == 3 and all(sum(isinstance(c, CAB) for c in orb.body) == 2 for orb in orbs)


def test_portrait_face_step_follows_the_boxes():
    torch.manual_seed(0)
    m = Portrait3Stage(**TINY).eval()
    x = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        s1, s2, _ = m.forward_stages(x, [[]])
        assert torch.equal(s1, s2)  # no face: step 2 leaves the image
        s1, s2, _ = m.forward_stages(x, [[(4, 4, 20, 24)]])
        changed = (s1 - s2).abs().sum(1)[0] > 0
        ys, xs = torch.nonzero(changed, as_tuple=True)
        assert len(ys) and xs.max() < 30 and ys.max() < 30  # only the (expanded) box changed
        assert changed[:, 40:].sum() == 0
        seen = []
        m.forward_stages(x, detector=lambda img: seen.append(img.shape) or [[(30, 10, 50, 30)]])
        assert seen == [torch.Size([1, 3, 48, 64])]


def test_portrait_gated_full_resolution_face_step_starts_at_the_identity_and_learns():
    torch.manual_seed(0)
    m = Portrait3Stage(**TINY, face_residual=True, face_full_res=True, face_gate=True)
    x = torch.rand(1, 3, 48, 64)
    s1, s2, s3 = m.forward_stages(x, [[(4, 4, 40, 44)]])
    assert torch.equal(s1, s2)  # gain 0: the system starts as the system without step 2
    s3.square().mean().backward()
    assert m.face_gain.grad is not None and m.face_gain.grad.abs() > 0
    with torch.no_grad():
        m.face_gain.fill_(1.0)
        m.face = type(m.face)(3, 4, 2, 2, 1, 4, 1)  # a face path whose correction we control
        for p in m.face.parameters():
            p.zero_()
        s1, s2, _ = m.forward_stages(x, [[(4, 4, 40, 44)]])
    assert torch.allclose(s1, s2)  # zero correction keeps the step-1 detail at full resolution
    with pytest.raises(ValueError, match="face_residual"):
        Portrait3Stage(**TINY, face_full_res=True)


@pytest.mark.parametrize("switch,stages", [({"face_stage": False}, 2), ({"sam_features": False}, 3), ({"orb_cabs": 4}, 3)])
def test_portrait_ablation_switches(switch, stages):
    torch.manual_seed(0)
    m = create_model("portrait-3stage", **{**TINY, **switch})
    outs = m.forward_stages(torch.rand(1, 3, 32, 32))
    assert len(outs) == stages
    full = sum(p.numel() for p in create_model("portrait-3stage", **TINY).parameters())
    params = sum(p.numel() for p in m.parameters())
    if "face_stage" in switch:
        assert m.face is None and params < full
    if "sam_features" in switch:
        assert not hasattr(m, "concat3") and params < full
    if "orb_cabs" in switch:
        assert all(sum(isinstance(c, CAB) for c in orb.body) == 4 for orb in m.stage3.orbs) and params > full
    outs[-1].mean().backward()
    assert all(p.grad is not None for p in m.parameters())


def test_face_vae_and_bridge():
    torch.manual_seed(0)
    vae = FaceVAE(features=4, latent_channels=3, downs=2)
    x = torch.rand(2, 3, 16, 16)
    rec, mu, logvar = vae.forward_vae(x)
    assert rec.shape == x.shape and mu.shape == (2, 3, 4, 4) and logvar.shape == mu.shape
    vae.eval()
    assert torch.equal(vae(x), vae(x))  # the mean in eval
    assert vae(torch.rand(1, 3, 18, 22)).shape == (1, 3, 18, 22)
    assert kl_divergence(torch.zeros(3), torch.zeros(3)).item() == 0.0
    assert kl_divergence(torch.ones(3), torch.zeros(3)).item() == pytest.approx(0.5)
    other = FaceVAE(features=4, latent_channels=3, downs=2)
    net = FaceVAEBridge.from_vaes(vae, other, features=4, latent_channels=3, downs=2)
    for a, b in zip(net.encoder_a.state_dict().values(), vae.encoder.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(net.decoder_b.state_dict().values(), other.decoder.state_dict().values()):
        assert torch.equal(a, b)
    assert net.eval()(x).shape == x.shape
    assert create_model("face-vae-bridge", features=4, latent_channels=3, bridge_features=4)(x).shape == x.shape


def test_portrait_restorer_runs_the_system(rgb):
    from restora.faces import PortraitRestorer

    torch.manual_seed(0)
    r = PortraitRestorer(create_model("portrait-3stage", **TINY), detector="default")
    out = r(rgb)
    assert out.shape == rgb.shape and out.dtype == np.float32 and len(r.last_faces) == 1
    none = PortraitRestorer(create_model("portrait-3stage", **TINY), detector="none")
    assert none(rgb[:, :, :1]).shape == (64, 80, 1) and none.last_faces == []
    with pytest.raises(InvalidParameterError, match="detector"):
        PortraitRestorer(create_model("portrait-3stage", **TINY), detector="haar")


# ----------------------------------------------------------------------------- bench
def test_bench_task_checks_every_input(rgb):
    from restora.bench import TASKS
    from restora.bench.portrait import PORTRAIT_MAX_INPUT_SSIM, check_input

    task = TASKS["portrait-pattern-noise"]
    assert task.datasets == ("Faces",) and {"multistage", "portrait-3stage"} <= set(task.methods)
    s = task.make_sample(rgb, name="face_a")
    again = task.make_sample(rgb, name="face_a")
    assert np.array_equal(s.degraded, again.degraded)
    assert s.record["input_ssim"] <= PORTRAIT_MAX_INPUT_SSIM
    assert s.record["input_ssim"] == pytest.approx(ssim(s.degraded, rgb, round_to_uint8=True))
    with pytest.raises(RestoraError, match="input SSIM"):
        check_input(rgb + 0.01, rgb)


def test_bench_methods_say_which_recipe_trains_them(tmp_path, monkeypatch):
    from restora.bench import TASKS, resolve_method

    monkeypatch.setenv("RESTORA_CACHE", str(tmp_path))
    task = TASKS["portrait-pattern-noise"]
    assert resolve_method("input", task).name == "input"
    for shipped in ("portrait-3stage", "multistage"):  # both ship (research-only cards)
        assert resolve_method(shipped, task).name == shipped
    with pytest.raises(MissingResourceError, match="configs/cpu/portrait/ablation-nosam.yaml"):
        resolve_method("portrait-3stage-nosam", task)
    with pytest.raises(MissingResourceError, match="configs/cpu/portrait/ablation-cab4.yaml"):
        resolve_method("portrait-3stage-cab4", task)


@pytest.mark.data
def test_faces_is_a_known_bench_set(data_dir):
    from restora.bench import TASKS, resolve_dataset

    ds = resolve_dataset("Faces", TASKS["portrait-pattern-noise"], limit=2)
    assert ds.name == "Faces" and len(ds.images) == 2


def test_comparison_figure_draws_one_row_per_face_with_its_boxes(tmp_path, rgb):
    import matplotlib.image as mpimg

    from restora.bench.portrait import comparison_figure

    rows = [[("input", rgb), ("clean", rgb)], [("input", rgb[:, :, :1]), ("clean", rgb)]]
    out = comparison_figure(rows, tmp_path / "sub" / "fig.png", boxes=[[(4, 4, 20, 20)], []], box_panels=(0,), dpi=40)
    plain = comparison_figure(rows, tmp_path / "plain.png", dpi=40)

    def green(path):
        img = mpimg.imread(path)
        return img, ((img[:, :, 1] > 0.8) & (img[:, :, 0] < 0.3) & (img[:, :, 2] < 0.3)).sum()

    img, boxed = green(out)
    assert img.shape[0] > img.shape[1] * 0.8  # two rows of two panels: about square
    assert boxed > green(plain)[1] + 20  # the lime box is drawn


def test_the_shipped_portrait_system_says_it_is_research_only():
    from restora import zoo

    card = zoo.load("portrait-3stage").card
    assert "research" in card.license and "research use only" in card.description
    assert card.args["face_gate"] and card.scores["portrait-pattern-noise/Faces"]["ssim"] > 0.8
