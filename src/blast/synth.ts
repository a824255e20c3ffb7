/** Synthetic exporter streams for `blast --synth`: one stream per exporter. */
import { synthExportExporter } from './synth-export.js';
import { synthSflowExporter } from './synth-sflow.js';
import { synthV5Exporter } from './synth-v5.js';
import type { ExporterStream, Protocol } from './stream.js';

export interface SynthOptions {
  protocol: Protocol;
  /** Source address of each exporter, in order (its length is the number of exporters). */
  sources: readonly string[];
  /** Observation domains (v9 source ids, IPFIX domains, v5 engines, sFlow sub-agents) per exporter. */
  domains: number;
  /** Data datagrams per exporter, cycled. */
  pool: number;
  samplingRate: number;
  seed: number;
  baseSec?: number;
}

export function synthesise(o: SynthOptions): ExporterStream[] {
  const baseSec = o.baseSec ?? Math.floor(Date.now() / 1000);
  return o.sources.map((source, exporter) => {
    const common = { exporter, source, domains: o.domains, pool: o.pool, samplingRate: o.samplingRate, seed: o.seed };
    switch (o.protocol) {
      case 'v5':
        return synthV5Exporter({ ...common, baseSec });
      case 'v9':
        return synthExportExporter({ ...common, version: 9, baseSec });
      case 'ipfix':
        return synthExportExporter({ ...common, version: 10, baseSec });
      case 'sflow':
        return synthSflowExporter(common);
    }
  });
}
