// The rate pacer lives with the load generator (src/blast/pacer.ts); the benches import it from
// here as before.
export { pace, sleepSync, Pacer, type PaceOptions, type PaceResult } from '../src/blast/pacer.js';
