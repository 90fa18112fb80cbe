/** The `mapek` command: one entry point for the controller, its workers, inspection and the simulator. */
import { Command, Option } from 'commander';

const program = new Command();
program
  .name('mapek')
  .description('An autonomic controller: a MAPE-K loop for systems watched by Prometheus (ships the Westworld Charter pack).')
  .version('0.1.0');

program
  .command('sim')
  .description('Run the Charter simulator: the 15 Charter metrics, the actuator API and fault injection')
  .addOption(new Option('--port <n>', 'port to listen on').default('8000'))
  .addOption(new Option('--host <addr>', 'address to bind').default('127.0.0.1'))
  .action(async (opts: { port: string; host: string }) => {
    const { runSimulatorCommand } = await import('../../sim/index.ts');
    await runSimulatorCommand({ port: Number(opts.port), host: opts.host });
  });

await program.parseAsync(process.argv);
