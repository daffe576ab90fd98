"""A committee of Behler–Parrinello neural networks, batched over members.

Behler & Parrinello, PRL 98, 146401 (2007): the energy is a sum of atomic
energies, each from a per-element network of the atom's symmetry-function
descriptor (see :mod:`hyperal.models.descriptors`). Here M such networks share
one descriptor computation and run as one batched pass; forces for any weighted
combination of members (the mean; the σ_U-weighted one giving ∇σ_U) cost one
contraction with the descriptors' per-pair Jacobian, so the committee costs
little more than one member. Training caches descriptors and their Jacobians
once per structure.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from hyperal.committee.committee import (
    SIGMA_EPS_EV,
    UNCERTAINTY_KEYS,
    forces_disagreement,
)
from hyperal.models.descriptors import BPDescriptor

FORMAT = "hyperal.bpnn"
FORMAT_VERSION = 1
_MEMBER_KEYS = ("member_forces", "forces_uncertainty", "member_stresses")


# --- activations with their derivatives --------------------------------------------


def _tanh(a):
    f = torch.tanh(a)
    return f, 1.0 - f * f


def _silu(a):
    s = torch.sigmoid(a)
    return a * s, s * (1.0 + a * (1.0 - s))


ACTIVATIONS = {"tanh": _tanh, "silu": _silu}


# --- the batched ensemble of per-element networks ----------------------------------


class EnsembleMLP(torch.nn.Module):
    """M independent MLPs per element, evaluated together.

    Parameters of layer l of element e have shape (M, n_in, n_out); a forward
    pass maps (n_e, F) inputs to (M, n_e) outputs, and the input gradient
    (M, n_e, F) is computed by an explicit backward pass that stays
    differentiable with respect to the parameters (for force training).
    """

    def __init__(
        self,
        n_elements: int,
        n_members: int,
        n_features: int,
        hidden: Sequence[int],
        activation: str,
        generator: torch.Generator,
        dtype: torch.dtype,
    ):
        super().__init__()
        self.activation = activation
        sizes = [n_features, *hidden, 1]
        self.n_layers = len(sizes) - 1
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for _ in range(n_elements):
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
                w = torch.randn(
                    n_members, n_in, n_out, generator=generator, dtype=dtype
                )
                self.weights.append(torch.nn.Parameter(w / math.sqrt(n_in)))
                self.biases.append(
                    torch.nn.Parameter(torch.zeros(n_members, 1, n_out, dtype=dtype))
                )

    def run(
        self, element: int, x: torch.Tensor, *, input_grad: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Outputs (M, n, ), input gradients (M, n, F) and last hidden (M, n, H)."""
        act = ACTIVATIONS[self.activation]
        first = element * self.n_layers
        ws = self.weights[first : first + self.n_layers]
        bs = self.biases[first : first + self.n_layers]
        m = ws[0].shape[0]
        # First layer: one matmul of the shared input against all members.
        a = (x @ ws[0].permute(1, 0, 2).flatten(1)).unflatten(1, (m, -1))
        a = a.permute(1, 0, 2) + bs[0]
        h, dh = act(a)
        derivatives = [dh]
        for w, b in zip(ws[1:-1], bs[1:-1], strict=True):
            h, dh = act(torch.bmm(h, w) + b)
            derivatives.append(dh)
        last_hidden = h
        out = (torch.bmm(h, ws[-1]) + bs[-1]).squeeze(-1)
        if not input_grad:
            return out, None, last_hidden
        g = ws[-1].transpose(1, 2) * derivatives[-1]  # (M, n, H_last)
        for w, dh in zip(reversed(ws[1:-1]), reversed(derivatives[:-1]), strict=True):
            g = torch.bmm(g, w.transpose(1, 2)) * dh
        return out, torch.bmm(g, ws[0].transpose(1, 2)), last_hidden


# --- a prepared structure or batch of structures -----------------------------------


