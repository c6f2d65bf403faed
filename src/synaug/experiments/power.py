"""How much a claim's seeds could decide, from statsmodels and scipy (no hand-written formulas):

- `tost_p`: a paired two one-sided test (statsmodels `ttost_paired`) that the mean difference lies
  within (-delta, +delta), the margin of practical equivalence;
- `detectable`: the difference a paired t-test over n seeds detects with 80 % power at level alpha,
  given the spread of the paired differences (the root of statsmodels' `TTestPower.power`);
- `seeds_needed`: the number of seeds such a test needs to detect delta, from the spread only (never
  from the observed difference: choosing n from the observed effect biases the test);
- `sign_test_p`: the one-sided sign-test p of a rule that held on k of n seeds (`scipy.stats.binomtest`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

POWER = 0.8


def tost_p(a: np.ndarray, b: np.ndarray, delta: float) -> float | None:
    """p of the paired TOST that |mean(a - b)| < delta; None with under 2 pairs or no spread."""
    d = np.asarray(a, float) - np.asarray(b, float)
    if len(d) < 2 or np.allclose(d, d[0]) or not delta > 0:
        return None
    p, _, _ = ttost_paired(np.asarray(a, float), np.asarray(b, float), -delta, delta)
    return float(p)


def detectable(std: float, n: int, alpha: float, power: float = POWER) -> float | None:
    """The (absolute) mean difference a two-sided paired t-test over `n` seeds detects with `power`
    at level `alpha`, when the paired differences have sample std `std`; None for n < 2."""
    if n < 2 or std is None or not math.isfinite(std):
        return None
    if std == 0:
        return 0.0
    # statsmodels' own solve_power can return a wrong root silently where scipy's noncentral t gives NaN
    # inside its search (effect 5.5 for 12.7 at 3 seeds, alpha 0.05 / 15): root-find on `power_of` instead
    d = optimize.brentq(lambda e: power_of(e, n, alpha) - power, 1e-9, 1e4, xtol=1e-10)
    return float(d) * std


def power_of(effect: float, n: int, alpha: float) -> float:
    """statsmodels' power of a two-sided one-sample (paired) t-test. Where it returns NaN (it does for
    some large effects: its far tail, scipy's noncentral t cdf at -crit, comes back NaN), the same power
    from scipy's noncentral t directly: the upper tail at the critical value plus the far tail, which is
    taken as 0 where scipy cannot evaluate it (it is below 1e-100 there)."""
    p = TTestPower().power(effect_size=effect, nobs=n, alpha=alpha, alternative="two-sided")
    if not math.isfinite(p):
        df, nc = n - 1, effect * math.sqrt(n)
        crit = stats.t.isf(alpha / 2, df)
        far = stats.nct.cdf(-crit, df, nc)
        p = stats.nct.sf(crit, df, nc) + (far if math.isfinite(far) else 0.0)
    return float(p)


def seeds_needed(std: float, delta: float, alpha: float, power: float = POWER, cap: int | None = 10) -> int | None:
    """The smallest number of seeds (at least 2) at which a two-sided paired t-test at level `alpha`
    detects a true difference of `delta` with `power`, the paired differences having std `std` (the
    spread of a pilot's differences). None when more than `cap` seeds would be needed (cap None:
    never capped). The power rule of `--seeds auto`: it reads the spread only, never the observed
    difference."""
    if std is None or not delta > 0 or not math.isfinite(std):
        return None
    if std == 0:
        return 2
    effect = delta / std

    def enough(n):
        return power_of(effect, n, alpha) >= power
    if enough(2):
        return 2
    lo, hi = 2, 4                      # power rises with n: double, then bisect
    while not enough(hi):
        if (cap is not None and hi > cap) or hi > 1_000_000:
            return None
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return None if cap is not None and hi > cap else hi


def sign_test_p(holds: int, n: int, alternative: str = "greater") -> float | None:
    """Sign-test p that a rule holding on `holds` of `n` seeds holds more often than not (H0: each seed a
    fair coin; one-sided, or "two-sided" for a difference of either sign); None without a decided seed."""
    if n < 1:
        return None
    return float(stats.binomtest(holds, n, 0.5, alternative=alternative).pvalue)


def sign_test_seeds(alpha: float, cap: int | None = None) -> int | None:
    """The fewest seeds on which a rule holding on every one clears `alpha` (0.5**n < alpha)."""
    n = max(1, math.ceil(math.log(alpha) / math.log(0.5) - 1e-12))
    while 0.5 ** n >= alpha:
        n += 1
    return None if cap is not None and n > cap else n
