"""Automated saddle search: the EMT Cu vacancy hop by dimer, by a forced NEB
and by plain ASE CI-NEB agree; a saddle that does not connect the ends is
said so; the committee and its biased form work as calculators."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.mep import NEB
from ase.optimize import FIRE

from hyperal.barriers.options import SaddleOptions
from hyperal.barriers.saddle import find_saddle

#: Tight enough to agree with ASE's CI-NEB at fmax 0.03 within 5 meV.
TIGHT = SaddleOptions(fmax_eV_A=0.03, relax_steps=500, dimer_steps=500, neb_steps=500)


def _hop():
    """fcc Cu (31 atoms, a vacancy at the origin) and the nearest atom's hop
    into it: (start, end, index of the hopping atom)."""
    cell = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    vacancy = cell.positions[0].copy()
    start = cell.copy()
    del start[0]
    hopper = int(np.argmin(np.linalg.norm(start.positions - vacancy, axis=1)))
    end = start.copy()
    end.positions[hopper] = vacancy
    return start, end, hopper


def _ase_ci_neb(start, end, fmax=0.03):
    """The reference: ASE's own CI-NEB, nothing of hyperal's."""
    ends = []
    for atoms in (start, end):
        atoms = atoms.copy()
        atoms.calc = EMT()
        FIRE(atoms, logfile=None).run(fmax=fmax, steps=500)
        ends.append(atoms)
    images = [ends[0]] + [ends[0].copy() for _ in range(5)] + [ends[1]]
    for image in images[1:-1]:
        image.calc = EMT()
    neb = NEB(images, climb=True, method="improvedtangent")
    neb.interpolate(method="idpp", mic=True)
    assert FIRE(neb, logfile=None).run(fmax=fmax, steps=500)
    return (
        max(i.get_potential_energy() for i in images) - ends[0].get_potential_energy()
    )


def test_dimer_neb_and_ase_ci_neb_agree_on_the_cu_vacancy_hop():
    start, end, hopper = _hop()
    dimer = find_saddle(start, end, EMT(), TIGHT)
    assert dimer.method == "dimer" and dimer.ok and dimer.reason == ""
    neb = find_saddle(start, end, EMT(), TIGHT, method="neb")
    assert neb.method == "neb" and neb.ok
    reference = _ase_ci_neb(start, end)
    assert 0.5 < reference < 1.0  # EMT Cu vacancy migration, ~0.78 eV here
    assert dimer.barrier_forward == pytest.approx(reference, abs=0.005)
    assert neb.barrier_forward == pytest.approx(reference, abs=0.005)
    # a symmetric hop: the same barrier both ways; the saddle halfway
    assert dimer.barrier_backward == pytest.approx(dimer.barrier_forward, abs=0.005)
    middle = (dimer.start.positions[hopper] + dimer.end.positions[hopper]) / 2
    assert np.linalg.norm(dimer.saddle.positions[hopper] - middle) < 0.1
    assert dimer.calls < neb.calls  # the dimer is the cheaper search
    assert set(dimer.steps) == {"relax_start", "relax_end", "dimer", "connect"}


def _two_hops():
    """The end is two hops away: the vacancy's neighbour hops in, then a
    second atom into the neighbour's site. (start, end, first hopper,
    second hopper)."""
    start, end, hopper = _hop()
    site = start.positions[hopper]
    distances = np.linalg.norm(start.positions - site, axis=1)
    second = next(
        int(k)
        for k in np.argsort(distances)[1:13]
        if np.linalg.norm(start.positions[k]) > 3.0
    )
    end.positions[second] = site
    return start, end, hopper, second


def test_a_saddle_that_does_not_connect_the_ends_is_reported():
    """With no intermediate minimum allowed, a saddle of one of the two hops
    cannot connect the ends."""
    start, end, _, _ = _two_hops()
    result = find_saddle(start, end, EMT(), TIGHT, method="dimer", intermediates=0)
    assert result.converged and not result.connects and not result.ok
    assert "relaxing from the saddle reached" in result.reason
    assert result.intermediates == ()


def test_a_hop_through_an_intermediate_minimum_is_searched_leg_by_leg():
    """Allowed one intermediate minimum, the two-hop path is found: the
    intermediate is the state after the first hop, each leg a vacancy hop of
    the same barrier, so the hop's barrier equals the one-hop barrier."""
    start, end, hopper, second = _two_hops()
    one_hop = find_saddle(*_hop()[:2], EMT(), TIGHT)
    for method in ("dimer", "auto"):
        result = find_saddle(start, end, EMT(), TIGHT, method=method)
        assert result.ok and result.reason == "", method
        (middle,) = result.intermediates
        vacancy = _hop()[1].positions[hopper]  # the first hop's end site
        assert np.linalg.norm(middle.positions[hopper] - vacancy) < 0.1
        assert np.linalg.norm(middle.positions[second] - start.positions[second]) < 0.1
        assert result.barrier_forward == pytest.approx(
            one_hop.barrier_forward, abs=0.01
        )
        assert result.barrier_backward == pytest.approx(
            one_hop.barrier_forward, abs=0.01
        )
        assert result.calls > one_hop.calls


