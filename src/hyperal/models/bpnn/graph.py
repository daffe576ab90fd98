"""Descriptor graphs: the symmetry functions of one or several structures with
the pair Jacobians that turn feature gradients into forces."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hyperal.models.descriptors import BPDescriptor


@dataclass
class Graph:
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
    ) -> Graph:
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