@dataclass
class _Graph:
    """Descriptor data of one or several structures, concatenated."""

    features: torch.Tensor  # (N, F) raw descriptors
    moments: torch.Tensor  # (N, E, K) per-atom sums A
    species: torch.Tensor  # (N,)
    structure: torch.Tensor  # (N,) structure index of each atom
    n_structures: int
    first: torch.Tensor  # (P,) first atom of each half-list pair
    second: torch.Tensor  # (P,) second atom; vectors are r_second − r_first
    vectors: torch.Tensor  # (P, 3)
    # Either the pair Jacobians (inference) ...
    jacobian: torch.Tensor | None = None  # (P, K, 3)
    # ... or, for training batches, directed pair slots (each pair twice: from
    # its first atom with J, from its second with s ⊙ J) grouped by (centre
    # atom, neighbour element) and padded to L per group, so that forces of all
    # M members are one dense bmm without a (P, M, K) gather.
    slot_jacobian: torch.Tensor | None = None  # (N·E, K, L·3)
    slot_index: torch.Tensor | None = None  # (S,) slot position in (N·E)·L
    slot_pair: torch.Tensor | None = None  # (S,) the slot's pair

    @classmethod
    def build(
        cls,
        descriptor: BPDescriptor,
        species: torch.Tensor,
        first: torch.Tensor,
        second: torch.Tensor,
        vectors: torch.Tensor,
        structure: torch.Tensor,
        n_structures: int,
        *,
        slots: bool = False,
    ) -> _Graph:
        """Descriptors of a half neighbour list, with pair Jacobians or, with
        ``slots``, padded slot Jacobians."""
        n, e = len(species), descriptor.n_elements
        with torch.no_grad():
            phi, jac = descriptor.pair_basis(vectors)
            moments = descriptor.accumulate(phi, first, second, species, n)
            graph = cls(
                features=descriptor.features(moments),
                moments=moments,
                species=species,
                structure=structure,
                n_structures=n_structures,
                first=first,
                second=second,
                vectors=vectors,
            )
            if not slots:
                graph.jacobian = jac
                return graph
            parity = descriptor.parity(jac.dtype, jac.device)
            n_pairs, k = jac.shape[:2]
            group = torch.cat(
                [first * e + species[second], second * e + species[first]]
            )
            order = torch.argsort(group, stable=True)
            counts = torch.bincount(group, minlength=n * e)
            width = max(int(counts.max()) if len(group) else 0, 1)
            sorted_group = group[order]
            position = (
                torch.arange(len(group), device=group.device)
                - (torch.cumsum(counts, 0) - counts)[sorted_group]
            )
            padded = jac.new_zeros(n * e, width, k, 3)
            padded[sorted_group, position] = torch.cat([jac, jac * parity[:, None]])[
                order
            ]
            graph.slot_jacobian = padded.permute(0, 2, 1, 3).reshape(
                n * e, k, width * 3
            )
            graph.slot_index = sorted_group * width + position
            graph.slot_pair = torch.cat(
                [torch.arange(n_pairs, device=group.device)] * 2
            )[order]
        return graph


def reference_labels(atoms: Atoms, index: int = 0) -> tuple[float, np.ndarray]:
    """Reference (energy eV, forces eV/Å) of a structure: ``REF_energy`` in
    ``info`` and ``REF_forces`` in ``arrays`` if present, else its calculator's
    results (e.g. a SinglePointCalculator)."""
    if "REF_energy" in atoms.info and "REF_forces" in atoms.arrays:
        return float(atoms.info["REF_energy"]), np.asarray(atoms.arrays["REF_forces"])
    calc = atoms.calc
    if calc is None or "energy" not in calc.results or "forces" not in calc.results:
        raise ValueError(
            f"image {index} has no reference labels: give it REF_energy/REF_forces "
            "or a calculator with stored energy and forces (SinglePointCalculator)"
        )
    return float(calc.results["energy"]), np.asarray(calc.results["forces"])


@dataclass(frozen=True, kw_only=True)
class FitResult:
    """What a fit did.

    Attributes
    ----------
    epochs : int
        Epochs run (early stopping may end before the limit).
    best_epoch : list of int
        Per member, the epoch whose parameters were kept.
    n_train, n_validation : int
        Structures used for training and for early stopping.
    wall_s : float
        Wall time of the fit including descriptor caching (s).
    history : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``validation_loss`` (member means).
    validation_energy_rmse_meV_atom, validation_force_rmse_meV_A : float
        Committee-mean errors on the validation structures (NaN without any).
    """

    epochs: int
    best_epoch: list[int]
    n_train: int
    n_validation: int
    wall_s: float
    history: list[dict]
    validation_energy_rmse_meV_atom: float
    validation_force_rmse_meV_A: float


