"""Training of the BPNN committee: every member fitted to reference energies
and forces in one batched pass per batch (Adam, early stopping per member)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from ase import Atoms
from rich.progress import Progress

from hyperal.labels import reference_labels
from hyperal.models.options import BPNNFitOptions
from hyperal.models.progress import EpochProgress, report_epoch

#: Floor of a feature's standardisation spread, relative to the median spread
#: of its element's features.
STD_FLOOR = 0.1

#: the committee a fit trains: a :class:`~hyperal.models.bpnn.model.BPNN`
#: (its networks, standardisation and offsets are what the fit sets; the
#: model imports this module, so it is named here, not imported)
BPNN = Any


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


def fit(
    model: BPNN,
    images: Sequence[Atoms],
    options: BPNNFitOptions | None = None,
    *,
    seed: int | None = None,
    progress: bool | None = None,
    preserve_function: bool = False,
) -> FitResult:
    """Fit every member to reference energies and forces, as ``options``
    say (:class:`~hyperal.models.options.BPNNFitOptions`, the campaign
    file's ``committee.fit``; default: its defaults).

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
    (``warm_epochs`` and ``warm_learning_rate`` are the committee's to
    apply: :class:`~hyperal.models.bpnn.backend.BPNNCommittee`.)

    Parameters
    ----------
    images : sequence of Atoms
        Structures with reference labels (see :func:`reference_labels`).
    seed : int, optional
        Seed of the validation split, batches and bootstrap (default: the
        model's seed).
    preserve_function : bool
        Warm start: refit the standardisation and energy offsets to the new
        data but rescale the first and last layer of every network so the
        model's predictions are unchanged before the first epoch (without it,
        new statistics would shift the inputs the current weights see).
    progress : bool, optional
        Show a progress bar (default: when standard error is a terminal).
    """
    tic = time.perf_counter()
    o = BPNNFitOptions() if options is None else options
    if len(images) < 1:
        raise ValueError("images is empty")
    rng = np.random.default_rng(model.config["seed"] if seed is None else seed)
    labels = _labels(images)
    data = [model.neighbour_data(atoms) for atoms in images]
    val_idx, train_idx = _split(rng, len(images), o.validation_fraction)
    counts = _resampling(rng, model.n_members, len(train_idx), o.bootstrap)
    train, validation = _batch_sets(
        model,
        rng,
        (images, data, labels),
        (train_idx, val_idx),
        counts,
        o.batch_size,
    )
    _set_statistics(model, train[0], preserve_function=preserve_function)
    epoch, best_epoch, history = _epochs(
        model,
        rng,
        train,
        validation,
        o,
        show=sys.stderr.isatty() if progress is None else progress,
    )
    e_rmse, f_rmse = _validation_errors(model, images, data, labels, val_idx)
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


def _labels(images: Sequence[Atoms]) -> list:
    """Every image's reference energy and forces, their shapes checked."""
    labels = [reference_labels(atoms, k) for k, atoms in enumerate(images)]
    for k, (atoms, (_, forces)) in enumerate(zip(images, labels, strict=True)):
        if forces.shape != (len(atoms), 3):
            raise ValueError(
                f"image {k}: reference forces have shape {forces.shape}, "
                f"expected ({len(atoms)}, 3)"
            )
    return labels


def _split(rng, n: int, validation_fraction: float):
    """Validation and training indices of ``n`` images (a seeded split; one
    validation image at least when there are 5 or more)."""
    order = rng.permutation(n)
    n_val = int(round(validation_fraction * n))
    if n_val == 0 and validation_fraction > 0 and n >= 5:
        n_val = 1
    val_idx, train_idx = order[:n_val], order[n_val:]
    if len(train_idx) == 0:
        raise ValueError("no training structures left after the validation split")
    return val_idx, train_idx


def _resampling(rng, members: int, n: int, bootstrap: bool) -> np.ndarray:
    """How often each member sees each training image: once, or a bootstrap
    resampling per member."""
    if not bootstrap:
        return np.ones((members, n))
    return np.stack(
        [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(members)]
    ).astype(float)


def _batches(model, rng, data, labels, indices, weights, batch_size: int) -> list:
    """The images ``indices`` in shuffled batches of ``batch_size``, each
    with its members' weights."""
    perm = rng.permutation(len(indices))
    out = []
    for start in range(0, len(indices), batch_size):
        chunk = perm[start : start + batch_size]
        out.append(
            _batch(
                model,
                [data[indices[c]] for c in chunk],
                [labels[indices[c]] for c in chunk],
                weights[:, chunk],
            )
        )
    return out


def _batch_sets(model, rng, images_data_labels, split, counts, batch_size: int):
    """The training batches (each member weighted by its resampling) and the
    validation batches, each with its totals for the loss; without
    validation images, training stops on the training data, unweighted."""
    images, data, labels = images_data_labels
    train_idx, val_idx = split
    m = model.n_members
    n_atoms_train = np.array([len(images[k]) for k in train_idx], dtype=float)
    totals = _totals(model, counts, n_atoms_train)
    train_batches = _batches(model, rng, data, labels, train_idx, counts, batch_size)
    val_source = val_idx if len(val_idx) else train_idx
    val_counts = np.ones((m, len(val_source)))
    if len(val_idx):
        val_batches = _batches(
            model, rng, data, labels, val_idx, val_counts, batch_size
        )
    else:  # stop on the training data, unweighted, without a second copy
        val_batches = [
            dict(
                b,
                counts=torch.ones_like(b["counts"]),
                atom_counts=torch.ones_like(b["atom_counts"]),
            )
            for b in train_batches
        ]
    val_totals = _totals(
        model, val_counts, np.array([len(images[k]) for k in val_source], dtype=float)
    )
    return (train_batches, totals), (val_batches, val_totals)


def _epochs(
    model,
    rng,
    train: tuple,
    validation: tuple,
    options: BPNNFitOptions,
    *,
    show: bool,
) -> tuple[int, list[int], list[dict]]:
    """Adam over ``options.epochs`` with an exponentially decaying learning
    rate; each member keeps (and ends with) the parameters of its best
    validation epoch; stops when no member improved for ``options.patience``
    epochs. Returns the last epoch, each member's best epoch and the loss
    history."""
    epochs, patience = options.epochs, options.patience
    learning_rate, final_learning_rate = (
        options.learning_rate,
        options.final_learning_rate,
    )
    train_batches, totals = train
    val_batches, val_totals = validation
    m = model.n_members
    params = list(model.network.parameters())
    optimizer = torch.optim.Adam(params, lr=learning_rate)
    decay = (final_learning_rate / learning_rate) ** (1.0 / max(epochs - 1, 1))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=decay)
    best_loss = np.full(m, np.inf)
    best_epoch = [0] * m
    best_params = [p.detach().clone() for p in params]
    history = []
    bar = EpochBar(epochs, show)
    epoch = 0
    try:
        for epoch in range(1, epochs + 1):
            train_loss = np.zeros(m)
            for k in rng.permutation(len(train_batches)):
                loss = _loss(model, train_batches[k], totals, options)
                optimizer.zero_grad(set_to_none=True)
                loss.sum().backward()
                optimizer.step()
                train_loss += loss.detach().cpu().numpy()
            scheduler.step()
            with torch.no_grad():
                val_loss = sum(
                    _loss(model, b, val_totals, options).cpu().numpy()
                    for b in val_batches
                )
            improved = val_loss < best_loss
            if improved.any():
                mask = torch.as_tensor(improved, device=model.device)
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
            report_epoch(
                EpochProgress(
                    epoch, epochs, float(train_loss.mean()), float(val_loss.mean())
                )
            )
            if epoch - max(best_epoch) >= patience:
                break
    finally:
        bar.close()
    with torch.no_grad():
        for p, best in zip(params, best_params, strict=True):
            p.copy_(best)
    return epoch, best_epoch, history


