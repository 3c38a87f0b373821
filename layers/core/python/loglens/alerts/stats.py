"""The few tail probabilities the detectors need, in pure Python (no SciPy in a Lambda layer for three functions).

Counts of log lines are modelled as Poisson (errors in an hour, lines of a service) or binomial (requests slower
than the baseline's percentile). The detectors ask "how surprising is this count if nothing changed": the upper
tail for spikes, the lower tail for silence. Regularized incomplete gamma and beta functions by their series and
continued fractions (Numerical Recipes, 3rd ed., 6.2 and 6.4), accurate to ~1e-12, which is far more than a
threshold like 1e-6 needs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 10_000


def poisson_at_least(k: float, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean)."""
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    return _gamma_p(math.ceil(k), mean)


def poisson_at_most(k: float, mean: float) -> float:
    """P(X <= k) for X ~ Poisson(mean)."""
    if k < 0:
        return 0.0
    if mean <= 0:
        return 1.0
    return 1.0 - _gamma_p(math.floor(k) + 1, mean)


def binomial_at_least(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return _beta_i(float(k), float(n - k + 1), p)


def _gamma_p(a: float, x: float) -> float:
    """The regularized lower incomplete gamma function P(a, x)."""
    if x < a + 1.0:
        term = total = 1.0 / a
        denominator = a
        for _ in range(_MAX_ITERATIONS):
            denominator += 1.0
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return min(1.0, total * math.exp(-x + a * math.log(x) - math.lgamma(a)))
    # The continued fraction for Q(a, x) converges fast where the series would be slow.
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return max(0.0, 1.0 - math.exp(-x + a * math.log(x) - math.lgamma(a)) * h)


def _beta_i(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return min(1.0, front * _beta_fraction(a, b, x) / a)
    return max(0.0, 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b)


def _beta_fraction(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_ITERATIONS):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def histogram_quantile(buckets: Mapping[float, float], q: float) -> float | None:
    """The smallest bucket bound (le_ms) whose running count reaches q of the total; None for no requests."""
    total = sum(buckets.values())
    if total <= 0:
        return None
    running = 0.0
    wanted = q * total
    for bound in sorted(buckets):
        running += buckets[bound]
        if running >= wanted - 1e-9:
            return bound
    return max(buckets)


def count_above(buckets: Mapping[float, float], bound: float) -> float:
    """Requests in buckets whose upper bound is above `bound` (so, slower than the bucket holding it)."""
    return sum(count for le, count in buckets.items() if le > bound + 1e-9)


def merge_histograms(histograms: Iterable[Mapping[float, float]]) -> dict[float, float]:
    merged: dict[float, float] = {}
    for histogram in histograms:
        for bound, count in histogram.items():
            merged[bound] = merged.get(bound, 0.0) + count
    return merged
