"""Solvers behind `deconvolution`: OASIS for AR(1) and AR(2), exact AR(2) pivoting, the lam search.

The trace model is c_t = g1 c_{t-1} + g2 c_{t-2} + s_t with s_t >= 0 and c_{-1} = c_{-2} = 0 (g2 = 0
for AR(1)). An OASIS solution (Friedrich, Zhou & Paninski 2017) is a sequence of pools: runs of
frames t0 .. t0 + l - 1 with no spike after their first frame, so that inside a pool

    c_{t0 + k} = A_k v + g2 A_{k-1} cb,

where v = c_{t0} is the pool's value, cb = c_{t0 - 1} the last calcium value of the previous pool
and A the impulse response (A_0 = 1, A_{-1} = 0, A_k = g1 A_{k-1} + g2 A_{k-2}). A pool's best
value given cb is a ratio of sums that two pools merge in constant time, using
A_{m+k} = A_m A_k + g2 A_{m-1} A_{k-1}. The sweep adds frames (or existing pools) left to right
and merges the newest pool backwards while its spike falls below ``s_min`` (pool-adjacent
violators). For AR(1) this solves ``min 1/2 |y - c|^2`` subject to s >= 0 exactly (with
``s_min`` > 0 it is OASIS's greedy hard threshold). For AR(2) each pool is fitted given the pools
before it, the paper's greedy variant (about 1 % above the optimum on noisy traces), so AR(2)
fits are finished by `_Pivoting`, exact, started from the greedy spikes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import linalg, optimize

MAX_ROOT = 0.995  # largest decay factor of an AR root: a decay time constant of ~200 frames
_RSS_TOLERANCE = 1e-3  # relative tolerance on the noise constraint |y - b - c|^2 = sn^2 T
_MAX_ITERATIONS = 30
_G_ROUNDS = 3  # at most this many refinements of g, each followed by a new fit of lambda and b
_G_TOLERANCE = 1e-4
_PIVOT_ITERATIONS = 200  # cap on pivoting rounds; the greedy AR(2) solution stands beyond it


@dataclass(frozen=True)
class Fit:
    """A deconvolved trace: (T,) float64 calcium and spikes, baseline b, AR coefficients g."""

    calcium: np.ndarray
    spikes: np.ndarray
    baseline: float
    g: tuple[float, ...]


class _Kernel:
    """Impulse response of an AR(1)/AR(2) model and its running sums, for pools up to T frames."""

    def __init__(self, g: tuple[float, ...], n_frames: int):
        from scipy import signal  # scipy.signal imports scipy.stats: loaded when first needed

        self.g = tuple(float(x) for x in g)
        self.g1 = self.g[0]
        self.g2 = self.g[1] if len(self.g) > 1 else 0.0
        impulse = np.zeros(n_frames + 2)  # shifted[k + 1] = A_k; shifted[0] = A_{-1} = 0
        impulse[1] = 1.0
        shifted = signal.lfilter([1.0], [1.0, -self.g1, -self.g2], impulse)
        self.shifted = shifted
        zero = np.zeros(1)
        self.sum_a = np.concatenate((zero, np.cumsum(shifted[1:])))  # sum_a[l] = sum_{k<l} A_k
        self.sum_a2 = np.concatenate((zero, np.cumsum(shifted[1:] ** 2)))
        self.sum_ab = self.g2 * np.concatenate((zero, np.cumsum(shifted[1:] * shifted[:-1])))
        self.kappa = 1.0 - self.g1 - self.g2  # weight of c_t in |s|_1 away from the last two frames
        self.end = np.zeros(n_frames)  # extra weight of the last two frames
        self.end[-1] = self.g1 + self.g2
        self.end[-2] = self.g2

    @cached_property
    def lists(self) -> tuple[list, list, list]:
        """A (shifted), sum_a2 and sum_ab as lists, for the sweep's scalar arithmetic."""
        return self.shifted.tolist(), self.sum_a2.tolist(), self.sum_ab.tolist()


@dataclass(frozen=True)
class _Pools:
    """Pools of a solution: (n,) int starts and lengths, (n,) float64 values v and calcium before."""

    starts: np.ndarray
    lengths: np.ndarray
    values: np.ndarray
    before: np.ndarray

    @cached_property
    def owner(self) -> np.ndarray:
        """(T,) index of each frame's pool."""
        return np.repeat(np.arange(self.starts.size), self.lengths)

    @cached_property
    def offset(self) -> np.ndarray:
        """(T,) position of each frame inside its pool."""
        return np.arange(self.owner.size) - self.starts[self.owner]


