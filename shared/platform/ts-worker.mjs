// Starts a worker thread on a TypeScript module (the sources run through tsx, as in the main
// thread): `new Worker(this file, { argv: [moduleUrl], workerData })`.
import { register } from 'tsx/esm/api';

register();
await import(process.argv[process.argv.length - 1]);
