#!/usr/bin/env bash
# Ship a trained run as the package's pretrained model, and re-measure everything the README and model card quote.
#
# Usage (from the project root, on an idle machine: the speed and load benchmarks time the CPU):
#   bench/ship.sh RUN NAME CONFIG [PREVIOUS]
#   bench/ship.sh runs/fernet-xs ferkit-v3 configs/fernet-xs.yaml ferkit-v2
#
# RUN's model.ferkit becomes src/ferkit/weights/NAME.ferkit, with NAME.onnx (fp32) and NAME.int8.onnx (static int8,
# percentile calibration) exported beside it; ferkit.inference.predictor.PRETRAINED becomes NAME; the files of the
# PREVIOUS model are removed from the package (its accuracy JSON stays in bench/results/ for the comparison column).
# Then: int8 accuracy, test-split accuracy (scored here, once), model card and README model section, speed, load.
set -euo pipefail
run=$1 name=$2 config=$3 previous=${4:-}
weights=src/ferkit/weights
export PYTHONPATH=src

test -f "$run/model.ferkit" || { echo "ship.sh: $run/model.ferkit does not exist" >&2; exit 1; }
test -f "$config" || { echo "ship.sh: $config does not exist" >&2; exit 1; }
cp "$run/model.ferkit" "$weights/$name.ferkit"
tmp=$(mktemp -d)
python bench/int8_accuracy.py "$weights/$name.ferkit" --out "$tmp"
cp "$tmp/fp32.onnx" "$weights/$name.onnx"
cp "$tmp/int8_static_pct.onnx" "$weights/$name.int8.onnx"
cp "$tmp/int8_accuracy.json" bench/results/int8_accuracy.json
rm -rf "$tmp"
sed -i "s/^DEFAULT = \"[^\"]*\"/DEFAULT = \"$name\"/" src/ferkit/shipped.py
if [ -n "$previous" ] && [ "$previous" != "$name" ]; then
  rm -f "$weights/$previous.ferkit" "$weights/$previous.onnx" "$weights/$previous.int8.onnx"
fi
python bench/accuracy.py
python bench/model_card.py --run "$run" --config "$config" --seed-run runs/seed ${previous:+--previous "$previous"}
python bench/speed.py --json bench/results/speed.json
python bench/serve_load.py --model "$weights/$name.onnx" --threads 1 --json bench/results/serve_load.json
python bench/readme_tables.py
echo "shipped $name from $run"
