#!/usr/bin/env bash
# The wheels the GPU test machine lacks (it has JAX with CUDA, numpy, pandas, scikit-learn, h5py, rich, pyarrow,
# pyyaml, Pillow, but no Keras), for its Python 3.12 on x86-64, into .whl/ (git-ignored; carried to the machine).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
keras=$("$python" -c "import keras; print(keras.__version__)")
rm -rf .whl && mkdir -p .whl
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl "keras==$keras" namex optree simplejpeg
mkdir -p .data && cp -f ../shared/data/fer2013-images.tar.xz .data/ 2>/dev/null || \
  echo "copy fer2013-images.tar.xz into .data/ yourself (no ../shared/data here)"
ls -l .whl .data
