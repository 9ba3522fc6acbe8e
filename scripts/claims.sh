#!/usr/bin/env bash
# `make claims`: the CPU experiments behind each claim of the paper (C1-C5, see CLAIMS.md), their
# reports, then CLAIMS.md written from what the runs wrote to disk (scripts/claims.py).
#   scripts/claims.sh [CLAIMS_DIR]     default logs/claims; a sweep already finished there is skipped,
#                                      so an interrupted target picks up where it stopped.
#   CLAIMS="C1 C3"   a subset (C3 and C5 reuse C1's SGD-Scan and ours runs: their table1 sweep runs too)
#   SEEDS=2020,2021  fewer seeds;  CLAIMS_JOBS=1  one sweep at a time (default 2, one per core)
#   CLAIMS_EXTRA="trainer.max_epochs=2"  overrides added to every run (a quick trial, not a result)
#   CLAIMS_OUT=PATH  where the claims file goes (default CLAIMS.md)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
# One thread per process: the sweeps run side by side, one per core.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DIR=${1:-logs/claims}
CLAIMS=${CLAIMS:-C1 C2 C3 C4 C5}
SEEDS=${SEEDS:-2020,2021,2022,2023}
JOBS=${CLAIMS_JOBS:-2}
EXTRA=${CLAIMS_EXTRA:-}
OUT=${CLAIMS_OUT:-CLAIMS.md}
mkdir -p "$DIR"
TIMES="$DIR/sweeps.tsv"  # name, start, end (epoch seconds), status: the writer reports the target's time
echo "claims $CLAIMS: $DIR ($JOBS sweeps at a time, seeds $SEEDS)"

# name | experiment | overrides.  fig03 and fig11 write to fixed folders under paths.log_dir
# (cpu/fig03_class_weights, cpu/fig11_class_weights_e10) that fig12's weights_from presets read.
declare -A SPEC=(
  [table1]="cpu/table1_fig1_fig2|"
  [fig03]="cpu/fig03_class_weights|"
  [fig11]="cpu/fig11_class_weights_e10|"
  [fig12]="cpu/fig12_weights_from_elsewhere|method=sgd_scan,ours,weights_from/lenet_e1,weights_from/lenet_e2,weights_from/pyramidnet20_mean,weights_from/pyramidnet20_seed2023"
  [fig04]="cpu/fig04_imbalanced|"
  [fig05]="cpu/fig05_sgd_sci|method=sgd_sci"
  [table2]="cpu/table2_fig6_multiaug|"
  [fig08]="cpu/fig08_burn_in_sensitivity|"
  [fig10]="cpu/fig10_gamma_sensitivity|"
  [online]="cpu/appE_fig20_online_replacement|method=ours_online,sgd_replacement"
  [metrics]="cpu/appE_fig21_metrics|sampler.score=loss,el2n,grad_norm"
  [unbiased]="cpu/appE_fig22_unbiased|method=ours_unbiased"
  [random]="cpu/appE_random_and_easy_weights|method=random_weights,ours_easy"
  [el2n_prop]="cpu/appE_fig23_el2n_proportional|method=el2n_proportional"
)
# The sweeps of each claim; a report per claim reads them together (SGD-Scan and ours from table1
# are the baseline and reference of C3's SCI and C5's ablations: the same config, one group).
declare -A CLAIM_SWEEPS=(
  [C1]="table1"
  [C2]="fig03 fig11 fig12 fig08"
  [C3]="fig04 table1 fig05 fig03"
  [C4]="table2"
  [C5]="table1 fig08 fig10 online metrics unbiased random el2n_prop"
)
# EL2N's scores (10 LeNets x 2 epochs per data set) that table1, table2 and el2n_prop read, as
# DATASET:FOLDER (the sweep's dataset choice, and the folder under cpu/el2n/ its experiment reads).
declare -A EL2N_FOR=([table1]="fashion_mnist:fashion_mnist digits:digits"
                     [table2]="fashion_mnist:fashion_mnist_multiaug"
                     [el2n_prop]="fashion_mnist:fashion_mnist digits:digits")

folder_of() {
  case $1 in
    fig03) echo "$DIR/cpu/fig03_class_weights" ;;
    fig11) echo "$DIR/cpu/fig11_class_weights_e10" ;;
    *) echo "$DIR/$1" ;;
  esac
}

