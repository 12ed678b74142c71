#!/bin/sh
# What an image for one accelerator adds to the CPU image. The Dockerfile runs it, and the
# tests run the same commands in dry-run mode (DRY_RUN=1), so each target's install is
# checked without a Docker engine.
#
#   accelerator-image.sh python ACCELERATOR VENV   Python packages, in the build stage
#   accelerator-image.sh system ACCELERATOR        Debian packages, in the final stage
#
# ACCELERATOR: cpu (nothing to add), cuda (ONNX Runtime with the CUDA and TensorRT
# providers; TensorRT's wheels exist for Linux x86_64 only) or intel (the OpenCL and
# Level Zero runtimes OpenVINO's GPU plugin loads; the NPU plugin needs the host's NPU
# driver, which no Debian package carries).
set -eu
step=$1
accelerator=$2
dry=${DRY_RUN:-0}

case "$accelerator" in
  cpu|cuda|intel) ;;
  *) echo "accelerator-image.sh: unknown accelerator '$accelerator' (cpu, cuda or intel)" >&2; exit 2 ;;
esac

if [ "$step" = python ]; then
  venv=$3
  pip="$venv/bin/pip"
  if [ "$accelerator" = cuda ]; then
    if [ "$dry" = 1 ]; then
      "$pip" install --dry-run --quiet --no-deps "onnxruntime-gpu>=1.18,<2" \
        "tensorrt-cu12>=10,<12; platform_machine == 'x86_64' and sys_platform == 'linux'"
    else
      # One ONNX Runtime per environment: the GPU build replaces the CPU one.
      "$pip" uninstall --yes onnxruntime
      "$pip" install --no-cache-dir "onnxruntime-gpu>=1.18,<2" \
        "tensorrt-cu12>=10,<12; platform_machine == 'x86_64' and sys_platform == 'linux'"
    fi
  fi
elif [ "$step" = system ]; then
  if [ "$accelerator" = intel ]; then
    packages="intel-opencl-icd=22.43.24595.41-1 libze1=1.8.12-1"
    if [ "$dry" = 1 ]; then
      # shellcheck disable=SC2086
      apt-get install --simulate --no-install-recommends $packages >/dev/null
    else
      apt-get update
      # shellcheck disable=SC2086
      apt-get install --yes --no-install-recommends $packages
      rm -rf /var/lib/apt/lists/*
    fi
  fi
else
  echo "accelerator-image.sh: step must be python or system, got '$step'" >&2
  exit 2
fi
