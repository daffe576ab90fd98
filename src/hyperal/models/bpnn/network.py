"""The batched ensemble of per-element networks: M members of every element's
network evaluated in one pass, with an explicit, differentiable input gradient."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


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
