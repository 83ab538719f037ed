#!/usr/bin/env bash
# Start or resume one training-campaign run in the background (issue 16): resumable state
# lives in ~/.cache/restora/runs/<name>, outside the work tree; 1 torch thread by default.
# Usage: bash scripts/campaign.sh configs/cpu/drunet-gray.yaml [extra restora-train options]
set -euo pipefail
cd "$(dirname "$0")/.."
cfg=$1; shift
name=$(basename "$cfg" .yaml)
out=${RESTORA_RUNS:-$HOME/.cache/restora/runs}/$name
mkdir -p "$out"
resume=()
if compgen -G "$out/checkpoints/*" > /dev/null; then resume=(--resume latest); fi
OMP_NUM_THREADS=${THREADS:-1} nohup .venv/bin/restora train "$cfg" --output "$out" "${resume[@]}" "$@" \
    >> "$out/console.log" 2>&1 &
echo "$name: pid $! -> $out (console.log)"
