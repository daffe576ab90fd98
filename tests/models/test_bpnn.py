"""BPNN committee: exact gradients, batching, training, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.calculators.singlepoint import SinglePointCalculator
from vesin import ase_neighbor_list

from hyperal import AdversarialBias
from hyperal.models import BPNN
from tests.helpers import central_difference


def alloy(seed=0, repeat=2, rattle=0.1):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(repeat)
    rng = np.random.default_rng(seed)
    atoms.symbols[rng.permutation(len(atoms))[: len(atoms) // 3]] = "Ni"
    atoms.rattle(rattle, seed=seed)
    return atoms


def labelled(n, seed=0):
    rng = np.random.default_rng(seed)
    images = []
    for k in range(n):
        atoms = alloy(seed=seed * 1000 + k, repeat=1, rattle=0.05 + 0.1 * rng.random())
        atoms.set_cell(atoms.cell * (1 + rng.uniform(-0.02, 0.02)), scale_atoms=True)
        atoms = atoms.repeat((2, 1, 1))
        atoms.calc = EMT()
        e, f = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f)
        images.append(atoms)
    return images


@pytest.fixture(scope="module")
def model64():
    return BPNN(["Cu", "Ni"], n_members=4, cutoff=4.5, dtype="float64", seed=1)


def test_descriptor_moments_match_a_brute_force_full_neighbour_list(model64):
    """The half list with parity signs equals summing φ over the full list,
    including periodic self-images of a 4-atom cell."""
    d = model64.descriptor
    for atoms in (alloy(repeat=1), alloy(repeat=2)):
        graph = model64.graph(atoms)
        i, j, vectors = ase_neighbor_list("ijD", atoms, d.cutoff)
        species = torch.as_tensor(d.species_index(atoms))
        phi, _ = d.pair_basis(torch.as_tensor(vectors))
        full = phi.new_zeros(len(atoms) * 2, phi.shape[1])
        full.index_add_(0, torch.as_tensor(i.astype(np.int64)) * 2 + species[j], phi)
        np.testing.assert_allclose(
            graph.moments.numpy(), full.view(len(atoms), 2, -1).numpy(), atol=1e-12
        )


def test_wide_angle_g9_matches_its_triple_sum(model64):
    atoms = alloy(repeat=1)
    d = model64.descriptor
    features = model64.graph(atoms).features.numpy()
    i, j, vectors = ase_neighbor_list("ijD", atoms, d.cutoff)
    species = d.species_index(atoms)
    atom = 1
    v, e = vectors[i == atom], species[j[i == atom]]
    r = np.linalg.norm(v, axis=1)
    fc = 0.5 * (np.cos(np.pi * r / d.cutoff) + 1)
    expected = []
    for a, b in d.element_pairs:
        for eta in d.angular_etas:
            radial = np.exp(-eta * r**2) * fc
            for zeta in d.zetas:
                for lam in (1, -1):
                    total = 0.0
                    for p in np.flatnonzero(e == a):
                        for q in np.flatnonzero(e == b):
                            if p != q:
                                cos = v[p] @ v[q] / (r[p] * r[q])
                                total += (
                                    2 ** (1 - zeta)
                                    * (1 + lam * cos) ** zeta
                                    * radial[p]
                                    * radial[q]
                                )
                    expected.append(total)
    np.testing.assert_allclose(
        features[atom, d.n_elements * d.n_radial :], expected, rtol=1e-10
    )


def test_pair_jacobian_matches_autograd(model64):
    d = model64.descriptor
    _, _, vectors = d.neighbours(alloy(repeat=1))
    v = torch.as_tensor(vectors[:20])
    _, jac = d.pair_basis(v)
    auto = torch.autograd.functional.jacobian(lambda x: d.pair_basis(x)[0], v)
    expected = torch.stack([auto[p, :, p, :] for p in range(len(v))])
    assert torch.allclose(jac, expected, atol=1e-12)


def test_forces_and_stress_are_exact_derivatives(model64):
    atoms = alloy()
    atoms.calc = model64.as_calculator()
    forces = atoms.get_forces()
    assert np.abs(forces).max() > 1e-2
    some = range(0, len(atoms), 4)  # every 4th atom keeps the test fast
    np.testing.assert_allclose(
        forces[some],
        calculate_numerical_forces(atoms, eps=1e-5, iatoms=some),
        atol=1e-7,
    )
    np.testing.assert_allclose(
        atoms.get_stress(), calculate_numerical_stress(atoms, eps=1e-6), atol=1e-8
    )


def test_sigma_gradient_and_its_strain_derivative_are_exact(model64):
    atoms = alloy(seed=3, repeat=(2, 1, 1))  # 8 atoms: every coordinate checked
    calc = model64.as_calculator()
    gradient = calc.get_property("energy_uncertainty_gradient", atoms)
    numeric = central_difference(
        lambda a: calc.get_property("energy_uncertainty", a), atoms, h=1e-5
    )
    assert np.abs(gradient).max() > 1e-2
    np.testing.assert_allclose(gradient, numeric, atol=1e-7)
    biased = atoms.copy()
    biased.calc = AdversarialBias(model64.as_calculator(), alpha=2.0)
    np.testing.assert_allclose(
        biased.get_stress(), calculate_numerical_stress(biased, eps=1e-6), atol=1e-8
    )
    some = range(1, len(atoms), 4)
    np.testing.assert_allclose(
        biased.get_forces()[some],
        calculate_numerical_forces(biased, eps=1e-5, iatoms=some),
        atol=1e-7,
    )


def test_batched_committee_equals_members_evaluated_separately(model64):
    atoms = alloy(seed=5)
    calc = model64.as_calculator()
    member_energies = calc.get_property("member_energies", atoms)
    member_forces = calc.get_property("member_forces", atoms)
    member_stresses = calc.get_property("member_stresses", atoms)
    for m in range(model64.n_members):
        single = BPNN(["Cu", "Ni"], n_members=1, cutoff=4.5, dtype="float64")
        for name in ("feature_mean", "feature_std", "energy_offsets", "energy_scale"):
            getattr(single, name).copy_(getattr(model64, name))
        with torch.no_grad():
            for p_single, p in zip(
                single.network.parameters(), model64.network.parameters(), strict=True
            ):
                p_single.copy_(p[m : m + 1])
        frame = atoms.copy()
        frame.calc = single.as_calculator()
        assert frame.get_potential_energy() == pytest.approx(
            member_energies[m], abs=1e-10
        )
        np.testing.assert_allclose(frame.get_forces(), member_forces[m], atol=1e-10)
        np.testing.assert_allclose(frame.get_stress(), member_stresses[m], atol=1e-12)
    results = calc.results
    assert results["energy"] == pytest.approx(member_energies.mean(), abs=1e-10)
    assert results["energy_uncertainty"] == pytest.approx(np.std(member_energies))
    np.testing.assert_allclose(results["forces"], member_forces.mean(0), atol=1e-10)
    deviation = member_forces - member_forces.mean(0)
    np.testing.assert_allclose(
        results["forces_uncertainty"],
        np.sqrt(np.mean(np.sum(deviation**2, axis=2), axis=0)),
        atol=1e-12,
    )


def test_training_and_inference_contractions_agree(model64):
    """Padded slot Jacobians (training) and the pair gather (inference) give the
    same member forces."""
    atoms = alloy(seed=7)
    data = model64.neighbour_data(atoms)
    grads = model64.atomic(model64.graph_of([data]))[1]
    padded, _ = model64.position_gradients(
        model64.graph_of([data], slots=True), grads, strain=False
    )
    gathered, _ = model64.position_gradients(model64.graph_of([data]), grads)
    assert torch.allclose(padded, gathered, atol=1e-12)


def test_training_reduces_the_force_error_by_a_large_factor():
    images = labelled(24, seed=2)
    test = labelled(6, seed=3)
    model = BPNN(["Cu", "Ni"], n_members=2, cutoff=4.5, hidden=(8, 8), seed=0)

    def force_rmse():
        calc = model.as_calculator()
        errors = [calc.get_forces(a.copy()) - a.get_forces() for a in test]
        return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))

    # Scale the untrained model like a trained one so the comparison is fair.
    model.fit(images, epochs=1, learning_rate=1e-12, final_learning_rate=1e-12)
    before = force_rmse()
    result = model.fit(images, epochs=60, progress=False, seed=0)
    after = force_rmse()
    assert after < before / 4
    assert result.n_validation == 2 and result.n_train == 22
    assert 1 <= min(result.best_epoch) and max(result.best_epoch) <= result.epochs
    assert np.isfinite(result.validation_force_rmse_meV_A)


def test_bootstrap_and_relative_force_weighting_train_too():
    images = labelled(10, seed=4)
    model = BPNN(["Cu", "Ni"], n_members=3, cutoff=4.5, hidden=(6,), seed=0)
    result = model.fit(
        images,
        epochs=8,
        bootstrap=True,
        relative_force_weighting=True,
        validation_fraction=0.0,
    )
    assert (
        result.n_validation == 0
        and result.history[-1]["train_loss"] < (result.history[0]["train_loss"])
    )
    energies = model.as_calculator().get_property("member_energies", images[0].copy())
    assert len(set(np.round(energies, 8))) == 3  # members differ


def test_reference_labels_from_ref_keys():
    atoms = labelled(1)[0]
    e, f = atoms.get_potential_energy(), atoms.get_forces()
    plain = atoms.copy()
    plain.info["REF_energy"] = e
    plain.arrays["REF_forces"] = f
    model = BPNN(["Cu", "Ni"], n_members=2, cutoff=4.0, hidden=(4,))
    model.fit([plain, plain.copy()], epochs=2, validation_fraction=0.0)
    with pytest.raises(ValueError, match="image 1 has no reference labels"):
        model.fit([plain, atoms.copy()], epochs=1)


def test_save_and_load_round_trip(tmp_path, model64):
    atoms = alloy(seed=9)
    path = tmp_path / "model.pt"
    model64.save(path)
    loaded = BPNN.load(path)
    assert loaded.config == model64.config and loaded.dtype == torch.float64
    a = model64.as_calculator().get_property("energy_uncertainty_gradient", atoms)
    b = loaded.as_calculator().get_property("energy_uncertainty_gradient", atoms)
    np.testing.assert_array_equal(a, b)
    assert model64.as_calculator().get_potential_energy(
        atoms
    ) == loaded.as_calculator().get_potential_energy(atoms)
    # The file holds tensors and plain values only: weights_only loading works.
    state = torch.load(path, weights_only=True)
    assert state["format"] == "hyperal.bpnn" and state["version"] == 1
    state["version"] = 99
    torch.save(state, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="format version 99"):
        BPNN.load(tmp_path / "future.pt")


def test_atomic_features_are_last_hidden_activations(model64):
    """The features, through each member's output layer, give its energy."""
    atoms = alloy(seed=1)
    features = model64.atomic_features(atoms)
    assert features.shape == (4, len(atoms), 10)
    assert not np.allclose(features[0], features[1])
    species = model64.descriptor.species_index(atoms)
    net, n_layers = model64.network, model64.network.n_layers
    atomic = np.zeros((4, len(atoms)))
    for e in range(2):
        w = net.weights[e * n_layers + n_layers - 1].detach().numpy()  # (M, H, 1)
        b = net.biases[e * n_layers + n_layers - 1].detach().numpy()  # (M, 1, 1)
        rows = species == e
        out = np.einsum("mnh,mho->mno", features[:, rows], w) + b
        atomic[:, rows] = float(model64.energy_scale) * out[..., 0] + float(
            model64.energy_offsets[e]
        )
    energies = model64.predict(atoms)["member_energies"]
    np.testing.assert_allclose(atomic.sum(1), energies, atol=1e-10)