def _sweep(kernel: _Kernel, starts, lengths, sums_y, sums_z, s_min: float) -> _Pools:
    """Pool-adjacent-violators pass over segments given by start, length, sum A_k y, sum A_{k-1} y."""
    a, sum_a2, sum_ab = kernel.lists
    g2 = kernel.g2
    stack = []  # (start, length, sum_y, sum_z, value, before)
    for t, n, y, z in zip(starts, lengths, sums_y, sums_z):
        if stack:
            _, pn, _, _, pv, pb = stack[-1]
            before = a[pn] * pv + g2 * a[pn - 1] * pb
        else:
            before = 0.0
        v = (y - before * sum_ab[n]) / sum_a2[n]
        if not stack and v < s_min:
            v = 0.0
        while stack:
            pt, pn, py, pz, pv, pb = stack[-1]
            if v >= a[pn + 1] * pv + g2 * a[pn] * pb + s_min:
                break
            stack.pop()
            y, z = py + a[pn + 1] * y + g2 * a[pn] * z, pz + a[pn] * y + g2 * a[pn - 1] * z
            t, n, before = pt, pn + n, pb
            v = (y - before * sum_ab[n]) / sum_a2[n]
            if not stack and v < s_min:
                v = 0.0
        stack.append((t, n, y, z, v, before))
    columns = list(zip(*stack))
    return _Pools(
        starts=np.array(columns[0], dtype=np.int64),
        lengths=np.array(columns[1], dtype=np.int64),
        values=np.array(columns[4], dtype=np.float64),
        before=np.array(columns[5], dtype=np.float64),
    )


def _full_sweep(kernel: _Kernel, shifted_y: np.ndarray, s_min: float = 0.0) -> _Pools:
    """Sweep over single frames: the solution for ``shifted_y`` from scratch."""
    n = shifted_y.size
    return _sweep(kernel, range(n), [1] * n, shifted_y.tolist(), [0.0] * n, s_min)