class BPNN:
    """A committee of ``n_members`` Behler–Parrinello networks sharing descriptors.

    Parameters
    ----------
    elements : sequence of str
        Chemical symbols the model handles.
    n_members : int
        Committee size M (>= 1; the uncertainty needs >= 2).
    cutoff : float
        Descriptor cutoff (Å).
    hidden : sequence of int
        Hidden layer widths of every per-element network.
    n_radial : int
        G2 functions per element pair.
    angular_etas : sequence of float
        η (Å⁻²) of the wide-angle G9 radial parts; with ζ ∈ {1, 2, 4} and
        λ = ±1 each gives 6 angular functions per element triplet.
    activation : {"tanh", "silu"}
    seed : int
        Seed of the members' initial weights (members differ by construction).
    dtype : {"float32", "float64"}
    device : str
        ``"cpu"`` or ``"cuda"`` (or any torch device string).
    """

    def __init__(
        self,
        elements: Sequence[str],
        *,
        n_members: int = 8,
        cutoff: float = 6.0,
        hidden: Sequence[int] = (10, 10),
        n_radial: int = 16,
        angular_etas: Sequence[float] = (0.01, 0.05, 0.2),
        activation: str = "silu",
        seed: int = 0,
        dtype: str = "float32",
        device: str = "cpu",
    ):
        if n_members < 1:
            raise ValueError(f"n_members must be >= 1, got {n_members}")
        if not hidden or min(hidden) < 1:
            raise ValueError(f"hidden must be positive layer widths, got {hidden}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, "
                f"got {activation!r}"
            )
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.config = {
            "elements": list(elements),
            "n_members": int(n_members),
            "cutoff": float(cutoff),
            "hidden": [int(h) for h in hidden],
            "n_radial": int(n_radial),
            "angular_etas": [float(e) for e in angular_etas],
            "activation": activation,
            "seed": int(seed),
        }
        self.descriptor = BPDescriptor(
            elements=tuple(elements),
            cutoff=cutoff,
            n_radial=n_radial,
            angular_etas=tuple(angular_etas),
        )
        self.dtype = getattr(torch, dtype)
        self.device = torch.device(device)
        generator = torch.Generator().manual_seed(int(seed))
        self.network = EnsembleMLP(
            self.descriptor.n_elements,
            n_members,
            self.descriptor.n_features,
            hidden,
            activation,
            generator,
            self.dtype,
        ).to(self.device)
        n_e, n_f = self.descriptor.n_elements, self.descriptor.n_features
        self.feature_mean = torch.zeros(n_e, n_f, dtype=self.dtype, device=self.device)
        self.feature_std = torch.ones(n_e, n_f, dtype=self.dtype, device=self.device)
        self.energy_offsets = torch.zeros(n_e, dtype=self.dtype, device=self.device)
        self.energy_scale = torch.ones((), dtype=self.dtype, device=self.device)

    @property
    def n_members(self) -> int:
        return self.config["n_members"]

    @property
    def elements(self) -> tuple[str, ...]:
        return self.descriptor.elements

    # --- descriptors -----------------------------------------------------------------

    def _neighbour_data(self, atoms: Atoms):
        """(species, i, j, vectors) of a structure's half neighbour list."""
        d = self.descriptor
        species = d.species_index(atoms)
        i, j, vectors = d.neighbours(atoms)
        if len(i) and np.min(np.einsum("ij,ij->i", vectors, vectors)) < 1e-12:
            raise ValueError("two atoms sit on top of each other (distance 0)")
        return species, i, j, vectors

    def _graph_of(self, data: Sequence[tuple], *, slots: bool = False) -> _Graph:
        """One graph over several structures' neighbour data."""
        offsets = np.cumsum([0] + [len(species) for species, *_ in data])
        device = self.device

        def cat(arrays, **kw):
            return torch.as_tensor(np.concatenate(arrays), device=device, **kw)

        return _Graph.build(
            self.descriptor,
            cat([species for species, *_ in data]),
            cat([i + o for (_, i, _, _), o in zip(data, offsets[:-1], strict=True)]),
            cat([j + o for (_, _, j, _), o in zip(data, offsets[:-1], strict=True)]),
            cat([v for *_, v in data], dtype=self.dtype),
            cat([np.full(len(sp), k) for k, (sp, *_) in enumerate(data)]),
            len(data),
            slots=slots,
        )

    def _graph(self, atoms: Atoms) -> _Graph:
        return self._graph_of([self._neighbour_data(atoms)])

    # --- evaluation --------------------------------------------------------------

    def _atomic(self, graph: _Graph, *, input_grad: bool = True):
        """Atomic energies (M, N), d(atomic energy)/d(raw features) (M, N, F)
        and last hidden activations (M, N, H)."""
        n, m = len(graph.species), self.n_members
        x = (graph.features - self.feature_mean[graph.species]) / self.feature_std[
            graph.species
        ]
        energies = x.new_zeros(m, n)
        grads = x.new_zeros(m, n, x.shape[1]) if input_grad else None
        hidden = x.new_zeros(m, n, self.config["hidden"][-1])
        for e in range(self.descriptor.n_elements):
            idx = torch.nonzero(graph.species == e).squeeze(1)
            if len(idx) == 0:
                continue
            out, g, h = self.network.run(e, x[idx], input_grad=input_grad)
            energies = energies.index_copy(
                1, idx, self.energy_scale * out + self.energy_offsets[e]
            )
            hidden = hidden.index_copy(1, idx, h)
            if input_grad:
                grads = grads.index_copy(
                    1, idx, self.energy_scale * g / self.feature_std[e]
                )
        return energies, grads, hidden

    def _position_gradients(
        self, graph: _Graph, feature_grads: torch.Tensor, *, strain: bool = True
    ):
        """For C combinations of members: dE/dpositions (C, N, 3) and, with
        ``strain``, the strain derivative Σ_pairs (dE/dr_p) ⊗ r_p (C, S, 3, 3)."""
        c, n = feature_grads.shape[:2]
        d_moments = self.descriptor.vjp(graph.moments, feature_grads)  # (C, N, E, K)
        # A pair (i, j) enters A_i[e_j] as φ(r) and A_j[e_i] as s ⊙ φ(r), so
        # dE/dr = rows[i, e_j] · J + rows[j, e_i] · (s ⊙ J).
        e = self.descriptor.n_elements
        rows = d_moments.flatten(1, 2).transpose(0, 1)  # (N·E, C, K)
        if graph.slot_jacobian is not None:
            # Training: one bmm of each (atom, element) row against its group's
            # padded slots, then the slots summed per pair.
            out = torch.bmm(rows, graph.slot_jacobian)  # (N·E, C, L·3)
            g = out.unflatten(2, (-1, 3)).transpose(1, 2).flatten(0, 1)
            g = g.new_zeros(len(graph.first), c, 3).index_add(
                0, graph.slot_pair, g.index_select(0, graph.slot_index)
            )
        else:
            # Inference (C small): gather both rows per pair (index_select's
            # backward is a fast index_add) and contract in one bmm.
            rows = rows.contiguous()
            species = graph.species
            parity = self.descriptor.parity(rows.dtype, rows.device)
            combined = rows.index_select(0, graph.first * e + species[graph.second])
            combined = combined + (rows * parity).index_select(
                0, graph.second * e + species[graph.first]
            )
            g = torch.bmm(combined, graph.jacobian)  # (P, C, 3): dE/dr per pair
        grad = g.new_zeros(n, c, 3)
        grad = grad.index_add(0, graph.second, g).index_add(0, graph.first, -g)
        grad = grad.transpose(0, 1)  # (C, N, 3)
        if not strain:
            return grad, None
        outer = g[:, :, :, None] * graph.vectors[:, None, None, :]  # (P, C, 3, 3)
        strain = g.new_zeros(graph.n_structures, c, 3, 3)
        strain = strain.index_add(0, graph.structure[graph.first], outer)
        return grad, strain.transpose(0, 1)

    def _evaluate(self, graph: _Graph, *, members: bool) -> dict:
        """Committee results for one structure's graph, as float64 numpy."""
        with torch.no_grad():
            atomic, feature_grads, _ = self._atomic(graph)
            member_energies = atomic.sum(1)  # (M,)
            m = self.n_members
            energy = member_energies.mean()
            weights = [torch.full((m,), 1.0 / m, dtype=self.dtype, device=self.device)]
            if m > 1:
                d_e = member_energies - energy
                sigma = torch.sqrt(torch.mean(d_e**2))
                weights.append(d_e / (m * torch.sqrt(sigma**2 + SIGMA_EPS_EV**2)))
            combos = torch.stack(weights)  # (C, M): mean, σ-weighted
            combined = torch.einsum("cm,mnf->cnf", combos, feature_grads)
            grad, strain = self._position_gradients(graph, combined)
            out = {
                "energy": float(energy),
                "forces": -grad[0],
                "strain_derivative": strain[0, 0],
                "member_energies": member_energies,
            }
            if m > 1:
                out["energy_uncertainty"] = float(sigma)
                out["energy_uncertainty_gradient"] = grad[1]
                out["energy_uncertainty_strain"] = strain[1, 0]
            if members:
                member_grad, member_strain = self._position_gradients(
                    graph, feature_grads
                )
                out["member_forces"] = -member_grad
                out["member_strain_derivative"] = member_strain[:, 0]
        return {
            k: v.detach().cpu().double().numpy() if isinstance(v, torch.Tensor) else v
            for k, v in out.items()
        }

    def atomic_features(self, atoms: Atoms) -> np.ndarray:
        """Last-hidden-layer activations per member and atom, (M, N, H)."""
        graph = self._graph(atoms)
        with torch.no_grad():
            _, _, hidden = self._atomic(graph, input_grad=False)
        return hidden.cpu().double().numpy()

    def predict(self, atoms: Atoms, *, member_forces: bool = False) -> dict:
        """Committee results for one structure, keyed as the calculator's."""
        calc = self.as_calculator(always_member_forces=member_forces)
        calc.calculate(atoms, ["energy", "forces"], all_changes)
        return dict(calc.results)

    def as_calculator(self, **kwargs) -> BPNNCalculator:
        """An ASE calculator over this model (see :class:`BPNNCalculator`)."""
        return BPNNCalculator(self, **kwargs)

    # --- training ------------------------------------------------------------------

    def fit(
        self,
        images: Sequence[Atoms],
        *,
        epochs: int = 300,
        energy_weight: float = 1.0,
        force_weight: float = 1.0,
        relative_force_weighting: bool = False,
        relative_force_eps: float = 0.01,
        bootstrap: bool = False,
        validation_fraction: float = 0.1,
        batch_size: int = 8,
        learning_rate: float = 1e-2,
        final_learning_rate: float = 5e-4,
        patience: int = 50,
        seed: int | None = None,
        progress: bool | None = None,
    ) -> FitResult:
        """Fit every member to reference energies and forces.

        The loss of member m is energy_weight · mean_s ((E_s − E_ref,s)/N_s)²
        (eV²/atom²) + force_weight · mean over force components of
        (F − F_ref)² (eV²/Å²). With ``relative_force_weighting`` the force term
        is Σ_atoms |F − F_ref|² / (|F_ref|² + ε) / (3 N), ε =
        ``relative_force_eps`` (eV²/Å²), which weights small forces (near
        saddles and minima) up.

        Per-element energy offsets are fitted by least squares first and the
        descriptors standardised per element. Members start from different
        random weights and, with ``bootstrap``, see different resamplings of
        the training structures. Each member keeps the parameters of its best
        validation epoch; training stops when no member has improved for
        ``patience`` epochs. Adam, learning rate decaying exponentially from
        ``learning_rate`` to ``final_learning_rate`` over ``epochs``. Fitting
        again starts from the current weights (offsets and standardisation
        are refitted), which is how a committee is retrained loop after loop.

        Parameters
        ----------
        images : sequence of Atoms
            Structures with reference labels (see :func:`reference_labels`).
        seed : int, optional
            Seed of the validation split, batches and bootstrap (default: the
            model's seed).
        progress : bool, optional
            Show a progress bar (default: when standard error is a terminal).
        """
        tic = time.perf_counter()
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        if not 0 <= validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in [0, 1), got {validation_fraction}"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if energy_weight < 0 or force_weight < 0 or energy_weight + force_weight == 0:
            raise ValueError("energy_weight and force_weight must be >= 0, not both 0")
        if len(images) < 1:
            raise ValueError("images is empty")
        rng = np.random.default_rng(self.config["seed"] if seed is None else seed)
        labels = [reference_labels(atoms, k) for k, atoms in enumerate(images)]
        for k, (atoms, (_, forces)) in enumerate(zip(images, labels, strict=True)):
            if forces.shape != (len(atoms), 3):
                raise ValueError(
                    f"image {k}: reference forces have shape {forces.shape}, "
                    f"expected ({len(atoms)}, 3)"
                )
        data = [self._neighbour_data(atoms) for atoms in images]

        order = rng.permutation(len(images))
        n_val = int(round(validation_fraction * len(images)))
        if n_val == 0 and validation_fraction > 0 and len(images) >= 5:
            n_val = 1
        val_idx, train_idx = order[:n_val], order[n_val:]
        if len(train_idx) == 0:
            raise ValueError("no training structures left after the validation split")

        m = self.n_members
        counts = np.ones((m, len(train_idx)))
        if bootstrap:
            counts = np.stack(
                [
                    np.bincount(
                        rng.integers(0, len(train_idx), len(train_idx)),
                        minlength=len(train_idx),
                    )
                    for _ in range(m)
                ]
            ).astype(float)
        n_atoms_train = np.array([len(images[k]) for k in train_idx], dtype=float)
        totals = self._totals(counts, n_atoms_train)

        def batches(indices, weights):
            perm = rng.permutation(len(indices))
            out = []
            for start in range(0, len(indices), batch_size):
                chunk = perm[start : start + batch_size]
                out.append(
                    self._batch(
                        [data[indices[c]] for c in chunk],
                        [labels[indices[c]] for c in chunk],
                        weights[:, chunk],
                    )
                )
            return out

        train_batches = batches(train_idx, counts)
        self._set_statistics(train_batches)
        val_source = val_idx if len(val_idx) else train_idx
        val_counts = np.ones((m, len(val_source)))
        if len(val_idx):
            val_batches = batches(val_idx, val_counts)
        else:  # stop on the training data, unweighted, without a second copy
            val_batches = [
                dict(
                    b,
                    counts=torch.ones_like(b["counts"]),
                    atom_counts=torch.ones_like(b["atom_counts"]),
                )
                for b in train_batches
            ]
        val_totals = self._totals(
            val_counts, np.array([len(images[k]) for k in val_source], dtype=float)
        )

        params = list(self.network.parameters())
        optimizer = torch.optim.Adam(params, lr=learning_rate)
        decay = (final_learning_rate / learning_rate) ** (1.0 / max(epochs - 1, 1))
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=decay)
        weights = (
            energy_weight,
            force_weight,
            relative_force_weighting,
            relative_force_eps,
        )
        best_loss = np.full(m, np.inf)
        best_epoch = [0] * m
        best_params = [p.detach().clone() for p in params]
        history = []
        show = sys.stderr.isatty() if progress is None else progress
        bar = _Progress(epochs, show)
        epoch = 0
        try:
            for epoch in range(1, epochs + 1):
                train_loss = np.zeros(m)
                for k in rng.permutation(len(train_batches)):
                    loss = self._loss(train_batches[k], totals, weights)
                    optimizer.zero_grad(set_to_none=True)
                    loss.sum().backward()
                    optimizer.step()
                    train_loss += loss.detach().cpu().numpy()
                scheduler.step()
                with torch.no_grad():
                    val_loss = sum(
                        self._loss(b, val_totals, weights).cpu().numpy()
                        for b in val_batches
                    )
                improved = val_loss < best_loss
                if improved.any():
                    mask = torch.as_tensor(improved, device=self.device)
                    for p, best in zip(params, best_params, strict=True):
                        best[mask] = p.detach()[mask]
                    best_loss = np.where(improved, val_loss, best_loss)
                    for k in np.flatnonzero(improved):
                        best_epoch[k] = epoch
                history.append(
                    {
                        "epoch": epoch,
                        "train_loss": float(train_loss.mean()),
                        "validation_loss": float(val_loss.mean()),
                    }
                )
                bar.update(epoch, train_loss.mean(), val_loss.mean())
                if epoch - max(best_epoch) >= patience:
                    break
        finally:
            bar.close()
        with torch.no_grad():
            for p, best in zip(params, best_params, strict=True):
                p.copy_(best)

        e_rmse = f_rmse = float("nan")
        if len(val_idx):
            e_err, f_err = [], []
            for k in val_idx:
                result = self._evaluate(self._graph_of([data[k]]), members=False)
                e_err.append((result["energy"] - labels[k][0]) / len(images[k]))
                f_err.append((result["forces"] - labels[k][1]).ravel())
            e_rmse = 1e3 * float(np.sqrt(np.mean(np.square(e_err))))
            f_rmse = 1e3 * float(np.sqrt(np.mean(np.square(np.concatenate(f_err)))))
        return FitResult(
            epochs=epoch,
            best_epoch=best_epoch,
            n_train=len(train_idx),
            n_validation=len(val_idx),
            wall_s=time.perf_counter() - tic,
            history=history,
            validation_energy_rmse_meV_atom=e_rmse,
            validation_force_rmse_meV_A=f_rmse,
        )

    def _set_statistics(self, batches: Sequence[dict]) -> None:
        """Per-element energy offsets (least squares), energy scale (RMS force)
        and per-element descriptor mean and standard deviation, from the
        training batches."""
        n_e = self.descriptor.n_elements
        counts = np.concatenate(
            [
                np.bincount(
                    (g.structure * n_e + g.species).cpu().numpy(),
                    minlength=g.n_structures * n_e,
                ).reshape(g.n_structures, n_e)
                for g in (b["graph"] for b in batches)
            ]
        ).astype(float)
        energies = torch.cat([b["energy"] for b in batches]).cpu().double().numpy()
        offsets = np.linalg.lstsq(counts, energies, rcond=None)[0]
        forces = (
            torch.cat([b["forces"].flatten() for b in batches]).cpu().double().numpy()
        )
        scale = float(np.sqrt(np.mean(forces**2)))
        if not scale > 1e-6:  # no forces to speak of: use the energy residual
            residual = np.std((energies - counts @ offsets) / counts.sum(1))
            scale = float(residual) if residual > 1e-6 else 1.0
        features = torch.cat([b["graph"].features for b in batches])
        species = torch.cat([b["graph"].species for b in batches])
        for e in range(n_e):
            rows = features[species == e]
            if len(rows) == 0:
                continue
            self.feature_mean[e] = rows.mean(0)
            std = (
                rows.std(0, unbiased=False)
                if len(rows) > 1
                else torch.ones_like(rows[0])
            )
            self.feature_std[e] = torch.where(std > 1e-6, std, torch.ones_like(std))
        self.energy_offsets.copy_(torch.as_tensor(offsets, dtype=self.dtype))
        self.energy_scale.fill_(scale)

    def _batch(self, data, labels, counts) -> dict:
        to = {"dtype": self.dtype, "device": self.device}
        graph = self._graph_of(data, slots=True)
        n_atoms = torch.as_tensor([len(species) for species, *_ in data], **to)
        counts = torch.as_tensor(counts, **to)  # (M, S)
        return {
            "graph": graph,
            "energy": torch.as_tensor([e for e, _ in labels], **to),
            "forces": torch.as_tensor(np.concatenate([f for _, f in labels]), **to),
            "n_atoms": n_atoms,
            "counts": counts,
            "atom_counts": counts[:, graph.structure],  # (M, N)
        }

    def _loss(self, batch, totals, weights) -> torch.Tensor:
        """Per-member share of the epoch loss from one batch, (M,)."""
        energy_weight, force_weight, relative, eps = weights
        graph = batch["graph"]
        atomic, feature_grads, _ = self._atomic(graph)
        energies = atomic.new_zeros(self.n_members, graph.n_structures).index_add(
            1, graph.structure, atomic
        )
        grad, _ = self._position_gradients(graph, feature_grads, strain=False)
        d_e = (energies - batch["energy"]) / batch["n_atoms"]
        loss_e = (batch["counts"] * d_e**2).sum(1)
        d_f = (-grad - batch["forces"]).pow(2).sum(-1)  # (M, N)
        if relative:
            d_f = d_f / (batch["forces"].pow(2).sum(-1) + eps)
        loss_f = (batch["atom_counts"] * d_f).sum(1)
        e_total, f_total = totals
        return energy_weight * loss_e / e_total + force_weight * loss_f / f_total

    def _totals(self, counts: np.ndarray, n_atoms: np.ndarray):
        """Per-member normalisers of the energy and force terms over an epoch:
        weighted structure count and weighted force-component count, (M,) each."""
        to = {"dtype": self.dtype, "device": self.device}
        return (
            torch.as_tensor(counts.sum(1), **to),
            torch.as_tensor(3.0 * counts @ n_atoms, **to),
        )

    # --- persistence -------------------------------------------------------------

    def state(self) -> dict:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "config": dict(self.config),
            "network": {
                k: v.detach().cpu() for k, v in self.network.state_dict().items()
            },
            "feature_mean": self.feature_mean.cpu(),
            "feature_std": self.feature_std.cpu(),
            "energy_offsets": self.energy_offsets.cpu(),
            "energy_scale": self.energy_scale.cpu(),
        }

    def save(self, path: str | Path) -> None:
        """Write the model (tensors and a JSON-like config; no pickled code)."""
        torch.save(self.state(), Path(path))

    @classmethod
    def load(cls, path: str | Path, *, dtype: str | None = None, device: str = "cpu"):
        """Read a model written by :meth:`save` (``torch.load(weights_only=True)``)."""
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"{path} is not a hyperal BPNN file")
        if state.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{path} has BPNN format version {state.get('version')}; this "
                f"hyperal reads version {FORMAT_VERSION}"
            )
        stored_dtype = str(state["energy_scale"].dtype).removeprefix("torch.")
        model = cls(**state["config"], dtype=dtype or stored_dtype, device=device)
        model.network.load_state_dict(
            {k: v.to(model.dtype) for k, v in state["network"].items()}
        )
        for name in ("feature_mean", "feature_std", "energy_offsets", "energy_scale"):
            getattr(model, name).copy_(state[name].to(model.dtype))
        return model


