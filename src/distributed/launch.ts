// Starting data-parallel workers, as torchrun does: this machine's workers as child processes
// with the torchrun environment (WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT), each running the same command. If one fails, the others are stopped.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';

/** A worker's place in the job, from the torchrun environment variables (null when not a worker). */
export interface WorkerEnv {
  worldSize: number;
  rank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
}

export function workerEnv(env: NodeJS.ProcessEnv = process.env): WorkerEnv | null {
  if (env.WORLD_SIZE === undefined) return null;
  const int = (name: string, fallback?: number) => {
    const raw = env[name];
    const v = raw === undefined ? fallback : Number(raw);
    if (v === undefined || !Number.isInteger(v) || v < 0) throw new Error(`environment variable ${name} must be a non-negative integer (got ${raw === undefined ? 'nothing' : `'${raw}'`})`);
    return v;
  };
  const w: WorkerEnv = {
    worldSize: int('WORLD_SIZE'),
    rank: int('RANK'),
    localWorldSize: int('LOCAL_WORLD_SIZE', 1),
    masterAddr: env.MASTER_ADDR ?? '127.0.0.1',
    masterPort: int('MASTER_PORT'),
  };
  if (w.worldSize < 1 || w.rank >= w.worldSize) throw new Error(`RANK ${w.rank} is not in a world of WORLD_SIZE ${w.worldSize}`);
  return w;
}

/** libtorch threads for one of `localWorkers` workers sharing this machine's cores. */
export function threadsPerWorker(localWorkers: number): number {
  return Math.max(1, Math.floor(availableParallelism() / Math.max(1, localWorkers)));
}

/** A TCP port free on `host` right now (the OS picks it). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

export interface LaunchOptions {
  nproc: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  /** 0: a free port (single machine only). */
  masterPort: number;
  /** The command line each worker runs (arguments of this script). */
  argv: readonly string[];
  /** Seconds the others get to exit by themselves after one worker failed. */
  graceSeconds?: number;
}

/** Starts this machine's workers and waits for them; the exit code is 0 only if all succeeded. */
export async function launchWorkers({ nproc, nnodes, nodeRank, masterAddr, masterPort, argv, graceSeconds = 60 }: LaunchOptions): Promise<number> {
  if (nnodes > 1 && masterPort === 0) throw new Error('a job on several machines needs --master-port (the same on every machine)');
  if (nodeRank >= nnodes) throw new Error(`--node-rank ${nodeRank} is not below --nnodes ${nnodes}`);
  const port = masterPort || (await freePort(masterAddr));
  const children: ChildProcess[] = [];
  let failure: string | null = null;
  let killTimer: NodeJS.Timeout | null = null;
  const forward = (signal: NodeJS.Signals) => children.forEach((c) => c.exitCode === null && c.kill(signal));
  const onSigint = () => forward('SIGINT');
  const onSigterm = () => forward('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  try {
    const exits = Array.from({ length: nproc }, (_, local) => {
      const rank = nodeRank * nproc + local;
      const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
        stdio: 'inherit',
        env: {
          ...process.env,
          WORLD_SIZE: String(nnodes * nproc),
          RANK: String(rank),
          LOCAL_RANK: String(local),
          LOCAL_WORLD_SIZE: String(nproc),
          MASTER_ADDR: masterAddr,
          MASTER_PORT: String(port),
        },
      });
      children.push(child);
      return new Promise<void>((resolve) => {
        child.on('exit', (code, signal) => {
          if ((code !== 0 || signal !== null) && failure === null) {
            failure = `worker rank ${rank} ${signal !== null ? `was killed by ${signal}` : `exited with code ${code}`}`;
            process.stderr.write(`simclr: ${failure}; stopping the other workers\n`);
            // They notice the lost worker themselves; whoever has not exited by then is killed.
            killTimer = setTimeout(() => forward('SIGKILL'), graceSeconds * 1000);
          }
          resolve();
        });
      });
    });
    await Promise.all(exits);
    return failure === null ? 0 : 1;
  } finally {
    if (killTimer !== null) clearTimeout(killTimer);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
}