def _validation_errors(model, images, data, labels, val_idx) -> tuple[float, float]:
    """The committee mean's energy (meV/atom) and force (meV/Å) RMSE on the
    validation images (NaN without any)."""
    if not len(val_idx):
        return float("nan"), float("nan")
    e_err, f_err = [], []
    for k in val_idx:
        result = model.evaluate(model.graph_of([data[k]]), members=False)
        e_err.append((result["energy"] - labels[k][0]) / len(images[k]))
        f_err.append((result["forces"] - labels[k][1]).ravel())
    e_rmse = 1e3 * float(np.sqrt(np.mean(np.square(e_err))))
    f_rmse = 1e3 * float(np.sqrt(np.mean(np.square(np.concatenate(f_err)))))
    return e_rmse, f_rmse


def _set_statistics(
    model: BPNN, batches: Sequence[dict], *, preserve_function: bool = False
) -> None:
    """Per-element energy offsets (least squares), energy scale (RMS force)
    and per-element descriptor mean and standard deviation, from the
    training batches; with ``preserve_function`` the networks' first and last
    layers are rescaled so every prediction stays what it was."""
    old = (
        model.feature_mean.clone(),
        model.feature_std.clone(),
        model.energy_offsets.clone(),
        model.energy_scale.clone(),
    )
    n_e = model.descriptor.n_elements
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
    forces = torch.cat([b["forces"].flatten() for b in batches]).cpu().double().numpy()
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
        model.feature_mean[e] = rows.mean(0)
        std = rows.std(0, unbiased=False) if len(rows) > 1 else torch.ones_like(rows[0])
        # A feature (often a short-range radial function) that barely varies
        # in the training data would be divided by a tiny spread, and a test
        # structure with a closer contact would then reach the network as a
        # huge input (errors of 100 eV/Å seen on a gentle test set). Floor the
        # spread at a tenth of the element's typical feature spread.
        # (All features constant, as for one structure: unit spreads.)
        typical = float(std.median())
        floor = STD_FLOOR * typical if typical > 1e-6 else 1.0
        model.feature_std[e] = torch.clamp(std, min=floor)
    model.energy_offsets.copy_(torch.as_tensor(offsets, dtype=model.dtype))
    model.energy_scale.fill_(scale)
    if preserve_function:
        _compensate(model, *old)


