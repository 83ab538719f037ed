"""Fit and check the haze / exposure detectors of :mod:`restora.classical.enhance_detect`.

Training (the fit): the clean images of CBSD432 and Urban100, and the same images degraded
as the ``dehaze-synthetic`` and ``exposure-synthetic`` bench tasks degrade (seeded per
image). Exposure errors of at least ``--min-stops`` stops are positives of ``under`` /
``over``; milder ones are left out of the fit (they are within what a photographer may
want). Each detector is an L2-regularised logistic regression on standardised features
(scipy's L-BFGS); its threshold is the highest score of any clean training image plus
``--margin`` (no false alarm on the training set). Strong cases: haze beta >= 1.2, exposure errors >= 1.5 stops. Test: Kodak24 and CBSD68 (never fitted),
clean and degraded, with the same seeds: detection and false-alarm rates.

    python benchmarks/enhance_detect.py --out benchmarks/results/enhance-detect

prints the weights to paste into ``DETECTORS`` and writes ``fit.json`` with every score.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from restora.bench.enhance import _exposure_degrade, _haze_degrade
from restora.classical.enhance_detect import FEATURE_NAMES, Detector, enhance_features
from restora.data import dataset_images
from restora.io import read_image

TRAIN = ("CBSD432", "Urban100")
TEST = ("Kodak24", "CBSD68")


def measure(datasets: tuple[str, ...], limit: int) -> list[dict]:
    rows = []
    for ds in datasets:
        for i, f in enumerate(dataset_images(ds)[:limit]):
            im = read_image(f)[..., :3]
            if im.shape[2] != 3:
                continue
            hz, _, hrec = _haze_degrade(im, np.random.default_rng(10_000 + i))
            ex, _, erec = _exposure_degrade(im, np.random.default_rng(20_000 + i))
            rows.append({
                "dataset": ds, "name": f.name, "ev": float(erec.get("ev", 0.0)), "beta": float(hrec.get("beta", 0.0)),
                "clean": enhance_features(im), "haze": enhance_features(np.clip(hz, 0, 1)),
                "exposure": enhance_features(np.clip(ex, 0, 1)),
            })
    return rows


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Weights and bias on the raw features (standardisation folded in)."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    pos = y.mean()
    sample_w = np.where(y == 1, 0.5 / pos, 0.5 / (1 - pos))

    def loss(p):
        w, b = p[:-1], p[-1]
        t = z @ w + b
        nll = np.logaddexp(0, -t) * y + np.logaddexp(0, t) * (1 - y)
        g = (1 / (1 + np.exp(-t)) - y) * sample_w
        return float((nll * sample_w).mean() + l2 * w @ w), np.append(z.T @ g / len(y) + 2 * l2 * w, g.mean())

    p = minimize(loss, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B").x
    w = p[:-1] / sd
    return w, float(p[-1] - (p[:-1] * mu / sd).sum())


def vec(f: dict) -> list[float]:
    return [f[n] for n in FEATURE_NAMES]


def sets(rows: list[dict], min_stops: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    clean = [vec(r["clean"]) for r in rows]
    out = {"haze": (np.array(clean + [vec(r["haze"]) for r in rows]), np.array([0] * len(rows) + [1] * len(rows)))}
    under = [vec(r["exposure"]) for r in rows if r["ev"] <= -min_stops]
    over = [vec(r["exposure"]) for r in rows if r["ev"] >= min_stops]
    out["under"] = (np.array(clean + under), np.array([0] * len(clean) + [1] * len(under)))
    out["over"] = (np.array(clean + over), np.array([0] * len(clean) + [1] * len(over)))
    return out


def rates(det: Detector, rows: list[dict], min_stops: float) -> dict[str, float]:
    s = lambda f: det.score(f) > det.threshold  # noqa: E731
    if det.name == "haze":
        positives = [r["haze"] for r in rows]
    elif det.name == "under":
        positives = [r["exposure"] for r in rows if r["ev"] <= -min_stops]
    else:
        positives = [r["exposure"] for r in rows if r["ev"] >= min_stops]
    if det.name == "haze":
        strong = [r["haze"] for r in rows if r["beta"] >= 1.2]
    else:
        sign = -1 if det.name == "under" else 1
        strong = [r["exposure"] for r in rows if sign * r["ev"] >= 1.5]
    others = [r["exposure"] for r in rows if abs(r["ev"]) < min_stops]
    return {
        "detected": float(np.mean([s(f) for f in positives])) if positives else float("nan"),
        "positives": len(positives),
        "detected_strong": float(np.mean([s(f) for f in strong])) if strong else float("nan"),
        "strong": len(strong),
        "false_alarm_clean": float(np.mean([s(r["clean"]) for r in rows])),
        "fired_on_mild_exposure": float(np.mean([s(f) for f in others])) if others else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/enhance-detect"))
    ap.add_argument("--limit", type=int, default=200, help="images per dataset")
    ap.add_argument("--min-stops", type=float, default=1.0)
    ap.add_argument("--margin", type=float, default=0.0)
    ap.add_argument("--l2", type=float, default=1e-3)
    args = ap.parse_args()
    train, test = measure(TRAIN, args.limit), measure(TEST, args.limit)
    report: dict = {"train": TRAIN, "test": TEST, "min_stops": args.min_stops, "margin": args.margin, "detectors": {}}
    for name, (x, y) in sets(train, args.min_stops).items():
        w, b = fit_logistic(x, y, args.l2)
        clean_scores = x[y == 0] @ w + b
        det = Detector(name, tuple(round(float(v), 4) for v in w), round(b, 4), math.ceil((float(clean_scores.max()) + args.margin) * 1000) / 1000)
        report["detectors"][name] = {
            "weights": det.weights, "bias": det.bias, "threshold": det.threshold,
            "train": rates(det, train, args.min_stops), "test": rates(det, test, args.min_stops),
        }
        print(f'    "{name}": Detector("{name}", {det.weights}, {det.bias}, {det.threshold}),')
        for split in ("train", "test"):
            r = report["detectors"][name][split]
            print(f"      {split}: detected {r['detected']:.1%} of {r['positives']} ({r['detected_strong']:.1%} of {r['strong']} strong), false alarms on clean {r['false_alarm_clean']:.1%}, "
                  f"fired on mild exposure errors {r['fired_on_mild_exposure']:.1%}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fit.json").write_text(json.dumps({**report, "rows": {"train": train, "test": test}}, indent=1))
    print(f"wrote {args.out / 'fit.json'}")


if __name__ == "__main__":
    main()
