/**
 * The load generator (`flow-collector blast`): the only public surface of src/blast.
 *
 * Streams (stream.ts) are per-exporter datagram lists with what is rewritten as they are sent;
 * synthesise() makes them from scratch, loadReplay() from capture files; runBlast() sends them at
 * a rate (pacer.ts) from one socket per exporter (sockets.ts).
 */
export { runBlastCli, parseBlastArgs, exporterSources, BLAST_USAGE, UsageError, MAX_EXPORTERS, type BlastArgs } from './cli.js';
export { runBlast, SendError, type RunOptions, type BlastResult, type ExporterResult, type Progress } from './run.js';
export { synthesise, type SynthOptions } from './synth.js';
export { loadReplay, cloneStream, hasTemplates, type ReplaySource } from './replay.js';
export { Pacer, pace, sleepSync, type PaceOptions, type PaceResult } from './pacer.js';
export { PacketList, stamp, commit, type ExporterStream, type Protocol } from './stream.js';
export { domainId, SAMPLER_ID, TEMPLATE_V4, TEMPLATE_V6, TEMPLATE_OPTIONS, MAX_PAYLOAD } from './synth-export.js';
export { V5_RECORDS } from './synth-v5.js';
export { SFLOW_SAMPLES } from './synth-sflow.js';