def test_bad_input_is_refused():
    start, end, _ = _hop()
    with pytest.raises(ValueError, match="same atoms in the same order"):
        find_saddle(start, end[:-1], EMT())
    with pytest.raises(ValueError, match="relax to the same minimum"):
        find_saddle(start, start.copy(), EMT())
    # the options are the barrier file's saddle section: the same checks,
    # the key named
    with pytest.raises(ValueError, match="method\n.*'auto', 'dimer' or 'neb'"):
        find_saddle(start, end, EMT(), method="string")
    with pytest.raises(ValueError, match="intermediates\n.*greater than or equal to 0"):
        find_saddle(start, end, EMT(), intermediates=-1)
    with pytest.raises(ValueError, match="relax_fmax_eV_A\n.*greater than 0"):
        find_saddle(start, end, EMT(), relax_fmax_eV_A=0.0)
    with pytest.raises(ValueError, match="fmax\n.*[Ee]xtra"):
        find_saddle(start, end, EMT(), fmax=0.03)  # the old name: refused


def test_the_committee_and_its_biased_form_are_calculators_too():
    from hyperal.committee.bias import AdversarialBias
    from hyperal.models.options import BPNNOptions
    from hyperal.models.registry import get_backend

    start, end, _ = _hop()
    options = BPNNOptions(n_members=2, hidden=(8,), cutoff_A=4.0, fit={"epochs": 30})
    train = []
    for k in range(6):
        atoms = (start if k % 2 else end).copy()
        atoms.rattle(0.05, seed=k)
        atoms.calc = EMT()
        atoms.get_forces()
        train.append(atoms)
    model = get_backend("bpnn").build(("Cu",), options, seed=0)
    model.fit(train, options.fit, seed=0)
    for calc in (model.calculator(), AdversarialBias(model.calculator(), 0.5)):
        result = find_saddle(
            start, end, calc, relax_steps=100, dimer_steps=100, neb_steps=100
        )
        assert np.isfinite([result.barrier_forward, result.barrier_backward]).all()
        assert result.calls > 0 and result.method in ("dimer", "neb")


def test_a_saddle_below_an_end_is_not_a_barrier_to_trust():
    """Converged and connecting, yet below one end: that end was not the
    path's minimum, so the result is not ok; above both ends it is."""
    from ase import Atoms

    from hyperal.barriers.saddle import SaddleResult

    atoms = Atoms("Cu")

    def result(forward, backward, converged=True, connects=True):
        return SaddleResult(
            forward, backward, atoms, atoms, atoms, "dimer", converged, connects
        )

    assert result(0.5, 0.3).ok
    assert not result(0.5, -0.1).ok
    assert not result(-0.1, 0.5).ok
    assert not result(0.5, 0.0).ok
    assert not result(0.5, 0.3, converged=False).ok
    assert not result(0.5, 0.3, connects=False).ok


def test_each_leg_of_the_search_runs_on_its_own():
    """The legs of find_saddle, one by one, on the EMT Cu vacancy hop: the
    ends relax, the dimer and the NEB leg each find the saddle and its
    connection to both ends, the walk is one elementary leg, and the steps
    and calls are counted per stage."""
    from hyperal.barriers import SaddleSearch

    start, end, hopper = _hop()
    search = SaddleSearch(EMT(), TIGHT)
    a, b, reasons = search.relax_ends(start, end)
    assert reasons == [] and set(search.steps) == {"relax_start", "relax_end"}
    for ends in (a, b):
        assert np.max(np.linalg.norm(ends.get_forces(), axis=1)) < 0.03
    images = search.path(a, b)
    assert len(images) == search.options.neb_images + 2
    dimer = search.dimer_leg(a, b, search.path(a, b))
    assert dimer.method == "dimer" and dimer.converged and dimer.linked
    assert sorted(dimer.reached) == ["end", "start"] and dimer.why == ""
    neb = search.neb_leg(a, b, search.path(a, b))
    assert neb.method == "neb" and neb.converged and neb.linked
    e_dimer = search.saddle_energy(dimer.saddle) - a.get_potential_energy()
    assert e_dimer == pytest.approx(neb.energy - a.get_potential_energy(), abs=0.005)
    assert {"dimer", "neb", "connect"} <= set(search.steps)
    calls = search.calc.calls
    assert calls > sum(search.steps.values())  # every step is a calculation
    legs, minima = search.walk(a, b)
    assert len(legs) == 1 and minima == [] and legs[0].linked
    assert search.calc.calls > calls


def test_the_connection_check_names_what_each_side_reached():
    """Pushed along a mode that is no reaction coordinate (a rigid shift:
    both sides relax back to the start), the check says so."""
    from hyperal.barriers import SaddleSearch

    start, end, _ = _hop()
    search = SaddleSearch(EMT(), TIGHT)
    a, b, _ = search.relax_ends(start, end)
    dimer = search.dimer_leg(a, b, search.path(a, b))
    assert dimer.linked
    shift = np.zeros((len(a), 3))
    shift[:, 0] = 1.0
    probe = type(dimer)(a.copy(), 0.0, "dimer", True)
    search.connect(probe, shift, a, b)
    assert probe.reached == ("start", "start") and not probe.linked
    assert probe.why == "relaxing from the saddle reached start and start"
    with pytest.raises(ValueError, match="same minimum"):
        search.relax_ends(start, start)
    with pytest.raises(ValueError, match="'auto', 'dimer' or 'neb'"):
        SaddleSearch(EMT(), method="string")
