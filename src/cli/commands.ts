// The simclr commands: each one's summary, flags and entry point, in the order `simclr --help` lists them.
import { cpuFlags, info } from '../info.js';
import { defaultRecipePrecision } from '../simclr/precision.js';
import { setNumThreads } from '../tensor/create.js';
import { availableParallelism } from 'node:os';
import type { Flags } from './args.js';
import { augmentCommand, augmentFlags } from './augment.js';
import { pretrainCommand } from './pretrain.js';
import { pretrainFlags } from './pretrain-flags.js';
import { evalCommand, evalFlags } from './eval.js';
import { embedCommand, embedFlags } from './embed.js';
import { quickstartCommand, quickstartFlags } from './quickstart.js';
import { reportCommand, reportFlags } from './report.js';
import { indexCommand, indexFlags, similarCommand, similarFlags } from './search.js';
import { exportCommand, exportFlags, serveCommand, serveFlags } from './export.js';
import { sweepCommand, sweepFlags } from './sweep.js';
import { transferCommand, transferFlags } from './transfer.js';

export interface Command {
  summary: string;
  flags: Flags;
  /** The leading arguments that are not flags, as usage names them (e.g. `<run>...`); absent: none. */
  positional?: string;
  run(options: any, given: Set<string>, positional: string[]): Promise<number> | number;
}

export const commands: Record<string, Command> = {
  pretrain: {
    summary: 'SimCLR pretraining of an encoder on unlabelled images; writes checkpoints, metrics.jsonl and encoder.safetensors to --out.',
    flags: pretrainFlags,
    run: pretrainCommand,
  },
  eval: {
    summary: 'kNN or linear evaluation of a trained encoder (frozen, eval mode) or of a baseline; prints one JSON line.',
    flags: evalFlags,
    run: evalCommand,
  },
  embed: {
    summary: 'Writes the features h (and z) of a data set, with labels and order, to a safetensors file.',
    flags: embedFlags,
    run: embedCommand,
  },
  quickstart: {
    summary: 'The main job: pretrain on Fashion-MNIST, then kNN and linear evaluation against baselines, with a summary.',
    flags: quickstartFlags,
    run: quickstartCommand,
  },
  transfer: {
    summary: 'Scores encoders on several labelled data sets (--data a,b) with the main job\'s protocol — kNN and linear probe, all labels and a few — each beside its random-init and raw-pixel baselines and any encoder pretrained on it; each row says whether it is transferred, from scratch or continued; transfer.json, transfer.md and report.html.',
    flags: transferFlags,
    positional: '<encoder>...',
    run: transferCommand,
  },
  sweep: {
    summary: 'Runs a grid of pretraining settings (a YAML or JSON file: base:, grid:, seeds:), each run in its own folder under --out, each scored by kNN and the linear probe (all labels and a few, on h and with --probe-z on z) against baselines computed once; one or more runs at once (--parallel); resumable; summary.json and report.html (table, charts, the best setting).',
    flags: sweepFlags,
    positional: '<file>',
    run: sweepCommand,
  },
  report: {
    summary: 'Writes a self-contained HTML report of one or more run folders (curves, augmentations, feature map, neighbours, evaluation) of a sweep folder (its table, charts and best setting), or of a transfer folder (simclr transfer\'s tables).',
    flags: reportFlags,
    positional: '<run>...',
    run: reportCommand,
  },
  index: {
    summary: 'Writes a search index of a folder: the encoder\'s unit-norm h of every image, with files, labels, thumbnails and the encoder\'s fingerprint.',
    flags: indexFlags,
    run: indexCommand,
  },
  similar: {
    summary: 'The k images of an index nearest to a query image (or to each image of a folder) by cosine similarity; optionally a PNG grid.',
    flags: similarFlags,
    run: similarCommand,
  },
  export: {
    summary: 'Writes the encoder (optionally with the projection head) as an ONNX file, or with --web a static browser demo that searches an index.',
    flags: exportFlags,
    run: exportCommand,
  },
  'serve-web': {
    summary: 'Serves a folder written by export --web on 127.0.0.1 (any static server works too).',
    flags: serveFlags,
    positional: '<dir>',
    run: serveCommand,
  },
  augment: {
    summary: 'Writes a PNG grid showing, for a few images, the original and pairs of SimCLR views (T).',
    flags: augmentFlags,
    run: augmentCommand,
  },
  info: {
    summary: 'Prints the libtorch version and path, the BLAS in use, threads, devices, the CPU and the precision --precision auto picks for the default recipe here (JSON).',
    flags: {},
    run: () => {
      const runtime = info();
      // (measured with every core, as pretraining runs by default)
      setNumThreads(availableParallelism());
      console.log(JSON.stringify({ ...runtime, cpu: cpuFlags(), defaultRecipePrecision: { ...defaultRecipePrecision(), threads: availableParallelism() } }, null, 2));
      return 0;
    },
  },
};

/** Flags every command takes besides its own. */
export const commonFlags: Flags = {
  quiet: { type: 'boolean', help: 'no progress lines (results and warnings only)', default: false },
};

/** What `simclr --help` prints. */
export const usage = `usage: simclr <command> [flags]

commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(11)}${c.summary}`)
  .join('\n')}

simclr <command> --help lists a command's flags with their defaults.
`;

