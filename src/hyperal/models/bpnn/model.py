"""A committee of Behler–Parrinello neural networks, batched over members.

Behler & Parrinello, PRL 98, 146401 (2007): the energy is a sum of atomic
energies, each from a per-element network of the atom's symmetry-function
descriptor (see :mod:`hyperal.models.descriptors`). Here M such networks share
one descriptor computation and run as one batched pass; forces for any weighted
combination of members (the mean; the σ_U-weighted one giving ∇σ_U) cost one
contraction with the descriptors' per-pair Jacobian, so the committee costs
little more than one member. Training (:mod:`.train`) caches descriptors and
their Jacobians once per structure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import all_changes

from hyperal.committee.statistics import SIGMA_EPS_EV
from hyperal.models.bpnn.calculator import BPNNCalculator
from hyperal.models.bpnn.graph import Graph
from hyperal.models.bpnn.network import ACTIVATIONS, EnsembleMLP
from hyperal.models.bpnn.train import FitResult
from hyperal.models.bpnn.train import fit as _fit
from hyperal.models.descriptors import BPDescriptor
from hyperal.models.options import BPNNFitOptions
from hyperal.utils import changed

FORMAT = "hyperal.bpnn"
FORMAT_VERSION = 1


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

    def neighbour_data(self, atoms: Atoms):
        """(species, i, j, vectors) of a structure's half neighbour list."""
        d = self.descriptor
        species = d.species_index(atoms)
        i, j, vectors = d.neighbours(atoms)
        if len(i) and np.min(np.einsum("ij,ij->i", vectors, vectors)) < 1e-12:
            raise ValueError("two atoms sit on top of each other (distance 0)")
        return species, i, j, vectors

    def graph_of(self, data: Sequence[tuple], *, slots: bool = False) -> Graph:
        """One graph over several structures' neighbour data."""
        offsets = np.cumsum([0] + [len(species) for species, *_ in data])
        device = self.device

        def cat(arrays, **kw):
            return torch.as_tensor(np.concatenate(arrays), device=device, **kw)

        return Graph.build(
            self.descriptor,
            cat([species for species, *_ in data]),
            cat([i + o for (_, i, _, _), o in zip(data, offsets[:-1], strict=True)]),
            cat([j + o for (_, _, j, _), o in zip(data, offsets[:-1], strict=True)]),
            cat([v for *_, v in data], dtype=self.dtype),
            cat([np.full(len(sp), k) for k, (sp, *_) in enumerate(data)]),
            len(data),
            slots=slots,
        )

    def graph(self, atoms: Atoms) -> Graph:
        """Descriptor graph of one structure (pair Jacobians for inference)."""
        return self.graph_of([self.neighbour_data(atoms)])

    # --- evaluation --------------------------------------------------------------

    def atomic(self, graph: Graph, *, input_grad: bool = True):
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

    def position_gradients(
        self, graph: Graph, feature_grads: torch.Tensor, *, strain: bool = True
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

    def evaluate(self, graph: Graph, *, members: bool) -> dict:
        """Committee results for one structure's graph, as float64 numpy."""
        with torch.no_grad():
            atomic, feature_grads, _ = self.atomic(graph)
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
            grad, strain = self.position_gradients(graph, combined)
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
                member_grad, member_strain = self.position_gradients(
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
        graph = self.graph(atoms)
        with torch.no_grad():
            _, _, hidden = self.atomic(graph, input_grad=False)
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
        options: BPNNFitOptions | None = None,
        *,
        seed: int | None = None,
        progress: bool | None = None,
        preserve_function: bool = False,
        **changes,
    ) -> FitResult:
        """Fit every member to reference energies and forces
        (:func:`hyperal.models.bpnn.train.fit`) with ``options`` — a
        :class:`~hyperal.models.options.BPNNFitOptions`, default its
        defaults — and ``changes`` to them by keyword (``epochs=60``),
        validated by the options model (a ValueError naming the key)."""
        base = changed(BPNNFitOptions() if options is None else options, **changes)
        return _fit(
            self,
            images,
            base,
            seed=seed,
            progress=progress,
            preserve_function=preserve_function,
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
        model.load_state(state)
        return model

    def load_state(self, state: dict) -> None:
        """Copy weights and statistics of a :meth:`state` of the same
        architecture into this model (its own dtype and device)."""
        self.network.load_state_dict(
            {k: v.to(self.dtype) for k, v in state["network"].items()}
        )
        for name in ("feature_mean", "feature_std", "energy_offsets", "energy_scale"):
            getattr(self, name).copy_(state[name].to(self.dtype))
