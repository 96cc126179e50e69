// simclr pretrain: SimCLR pretraining from a config file and flags.
import { pretrainFlags, resolveConfig } from '../simclr/config.js';
import { pretrain } from '../simclr/pretrain.js';
import type { Parsed } from './args.js';

export async function pretrainCommand(parsed: Parsed<typeof pretrainFlags>, given: Set<string>): Promise<number> {
  const config = resolveConfig(parsed, given);
  const result = await pretrain(config, { resume: parsed.resume });
  const summary = {
    run: result.runDir,
    stopped: result.stopped,
    epoch: result.position.epoch,
    step: result.position.globalStep,
    loss: result.lastLoss,
    knnAccuracy: result.knnAccuracy,
    encoder: result.encoderFile,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  result.model.dispose();
  console.log(JSON.stringify(summary));
  return 0;
}
