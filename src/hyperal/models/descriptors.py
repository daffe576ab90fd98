"""Behler–Parrinello descriptors (radial G2, wide-angle G9) with an analytic
per-pair Jacobian.

Symmetry functions after Behler & Parrinello, PRL 98, 146401 (2007) and Behler,
J. Chem. Phys. 134, 074106 (2011), with the n2p2 naming (G2 radial, G9 wide
angle). For an atom i and neighbour elements a (G2) or a, b (G9):

    G2_i[a, s]        = Σ_{j∈a} exp(−η_s (r_ij − r_s)²) f_c(r_ij)
    G9_i[a, b, t, ζλ] = 2^(1−ζ) Σ_{j∈a, k∈b, j≠k} (1 + λ cos θ_jik)^ζ
                        · exp(−η_t (r_ij² + r_ik²)) f_c(r_ij) f_c(r_ik)

with f_c(r) = ½(cos(π r / r_c) + 1). The wide-angle form factorises: with
h_t(r) = exp(−η_t r²) f_c(r) and the weighted monomials Y_α(u) =
sqrt(n!/α!) u^α of degree |α| = n of the unit vector u, (u·v)^n = Σ_α Y_α(u)
Y_α(v), so

    Σ_{j∈a, k∈b} h_t(r_ij) h_t(r_ik) cos^n θ_jik = M_a[t, n] · M_b[t, n],
    M_a[t, α] = Σ_{j∈a} h_t(r_ij) Y_α(u_ij)

(the j = k terms, Σ_j h_t², are subtracted when a = b). The binomial expansion
of (1 + λ cos)^ζ then gives G9 from these moments in O(neighbours) instead of
O(neighbours²) work, the moment-tensor trick of Shapeev's MTP (Multiscale Model.
Simul. 14, 1153 (2016)) applied to BP functions.

So every descriptor is a quadratic function D(A_i) of per-atom sums
A_i[a, k] = Σ_{j∈a} φ_k(r_ij) of a per-pair basis φ (G2 radials, moments,
h_t²). :meth:`BPDescriptor.pair_basis` returns φ and its Jacobian ∂φ/∂r_ij in
closed form, :meth:`BPDescriptor.vjp` the transpose of ∂D/∂A. Forces for any
weighted combination of committee members then cost one contraction with the
Jacobian, and training caches (D, A, Jacobian) per structure once.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers

MAX_DEGREE = 4  # highest power of cos θ, for ζ up to 4


def _multi_indices(max_degree: int) -> list[tuple[int, int, int]]:
    """Exponent triples (a, b, c), a + b + c = n, grouped by n = 0 … max_degree."""
    return [
        alpha
        for n in range(max_degree + 1)
        for alpha in itertools.product(range(n + 1), repeat=3)
        if sum(alpha) == n
    ]


@dataclass(frozen=True, kw_only=True)
class BPDescriptor:
    """Descriptor definition and its (differentiable) evaluation in torch.

    Parameters
    ----------
    elements : tuple of str
        Chemical symbols, in the model's order.
    cutoff : float
        Cutoff radius r_c (Å).
    n_radial : int
        G2 functions per neighbour element: Gaussians centred evenly on
        [radial_start, r_c] with widths equal to their spacing.
    radial_start : float
        First G2 centre (Å).
    angular_etas : tuple of float
        η_t of the G9 radial parts (Å⁻²): 3 by default.
    zetas : tuple of int
        ζ values of G9 (each with λ = ±1): (1, 2, 4) gives 6 angular functions.
    """

    elements: tuple[str, ...]
    cutoff: float = 6.0
    n_radial: int = 16
    radial_start: float = 0.5
    angular_etas: tuple[float, ...] = (0.01, 0.05, 0.2)
    zetas: tuple[int, ...] = (1, 2, 4)
    _alphas: list = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not self.elements:
            raise ValueError("elements must name at least one element")
        for symbol in self.elements:
            if symbol not in atomic_numbers:
                raise ValueError(f"elements: {symbol!r} is not a chemical symbol")
        if len(set(self.elements)) != len(self.elements):
            raise ValueError(f"elements contain duplicates: {self.elements}")
        if not self.cutoff > self.radial_start >= 0:
            raise ValueError(
                f"need cutoff > radial_start >= 0, got {self.cutoff}, "
                f"{self.radial_start}"
            )
        if self.n_radial < 1:
            raise ValueError(f"n_radial must be >= 1, got {self.n_radial}")
        if not self.angular_etas or min(self.angular_etas) < 0:
            raise ValueError(f"angular_etas must be >= 0, got {self.angular_etas}")
        if not self.zetas or not set(self.zetas) <= set(range(1, MAX_DEGREE + 1)):
            raise ValueError(f"zetas must lie in 1..{MAX_DEGREE}, got {self.zetas}")
        object.__setattr__(self, "_alphas", _multi_indices(MAX_DEGREE))

    # --- sizes ---------------------------------------------------------------------

    @property
    def n_elements(self) -> int:
        return len(self.elements)

    @property
    def n_moments(self) -> int:
        return len(self._alphas)  # 35 for degree <= 4

    @property
    def n_basis(self) -> int:
        """K, per-pair basis functions: G2 radials, G9 moments, h_t²."""
        t = len(self.angular_etas)
        return self.n_radial + t * self.n_moments + t

    @property
    def element_pairs(self) -> list[tuple[int, int]]:
        return list(itertools.combinations_with_replacement(range(self.n_elements), 2))

    @property
    def n_angular(self) -> int:
        return 2 * len(self.zetas)

    @property
    def n_features(self) -> int:
        """F, descriptor length per atom."""
        return (
            self.n_elements * self.n_radial
            + len(self.element_pairs) * len(self.angular_etas) * self.n_angular
        )

    # --- constant tables -----------------------------------------------------------

    def _tables(self, dtype, device):
        key = (dtype, device)
        cache = self.__dict__.setdefault("_table_cache", {})
        if key not in cache:
            alphas = np.array(self._alphas)  # (35, 3)
            degree = alphas.sum(1)
            weights = np.array(
                [
                    math.sqrt(
                        math.factorial(n) / np.prod([math.factorial(a) for a in al])
                    )
                    for al, n in zip(alphas, degree, strict=True)
                ]
            )
            groups = np.zeros((len(alphas), MAX_DEGREE + 1))
            groups[np.arange(len(alphas)), degree] = 1.0
            # (1 + λc)^ζ · 2^(1−ζ) = Σ_n coef[n, (ζ, λ)] c^n
            coef = np.zeros((MAX_DEGREE + 1, self.n_angular))
            for col, (zeta, lam) in enumerate(itertools.product(self.zetas, (1, -1))):
                for n in range(zeta + 1):
                    coef[n, col] = 2.0 ** (1 - zeta) * math.comb(zeta, n) * lam**n
            centres = np.linspace(self.radial_start, self.cutoff, self.n_radial)
            spacing = (
                (self.cutoff - self.radial_start) / (self.n_radial - 1)
                if self.n_radial > 1
                else self.cutoff - self.radial_start
            )

            def t(x):
                return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)

            parity = np.concatenate(
                [
                    np.ones(self.n_radial),
                    np.tile((-1.0) ** degree, len(self.angular_etas)),
                    np.ones(len(self.angular_etas)),
                ]
            )
            cache[key] = {
                "parity": t(parity),
                "alphas": torch.as_tensor(alphas, device=device),
                "degree": t(degree),
                "weights": t(weights),
                "groups": t(groups),
                "coef": t(coef),
                "centres": t(centres),
                "eta_radial": 0.5 / spacing**2,
                "etas": t(self.angular_etas),
                "pa": torch.as_tensor(
                    [a for a, _ in self.element_pairs], device=device
                ),
                "pb": torch.as_tensor(
                    [b for _, b in self.element_pairs], device=device
                ),
            }
        return cache[key]

    # --- neighbours ----------------------------------------------------------------

    def species_index(self, atoms: Atoms) -> np.ndarray:
        """Index of each atom's element in ``elements``; clear error otherwise."""
        lookup = {s: i for i, s in enumerate(self.elements)}
        symbols = atoms.get_chemical_symbols()
        unknown = sorted(set(symbols) - set(lookup))
        if unknown:
            raise ValueError(
                f"structure contains {', '.join(unknown)}, which the model was not "
                f"built for (elements: {', '.join(self.elements)})"
            )
        return np.array([lookup[s] for s in symbols], dtype=np.int64)

    def neighbours(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Half neighbour list within the cutoff (vesin): each unordered pair
        once, as i, j and the vector r_j − r_i (periodic shifts included),
        float64."""
        # lazy: vesin loads torch (`import hyperal` does not)
        from vesin import NeighborList

        i, j, vectors = NeighborList(cutoff=self.cutoff, full_list=False).compute(
            points=atoms.positions,
            box=atoms.cell[:],
            periodic=atoms.pbc,
            quantities="ijD",
            copy=True,
        )
        return i.astype(np.int64), j.astype(np.int64), vectors

    def compute(self, atoms: Atoms) -> np.ndarray:
        """Descriptors of every atom of ``atoms``, (N, F) float64 numpy, in the
        element order of :attr:`elements` (no Jacobian: for analysis)."""
        species = self.species_index(atoms)
        i, j, vectors = self.neighbours(atoms)
        with torch.no_grad():
            phi, _ = self.pair_basis(torch.as_tensor(vectors, dtype=torch.float64))
            a = self.accumulate(
                phi,
                torch.as_tensor(i),
                torch.as_tensor(j),
                torch.as_tensor(species),
                len(atoms),
            )
            return self.features(a).numpy()

    # --- pair stage ----------------------------------------------------------------

    def pair_basis(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pair basis φ (P, K) and its Jacobian ∂φ/∂r (P, K, 3), closed form.

        ``vectors`` are r_j − r_i (P, 3), all shorter than the cutoff and nonzero.
        """
        tab = self._tables(vectors.dtype, vectors.device)
        r = torch.linalg.norm(vectors, dim=1)  # (P,)
        u = vectors / r[:, None]
        inv_r = 1.0 / r
        x = math.pi / self.cutoff * r
        fc = 0.5 * (torch.cos(x) + 1.0)
        dfc = -0.5 * math.pi / self.cutoff * torch.sin(x)

        # G2: exp(−η (r − r_s)²) f_c
        dr = r[:, None] - tab["centres"]
        gauss = torch.exp(-tab["eta_radial"] * dr**2)
        g2 = gauss * fc[:, None]
        dg2 = gauss * (dfc[:, None] - 2.0 * tab["eta_radial"] * dr * fc[:, None])

        # G9 radial parts h_t = exp(−η_t r²) f_c
        e = torch.exp(-tab["etas"] * (r**2)[:, None])  # (P, T)
        h = e * fc[:, None]
        dh = e * (dfc[:, None] - 2.0 * tab["etas"] * r[:, None] * fc[:, None])

        # Y_α(u) = w_α u^α and ∂Y_α/∂u_c = w_α α_c u^(α − e_c)
        powers = torch.stack(
            [torch.ones_like(u)] + [u**p for p in range(1, MAX_DEGREE + 1)], dim=2
        )  # (P, 3, 5): u_c^p
        alphas = tab["alphas"]  # (A, 3)
        factors = [powers[:, c, alphas[:, c]] for c in range(3)]  # each (P, A)
        mono = factors[0] * factors[1] * factors[2]
        y = tab["weights"] * mono  # (P, A)
        lower = [powers[:, c, (alphas[:, c] - 1).clamp(min=0)] for c in range(3)]
        dy_du = torch.stack(
            [
                tab["weights"]
                * alphas[:, c].to(u.dtype)
                * lower[c]
                * factors[(c + 1) % 3]
                * factors[(c + 2) % 3]
                for c in range(3)
            ],
            dim=2,
        )  # (P, A, 3)
        # ∂Y/∂r = (∂Y/∂u − n Y u) / r   (Y homogeneous of degree n in u)
        dy = (dy_du - (tab["degree"] * y)[:, :, None] * u[:, None, :]) * inv_r[
            :, None, None
        ]

        moments = (h[:, :, None] * y[:, None, :]).flatten(1)  # (P, T·A)
        dmoments = (
            dh[:, :, None, None] * y[:, None, :, None] * u[:, None, None, :]
            + h[:, :, None, None] * dy[:, None, :, :]
        ).flatten(1, 2)  # (P, T·A, 3)

        phi = torch.cat([g2, moments, h**2], dim=1)
        jac = torch.cat(
            [
                dg2[:, :, None] * u[:, None, :],
                dmoments,
                (2.0 * h * dh)[:, :, None] * u[:, None, :],
            ],
            dim=1,
        )
        return phi, jac

    # --- atom stage ----------------------------------------------------------------

    def parity(self, dtype, device) -> torch.Tensor:
        """s (K,) with φ_k(−r) = s_k φ_k(r): +1, or (−1)^n for degree-n moments."""
        return self._tables(dtype, device)["parity"]

    def accumulate(
        self,
        phi: torch.Tensor,
        first: torch.Tensor,
        second: torch.Tensor,
        species: torch.Tensor,
        n_atoms: int,
    ) -> torch.Tensor:
        """A (N, E, K): per-atom sums of φ over neighbours, split by their element,
        from a half list: pair p adds φ(r_p) to its first atom and φ(−r_p) =
        s ⊙ φ(r_p) to its second."""
        e = self.n_elements
        a = phi.new_zeros(n_atoms * e, phi.shape[1])
        a.index_add_(0, first * e + species[second], phi)
        a.index_add_(
            0, second * e + species[first], phi * self.parity(phi.dtype, phi.device)
        )
        return a.view(n_atoms, e, -1)

    def _split(self, a: torch.Tensor):
        t, n_mom = len(self.angular_etas), self.n_moments
        g2 = a[..., : self.n_radial]
        moments = a[..., self.n_radial : self.n_radial + t * n_mom].unflatten(
            -1, (t, n_mom)
        )
        diag = a[..., self.n_radial + t * n_mom :]
        return g2, moments, diag

    def features(self, a: torch.Tensor) -> torch.Tensor:
        """Descriptors D (N, F) from A (N, E, K): G2 then G9 per element pair."""
        tab = self._tables(a.dtype, a.device)
        g2, moments, diag = self._split(a)
        pa, pb = tab["pa"], tab["pb"]
        dots = (moments[:, pa] * moments[:, pb]) @ tab["groups"]  # (N, Q, T, 5)
        same = (pa == pb).to(a.dtype)[None, :, None, None]
        dots = dots - same * diag[:, pa, :, None]  # drop j = k terms
        g9 = dots @ tab["coef"]  # (N, Q, T, 6)
        return torch.cat([g2.flatten(1), g9.flatten(1)], dim=1)

    def vjp(self, a: torch.Tensor, grad_features: torch.Tensor) -> torch.Tensor:
        """Transpose of ∂D/∂A applied to ``grad_features`` (C, N, F) -> (C, N, E, K).

        D is quadratic in A, so this is linear in ``grad_features`` with
        coefficients from A; differentiable with respect to ``grad_features``.
        """
        tab = self._tables(a.dtype, a.device)
        _, moments, _ = self._split(a)
        c, n = grad_features.shape[:2]
        e, t = self.n_elements, len(self.angular_etas)
        q = len(self.element_pairs)
        d_g2 = grad_features[..., : e * self.n_radial].unflatten(-1, (e, self.n_radial))
        d_g9 = grad_features[..., e * self.n_radial :].unflatten(
            -1, (q, t, self.n_angular)
        )
        d_dots = d_g9 @ tab["coef"].T  # (C, N, Q, T, 5)
        d_prod = d_dots @ tab["groups"].T  # (C, N, Q, T, A)
        pa, pb = tab["pa"], tab["pb"]
        d_moments = grad_features.new_zeros(c, n, e, t, self.n_moments)
        d_moments = d_moments.index_add(2, pa, d_prod * moments[:, pb])
        d_moments = d_moments.index_add(2, pb, d_prod * moments[:, pa])
        same = (pa == pb).to(a.dtype)[:, None]
        d_diag = grad_features.new_zeros(c, n, e, t).index_add(
            2, pa, -d_dots.sum(-1) * same
        )
        return torch.cat([d_g2, d_moments.flatten(-2), d_diag], dim=-1)
