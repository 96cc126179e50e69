#!/usr/bin/env bash
# Sets up everything on a fresh Debian/Ubuntu machine, then runs the main job.
#   ./setup.sh            install what is missing, build, run the main job
#   ./setup.sh --no-run   install what is missing and build (what `npm test` uses)
# Idempotent: each step is skipped when its result is already there and up to date.
set -euo pipefail
cd "$(dirname "$0")"

run_main=1
for arg in "$@"; do
  case "$arg" in
    --no-run) run_main=0 ;;
    *) echo "setup.sh: unknown option $arg (expected --no-run)" >&2; exit 2 ;;
  esac
done

say() { echo "[setup] $*"; }

# 1. System packages: libtorch (with gloo's headers, for c10d), a fast BLAS (without it Debian resolves libblas.so.3 to the
#    slow reference BLAS), Fashion-MNIST (the default data set), the compiler for the addon, and Chromium (the browser
#    the report's and the browser demo's tests open; playwright-core drives it and downloads no browser of its own), and
#    python3-onnx (its checker validates the exported ONNX files in the tests).
packages=(dataset-fashion-mnist g++ make python3 chromium python3-onnx)
[ -z "${LIBTORCH:-}" ] && packages+=(libtorch-dev libgloo-dev libopenblas0-openmp)
if command -v dpkg-query >/dev/null; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
      echo "setup.sh: missing packages ${missing[*]}; install them as root: apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
    say "apt-get install ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

# 2. npm packages (npm install also compiles the addon through binding.gyp). onnxruntime-node's install script
#    fetches CUDA libraries from outside the npm registry when it finds nvcc: not wanted (the CPU build is in the package).
export ONNXRUNTIME_NODE_INSTALL_CUDA=skip
if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ] ||
   { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  say "npm install"
  npm install --no-audit --no-fund --loglevel=error
fi

# 3. The native addon, when it is missing or older than its sources.
addon=build/Release/simclr.node
if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp scripts/libtorch.cjs -newer "$addon" 2>/dev/null | head -n1)" ]; then
  say "building the native addon (about a minute)"
  npx --no-install node-gyp rebuild --loglevel=error >/dev/null
fi

# 4. Typed operator wrappers generated from the installed libtorch, then the TypeScript build.
ops=src/tensor/generated/ops.ts
if [ ! -f "$ops" ] || [ "$addon" -nt "$ops" ] || [ scripts/gen-ops.mjs -nt "$ops" ]; then
  node scripts/gen-ops.mjs
fi
say "compiling TypeScript"
npx --no-install tsc -p .

# 5. The `simclr` command on the PATH: a link to the built CLI in npm's global bin folder, as `npm link` makes (without
#    npm link's reinstall). A file of that name that is not a link is left alone; `npx simclr` works from here either way.
cli="$PWD/dist/src/cli/main.js"
chmod +x "$cli"
bindir="$(npm prefix -g)/bin"
if [ "$(readlink -f "$bindir/simclr" 2>/dev/null)" != "$cli" ]; then
  if [ -e "$bindir/simclr" ] && [ ! -L "$bindir/simclr" ]; then
    say "$bindir/simclr exists and is not a link: left alone (use npx simclr from this folder)"
  elif [ -w "$bindir" ]; then
    ln -sfn "$cli" "$bindir/simclr" && say "simclr -> $cli (in $bindir)"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n ln -sfn "$cli" "$bindir/simclr" && say "simclr -> $cli (in $bindir)"
  else
    say "$bindir is not writable (and sudo asks for a password): use npx simclr from this folder, or: sudo ln -s $cli $bindir/simclr"
  fi
fi

# 6. The main job: SimCLR on Fashion-MNIST, evaluated against baselines.
if [ "$run_main" -eq 1 ]; then
  node "$cli" quickstart
fi