def _compensate(model: BPNN, mean, std, offsets, scale) -> None:
    """Rescale the networks for the statistics just set, from the old ones.

    With x = (f − μ)/s the first layer computes x·W + b; for new μ', s' the
    same pre-activations come from W' = diag(s'/s)·W and b' = b + ((μ' − μ)/s)·W.
    The atomic energy scale·o + offset_e is kept by the last layer
    W'_L = W_L·scale/scale', b'_L = (b_L·scale + offset_e − offset'_e)/scale'.
    """
    net = model.network
    with torch.no_grad():
        for e in range(model.descriptor.n_elements):
            first = e * net.n_layers
            w0, b0 = net.weights[first], net.biases[first]  # (M, F, H), (M, 1, H)
            shift = (model.feature_mean[e] - mean[e]) / std[e]  # (F,)
            b0 += torch.einsum("f,mfh->mh", shift, w0)[:, None, :]
            w0 *= (model.feature_std[e] / std[e])[None, :, None]
            last = first + net.n_layers - 1
            ratio = scale / model.energy_scale
            net.weights[last].mul_(ratio)
            net.biases[last].mul_(ratio).add_(
                (offsets[e] - model.energy_offsets[e]) / model.energy_scale
            )


def _batch(model: BPNN, data, labels, counts) -> dict:
    to = {"dtype": model.dtype, "device": model.device}
    graph = model.graph_of(data, slots=True)
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


def _loss(model: BPNN, batch, totals, options: BPNNFitOptions) -> torch.Tensor:
    """Per-member share of the epoch loss from one batch, (M,)."""
    graph = batch["graph"]
    atomic, feature_grads, _ = model.atomic(graph)
    energies = atomic.new_zeros(model.n_members, graph.n_structures).index_add(
        1, graph.structure, atomic
    )
    grad, _ = model.position_gradients(graph, feature_grads, strain=False)
    d_e = (energies - batch["energy"]) / batch["n_atoms"]
    loss_e = (batch["counts"] * d_e**2).sum(1)
    d_f = (-grad - batch["forces"]).pow(2).sum(-1)  # (M, N)
    if options.relative_force_weighting:
        d_f = d_f / (batch["forces"].pow(2).sum(-1) + options.relative_force_eps)
    loss_f = (batch["atom_counts"] * d_f).sum(1)
    e_total, f_total = totals
    return (
        options.energy_weight * loss_e / e_total
        + options.force_weight * loss_f / f_total
    )


def _totals(model: BPNN, counts: np.ndarray, n_atoms: np.ndarray):
    """Per-member normalisers of the energy and force terms over an epoch:
    weighted structure count and weighted force-component count, (M,) each."""
    to = {"dtype": model.dtype, "device": model.device}
    return (
        torch.as_tensor(counts.sum(1), **to),
        torch.as_tensor(3.0 * counts @ n_atoms, **to),
    )


class EpochBar:
    """A rich progress bar over epochs, or nothing."""

    def __init__(self, total: int, show: bool):
        self.bar = None
        if show:
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
