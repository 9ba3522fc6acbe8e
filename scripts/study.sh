#!/usr/bin/env bash
# The CPU convergence study of BENCHMARKS.md: LeNet on imbalanced Fashion-MNIST, 4 seeds,
# SGD-Scan against the method (E in {1,3,5,10} at gamma 0.5; gamma in {0.1,1} at E=5), focal
# loss and InfoBatch; then the report. Runs one after the other (about 30 minutes on 2 cores).
#   scripts/study.sh [STUDY_DIR]        STUDY_EXTRA=1 adds balanced Fashion-MNIST and the digits.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
# One thread per process: on a shared 2-core machine two torch threads per process oversubscribe it.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
STUDY=${1:-logs/study/$(date -u +%Y-%m-%d_%H-%M-%S)}
SEEDS=${SEEDS:-2020,2021,2022,2023}
mkdir -p "$STUDY"
echo "study: $STUDY"

sweep() {  # sweep NAME OVERRIDES...: one Hydra multirun into $STUDY/NAME
  local name=$1; shift
  echo "== $name: $* ($(date -u +%H:%M:%S))"
  "$PY" -m sample_importance.train -m experiment=cpu/study_fmnist_imbalanced seed="$SEEDS" \
    trainer.enable_progress_bar=false hydra.sweep.dir="$STUDY/$name" "$@" > "$STUDY/$name.log" 2>&1
}

# Most important first: a study cut short still has the baseline, the default method and the other methods.
[ "${SKIP_FIRST:-0}" = 1 ] || sweep scan_and_e5 method=sgd_scan,ours  # ours: E=5, gamma 0.5
sweep focal method=focal
sweep infobatch sampler=infobatch
sweep e_grid method=ours sampler.burn_in_epochs=1,3,10
sweep gamma_grid method=ours sampler.burn_in_epochs=5 sampler.gamma=0.1,1
if [ "${STUDY_EXTRA:-0}" = 1 ]; then
  sweep balanced dataset=fashion_mnist method=sgd_scan,ours
  sweep digits dataset=digits dataset.test_samples_per_class=null method=sgd_scan,ours
fi
echo "== done ($(date -u +%H:%M:%S))"
"$PY" -m sample_importance.report "$STUDY"/scan_and_e5 "$STUDY"/focal "$STUDY"/infobatch "$STUDY"/e_grid \
  "$STUDY"/gamma_grid --out "$STUDY/report" --no-images --no-progress
if [ "${STUDY_EXTRA:-0}" = 1 ]; then
  for name in balanced digits; do
    "$PY" -m sample_importance.report "$STUDY/$name" --out "$STUDY/report_$name" --no-images --no-progress
  done
fi
