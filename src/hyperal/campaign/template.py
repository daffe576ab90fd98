"""The campaign file ``hyperal init`` writes: every key with its default."""

from __future__ import annotations

from hyperal.evolve.settings import CEParams, GammaBias

_TEMPLATE = """\
# hyperal campaign file: `hyperal run campaign.yaml` grows a robust MLIP.
# Every key is listed with its default; `hyperal run` names any key it does
# not know, any value out of range, and the allowed values.

system:
  elements: [Cu, Ni, Pd]            # every element the potential must know
  metal_phases:                     # known phases (prototype, species per sublattice)
    - {prototype: fcc, species: [Cu, Ni, Pd], repeat: [2, 2, 2]}
  oxide_phases: []                  # e.g. {prototype: rutile, species: {cation: Ti}}
  derive_metal: {}      # docs/method.md §1.3 overrides, e.g. {displacement_std_A: 0.2}
  derive_oxide: {}
  random:                           # random structures (docs/method.md §1.4)
    cutoff_A: 5.0                   # interaction range: sets the cubic cell edge
    criterion: inner_half_unique    # sphere-of-influence operating point (or x = D/L)
    density_g_cm3: [7.0, 10.0]
    interstitials: {}               # e.g. {O: [0.0, 0.3]}

oracle:                             # the reference calculator (required)
  name: emt                         # emt, chgnet, sevenn, gpaw, or an import path
  kwargs: {}                        # passed to the calculator
  timeout_s: null                   # per-call limit (s)
  retries: 0
  stress: false                     # also label the stress of periodic cells
  workdir: null                     # each call runs in its own folder under this
                                    # (default <store>.calls beside the store)
  keep_workdirs: failed             # failed | all | none: which folders stay

initial:                            # oracle relaxations of rattled known phases
  source: known                     # or enumerated: icet decorations (below)
  # enumerated: {lattice: bcc, species: [Nb, Ti, Zr], interstitials: [O],
  #              sizes: 3, interstitial_fraction: [0.0, 0.3]}
  structures: 6                     # starts (enumerated: a seeded subset)
  rattle_A: 0.1
  relax_steps: 8                    # every step is one labelled structure
  fmax_eV_A: 0.05
  train_fraction: 0.5               # the rest is the frozen gentle test set

counts:                             # new starts per loop (reference: 50/50/100)
  derived_metal: 50
  derived_oxide: 50
  random: 100
difficult_fraction: 0.2             # of the starts, labelled as the difficult test set

scheme:                             # how each start is evolved
  name: ce                          # md, relax, ce (contour exploration), dimer
  steps: 100
  bias:                             # the adversarial twin; null: the plain scheme
    gamma: GAMMA                    # ce: steering toward rising sigma; md, relax,
                                    # dimer: {alpha: 1.0} or {alpha: auto}
  params:                           # ce's own (each family has its own keys)
PARAMS

selection:                          # one frame per evolved start is labelled
  max_force_eV_A: 25.0              # physical limits: a frame qualifies below F_max
  min_distance_A: 1.0               # ... and above this shortest distance
  per_atom: false                   # rank by σ_U / N
  rule: max_sigma                   # max_sigma, random (the control), trust_window
  window: null                      # trust_window: {low: 0.2, high: 0.9, ...}
  random_share: null                # e.g. 0.2: audit labels drawn at random each loop
  score: energy_sigma               # force_sigma_*, gamma, σ-free force_magnitude ...
  relative_floor_eV_A: null         # l of σ_F / (|F| + l); null: 1 eV/Å
  batch: false                      # choose the loop's labels together, diverse
  batch_covers_training: null       # batch: the training set counts as chosen
  redundancy_filter: true           # skip near-copies of data, take the next frame
  redundancy_threshold: 0.01        # relative descriptor distance (0: identical)
  candidates: 4                     # frames per trajectory to try (batch: pool)
  include_start: true               # may the unevolved start be labelled

committee:                          # the MLIP: backend bpnn (built in) or mace
  backend: bpnn                     # (mace: pip install hyperal[mace]; see the docs)
  n_members: 8
  hidden: [10, 10]                  # per-element network layers
  cutoff_A: 6.0
  n_radial: 16                      # radial functions per element pair
  angular_etas: [0.01, 0.05, 0.2]   # η of the angular (G9) functions, Å⁻²
  activation: silu                  # silu, tanh
  dtype: float32                    # float32, float64
  device: cpu                       # or cuda
  warm_start: true                  # each loop's fit continues from the last one
  fit:
    epochs: 150                     # a cold fit (loop 0, or warm_start: false)
    warm_epochs: null               # a warm fit (default: epochs / 3)
    learning_rate: 0.01
    warm_learning_rate: null        # default: learning_rate / 5
    final_learning_rate: 0.0005
    energy_weight: 1.0
    force_weight: 1.0
    relative_force_weighting: false # |ΔF|² / (|F_ref|² + eps): saddles and minima
    relative_force_eps: 0.01        # eps (eV²/Å²) of that weighting
    batch_size: 8
    validation_fraction: 0.1
    patience: 50
    bootstrap: false

loops: 3
seed: 0
store: campaign.db                  # ase.db file (or postgresql://...)
executor:
  kind: inprocess                   # inprocess, process, dask, slurm
  workers: 1                        # process / dask: local workers
  address: null                     # dask: a running scheduler's address
  background_labels: true           # stream labels as evolutions end, difficult ones
                                    # while the committee fits (false: evolve all,
                                    # then label all, then fit)
  # kind slurm: hyperal submits its worker jobs (one task at a time each)
  queue: null                       # partition (sbatch -p)
  account: null                     # sbatch -A
  cores: 1                          # CPUs per job for the oracle (--cpus-per-task)
  memory: 4GB                       # per job (--mem)
  walltime: "01:00:00"              # per job; a job that ends is replaced
  max_jobs: 1                       # label jobs kept running
  gpus: 0                           # per job (--gres=gpu:N)
  job_extra: []                     # more #SBATCH options, e.g. [--qos=normal]
  prologue: []                      # e.g. [module load vasp]
  log_directory: null               # where the jobs' Slurm logs go
  interface: null                   # network interface the jobs reach this host on
  fit: null                         # jobs of their own for fits and evolutions,
                                    # e.g. {queue: gpu, gpus: 1, cores: 8, memory: 32GB}
calibration:                        # is the committee's sigma calibrated? (report)
  alpha: 0.05                       # conformal level 1 - alpha
  aggregate: max                    # a structure's force sigma/error: max, mean, p95
stop:                               # stop before `loops` when a criterion holds
  improvement: null                 # e.g. 0.05: difficult-set force RMSE fell < 5 %
  patience: 2                       # ... over this many loops (same structures)
  force_sigma_eV_A: null            # e.g. 0.1: calibrated force sigma of the explored,
  share: 0.9                        # selected frames below it for this share
  audit_force_rmse_meV_A: null      # e.g. 50: the audit estimate's upper end below it
"""


def _yaml(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# contour exploration's parameters with their defaults, read from the model
# (itself read from the evolver), so the template cannot drift from them
TEMPLATE = _TEMPLATE.replace("GAMMA", f"{GammaBias().gamma:<5}").replace(
    "PARAMS",
    "\n".join(
        f"    {name}: {_yaml(field.default)}"
        for name, field in CEParams.model_fields.items()
    ),
)
"""The campaign file ``hyperal init`` writes: every key with its default."""
