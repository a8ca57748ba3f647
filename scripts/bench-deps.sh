#!/usr/bin/env bash
# What the side-by-side benchmarks need besides llp (never a runtime dependency): Debian's numpy,
# scikit-learn and PyTorch (python3-torch: the same libtorch 1.13 as llp's addon). Installing them switches libblas.so.3 and libopenblas.so.0 to openblas-pthread; they
# are pointed back at the OpenMP build llp is built and measured with (as setup.sh does).
set -euo pipefail
if ! /usr/bin/python3 -c "import numpy, sklearn, torch" 2>/dev/null; then
  echo "bench: installing python3-numpy python3-sklearn python3-torch"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-numpy python3-sklearn python3-torch
fi
for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  want=/usr/lib/x86_64-linux-gnu/openblas-openmp/$lib
  if [ -e "$want" ] && [ "$(readlink -f /usr/lib/x86_64-linux-gnu/$lib)" != "$(readlink -f "$want")" ]; then
    update-alternatives --quiet --set "$lib-x86_64-linux-gnu" "$want"
  fi
done
