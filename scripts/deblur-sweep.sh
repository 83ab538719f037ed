#!/usr/bin/env bash
# Issue 17 architecture sweep: train each configs/cpu/deblur-sweep/*.yaml in turn (1 thread),
# resuming a run that has checkpoints; runs live in ~/.cache/restora/runs/sweep-<name>.
# Usage: bash scripts/deblur-sweep.sh [names...]   (default: nafnet srn srn-nolstm deepdeblur deblurgan)
set -uo pipefail
cd "$(dirname "$0")/.."
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(nafnet srn srn-nolstm deepdeblur deblurgan)
for n in "${names[@]}"; do
    out=${RESTORA_RUNS:-$HOME/.cache/restora/runs}/sweep-$n
    mkdir -p "$out"
    resume=()
    if compgen -G "$out/checkpoints/*" > /dev/null; then resume=(--resume latest); fi
    echo "$(date -u +%H:%M:%S) sweep: $n -> $out"
    OMP_NUM_THREADS=${THREADS:-1} .venv/bin/restora train "configs/cpu/deblur-sweep/$n.yaml" --output "$out" "${resume[@]}" >> "$out/console.log" 2>&1
done
echo "$(date -u +%H:%M:%S) sweep: done"