def test_untrained_element_is_a_clear_error(model64):
    atoms = alloy()
    atoms.symbols[0] = "Pd"
    with pytest.raises(ValueError, match="contains Pd, which the model was not"):
        model64.as_calculator().get_potential_energy(atoms)
    atoms.calc = SinglePointCalculator(
        atoms, energy=0.0, forces=np.zeros((len(atoms), 3))
    )
    with pytest.raises(ValueError, match="contains Pd"):
        model64.fit([atoms], epochs=1)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="n_members"):
        BPNN(["Cu"], n_members=0)
    with pytest.raises(ValueError, match="activation"):
        BPNN(["Cu"], activation="relu")
    with pytest.raises(ValueError, match="dtype"):
        BPNN(["Cu"], dtype="float16")
    with pytest.raises(ValueError, match="not a chemical symbol"):
        BPNN(["Cu", "Xx"])
    with pytest.raises(ValueError, match="validation_fraction"):
        BPNN(["Cu"]).fit(labelled(2), validation_fraction=1.0)


def test_single_member_model_offers_no_uncertainty():
    calc = BPNN(["Cu", "Ni"], n_members=1, cutoff=4.0).as_calculator()
    assert "energy_uncertainty" not in calc.implemented_properties
    with pytest.raises(ValueError, match="energy_uncertainty"):
        AdversarialBias(calc, alpha=1.0)


def test_fit_with_a_progress_bar_reports_epochs(capsys):
    model = BPNN(["Cu", "Ni"], n_members=2, cutoff=4.0, hidden=(4,))
    result = model.fit(labelled(6, seed=6), epochs=3, progress=True)
    assert result.epochs == 3 and len(result.history) == 3
    assert "fit: train" in capsys.readouterr().out
