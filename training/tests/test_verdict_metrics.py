"""make check: the card's numerical helpers against hand-computed values (pytest, numpy only)."""
import hashlib
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from verdict_metrics import expected_calibration_error, psi_bins, sha256


def test_sha256_matches_hashlib_across_chunks(tmp_path):
    data = bytes(range(256)) * 5000  # more than one 1 MiB chunk
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256(path) == hashlib.sha256(data).hexdigest()


def test_psi_bins_deciles_of_a_uniform_feature():
    values = np.arange(1000, dtype=np.float64)
    result = psi_bins(values)
    assert result["edges"][0] is None and result["edges"][-1] is None
    assert len(result["fractions"]) == 10
    assert result["fractions"] == pytest.approx([0.1] * 10)
    assert result["missing"] == 0.0


def test_psi_bins_fractions_and_missing_sum_to_one():
    rng = np.random.default_rng(7)
    values = rng.lognormal(size=5000)
    values[rng.random(5000) < 0.2] = np.nan
    result = psi_bins(values)
    assert sum(result["fractions"]) + result["missing"] == pytest.approx(1.0)
    assert result["missing"] == pytest.approx(np.isnan(values).mean())
    inner = result["edges"][1:-1]
    assert inner == sorted(inner)


def test_psi_bins_merge_tied_quantiles():
    values = np.array([0.0] * 90 + [1.0] * 10)
    result = psi_bins(values)
    assert len(result["fractions"]) == len(result["edges"]) - 1
    assert sum(result["fractions"]) == pytest.approx(1.0)


def test_psi_bins_of_an_all_missing_feature():
    result = psi_bins(np.array([np.nan, np.nan]))
    assert result == {"edges": [None, None], "fractions": [0.0], "missing": 1.0}


def test_calibration_error_is_zero_when_scores_equal_rates():
    y = np.array([0, 0, 0, 1] * 25)
    p = np.full(100, 0.25)
    assert expected_calibration_error(y, p) == pytest.approx(0.0)


def test_calibration_error_of_an_overconfident_model():
    # Half the events score 0.9 and are fraud half the time; the rest score 0.1 and never are.
    y = np.array([1, 0] * 25 + [0] * 50)
    p = np.array([0.9] * 50 + [0.1] * 50)
    assert expected_calibration_error(y, p) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
