#!/usr/bin/env node
// Locates libtorch for the native build: LIBTORCH (official zip layout) first, then
// Debian's multiarch paths. Prints what binding.gyp asks for: `include`, `libs` or `cflags`.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

function fromEnv(root) {
  const lib = path.join(root, 'lib');
  if (!fs.existsSync(path.join(root, 'include', 'ATen', 'ATen.h'))) {
    throw new Error(`LIBTORCH=${root} does not look like libtorch: ${root}/include/ATen/ATen.h is missing`);
  }
  const config = path.join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake');
  const abi = fs.existsSync(config) && /_GLIBCXX_USE_CXX11_ABI=0/.test(fs.readFileSync(config, 'utf8')) ? 0 : 1;
  return {
    include: [path.join(root, 'include'), path.join(root, 'include', 'torch', 'csrc', 'api', 'include')],
    libDir: lib,
    rpath: true,
    abi,
    gloo: false,
    cuda: fs.existsSync(path.join(lib, 'libtorch_cuda.so')),
  };
}

function fromDebian() {
  const libRoot = '/usr/lib';
  const multiarch = fs.existsSync(libRoot)
    ? fs.readdirSync(libRoot).filter((d) => /-linux-gnu/.test(d) && fs.existsSync(path.join(libRoot, d, 'libtorch.so')))
    : [];
  if (multiarch.length === 0 || !fs.existsSync('/usr/include/ATen/ATen.h')) return null;
  return {
    include: ['/usr/include', '/usr/include/torch/csrc/api/include'],
    libDir: path.join(libRoot, multiarch[0]),
    rpath: false,
    abi: 1,
    // Debian's libtorch links gloo as a library of its own (libgloo-dev); pytorch.org's has it inside.
    gloo: true,
    cuda: fs.existsSync(path.join(libRoot, multiarch[0], 'libtorch_cuda.so')),
  };
}

function locate() {
  if (process.env.LIBTORCH) return fromEnv(process.env.LIBTORCH);
  const found = fromDebian();
  if (found) return found;
  throw new Error(
    'libtorch not found. On Debian/Ubuntu install it with `apt-get install -y libtorch-dev libopenblas0-openmp` ' +
      '(or run ./setup.sh), or set LIBTORCH to an unpacked libtorch from pytorch.org.',
  );
}

try {
  const t = locate();
  const what = process.argv[2];
  if (what === 'include') console.log(t.include.join(' '));
  else if (what === 'cflags') console.log(`-D_GLIBCXX_USE_CXX11_ABI=${t.abi}`);
  else if (what === 'libs') {
    const libs = [`-L${t.libDir}`];
    if (t.rpath) libs.push(`-Wl,-rpath,${t.libDir}`);
    // CUDA kernels register themselves at load time, so the library must stay linked.
    if (t.cuda) libs.push('-Wl,--no-as-needed', '-ltorch_cuda', '-Wl,--as-needed');
    libs.push('-ltorch', '-ltorch_cpu', '-lc10');
    // The addon calls gloo directly too (native/distributed.cc).
    if (t.gloo) libs.push('-lgloo');
    console.log(libs.join(' '));
  } else if (what === 'json') console.log(JSON.stringify(t));
  else throw new Error(`usage: libtorch.cjs include|libs|cflags|json`);
} catch (e) {
  console.error(`simclr: ${e.message}`);
  process.exit(1);
}
