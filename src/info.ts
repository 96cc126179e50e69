// Facts about the native runtime: libtorch version and location, BLAS, threads, devices.
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { native } from './native.js';

/** Facts about the native runtime, from {@link info}. */
export interface RuntimeInfo {
  /** The libtorch version, e.g. '2.5.1'. */
  torchVersion: string;
  /** Where the loaded libtorch lives. */
  libtorch: string | null;
  /** The BLAS library the process actually loaded (Debian resolves libblas.so.3 through alternatives). */
  blas: string | null;
  /** Threads libtorch uses for intra-op parallelism. */
  threads: number;
  /** Hardware threads of the machine. */
  hardwareThreads: number;
  /** Whether freed memory stays in the heap instead of going back to the OS (see native/addon.cc). */
  allocatorTuned: boolean;
  /** The devices tensors can live on: 'cpu', then 'cuda:0', 'cuda:1', … when CUDA is available. */
  devices: string[];
}

function loadedLibrary(pattern: RegExp): string | null {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    for (const line of maps.split('\n')) {
      const path = line.slice(line.indexOf('/'));
      if (line.includes('/') && pattern.test(path)) return path;
    }
  } catch {
    // not Linux: leave it unknown
  }
  return null;
}

/** The libtorch version and location, BLAS, threads and devices of this process. */
export function info(): RuntimeInfo {
  const n = native.info();
  const devices = ['cpu', ...Array.from({ length: n.cudaDevices }, (_, i) => `cuda:${i}`)];
  return {
    torchVersion: n.torchVersion,
    libtorch: loadedLibrary(/libtorch_cpu\.so/),
    blas: loadedLibrary(/lib(open)?blas[^/]*\.so/),
    threads: n.threads,
    hardwareThreads: n.hardwareThreads,
    allocatorTuned: n.allocatorTuned,
    devices,
  };
}

/** The CPU's model and the flags that matter for speed figures (from /proc/cpuinfo). */
export function cpuFlags(): { model: string; flags: string[] } {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /model name\s*:\s*(.*)/.exec(text)?.[1] ?? cpus()[0]?.model ?? 'unknown';
    const flags = (/flags\s*:\s*(.*)/.exec(text)?.[1] ?? '').split(' ');
    return { model, flags: ['avx2', 'avx512f', 'avx512_bf16', 'avx512_fp16', 'amx_bf16', 'amx_tile'].filter((f) => flags.includes(f)) };
  } catch {
    return { model: cpus()[0]?.model ?? 'unknown', flags: [] };
  }
}

/**
 * The most memory this process may use, and what sets it: its address-space limit (ulimit -v), its
 * cgroup's (a container's) limit, or the machine's memory, whichever is lowest. For error messages.
 */
export function memoryLimit(): { bytes: number; source: string } {
  const limits = [{ bytes: totalmem(), source: "the machine's memory" }];
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  const addressSpace = /^Max address space\s+(\d+)/m.exec(read('/proc/self/limits'));
  if (addressSpace) limits.push({ bytes: Number(addressSpace[1]), source: 'its address-space limit (ulimit -v)' });
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    const value = Number(read(file).trim());
    if (Number.isFinite(value) && value > 0) limits.push({ bytes: value, source: `its cgroup's limit (${file})` });
  }
  return limits.reduce((a, b) => (b.bytes < a.bytes ? b : a));
}
