/**
 * `mapek detect` on its own (`node bin/run-ts.mjs src/cli/detect-main.ts [options] FILE.csv`),
 * the same command `mapek detect` runs.
 */
import { Command } from 'commander';
import { runDetect } from './detect.ts';

const program = new Command();
program
  .name('mapek detect')
  .description('Score a recorded series (CSV with a timestamp,value header) for anomalies; prints timestamp,value,anomaly_score')
  .argument('[file]', 'CSV file: a timestamp,value header, then one row per sample in time order')
  .option('--detector <name>', 'anomaly detector (default: the recommended one; --list names them)')
  .option('--params <json>', 'detector parameters as a JSON object, e.g. \'{"history":2000}\'')
  .option('--list', 'list the detectors and their parameters, then exit')
  .showHelpAfterError()
  .action(async (file: string | undefined, opts: { detector?: string; params?: string; list?: boolean }) => {
    process.exitCode = await runDetect({ ...opts, file });
  });
await program.parseAsync(process.argv);
