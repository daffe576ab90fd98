"""Registered oracles beyond EMT: universal potentials as stand-ins for DFT,
and GPAW for real DFT (docs/method.md §8).

The universal potentials — CHGNet 0.3.0 and SevenNet-0, whose weights ship
inside their wheels and load offline — were trained on PBE data (Materials
Project relaxations) and are **softer than DFT**: they label in a fraction
of a second what DFT labels in minutes, so a campaign can be tried end to
end on a laptop, but a potential fitted to them inherits their errors. Use
them to try settings, not for production numbers; production runs label
with DFT (``gpaw`` here, or any ASE calculator by import path, e.g.
``ase.calculators.vasp.Vasp``).

Each factory builds an ASE calculator from plain keyword arguments (so an
oracle pickles to any worker). A universal potential's weights are loaded
once per process and thread and reused: loading takes seconds, a single
point of a few dozen atoms a tenth of one.
"""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from collections.abc import Callable

from ase.calculators.calculator import Calculator

_local = threading.local()


def _extra(package: str, extra: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(
        f"the {extra} oracle needs the {package} package: pip install -c "
        f"constraints.txt 'hyperal[{extra}]'"
    )


def _cached(key: tuple, build: Callable[[], Calculator]) -> Calculator:
    """One calculator per (thread, key): the weights are loaded once; a
    calculator reused on another structure recomputes (ASE's check_state)."""
    cache = getattr(_local, "calculators", None)
    if cache is None:
        cache = _local.calculators = {}
    if key not in cache:
        cache[key] = build()
    return cache[key]


def chgnet(model: str = "0.3.0", device: str = "cpu") -> Calculator:
    """CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031 (2023)): energy,
    forces and stress (eV/Å³, ASE's sign). ``model`` is a CHGNet release
    whose weights ship with the package (0.3.0 covers Nb, Ti, Zr and O)."""
    try:
        # optional dependency (hyperal[chgnet])
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator
    except ImportError:
        raise _extra("chgnet", "chgnet") from None

    # CHGNet 0.4 converts a tensor that requires grad on every call (a
    # UserWarning per process, harmless): keep it out of the user's log
    warnings.filterwarnings(
        "ignore", message="Converting a tensor with requires_grad", module="chgnet"
    )

    def build():
        with contextlib.redirect_stdout(io.StringIO()):  # its banner lines
            loaded = CHGNet.load(model_name=model, use_device=device, verbose=False)
            # an atom without neighbours within the cutoff is legal input
            # here (random structures): no warning per call
            return CHGNetCalculator(
                model=loaded, use_device=device, on_isolated_atoms="ignore"
            )

    return _cached(("chgnet", model, device), build)


def sevenn(model: str = "7net-0", device: str = "cpu") -> Calculator:
    """SevenNet (Park et al., J. Chem. Theory Comput. 20, 4857 (2024)):
    ``7net-0`` ships with the package; energy, forces and stress."""
    try:
        # optional dependency (hyperal[sevenn])
        from sevenn.calculator import SevenNetCalculator
    except ImportError:
        raise _extra("sevenn", "sevenn") from None
    return _cached(
        ("sevenn", model, device),
        lambda: SevenNetCalculator(model=model, device=device),
    )


def gpaw(
    ecut_eV: float = 400.0,
    kpt_density: float = 2.5,
    xc: str = "PBE",
    smearing_eV: float = 0.1,
    spinpol: bool = False,
    txt: str | None = None,
    **kwargs,
) -> Calculator:
    """GPAW plane-wave DFT (Mortensen et al., J. Chem. Phys. 160, 092503
    (2024)): ``ecut_eV`` the plane-wave cutoff, ``kpt_density`` k-points per
    Å⁻¹ (a Γ-centred Monkhorst–Pack grid), Fermi–Dirac smearing; plane-wave
    mode gives the stress. Other keyword arguments go to GPAW as they are. A
    fresh calculator per call (a DFT calculation holds its wave functions)."""
    try:
        # optional dependency (hyperal[gpaw])
        from gpaw import GPAW, PW, FermiDirac
    except ImportError:
        raise _extra("gpaw", "gpaw") from None
    return GPAW(
        mode=PW(ecut_eV),
        xc=xc,
        kpts={"density": kpt_density, "gamma": True},
        occupations=FermiDirac(smearing_eV),
        spinpol=spinpol,
        txt=txt,
        **kwargs,
    )


__all__ = ["chgnet", "gpaw", "sevenn"]
