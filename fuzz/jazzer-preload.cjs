// Preloaded (node --require) into a Jazzer.js run on a system whose C library is older than the
// one @jazzer.js/fuzzer's prebuilt addon was linked against (Debian 12: glibc 2.36, GCC 12's
// libstdc++): loads the copy of that addon that fuzz/jazzer.ts prepared (its version needs made
// weak; the three symbols it lacks come from the shim in LD_PRELOAD) instead of the original.
'use strict';
const replacement = process.env.SIMCLR_JAZZER_ADDON;
if (replacement) {
  const dlopen = process.dlopen;
  process.dlopen = function (module, filename, ...rest) {
    if (/@jazzer\.js[\\/]fuzzer[\\/]prebuilds[\\/]fuzzer-[^\\/]+\.node$/.test(filename)) filename = replacement;
    return dlopen.call(this, module, filename, ...rest);
  };
}
