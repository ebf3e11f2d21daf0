#!/usr/bin/env bash
# Ship a trained run as a named model of the package, and re-measure everything the README and its model card quote.
#
# Usage (from the project root, on an idle machine: the speed and load benchmarks time the CPU):
#   bench/ship.sh RUN NAME CONFIG [COMPARE]
#   HALF=1 ONNX=int8 DEFAULT_MODEL=ferkit-l bench/ship.sh ~/ferkit-runs/ferkit-l ferkit-l configs/ferkit-l.yaml ferkit-v4
#
# RUN's model.ferkit becomes src/ferkit/weights/NAME.ferkit (HALF=1: weights stored as float16, for large models;
# STORAGE=int8: as int8 with a scale per output channel, for ensembles),
# with NAME.onnx (fp32; ONNX=both, the default) and NAME.int8.onnx (static int8, percentile calibration) exported
# beside it (ONNX=int8: the int8 file only, for large models). ferkit.shipped.DEFAULT becomes DEFAULT_MODEL (default:
# NAME). COMPARE is another model's name whose accuracy JSON is the comparison column; REMOVE=OLD deletes model OLD's
# files from the package; REMOVE_ONNX=OLD only its ONNX files (its .ferkit stays, for recipes that start from it).
# Then: int8 accuracy, test-split accuracy (scored here, once), the model card and README
# model section, speed, load.
set -euo pipefail
run=$1 name=$2 config=$3 compare=${4:-}
storage=${STORAGE:-float32}; [ "${HALF:-0}" = 1 ] && storage=${STORAGE:-float16}
onnx=${ONNX:-both} default=${DEFAULT_MODEL:-$name} remove=${REMOVE:-} remove_onnx=${REMOVE_ONNX:-}
weights=src/ferkit/weights
export PYTHONPATH=src

test -f "$run/model.ferkit" || { echo "ship.sh: $run/model.ferkit does not exist" >&2; exit 1; }
# CONFIG - : no training recipe (an ensemble from bench/make_ensemble.py; its card names the commands)
[ "$config" = - ] || test -f "$config" || { echo "ship.sh: $config does not exist" >&2; exit 1; }
python - "$run/model.ferkit" "$weights/$name.ferkit" "$storage" <<'PY'
import sys
from ferkit.engine.checkpoint import load_model_file, save_model_file
save_model_file(load_model_file(sys.argv[1]), sys.argv[2], storage=sys.argv[3])
PY
tmp=$(mktemp -d)
python bench/int8_accuracy.py "$weights/$name.ferkit" --out "$tmp"
if [ "$onnx" = both ]; then cp "$tmp/fp32.onnx" "$weights/$name.onnx"; else rm -f "$weights/$name.onnx"; fi
cp "$tmp/int8_static_pct.onnx" "$weights/$name.int8.onnx"
cp "$tmp/int8_accuracy.json" "bench/results/int8_accuracy-$name.json"
rm -rf "$tmp"
sed -i "s/^DEFAULT = \"[^\"]*\"/DEFAULT = \"$default\"/" src/ferkit/shipped.py
if [ -n "$remove" ] && [ "$remove" != "$name" ]; then
  rm -f "$weights/$remove.ferkit" "$weights/$remove.onnx" "$weights/$remove.int8.onnx" "$weights/$remove.md"
fi
if [ -n "$remove_onnx" ] && [ "$remove_onnx" != "$name" ]; then
  rm -f "$weights/$remove_onnx.onnx" "$weights/$remove_onnx.int8.onnx"
fi
python bench/accuracy.py "$weights/$name.ferkit"
card_config=(); [ "$config" = - ] || card_config=(--config "$config")
python bench/model_card.py --name "$name" --run "$run" "${card_config[@]}" --seed-run runs/seed ${compare:+--previous "$compare"}
python bench/speed.py --model "$name" --json "bench/results/speed-$name.json"
onnx_file=$weights/$name.onnx; test -f "$onnx_file" || onnx_file=$weights/$name.int8.onnx
if [ "${SKIP_LOAD:-0}" != 1 ]; then  # SKIP_LOAD=1: keep the load table of the model it measured last
  python bench/serve_load.py --model "$onnx_file" --threads 1 --json bench/results/serve_load.json
fi
python bench/shares.py  # the default head of every shipped model, on every test set
python bench/readme_tables.py
echo "shipped $name from $run (default model: $default)"
