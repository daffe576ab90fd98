"""Typed options of every backend (pydantic; importable without torch or
mace), and the campaign file's ``committee`` section as a union of them
discriminated by ``backend``.

Each backend's options hold how the committee is built and, under ``fit``,
how it is fitted; a wrong key or type is refused when the campaign file is
loaded, before any oracle call.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class BPNNFitOptions(_Options):
    """How the BPNN committee is fitted (:func:`hyperal.models.bpnn.train.fit`)."""

    epochs: int = Field(150, ge=1, description="epochs of a cold (from scratch) fit")
    energy_weight: float = Field(1.0, ge=0)
    force_weight: float = Field(1.0, ge=0)
    relative_force_weighting: bool = False
    relative_force_eps: float = Field(0.01, gt=0)
    bootstrap: bool = False
    validation_fraction: float = Field(0.1, ge=0, lt=1)
    batch_size: int = Field(8, ge=1)
    learning_rate: float = Field(1e-2, gt=0)
    final_learning_rate: float = Field(5e-4, gt=0)
    patience: int = Field(50, ge=1)
    warm_epochs: int | None = Field(
        None, ge=1, description="epochs of a warm-started fit (default: epochs / 3)"
    )
    warm_learning_rate: float | None = Field(
        None,
        gt=0,
        description="first learning rate of a warm-started fit "
        "(default: learning_rate / 5)",
    )

    @model_validator(mode="after")
    def _weights(self):
        if self.energy_weight + self.force_weight == 0:
            raise ValueError("energy_weight and force_weight must not both be 0")
        return self


class BPNNOptions(_Options):
    """The built-in Behler–Parrinello committee (``backend: bpnn``)."""

    backend: Literal["bpnn"] = "bpnn"
    n_members: int = Field(8, ge=2)
    hidden: tuple[Annotated[int, Field(ge=1)], ...] = Field((10, 10), min_length=1)
    cutoff_A: float = Field(6.0, gt=0)
    n_radial: int = Field(16, ge=1)
    angular_etas: tuple[float, ...] = (0.01, 0.05, 0.2)
    activation: Literal["silu", "tanh"] = "silu"
    dtype: Literal["float32", "float64"] = "float32"
    device: str = "cpu"
    warm_start: bool = Field(
        True, description="each loop's fit starts from the previous loop's weights"
    )
    fit: BPNNFitOptions = BPNNFitOptions()

    @model_validator(mode="before")
    @classmethod
    def _legacy_epochs(cls, data: Any) -> Any:
        # campaign files before the backend protocol gave `epochs` beside the
        # architecture; it is a fit option now
        if isinstance(data, dict) and "epochs" in data:
            data = dict(data)
            fit = dict(data.get("fit") or {})
            if "epochs" in fit:
                raise ValueError(
                    "epochs is given twice, as committee.epochs and "
                    "committee.fit.epochs; keep one (committee.fit.epochs)"
                )
            fit["epochs"] = data.pop("epochs")
            data["fit"] = fit
        return data


class MACEFitOptions(_Options):
    """How each MACE member is trained (``mace.cli.run_train`` flags)."""

    max_num_epochs: int = Field(60, ge=1)
    batch_size: int = Field(4, ge=1)
    lr: float = Field(0.01, gt=0)
    energy_weight: float = Field(1.0, ge=0)
    forces_weight: float = Field(100.0, ge=0)
    E0s: str = "average"
    valid_fraction: float = Field(0.1, gt=0, lt=1)
    warm_epochs: int | None = Field(
        None,
        ge=1,
        description="epochs of a warm-started fit (default: max_num_epochs / 3)",
    )
    extra_args: dict[str, str | int | float | bool] = Field(
        {}, description="more run_train flags, passed as --key=value"
    )


class MACEOptions(_Options):
    """A committee of MACE models trained from scratch (``backend: mace``,
    the ``hyperal[mace]`` extra)."""

    backend: Literal["mace"] = "mace"
    n_members: int = Field(4, ge=2)
    r_max_A: float = Field(5.0, gt=0)
    num_channels: int = Field(16, ge=1)
    max_L: int = Field(0, ge=0)
    correlation: int = Field(2, ge=1)
    num_interactions: int = Field(2, ge=1)
    num_radial_basis: int = Field(8, ge=1)
    default_dtype: Literal["float32", "float64"] = "float64"
    device: str = "cpu"
    warm_start: bool = True
    fit: MACEFitOptions = MACEFitOptions()


def _backend_tag(value: Any) -> str | None:
    # a committee section without `backend:` is the built-in BPNN
    if isinstance(value, dict):
        return value.get("backend", "bpnn")
    return getattr(value, "backend", None)


_TAGS = ("bpnn", "mace")

CommitteeOptions = Annotated[
    Annotated[BPNNOptions, Tag("bpnn")] | Annotated[MACEOptions, Tag("mace")],
    Discriminator(
        _backend_tag,
        custom_error_type="unknown_choice",
        custom_error_message="unknown backend",
        custom_error_context={"key": "backend", "allowed": ", ".join(_TAGS)},
    ),
]
