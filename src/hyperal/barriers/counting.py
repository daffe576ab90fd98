"""Counting decorations up to symmetry: Burnside's lemma over a permutation
group (orbits = the mean number of fixed points), and decorations coded as
integers to list, canonicalise and draw them."""

from __future__ import annotations

import numpy as np


def cycle_count(perm: np.ndarray) -> int:
    """Number of cycles of a permutation (fixed points included)."""
    seen = np.zeros(len(perm), dtype=bool)
    cycles = 0
    for i in range(len(perm)):
        if not seen[i]:
            cycles += 1
            j = i
            while not seen[j]:
                seen[j] = True
                j = perm[j]
    return cycles


def burnside(group: np.ndarray, k: int) -> int:
    """Orbits of ``k``-colourings of the sites under ``group`` (exact)."""
    if int(k) != k or k < 1:
        raise ValueError(f"the number of species must be an integer >= 1, got {k}")
    total = sum(int(k) ** cycle_count(perm) for perm in group)
    count, remainder = divmod(total, len(group))
    if remainder:  # cannot happen for a group; a wrong group would show here
        raise ArithmeticError("Burnside's sum is not divisible by the group order")
    return count


def decoration_codes(digits: np.ndarray, k: int) -> np.ndarray:
    """Each decoration (a row of site digits in base ``k``) as one integer."""
    weights = k ** np.arange(digits.shape[1] - 1, -1, -1, dtype=np.int64)
    return digits.astype(np.int64) @ weights


def image_codes(digits: np.ndarray, group: np.ndarray, k: int) -> np.ndarray:
    """Codes of every group image of each decoration, shape (m, g). Site
    ``perm[i]`` of the image holds what site ``i`` held."""
    out = np.empty((len(digits), len(group)), dtype=np.int64)
    for g, perm in enumerate(group):
        image = np.empty_like(digits)
        image[:, perm] = digits
        out[:, g] = decoration_codes(image, k)
    return out


def decoration_digits(codes: np.ndarray, n: int, k: int) -> np.ndarray:
    """The ``n`` site digits (base ``k``) of each decoration code."""
    powers = k ** np.arange(n - 1, -1, -1, dtype=np.int64)
    return (codes[:, None] // powers[None, :]) % k


def orbit_count_brute_force(group: np.ndarray, n: int, k: int) -> int:
    """Orbits found by walking every decoration and marking its images — an
    independent check of :func:`burnside` for small cases."""
    seen = set()
    orbits = 0
    for code in range(k**n):
        if code in seen:
            continue
        orbits += 1
        digits = decoration_digits(np.array([code]), n, k)
        seen.update(int(c) for c in image_codes(digits, group, k)[0])
    return orbits
