"""A saddle search's settings: one typed object, the ``saddle`` section of a
barrier file and the options of :func:`hyperal.barriers.find_saddle` and
:class:`hyperal.barriers.legs.SaddleSearch` alike."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hyperal.runs.settings import Settings


class SaddleOptions(Settings):
    """How a saddle is searched between two minima."""

    fmax_eV_A: float = Field(
        0.05, gt=0, description="force convergence of the saddle searches"
    )
    method: Literal["auto", "dimer", "neb"] = Field(
        "auto",
        description="auto: the dimer, NEB when it fails; dimer or neb alone",
    )
    relax_steps: int = Field(200, ge=1, description="step limit of a relaxation")
    dimer_steps: int = Field(200, ge=1, description="step limit of the dimer")
    neb_images: int = Field(5, ge=1, description="interior NEB images")
    neb_steps: int = Field(200, ge=1, description="step limit of the NEB")
    relax_fmax_eV_A: float | None = Field(
        None,
        gt=0,
        description="force convergence of the end and connection relaxations "
        "(default fmax_eV_A); tighter on a soft landscape, where a loose "
        "relaxation stops on a saddle's shoulder",
    )
    intermediates: int = Field(
        1,
        ge=0,
        description="intermediate minima a hop may pass through (an atom "
        "resting between two sites); its barrier is then the highest saddle",
    )
    connect_displacement_A: float | None = Field(
        None,
        gt=0,
        description="how far the saddle is pushed along its mode (largest atom "
        "move) before relaxing each way (null: 0.1 Å)",
    )
    connect_tolerance_A: float | None = Field(
        None,
        gt=0,
        description="a relaxed structure is an end when no atom is further than "
        "this from its position there (null: 0.2 Å)",
    )

    @property
    def relax_fmax(self) -> float:
        """The relaxations' force convergence (eV/Å)."""
        return self.fmax_eV_A if self.relax_fmax_eV_A is None else self.relax_fmax_eV_A

    @property
    def displacement(self) -> float:
        """The connection check's push along the mode (Å)."""
        return (
            0.1 if self.connect_displacement_A is None else self.connect_displacement_A
        )

    @property
    def tolerance(self) -> float:
        """The connection check's tolerance (Å)."""
        return 0.2 if self.connect_tolerance_A is None else self.connect_tolerance_A
