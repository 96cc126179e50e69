// simclr pretrain: SimCLR pretraining from a config file and flags; with --nproc / --nnodes (or
// torchrun's environment) data-parallel across processes and machines.
import { launchWorkers, threadsPerWorker, workerEnv } from '../distributed/launch.js';
import { ProcessGroup } from '../distributed/process-group.js';
import { pretrainFlags, resolveConfig } from './pretrain-flags.js';
import { pretrain } from '../simclr/pretrain.js';
import { initArchitecture } from '../simclr/init.js';
import type { Parsed } from './args.js';
import { splitSummary } from '../eval/evaluate.js';
import { writeReport } from '../report/report.js';

export async function pretrainCommand(parsed: Parsed<typeof pretrainFlags>, given: Set<string>): Promise<number> {
  const config = resolveConfig(parsed, given);
  if (config.init && !parsed.resume) {
    // the architecture of the weights a run starts from, where they record it and the flags do not say
    const recorded = initArchitecture(config.init);
    if (recorded !== null) {
      if (!given.has('depth')) config.depth = recorded.depth;
      if (!given.has('width')) config.width = recorded.width;
      if (!given.has('cifar-stem')) config.cifarStem = recorded.cifarStem;
    }
  }
  const worker = workerEnv();
  if (worker === null && (config.nproc > 1 || config.nnodes > 1)) {
    return launchWorkers({ ...config, argv: process.argv.slice(2) });
  }
  let group: ProcessGroup | null = null;
  if (worker !== null) {
    group = ProcessGroup.init({ masterAddr: worker.masterAddr, masterPort: worker.masterPort, rank: worker.rank, worldSize: worker.worldSize });
    if (config.threads === 0) config.threads = threadsPerWorker(worker.localWorldSize);
  }
  let result: Awaited<ReturnType<typeof pretrain>>;
  try {
    result = await pretrain(config, { resume: parsed.resume, overwrite: parsed.overwrite, group });
  } catch (e) {
    group?.destroy(false);
    throw e;
  }
  group?.destroy();
  const summary = {
    run: result.runDir,
    stopped: result.stopped,
    epoch: result.position.epoch,
    step: result.position.globalStep,
    loss: result.lastLoss,
    knnAccuracy: result.knnAccuracy,
    encoder: result.encoderFile,
    split: splitSummary(result.split),
    workers: group?.size ?? 1,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  result.model.dispose();
  const leader = (group?.rank ?? 0) === 0;
  const report = leader && parsed.report && result.stopped === 'completed' ? await writeReport([result.runDir]) : null;
  if (leader) console.log(JSON.stringify({ ...summary, report }));
  return 0;
}
