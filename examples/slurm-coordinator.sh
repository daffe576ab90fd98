#!/bin/bash
# The hyperal coordinator as a Slurm job: submit with
#
#     sbatch examples/slurm-coordinator.sh examples/campaign_full.yaml
#
# The coordinator only sequences tasks and writes the store; the oracle calls
# run in the worker jobs hyperal submits itself (`executor: {kind: slurm}` in
# the campaign file), so one core and a little memory are enough here. Give
# it the longest walltime your queue allows: if it ends (walltime, scancel),
# what was stored is kept and submitting this script again resumes the
# campaign where it stopped — no label is paid twice. hyperal's worker jobs
# are cancelled when the coordinator exits.
#
# Its log (slurm-<jobid>.out) gets one plain line per finished label,
# evolution and fit epoch, with the time elapsed and the loop's estimated
# remainder; `hyperal status FILE` on the login node shows the loops so far.
#
#SBATCH --job-name=hyperal
#SBATCH --cpus-per-task=1
#SBATCH --mem=4G
#SBATCH --time=7-00:00:00
#SBATCH --output=slurm-%j.out
# (add --partition / --account / --qos as your cluster needs)

set -euo pipefail
campaign=${1:?usage: sbatch slurm-coordinator.sh CAMPAIGN.yaml}

# run from the folder sbatch was called in, where the .venv of the set-up
# command lives (or activate your own environment here instead)
cd "${SLURM_SUBMIT_DIR:-.}"
hyperal=${HYPERAL:-.venv/bin/hyperal}

# the coordinator's own torch work (committee evolutions between labels) on
# the one core the job holds
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}

# Slurm sends SIGTERM before the walltime's SIGKILL: hyperal then stops its
# worker jobs, releases the store's lock and exits 143; the next submission
# resumes
exec "$hyperal" run "$campaign"
