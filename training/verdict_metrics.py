"""The numerical helpers of training/train.py that need numpy only, so training/tests can check them
without the model libraries: file digests, the model card's PSI reference bins and calibration error."""
import hashlib

import numpy as np


def sha256(path):
    """The file's SHA-256 in hex, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def psi_bins(values, bins=10):
    """Decile bins of `values` for the card's psi_reference: inner edges (None for the open ends),
    the fraction of all values in each bin and the fraction missing (NaN). Fractions and missing sum
    to 1. Tied quantiles merge, so a feature with few distinct values gets fewer bins."""
    finite = values[~np.isnan(values)]
    missing = float(np.isnan(values).mean())
    if finite.size == 0:
        return {"edges": [None, None], "fractions": [0.0], "missing": missing}
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)))
    inner = list(edges[1:-1])
    counts = np.histogram(finite, bins=[-np.inf, *inner, np.inf])[0]
    fractions = (counts / values.size).tolist()
    return {"edges": [None] + [float(e) for e in inner] + [None], "fractions": [float(f) for f in fractions], "missing": missing}


def expected_calibration_error(y, p, bins=10):
    """Expected calibration error over `bins` equal-width score bins: the share-weighted gap between
    the mean score and the fraud rate in each bin."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(ece)