wanted=()
for claim in $CLAIMS; do
  [ -n "${CLAIM_SWEEPS[$claim]+x}" ] || { echo "error: unknown claim $claim (C1 C2 C3 C4 C5)" >&2; exit 2; }
  for name in ${CLAIM_SWEEPS[$claim]}; do
    [[ " ${wanted[*]} " == *" $name "* ]] || wanted+=("$name")
  done
done

el2n_scores() {  # el2n_scores SWEEP DATASET:FOLDER: the scores file the sweep's EL2N arm reads, once
  local sweep=$1 dataset=${2%%:*} name=${2#*:}
  local out="$DIR/cpu/el2n/$name"
  [ -f "$out/el2n_scores.pt" ] && return 0
  echo "== el2n scores: $name ($(date -u +%H:%M:%S))"
  # shellcheck disable=SC2086  # EXTRA is a list of overrides
  "$PY" -m sample_importance.el2n "experiment=${SPEC[$sweep]%%|*}" method=sgd_scan "dataset=$dataset" el2n.epochs=2 \
    seed=2020 paths.log_dir="$DIR" hydra.run.dir="$out" trainer.enable_progress_bar=false $EXTRA \
    > "$DIR/el2n_$name.log" 2>&1 || { echo "   el2n $name FAILED: see $DIR/el2n_$name.log"; return 1; }
}

sweep() {  # sweep NAME: one Hydra multirun, its output in $DIR/NAME.log
  local name=$1 folder experiment overrides start status=done
  folder=$(folder_of "$name")
  experiment=${SPEC[$name]%%|*}
  overrides=${SPEC[$name]#*|}
  if [ -f "$folder/.claims_done" ]; then echo "   $name: done before, skipped"; return 0; fi
  start=$(date +%s)
  echo "== $name: experiment=$experiment $overrides ($(date -u +%H:%M:%S))"
  local dir_override=()
  case $name in fig03|fig11) ;; *) dir_override=("hydra.sweep.dir=$folder") ;; esac
  # shellcheck disable=SC2086  # overrides and EXTRA are lists, split on purpose
  if "$PY" -m sample_importance.train -m "experiment=$experiment" seed="$SEEDS" paths.log_dir="$DIR" \
      trainer.enable_progress_bar=false "${dir_override[@]}" $overrides $EXTRA > "$DIR/$name.log" 2>&1; then
    touch "$folder/.claims_done"
    echo "   $name done ($(date -u +%H:%M:%S))"
  else
    status=failed
    echo "   $name FAILED: see $DIR/$name.log"
  fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$start" "$(date +%s)" "$status" >> "$TIMES"
  [ "$status" = done ]
}

failed=0
for name in "${wanted[@]}"; do
  for scores in ${EL2N_FOR[$name]:-}; do el2n_scores "$name" "$scores" || failed=1; done
done
# fig12 reads fig03's and fig11's weights: it runs after every other sweep has ended.
for name in "${wanted[@]}"; do
  [ "$name" = fig12 ] && continue
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || failed=1; done
  sweep "$name" &
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
if [[ " ${wanted[*]} " == *" fig12 "* ]]; then sweep fig12 || failed=1; fi
echo "== runs done ($(date -u +%H:%M:%S))"

for claim in $CLAIMS; do
  folders=()
  for name in ${CLAIM_SWEEPS[$claim]}; do
    folder=$(folder_of "$name")
    [ -d "$folder" ] && folders+=("$folder")
  done
  flags=()
  # EL2N's scoring iterations count in its t_n (the paper's Fig. 2 adds one model's E x T_e)
  case $claim in C1|C4) flags+=(--extra-iterations) ;; esac
  echo "== report $claim: ${folders[*]}"
  "$PY" -m sample_importance.report "${folders[@]}" --out "$DIR/report_$claim" --no-images --no-progress "${flags[@]}" \
    > "$DIR/report_$claim.log" 2>&1 || { echo "   report $claim FAILED: see $DIR/report_$claim.log"; failed=1; }
done
"$PY" scripts/claims.py "$DIR" --claims $CLAIMS --out "$OUT" || failed=1
[ "$failed" = 0 ] || { echo "claims: some sweeps or reports failed (see above)"; exit 1; }
echo "claims: $OUT (reports in $DIR/report_C*/report.md)"
