// A process group: the workers of one data-parallel job, joined through libtorch's c10d (a
// TCPStore rendezvous at the master's address, gloo for the collectives), as torch.distributed's
// init_process_group. Collectives block until every worker has called them, in the same order.
// A heartbeat watchdog turns a dead worker into an error naming its rank, never a hang.
import { native } from '../native.js';
import { fromHandle, type Tensor } from '../tensor/tensor.js';

/** How to join a process group (`ProcessGroup.init`), as torch.distributed's MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE. */
export interface ProcessGroupOptions {
  /** Address of rank 0, which hosts the rendezvous store. */
  masterAddr: string;
  /** TCP port of the rendezvous store on rank 0. */
  masterPort: number;
  /** This worker's index, 0 … worldSize − 1. */
  rank: number;
  /** The number of workers in the job. */
  worldSize: number;
  /** Rendezvous and collective timeout (default 30 min, as torch.distributed). */
  timeoutMs?: number;
  /** A worker whose heartbeat stops for this long is lost (default 10 s). */
  staleMs?: number;
}

const loopback = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * The workers of one data-parallel job, joined through libtorch's c10d (TCPStore rendezvous, gloo
 * collectives), as torch.distributed's process group. Collectives block until every worker calls them, in the same order.
 */
export class ProcessGroup {
  /** This worker's index, 0 … size − 1 (0 is the leader). */
  readonly rank: number;
  /** The number of workers. */
  readonly size: number;
  #id: number | null;

  private constructor(id: number, rank: number, size: number) {
    this.#id = id;
    this.rank = rank;
    this.size = size;
  }

  /**
   * Joins the group; returns when all `worldSize` workers have. The collectives bind to loopback
   * when the master is a loopback address, else to GLOO_SOCKET_IFNAME or the host's address.
   */
  static init({ masterAddr, masterPort, rank, worldSize, timeoutMs = 30 * 60_000, staleMs = 10_000 }: ProcessGroupOptions): ProcessGroup {
    if (!(Number.isInteger(worldSize) && worldSize >= 1)) throw new RangeError(`world size must be a positive integer (got ${worldSize})`);
    if (!(Number.isInteger(rank) && rank >= 0 && rank < worldSize)) throw new RangeError(`rank must be in 0…${worldSize - 1} (got ${rank})`);
    const id = native.distInit({
      host: masterAddr,
      port: masterPort,
      rank,
      size: worldSize,
      bind: loopback.has(masterAddr) ? '127.0.0.1' : '',
      timeoutMs,
      heartbeatMs: Math.max(100, Math.min(1000, staleMs / 10)),
      staleMs,
    });
    return new ProcessGroup(id, rank, worldSize);
  }

  get #group(): number {
    if (this.#id === null) throw new Error('the process group was destroyed');
    return this.#id;
  }

  /** Sums a contiguous tensor over all workers, in place. */
  allReduce_(t: Tensor): Tensor {
    native.distAllReduce(this.#group, t.handle);
    return t;
  }

  /** Copies rank `root`'s tensor into every worker's, in place. */
  broadcast_(t: Tensor, root = 0): Tensor {
    native.distBroadcast(this.#group, t.handle, root);
    return t;
  }

  /** The workers' tensors (of equal shapes) concatenated along dim 0 in rank order; not differentiable. */
  allGather(t: Tensor): Tensor {
    return fromHandle(native.distAllGather(this.#group, t.handle));
  }

  /** Differentiable sum over workers: the gradient is the sum of every worker's gradient. */
  allReduceSum(t: Tensor): Tensor {
    return fromHandle(native.distAllReduceGrad(this.#group, t.handle));
  }

  /**
   * Differentiable all-gather along dim 0 (rank order): the backward sums every worker's
   * gradient of the result and hands each worker its own rows.
   */
  allGatherWithGrad(t: Tensor): Tensor {
    return fromHandle(native.distAllGatherGrad(this.#group, t.handle));
  }

  /** Blocks until every worker has reached it. */
  barrier(): void {
    native.distBarrier(this.#group);
  }

  /** Collectives run so far and the seconds spent waiting in them. */
  stats(): {
    /** Collectives run so far. */
    collectives: number;
    /** Seconds spent in them. */
    commSeconds: number;
  } {
    const { collectives, commSeconds } = native.distStats(this.#group);
    return { collectives, commSeconds };
  }

  /**
   * Leaves the group. `orderly` (all workers call it) synchronises first so that no worker
   * mistakes the end of rank 0's store for a lost worker; after an error, pass false.
   */
  destroy(orderly = true): void {
    if (this.#id === null) return;
    const id = this.#id;
    this.#id = null;
    native.distDestroy(id, orderly);
  }
}