def _pool_sums(kernel: _Kernel, pools: _Pools, shifted_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n,) sum_k A_k y_{t0+k} and (n,) sum_k A_{k-1} y_{t0+k} of each pool."""
    k = pools.offset
    return (
        np.add.reduceat(kernel.shifted[k + 1] * shifted_y, pools.starts),
        np.add.reduceat(kernel.shifted[k] * shifted_y, pools.starts),
    )


def _warm_sweep(kernel: _Kernel, pools: _Pools, shifted_y: np.ndarray) -> _Pools:
    """Sweep over the existing pools with their sums recomputed from ``shifted_y`` (merges only)."""
    sums_y, sums_z = _pool_sums(kernel, pools, shifted_y)
    return _sweep(kernel, pools.starts.tolist(), pools.lengths.tolist(), sums_y.tolist(), sums_z.tolist(), 0.0)


def _calcium(kernel: _Kernel, pools: _Pools, values=None, before=None) -> np.ndarray:
    """(T,) calcium of the pools (``values``/``before`` replace the pools' own)."""
    values = pools.values if values is None else values
    before = pools.before if before is None else before
    owner, k = pools.owner, pools.offset
    return kernel.shifted[k + 1] * values[owner] + kernel.g2 * kernel.shifted[k] * before[owner]


def _pool_values(
    kernel: _Kernel, pools: _Pools, sums_y: np.ndarray, first: Callable[[float], float]
) -> tuple[np.ndarray, np.ndarray]:
    """(n,) values v and (n,) calcium before each pool fitted to per-pool sums, boundaries kept.

    ``first`` maps the first pool's fitted value to the one used (a constraint on it).
    """
    n = pools.lengths
    if kernel.g2 == 0.0:  # AR(1): pools are independent
        values = sums_y / kernel.sum_a2[n]
        values[0] = first(values[0])
        return values, np.zeros(n.size)
    g2 = kernel.g2
    last = kernel.shifted[n].tolist()  # A_{l-1}: the last frame of a pool of length l
    second_last = (g2 * kernel.shifted[n - 1]).tolist()
    cross = kernel.sum_ab[n].tolist()
    squares = kernel.sum_a2[n].tolist()
    values, before = [], [0.0]
    for j, total in enumerate(sums_y.tolist()):
        if j:
            before.append(last[j - 1] * values[-1] + second_last[j - 1] * before[-1])
        value = (total - before[-1] * cross[j]) / squares[j]
        values.append(value if j else first(value))
    return np.array(values), np.array(before)


def _shift_response(kernel: _Kernel, pools: _Pools) -> np.ndarray:
    """(T,) -dc/dphi: how the calcium falls when the shifted trace falls by one, pools kept."""
    held = pools.values[0] <= 0.0  # a first pool held at zero stays there

    def first(value: float) -> float:
        return 0.0 if held else value

    dv, db = _pool_values(kernel, pools, -kernel.sum_a[pools.lengths], first)
    return -_calcium(kernel, pools, dv, db)


def _spikes(kernel: _Kernel, pools: _Pools, calcium: np.ndarray) -> np.ndarray:
    """(T,) s_t = c_t - g1 c_{t-1} - g2 c_{t-2}, exactly zero inside pools."""
    padded = np.concatenate(([0.0, 0.0], calcium))
    t = pools.starts
    spikes = np.zeros_like(calcium)
    spikes[t] = np.maximum(padded[t + 2] - kernel.g1 * padded[t + 1] - kernel.g2 * padded[t], 0.0)
    return spikes


class _Sweeps:
    """OASIS as the inner solver of the search.

    A larger shift phi only merges pools (the solutions are nested), so a fit sweeps over the
    pools of the largest phi fitted so far below the new one, and over the frames when none is.
    """

    def __init__(self, kernel: _Kernel):
        self.kernel = kernel
        self.fitted: dict[float, _Pools] = {}
        self.pools: _Pools | None = None

    def fit(self, shifted: np.ndarray, phi: float) -> np.ndarray:
        below = [p for p in self.fitted if p <= phi]
        if below:
            self.pools = _warm_sweep(self.kernel, self.fitted[max(below)], shifted)
        else:
            self.pools = _full_sweep(self.kernel, shifted)
        self.fitted[phi] = self.pools
        return np.maximum(_calcium(self.kernel, self.pools), 0.0)

    def slope(self) -> np.ndarray:
        return _shift_response(self.kernel, self.pools)

    def spikes(self, calcium: np.ndarray) -> np.ndarray:
        return _spikes(self.kernel, self.pools, calcium)


class _Pivoting:
    """Exact AR(2) solutions of ``min 1/2 |y - c|^2`` s.t. s = G c >= 0 by block principal pivoting.

    Pivoting (Kim & Park 2011) runs on the dual, a non-negative least-squares problem in u with
    c = y + G^T u: frames without a spike carry a free u found by one banded (pentadiagonal)
    Cholesky solve; frames whose u < 0 gain a spike and spikes < 0 are dropped, all at once (one
    at a time after three rounds without fewer violations, which guarantees termination). Each
    fit starts from the previous spikes (the first from OASIS's), so it takes a few solves.
    """

    def __init__(self, kernel: _Kernel, spiking: np.ndarray):
        self.kernel = kernel
        self.spiking = spiking.copy()
        t = np.arange(spiking.size)
        g1, g2 = kernel.g1, kernel.g2
        self.diagonal = 1.0 + g1 * g1 * (t >= 1) + g2 * g2 * (t >= 2)  # (G G^T)_{t,t}
        self.lower = -g1 + g1 * g2 * (t >= 2)  # (G G^T)_{t,t-1}; (G G^T)_{t,t-2} = -g2
        self.ones = self._apply(np.ones(spiking.size))  # G 1
        self.factor = None
        self.spike_values = np.zeros(spiking.size)

    def _apply(self, x: np.ndarray) -> np.ndarray:
        """G x: x_t - g1 x_{t-1} - g2 x_{t-2}."""
        out = x.copy()
        out[1:] -= self.kernel.g1 * x[:-1]
        out[2:] -= self.kernel.g2 * x[:-2]
        return out

    def _transpose(self, free: np.ndarray, values: np.ndarray) -> np.ndarray:
        """G^T u for u equal to ``values`` on the ``free`` frames and zero elsewhere."""
        u = np.zeros(free.size + 2)
        u[np.flatnonzero(free)] = values
        return u[:-2] - self.kernel.g1 * u[1:-1] - self.kernel.g2 * u[2:]

    def _factor(self, f: np.ndarray) -> np.ndarray:
        """Banded Cholesky factor of (G G^T) restricted to the frames ``f``."""
        g2 = self.kernel.g2
        bands = np.zeros((3, f.size))
        bands[2] = self.diagonal[f]
        gaps = np.diff(f)
        bands[1, 1:] = np.where(gaps == 1, self.lower[f[1:]], np.where(gaps == 2, -g2, 0.0))
        bands[0, 2:] = np.where(f[2:] - f[:-2] == 2, -g2, 0.0)
        return linalg.cholesky_banded(bands)

    def fit(self, shifted: np.ndarray, phi: float) -> np.ndarray | None:
        gy = self._apply(shifted)
        tolerance = 1e-10 * (np.abs(shifted).max() + 1.0)
        free = ~self.spiking
        fewest, patience = free.size + 1, 3
        for _ in range(_PIVOT_ITERATIONS):
            f = np.flatnonzero(free)
            factor = self._factor(f) if f.size else None
            u = linalg.cho_solve_banded((factor, False), -gy[f]) if f.size else np.zeros(0)
            calcium = shifted + self._transpose(free, u)
            spikes = self._apply(calcium)
            dual = np.zeros(free.size)
            dual[f] = u
            wrong = (free & (dual < -tolerance)) | (~free & (spikes < -tolerance))
            count = int(wrong.sum())
            if count == 0:
                self.spiking, self.factor = ~free, factor
                self.spike_values = np.where(free, 0.0, np.maximum(spikes, 0.0))
                return np.maximum(calcium, 0.0)
            if count < fewest:
                fewest, patience = count, 3
            elif patience:
                patience -= 1
            else:
                last = np.flatnonzero(wrong)[-1]
                wrong[:] = False
                wrong[last] = True
            free = free ^ wrong
        return None

    def slope(self) -> np.ndarray:
        free = ~self.spiking
        if self.factor is None:
            return np.ones(free.size)
        return 1.0 - self._transpose(free, linalg.cho_solve_banded((self.factor, False), self.ones[free]))

    def spikes(self, calcium: np.ndarray) -> np.ndarray:
        return self.spike_values


class _Problem:
    """Noise-constrained fit of one trace for a fixed kernel: min |s|_1 s.t. |y - b - c|^2 <= sn^2 T.

    The Lagrangian ``1/2 |y - b - c|^2 + lam |s|_1`` equals ``1/2 |y' - c|^2`` up to terms free of
    c, with ``y' = y - phi - lam * end``, ``phi = b + lam * kappa``: |s|_1 weighs each c_t by
    kappa = 1 - g1 - g2, plus ``end`` on the last two frames. The search runs over the shift phi;
    a free baseline is the one that leaves the residual with zero mean (the optimality condition
    in b), and lam = (phi - b) / kappa.
    """

    def __init__(self, y: np.ndarray, g: tuple[float, ...], noise: float, baseline: float | None):
        self.y = y
        self.kernel = _Kernel(g, y.size)
        self.noise = noise
        self.target = noise * noise * y.size
        self.free = baseline is None
        self.start = float(np.percentile(y, 15)) if baseline is None else float(baseline)

    def lam(self, phi: float, baseline: float) -> float:
        return max((phi - baseline) / self.kernel.kappa, 0.0)

    def shifted(self, phi: float, baseline: float) -> np.ndarray:
        return self.y - phi - self.lam(phi, baseline) * self.kernel.end

    def _evaluate(self, calcium: np.ndarray, baseline: float):
        """Baseline (refitted when free), residual sum of squares and (T,) residual."""
        if self.free:
            baseline = float(np.mean(self.y - calcium))
        residual = self.y - baseline - calcium
        return baseline, float(residual @ residual), residual

    def search(self, solver, phi: float, baseline: float):
        """(phi, b, calcium) meeting the noise constraint: Newton steps on phi inside a bracket.

        ``solver`` (`_Sweeps` or `_Pivoting`) fits the calcium of a shifted trace, ``fit(y', phi)``
        (None on failure), and gives ``slope()`` = -dc/dphi at that fit and ``spikes(calcium)``.
        The search stays at or above ``start``, where lam = 0 (the least-squares fit); when even
        that fit misses the constraint it is the answer. Returns None when the solver fails.
        """
        calcium = solver.fit(self.shifted(phi, baseline), phi)
        if calcium is None:
            return None
        baseline, rss, residual = self._evaluate(calcium, baseline)
        low, high, growth = -np.inf, np.inf, max(self.noise, 1e-12)
        for _ in range(_MAX_ITERATIONS):
            if abs(rss - self.target) <= _RSS_TOLERANCE * self.target:
                break
            if rss < self.target:
                low = phi
            elif phi <= self.start:
                break
            else:
                high = phi
            slope = solver.slope()
            if self.free:
                slope = slope - slope.mean()
            aa, bb, cc = slope @ slope, residual @ slope, rss - self.target
            step = np.nan
            if aa > 0:
                disc = bb * bb - aa * cc
                step = (-bb + np.sqrt(disc)) / aa if disc > 0 else -bb / aa
            new_phi = phi + step
            if not low < new_phi < high:
                if np.isfinite(low) and np.isfinite(high):
                    new_phi = 0.5 * (low + high)
                else:
                    new_phi = phi + growth if np.isfinite(low) else phi - growth
                    growth *= 2.0
            new_phi = max(new_phi, self.start)
            calcium = solver.fit(self.shifted(new_phi, baseline), new_phi)
            if calcium is None:
                return None
            phi = new_phi
            baseline, rss, residual = self._evaluate(calcium, baseline)
        return phi, baseline, calcium


def solve(
    y: np.ndarray,
    g: tuple[float, ...],
    noise: float,
    *,
    baseline: float | None,
    s_min: float,
    optimize_g: bool,
) -> Fit:
    """Deconvolve ``y`` (T,) float64 under the noise constraint; ``s_min`` in the trace's units.

    When the constant baseline alone (the mean, or the given ``baseline``) meets the noise
    constraint the answer is no activity. AR(2) fits without ``s_min`` continue from the greedy
    OASIS solution with exact pivoting (the greedy one stands if pivoting hits its cap).
    """
    flat = float(y.mean()) if baseline is None else float(baseline)
    if np.sum((y - flat) ** 2) <= noise * noise * y.size:
        return Fit(calcium=np.zeros_like(y), spikes=np.zeros_like(y), baseline=flat, g=tuple(g))
    problem = _Problem(y, g, noise, baseline)
    sweeps = _Sweeps(problem.kernel)
    phi, b, calcium = problem.search(sweeps, problem.start, problem.start)
    for _ in range(_G_ROUNDS if optimize_g else 0):
        refined = _refine_g(problem, sweeps.pools, phi, b)
        converged = max(abs(x - z) for x, z in zip(refined, problem.kernel.g)) < _G_TOLERANCE
        problem = _Problem(y, refined, noise, baseline)
        sweeps = _Sweeps(problem.kernel)
        phi, b, calcium = problem.search(sweeps, problem.start, problem.start)
        if converged:
            break
    if s_min > 0.0:
        pools = _full_sweep(problem.kernel, problem.shifted(phi, b), s_min)
        calcium = np.maximum(_calcium(problem.kernel, pools), 0.0)
        return Fit(calcium=calcium, spikes=_spikes(problem.kernel, pools, calcium), baseline=b, g=problem.kernel.g)
    if problem.kernel.g2 != 0.0:
        pivoting = _Pivoting(problem.kernel, sweeps.spikes(calcium) > 0)
        exact = problem.search(pivoting, phi, b)
        if exact is not None:
            _, b, calcium = exact
            return Fit(calcium=calcium, spikes=pivoting.spikes(calcium), baseline=b, g=problem.kernel.g)
    return Fit(calcium=calcium, spikes=sweeps.spikes(calcium), baseline=b, g=problem.kernel.g)


def _refine_g(problem: _Problem, pools: _Pools, phi: float, baseline: float) -> tuple[float, ...]:
    """AR coefficients minimizing |y - b - c|^2 for the current pools' boundaries, b and lam kept.

    The AR roots are searched in [0, MAX_ROOT] (bounded scalar search for AR(1), L-BFGS-B on the
    two roots for AR(2)); each candidate refits the pool values (CaImAn's ``optimize_g`` idea,
    here over all pools).
    """
    y = problem.y
    lam = problem.lam(phi, baseline)
    order = len(problem.kernel.g)

    def rss(roots) -> float:
        roots = np.clip(np.atleast_1d(roots), 0.0, MAX_ROOT)
        g = (float(roots[0]),) if order == 1 else (float(roots.sum()), float(-roots[0] * roots[1]))
        kernel = _Kernel(g, y.size)
        sums_y, _ = _pool_sums(kernel, pools, y - baseline - lam * (kernel.kappa + kernel.end))
        values, before = _pool_values(kernel, pools, sums_y, lambda value: max(value, 0.0))
        residual = y - baseline - np.maximum(_calcium(kernel, pools, values, before), 0.0)
        return float(residual @ residual)

    if order == 1:
        found = optimize.minimize_scalar(rss, bounds=(0.0, MAX_ROOT), method="bounded", options={"xatol": 1e-5})
        return (float(found.x),)
    g1, g2 = problem.kernel.g
    disc = np.sqrt(max(g1 * g1 + 4.0 * g2, 0.0))
    start = np.array([(g1 + disc) / 2.0, (g1 - disc) / 2.0])
    roots = np.clip(optimize.minimize(rss, start, method="L-BFGS-B", bounds=[(0.0, MAX_ROOT)] * 2).x, 0.0, MAX_ROOT)
    return (float(roots.sum()), float(-roots[0] * roots[1]))
