"""The BPNN committee behind the model-backend protocol."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from ase import Atoms

from hyperal.models.bpnn.calculator import BPNNCalculator
from hyperal.models.bpnn.model import BPNN
from hyperal.models.options import BPNNFitOptions, BPNNOptions
from hyperal.models.protocol import CommitteeModel, FitReport

FILE = "bpnn.pt"


class BPNNCommittee:
    """:class:`~hyperal.models.protocol.CommitteeModel` over a :class:`BPNN`.

    A warm-started fit copies the weights and statistics of ``init`` and
    continues for ``warm_epochs`` from ``warm_learning_rate``, with the
    standardisation refitted to the new data and the networks rescaled so the
    starting predictions are ``init``'s (``preserve_function``).
    """

    backend: ClassVar[str] = "bpnn"

    def __init__(self, model: BPNN, options: BPNNOptions):
        self.model = model
        self.options = options

    @property
    def elements(self) -> tuple[str, ...]:
        return self.model.elements

    @property
    def n_members(self) -> int:
        return self.model.n_members

    @classmethod
    def build(
        cls, elements: Sequence[str], options: BPNNOptions, *, seed: int = 0
    ) -> BPNNCommittee:
        model = BPNN(
            elements,
            n_members=options.n_members,
            cutoff=options.cutoff_A,
            hidden=options.hidden,
            n_radial=options.n_radial,
            angular_etas=options.angular_etas,
            activation=options.activation,
            seed=seed,
            dtype=options.dtype,
            device=options.device,
        )
        return cls(model, options)

    @classmethod
    def load(
        cls, directory: Path, options: BPNNOptions, *, device: str | None = None
    ) -> BPNNCommittee:
        model = BPNN.load(
            Path(directory) / FILE,
            dtype=options.dtype,
            device=device or options.device,
        )
        return cls(model, options)

    def save(self, directory: Path) -> None:
        self.model.save(Path(directory) / FILE)

    def fit(
        self,
        frames: Sequence[Atoms],
        options: BPNNFitOptions,
        *,
        init: CommitteeModel | None = None,
        seed: int = 0,
    ) -> FitReport:
        if init is not None:
            if not isinstance(init, BPNNCommittee):
                raise TypeError(
                    f"a BPNN committee warm-starts from a BPNN committee, not "
                    f"{type(init).__name__}"
                )
            mine, theirs = self.model.config, init.model.config
            if mine | {"seed": 0} != theirs | {"seed": 0}:
                raise ValueError(
                    "warm start: the previous committee has another architecture "
                    f"({theirs} vs {mine})"
                )
            self.model.load_state(init.model.state())
            learning_rate = options.warm_learning_rate or options.learning_rate / 5
            options = options.model_copy(
                update={
                    "epochs": options.warm_epochs or max(1, options.epochs // 3),
                    "learning_rate": learning_rate,
                    "final_learning_rate": min(
                        options.final_learning_rate, learning_rate
                    ),
                }
            )
        result = self.model.fit(
            frames,
            options,
            seed=seed,
            progress=False,
            preserve_function=init is not None,
        )
        return FitReport(
            backend=self.backend,
            n_train=result.n_train,
            n_validation=result.n_validation,
            epochs=result.epochs,
            wall_s=result.wall_s,
            validation_energy_rmse_meV_atom=result.validation_energy_rmse_meV_atom,
            validation_force_rmse_meV_A=result.validation_force_rmse_meV_A,
            warm_started=init is not None,
        )

    def calculator(self) -> BPNNCalculator:
        return self.model.as_calculator()

    def atomic_features(self, atoms: Atoms) -> np.ndarray:
        return self.model.atomic_features(atoms)
