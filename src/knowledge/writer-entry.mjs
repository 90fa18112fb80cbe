// The knowledge writer thread's entry (writer.ts starts it): TypeScript through tsx, as bin/mapek.mjs.
import { register } from 'tsx/esm/api';

register();
await import('./writer-worker.ts');
