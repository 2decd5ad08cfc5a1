#!/usr/bin/env bash
# The full profile's trainings on the project's GPU test machine (no network, no TensorFlow, no Keras there):
# installs the carried wheels (.whl/, made by benchmarks/gpu_wheels.sh), extracts the carried image archive
# (.data/fer2013-images.tar.xz), then trains one group of models with Keras' JAX backend (benchmarks/gpu_full.py).
#
#   bash benchmarks/gpu_full.sh GROUP [PROFILE]     GROUP: 1, 2 or all; PROFILE: full (default), or smoke to rehearse
#
# Results (logs, summary, packed trainings) go to $OUT (the device tool's output folder), else gpu-out/.
# Rehearsal on a CPU: PYTHON=.venv/bin/python bash benchmarks/gpu_full.sh all smoke
set -euo pipefail
cd "$(dirname "$0")/.."
group=${1:-all}
profile=${2:-full}
python=${PYTHON:-python3}
out=${OUT:-gpu-out}
if ! "$python" -c "import keras, optree, simplejpeg" 2>/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export KERAS_BACKEND=jax
data=${FER_IMAGES:-/tmp/fer2013-images}
if [ ! -d "$data/train" ]; then
  mkdir -p "$data"
  tar xJf .data/fer2013-images.tar.xz -C "$data"
fi
command -v nvidia-smi >/dev/null && nvidia-smi -L || true
"$python" -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
run_dir=${RUN_DIR:-runs/$profile}
exec "$python" benchmarks/gpu_full.py train --group "$group" --profile "$profile" --data "$data" --out "$out" \
  --run-dir "$run_dir"
