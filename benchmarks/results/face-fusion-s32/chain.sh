#!/bin/bash
# issue 19 chain (session 31): encoder + fusion stages from the committed exports, then export, bench, grid
set -x
cd /work/main && source .venv/bin/activate
export OMP_NUM_THREADS=1
R=~/.cache/restora/runs
C=benchmarks/results/face-campaign
ENC_STEPS=${ENC_STEPS:-1200}
FUS_STEPS=${FUS_STEPS:-600}
python -m restora.train.face_fusion --stage encoder --output $R/face-encoder --prior $C/face-prior-64.safetensors \
  --init $C/nafnet-face.safetensors --steps $ENC_STEPS --val-every 200 --checkpoint-every 100 --threads 1
[ -f $R/stop ] && exit 0
python -m restora.train.face_fusion --stage fusion --output $R/face-fusion --init $R/face-encoder \
  --fusion '{"residual": true}' --steps $FUS_STEPS --val-every 100 --checkpoint-every 100 --threads 1
python -m restora.train.face_fusion --output $R/face-fusion --export $R/face-fusion.safetensors
echo CHAIN-DONE
