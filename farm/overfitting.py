"""Overfitting guard: the deflated Sharpe ratio (Bailey & López de Prado, 2014).

A sweep tries many strategy variants and reports the best. Even if no variant has any edge,
the best of N noisy Sharpe estimates is expected to be well above zero, so "best Sharpe > 0"
says little. The deflated Sharpe ratio (DSR) is the probability that the true Sharpe of the
selected variant exceeds what the best of N worthless trials would show by luck, corrected
for short samples and for non-normal (skewed, fat-tailed) returns.

    SR0 = sqrt(V[SR_n]) · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)))
    DSR = Φ( (SR̂ − SR0)·sqrt(T − 1) / sqrt(1 − γ3·SR̂ + (γ4 − 1)/4·SR̂²) )

γ is the Euler–Mascheroni constant, N the number of trials, V[SR_n] the variance of the
trials' Sharpe ratios, T the number of returns behind SR̂, γ3 their skewness and γ4 their
kurtosis (3 for normal returns). All Sharpe ratios must be in the same, non-annualised unit
as T: per trade for this engine's statistics (`sharpe_ratio` is mean/std of trade PnLs).

Only the standard library is used (`statistics.NormalDist`), to keep scipy out of the farm.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from farm.models import Model
from farm.reports.markdown import num

__all__ = ["EULER_GAMMA", "DeflatedSharpe", "deflated_sharpe", "describe_deflated_sharpe", "return_moments"]

EULER_GAMMA = 0.5772156649015329
"""The Euler–Mascheroni constant γ."""

_NORMAL = statistics.NormalDist()


class DeflatedSharpe(Model):
    """The inputs and outcome of one deflated-Sharpe test; `None` where not computable."""

    observed_sharpe: float
    """SR̂: the Sharpe ratio of the selected (best) trial, non-annualised."""
    expected_max_sharpe: float | None = None
    """SR0: the Sharpe the best of `n_trials` skill-less trials is expected to reach."""
    deflated_sharpe: float | None = None
    """DSR, a probability in [0, 1]: how likely the true Sharpe exceeds SR0 (≥ 0.95 is the
    usual bar for "not explained by selection bias")."""
    n_trials: int
    n_observations: int
    trial_sharpe_std: float | None = None
    """sqrt(V[SR_n]): the sample standard deviation of the trials' Sharpe ratios."""
    skewness: float = 0.0
    kurtosis: float = 3.0


def expected_max_sharpe(trial_sharpe_std: float, n_trials: int) -> float:
    """SR0: the expected maximum of `n_trials` Sharpe estimates whose true value is 0.

    The paper's approximation of E[max] of N normal draws (false strategy theorem); it needs
    N ≥ 2, since Φ⁻¹(0) is −∞.
    """
    return trial_sharpe_std * (
        (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n_trials)
        + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n_trials * math.e))
    )


def probabilistic_sharpe(
    observed_sharpe: float, benchmark_sharpe: float, n_observations: int, skewness: float, kurtosis: float
) -> float | None:
    """PSR: Φ of the observed-vs-benchmark Sharpe gap over its standard error.

    `None` when fewer than 2 observations, or when skew and kurtosis make the variance term
    non-positive (the approximation breaks down for such extreme moments).
    """
    if n_observations < 2:
        return None
    radicand = 1 - skewness * observed_sharpe + (kurtosis - 1) / 4 * observed_sharpe**2
    if not radicand > 0:
        return None
    z = (observed_sharpe - benchmark_sharpe) * math.sqrt(n_observations - 1) / math.sqrt(radicand)
    return _NORMAL.cdf(z)


def deflated_sharpe(
    observed_sharpe: float,
    trial_sharpes: Sequence[float],
    n_observations: int,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
) -> DeflatedSharpe:
    """The deflated Sharpe ratio of `observed_sharpe`, the best of `trial_sharpes`.

    `trial_sharpes` holds every trial's Sharpe (the selected one included); their sample
    variance is V[SR_n]. With fewer than 2 trials there is no dispersion to deflate by and
    SR0, the std and the DSR are `None`; with fewer than 2 observations only the DSR is
    `None`. Identical trials give SR0 = 0, i.e. the DSR becomes the probabilistic Sharpe
    ratio against zero.
    """
    n_trials = len(trial_sharpes)
    result = DeflatedSharpe(
        observed_sharpe=observed_sharpe,
        n_trials=n_trials,
        n_observations=n_observations,
        skewness=skewness,
        kurtosis=kurtosis,
    )
    if n_trials < 2:
        return result
    std = math.sqrt(statistics.variance([float(s) for s in trial_sharpes]))
    sr0 = expected_max_sharpe(std, n_trials)
    dsr = probabilistic_sharpe(observed_sharpe, sr0, n_observations, skewness, kurtosis)
    return result.model_copy(update={"trial_sharpe_std": std, "expected_max_sharpe": sr0, "deflated_sharpe": dsr})


def return_moments(returns: Sequence[float]) -> tuple[float, float]:
    """(skewness, kurtosis) of `returns`, population moments, kurtosis not in excess (normal = 3).

    These are the γ3 and γ4 the DSR expects; (0, 3) — the normal case — when there are fewer
    than 2 returns or no dispersion.
    """
    n = len(returns)
    if n < 2:
        return 0.0, 3.0
    mean = math.fsum(returns) / n
    m2 = math.fsum((r - mean) ** 2 for r in returns) / n
    if m2 == 0:
        return 0.0, 3.0
    m3 = math.fsum((r - mean) ** 3 for r in returns) / n
    m4 = math.fsum((r - mean) ** 4 for r in returns) / n
    return m3 / m2**1.5, m4 / m2**2


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def describe_deflated_sharpe(result: DeflatedSharpe) -> str:
    """A markdown paragraph for reports: the formula, the numbers plugged in, the verdict.

    Stated in full so a reader can check the arithmetic without the code.
    """
    head = (
        "**Deflated Sharpe ratio** (Bailey & López de Prado, 2014): "
        "SR0 = σ(SR_n)·((1−γ)·Φ⁻¹(1−1/N) + γ·Φ⁻¹(1−1/(N·e))), "
        "DSR = Φ((SR̂ − SR0)·√(T−1) / √(1 − γ3·SR̂ + (γ4−1)/4·SR̂²))."
    )
    inputs = (
        f"SR̂ = {num(result.observed_sharpe, 4)}, N = {_plural(result.n_trials, 'trial')}, "
        f"σ(SR_n) = {num(result.trial_sharpe_std, 4)}, T = {_plural(result.n_observations, 'observation')}, "
        f"γ3 = {num(result.skewness, 2)}, γ4 = {num(result.kurtosis, 2)}."
    )
    if result.expected_max_sharpe is None:
        verdict = "Not computable: at least 2 trials are needed to estimate the selection bias."
    elif result.deflated_sharpe is None:
        verdict = (
            f"SR0 = {num(result.expected_max_sharpe, 4)}; DSR not computable "
            "(needs T ≥ 2 and 1 − γ3·SR̂ + (γ4−1)/4·SR̂² > 0)."
        )
    else:
        dsr = result.deflated_sharpe
        judgement = (
            "the edge is unlikely to be a product of selection bias (DSR ≥ 0.95)"
            if dsr >= 0.95
            else "the edge may well be a product of trying many variants (DSR < 0.95)"
        )
        verdict = (
            f"SR0 = {num(result.expected_max_sharpe, 4)} (expected best Sharpe of {result.n_trials} "
            f"skill-less trials); DSR = {num(dsr, 4)}: {judgement}."
        )
    return " ".join([head, inputs, verdict])
