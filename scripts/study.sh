#!/usr/bin/env bash
# The CPU convergence study of BENCHMARKS.md: LeNet on imbalanced Fashion-MNIST, 4 seeds, SGD-Scan
# against the method on the full grid E in {1,3,5,10} x gamma in {0.1,0.5,1}, focal loss and
# InfoBatch; balanced Fashion-MNIST and the digits (SGD-Scan against E=5, gamma 0.5), where the
# method is not expected to help; the method with p_true from the training steps; then the
# reports. 80 runs, STUDY_JOBS (default 2) at a time, one thread each: about 20 minutes on 2 cores.
#   scripts/study.sh [STUDY_DIR]      SEEDS=2020,2021 STUDY_JOBS=1 STUDY_EXTRA=0 to cut it down.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
# One thread per process: the sweeps run side by side, one per core.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
STUDY=${1:-logs/study/$(date -u +%Y-%m-%d_%H-%M-%S)}
SEEDS=${SEEDS:-2020,2021,2022,2023}
JOBS=${STUDY_JOBS:-2}
mkdir -p "$STUDY"
echo "study: $STUDY ($JOBS sweeps at a time)"

sweep() {  # sweep NAME OVERRIDES...: one Hydra multirun into $STUDY/NAME, its output in $STUDY/NAME.log
  local name=$1; shift
  echo "== $name: $* ($(date -u +%H:%M:%S))"
  if "$PY" -m sample_importance.train -m experiment=cpu/study_fmnist_imbalanced seed="$SEEDS" \
      trainer.enable_progress_bar=false hydra.sweep.dir="$STUDY/$name" "$@" > "$STUDY/$name.log" 2>&1; then
    echo "   $name done ($(date -u +%H:%M:%S))"
  else
    echo "   $name FAILED: see $STUDY/$name.log"
    return 1
  fi
}

# Longest first, so the two queues end together; a study cut short still has the baseline and E=5.
SWEEPS=(
  "scan_and_e5 method=sgd_scan,ours"  # ours: E=5, gamma 0.5
  "e1 method=ours sampler.burn_in_epochs=1 sampler.gamma=0.1,0.5,1"
  "e3 method=ours sampler.burn_in_epochs=3 sampler.gamma=0.1,0.5,1"
  "e10 method=ours sampler.burn_in_epochs=10 sampler.gamma=0.1,0.5,1"
  "e5_gamma method=ours sampler.burn_in_epochs=5 sampler.gamma=0.1,1"
  "focal method=focal"
  "infobatch sampler=infobatch"
  # item 2 of the benchmarks issue: p_true recorded from epoch E's training steps instead of a pass
  "e5_train_forward method=ours sampler.score_source=train_forward"
)
if [ "${STUDY_EXTRA:-1}" = 1 ]; then
  SWEEPS+=(
    "balanced dataset=fashion_mnist method=sgd_scan,ours"
    # the digits get a schedule of their size (1,438 images: batch 32, lr 0.1, as the tests use)
    "digits dataset=digits dataset.test_samples_per_class=null schedule.batch_size=32 schedule.lr=0.1 method=sgd_scan,ours"
  )
fi

failed=0
for spec in "${SWEEPS[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || failed=1; done
  # shellcheck disable=SC2086  # the spec is NAME OVERRIDES..., split on purpose
  sweep $spec &
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
echo "== runs done ($(date -u +%H:%M:%S))"

main=()
for name in scan_and_e5 e1 e3 e10 e5_gamma focal infobatch e5_train_forward; do
  [ -d "$STUDY/$name" ] && main+=("$STUDY/$name")
done
"$PY" -m sample_importance.report "${main[@]}" --out "$STUDY/report" --no-images --no-progress || failed=1
for name in balanced digits; do
  if [ -d "$STUDY/$name" ]; then
    "$PY" -m sample_importance.report "$STUDY/$name" --out "$STUDY/report_$name" --no-images --no-progress || failed=1
  fi
done
for report in "$STUDY"/report*/report.json; do  # the condensed tables BENCHMARKS.md shows
  "$PY" scripts/study_table.py "$report" > "${report%.json}_table.md" || failed=1
done
[ "$failed" = 0 ] || { echo "study: some sweeps or reports failed (see above)"; exit 1; }
echo "study: reports in $STUDY/report*/report.md"