class _Progress:
    """A rich progress bar over epochs, or nothing."""

    def __init__(self, total: int, show: bool):
        self.bar = None
        if show:
            from rich.progress import Progress

            self.bar = Progress(transient=False)
            self.bar.start()
            self.task = self.bar.add_task("fitting committee", total=total)

    def update(self, epoch: int, train: float, validation: float) -> None:
        if self.bar is not None:
            self.bar.update(
                self.task,
                completed=epoch,
                description=f"fit: train {train:.3g} validation {validation:.3g}",
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


class BPNNCalculator(Calculator):
    """ASE calculator over a :class:`BPNN` committee, with the keys of
    :class:`hyperal.Committee`.

    ``energy``, ``free_energy``, ``forces``, ``stress`` (periodic cells) are
    committee means; ``member_energies``, ``energy_uncertainty``,
    ``energy_uncertainty_per_atom``, ``energy_uncertainty_gradient`` and
    ``energy_uncertainty_stress`` come with every evaluation at the cost of one
    extra contraction (not M backward passes). ``member_forces``,
    ``forces_uncertainty`` and ``member_stresses`` need one contraction per
    member and are computed when asked for (the descriptors are re-used), or
    always with ``always_member_forces=True``.
    """

    def __init__(self, model: BPNN, *, always_member_forces: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.always_member_forces = always_member_forces
        self._graph = None  # descriptors of self.atoms, re-used for new properties
        props = ["energy", "free_energy", "forces", "stress"]
        if model.n_members > 1:
            props += [*UNCERTAINTY_KEYS, "energy_uncertainty_stress", "member_stresses"]
        self.implemented_properties = props

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        if system_changes or self._graph is None:
            self._graph = self.model._graph(atoms)
        members = self.always_member_forces or any(
            p in _MEMBER_KEYS for p in properties
        )
        r = self.model._evaluate(self._graph, members=members)
        n = len(atoms)
        self.results = {
            "energy": r["energy"],
            "free_energy": r["energy"],
            "forces": r["forces"],
            "member_energies": r["member_energies"],
        }
        periodic = atoms.cell.rank == 3 and atoms.pbc.all()
        volume = atoms.get_volume() if periodic else None

        def voigt(strain):  # (1/V) dE/dε, symmetrised, Voigt order
            return full_3x3_to_voigt_6_stress(strain) / volume

        if periodic:
            self.results["stress"] = voigt(r["strain_derivative"])
        if self.model.n_members > 1:
            sigma = r["energy_uncertainty"]
            self.results.update(
                energy_uncertainty=sigma,
                energy_uncertainty_per_atom=sigma / max(n, 1),
                energy_uncertainty_gradient=r["energy_uncertainty_gradient"],
            )
            if periodic:
                self.results["energy_uncertainty_stress"] = voigt(
                    r["energy_uncertainty_strain"]
                )
            if members:
                f = r["member_forces"]
                self.results["member_forces"] = f
                self.results["forces_uncertainty"] = forces_disagreement(f)
                if periodic:
                    self.results["member_stresses"] = np.stack(
                        [voigt(s) for s in r["member_strain_derivative"]]
                    )
