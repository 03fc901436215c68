"""Deflated Sharpe ratio against arithmetic written out here, and the paper's own example.

Bailey & López de Prado (2014), numerical example: annualised SR̂ = 2.5 over 5 years of daily
returns (T = 1250, 250 days a year), N = 100 trials with annualised V[SR_n] = 1/2, skewness
−3, kurtosis 10. The paper reports SR0 ≈ 0.1132 (non-annualised) and DSR ≈ 0.9004.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from farm.overfitting import DeflatedSharpe, deflated_sharpe, describe_deflated_sharpe, return_moments

Z = NormalDist()
GAMMA = 0.5772156649015329


def trials_with_variance(variance: float, n: int) -> list[float]:
    """n (even) Sharpe ratios, ±a, whose sample variance is exactly `variance`: n·a²/(n−1)."""
    a = math.sqrt(variance * (n - 1) / n)
    return [a] * (n // 2) + [-a] * (n // 2)


def independent_dsr(sr: float, variance: float, n: int, t: int, skew: float, kurt: float) -> tuple[float, float]:
    sr0 = math.sqrt(variance) * ((1 - GAMMA) * Z.inv_cdf(1 - 1 / n) + GAMMA * Z.inv_cdf(1 - 1 / (n * math.e)))
    z = (sr - sr0) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr * sr)
    return sr0, Z.cdf(z)


def test_paper_example() -> None:
    sr = 2.5 / math.sqrt(250)
    variance = 0.5 / 250
    result = deflated_sharpe(sr, trials_with_variance(variance, 100), 1250, skewness=-3, kurtosis=10)
    sr0, dsr = independent_dsr(sr, variance, 100, 1250, -3, 10)
    assert result.expected_max_sharpe == pytest.approx(sr0, rel=1e-9)
    assert result.deflated_sharpe == pytest.approx(dsr, rel=1e-9)
    assert result.trial_sharpe_std == pytest.approx(math.sqrt(variance), rel=1e-12)
    assert (result.n_trials, result.n_observations, result.observed_sharpe) == (100, 1250, sr)
    # The figures printed in the paper.
    assert result.expected_max_sharpe == pytest.approx(0.1132, abs=1e-4)
    assert result.deflated_sharpe == pytest.approx(0.9004, abs=1e-4)


def test_hand_built_case_normal_returns() -> None:
    trials = [0.05, 0.10, 0.20, 0.02, 0.15]
    mean = sum(trials) / 5
    variance = sum((s - mean) ** 2 for s in trials) / 4  # sample variance
    result = deflated_sharpe(0.20, trials, 200)
    sr0, dsr = independent_dsr(0.20, variance, 5, 200, 0.0, 3.0)
    assert result.expected_max_sharpe == pytest.approx(sr0, rel=1e-12)
    assert result.deflated_sharpe == pytest.approx(dsr, rel=1e-12)
    assert 0 <= result.deflated_sharpe <= 1


def test_more_trials_deflate_more() -> None:
    few = deflated_sharpe(0.2, trials_with_variance(0.004, 4), 250)
    many = deflated_sharpe(0.2, trials_with_variance(0.004, 400), 250)
    assert many.expected_max_sharpe > few.expected_max_sharpe
    assert many.deflated_sharpe < few.deflated_sharpe


def test_one_trial_not_computable() -> None:
    result = deflated_sharpe(0.3, [0.3], 100)
    assert result == DeflatedSharpe(observed_sharpe=0.3, n_trials=1, n_observations=100)
    assert result.expected_max_sharpe is None and result.deflated_sharpe is None
    assert result.trial_sharpe_std is None
    assert deflated_sharpe(0.3, [], 100).deflated_sharpe is None


def test_zero_variance_is_psr_against_zero() -> None:
    result = deflated_sharpe(0.1, [0.1, 0.1, 0.1], 101)
    assert result.trial_sharpe_std == 0.0 and result.expected_max_sharpe == 0.0
    assert result.deflated_sharpe == pytest.approx(Z.cdf(0.1 * 10 / math.sqrt(1 + 2 / 4 * 0.01)), rel=1e-12)


def test_too_few_observations() -> None:
    result = deflated_sharpe(0.3, [0.1, 0.3], 1)
    assert result.expected_max_sharpe is not None and result.deflated_sharpe is None
    assert deflated_sharpe(0.3, [0.1, 0.3], 0).deflated_sharpe is None


def test_non_positive_variance_term() -> None:
    # 1 − γ3·SR̂ + (γ4 − 1)/4·SR̂² = 1 − 5·1 + 0 < 0 (kurtosis 1 kills the last term).
    assert deflated_sharpe(1.0, [0.1, 1.0], 50, skewness=5, kurtosis=1).deflated_sharpe is None


def test_return_moments() -> None:
    assert return_moments([1.0]) == (0.0, 3.0)
    assert return_moments([2.0, 2.0, 2.0]) == (0.0, 3.0)
    skew, kurt = return_moments([1.0, -1.0, 1.0, -1.0])
    assert skew == pytest.approx(0.0) and kurt == pytest.approx(1.0)
    skew, _ = return_moments([0.0, 0.0, 0.0, 10.0])
    assert skew > 0


def test_describe() -> None:
    sr = 2.5 / math.sqrt(250)
    text = describe_deflated_sharpe(
        deflated_sharpe(sr, trials_with_variance(0.5 / 250, 100), 1250, skewness=-3, kurtosis=10)
    )
    assert "Bailey & López de Prado" in text and "Φ⁻¹(1−1/N)" in text
    for number in ("SR̂ = 0.1581", "N = 100 trials", "T = 1250 observations", "SR0 = 0.1132", "DSR = 0.9004"):
        assert number in text
    assert "DSR < 0.95" in text
    assert "Not computable" in describe_deflated_sharpe(deflated_sharpe(0.3, [0.3], 100))
    assert "DSR not computable" in describe_deflated_sharpe(deflated_sharpe(0.3, [0.1, 0.3], 1))
    assert "DSR ≥ 0.95" in describe_deflated_sharpe(deflated_sharpe(0.5, [0.0, 0.1], 500))
