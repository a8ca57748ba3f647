#!/usr/bin/env bash
# Sets up llp on Debian 12 (run as root): system packages, then the npm install that builds
# the native engine and compiles the TypeScript. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

need=()
dpkg -s libtorch-dev >/dev/null 2>&1 || need+=(libtorch-dev)          # the engine: libtorch 1.13
dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || need+=(dataset-fashion-mnist)  # default dataset
dpkg -s libgloo-dev >/dev/null 2>&1 || need+=(libgloo-dev)            # headers of c10d's Gloo backend (src/dist)
# libtorch calls BLAS for matmul/linear; without OpenBLAS, Debian falls back to the reference
# BLAS, about 10x slower on the memory-bank products (see README, "Engine").
dpkg -s libopenblas0-openmp >/dev/null 2>&1 || need+=(libopenblas0-openmp)
# the browser tests (the ONNX example page, playwright-core drives the system's Chromium)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v ip >/dev/null 2>&1 || need+=(iproute2)  # the two-host test: two network namespaces joined by a veth pair
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
# libtorch calls BLAS through libblas.so.3, which Debian's alternatives point at the OpenBLAS of
# highest priority. Installing python3-numpy or python3-sklearn pulls in openblas-pthread (priority
# 100 against the OpenMP build's 95): its threads compete with libtorch's OpenMP threads and it sums
# in another order, so a seeded run no longer repeats. llp is built and measured with the OpenMP one.
# libopenblas.so.0 is pinned too: the OpenMP libblas.so.3 is a thin wrapper that loads whichever
# libopenblas.so.0 the alternatives name, and with the pthread one there, its spinning threads cost
# the 60k `llp propagate` ~3% (1.20 s against 1.24 s, medians of 6, bench/tmp/propagation/fmnist.npy).
for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  want=/usr/lib/x86_64-linux-gnu/openblas-openmp/$lib
  if [ -e "$want" ] && [ "$(readlink -f /usr/lib/x86_64-linux-gnu/$lib)" != "$(readlink -f "$want")" ]; then
    echo "setup: pointing $lib at OpenBLAS (OpenMP)"
    update-alternatives --quiet --set "$lib-x86_64-linux-gnu" "$want"
  fi
done
# onnxruntime-node's postinstall fetches CUDA providers from NuGet (where npm runs dependencies'
# scripts); its CPU runtime ships in the package, which is all llp/infer uses
export ONNXRUNTIME_NODE_INSTALL=skip
if [ ! -f build/Release/llp_native.node ] || [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
else
  npm run install --silent  # rebuilds the addon only when a native source is newer than it
  npm run prepare --silent
fi
