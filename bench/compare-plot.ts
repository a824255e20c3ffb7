// The public benchmark's plot (bench/compare.ts): for every stream, CPU
// microseconds per decoded flow and flows lost (%) against the offered rate,
// one line per collector. Written as SVG by hand; PNG through @resvg/resvg-js
// when it is installed.

export interface PlotCell {
  stream: string;
  collector: string;
  /** Offered rate label ("20k", "max") and its position on the x axis. */
  rate: string;
  cpuUsPerFlow: number | null;
  lossPercent: number | null;
}

const COLORS: Record<string, string> = {
  'serve-file': '#1f77b4',
  'serve-nats': '#17becf',
  nfcapd: '#d62728',
  sfcapd: '#d62728',
  nfacctd: '#2ca02c',
  sfacctd: '#2ca02c',
  'node-netflowv9': '#ff7f0e',
};

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** One SVG: a row per stream, columns CPU µs/flow and loss %. */
export function plotSvg(cells: PlotCell[], rates: string[], title: string): string {
  const streams = [...new Set(cells.map((c) => c.stream))];
  const W = 360;
  const H = 210;
  const M = { l: 56, r: 24, t: 28, b: 36 };
  const legendH = 40;
  const width = 2 * W + 20;
  const height = 40 + legendH + streams.length * (H + 14);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  const collectors = [...new Set(cells.map((c) => c.collector))];
  collectors.forEach((c, i) => {
    const x = 16 + (i % 4) * 180;
    const y = 44 + Math.floor(i / 4) * 16;
    out.push(`<line x1="${x}" y1="${y - 4}" x2="${x + 22}" y2="${y - 4}" stroke="${COLORS[c] ?? '#555'}" stroke-width="2.5"${c.includes('acctd') ? ' stroke-dasharray="5,3"' : ''}/>`);
    out.push(`<text x="${x + 28}" y="${y}">${esc(c)}</text>`);
  });
  streams.forEach((stream, row) => {
    const y0 = 40 + legendH + row * (H + 14);
    for (const [col, key, label] of [
      [0, 'cpuUsPerFlow', 'CPU µs per decoded flow'],
      [1, 'lossPercent', 'flows lost, % of sent'],
    ] as const) {
      const x0 = col * (W + 20);
      const pw = W - M.l - M.r;
      const ph = H - M.t - M.b;
      const vals = cells.filter((c) => c.stream === stream).map((c) => c[key]).filter((v): v is number => v !== null && Number.isFinite(v));
      const ymax = key === 'lossPercent' ? Math.max(10, niceMax(Math.max(0, ...vals))) : niceMax(Math.max(0, ...vals));
      const X = (i: number) => x0 + M.l + (rates.length === 1 ? pw / 2 : (i * pw) / (rates.length - 1));
      const Y = (v: number) => y0 + M.t + ph - (Math.min(v, ymax) / ymax) * ph;
      out.push(`<text x="${x0 + M.l + pw / 2}" y="${y0 + 16}" text-anchor="middle" font-weight="bold">${esc(stream)}: ${esc(label)}</text>`);
      out.push(`<rect x="${x0 + M.l}" y="${y0 + M.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
      for (let t = 0; t <= 4; t++) {
        const v = (ymax * t) / 4;
        const y = Y(v);
        out.push(`<line x1="${x0 + M.l}" y1="${y}" x2="${x0 + M.l + pw}" y2="${y}" stroke="#eee"/>`);
        out.push(`<text x="${x0 + M.l - 4}" y="${y + 4}" text-anchor="end">${+v.toPrecision(3)}</text>`);
      }
      rates.forEach((r, i) => out.push(`<text x="${X(i)}" y="${y0 + M.t + ph + 14}" text-anchor="middle">${esc(r)}</text>`));
      out.push(`<text x="${x0 + M.l + pw / 2}" y="${y0 + H - 6}" text-anchor="middle" fill="#555">offered datagrams/s</text>`);
      for (const c of collectors) {
        const pts = rates
          .map((r, i) => {
            const cell = cells.find((x) => x.stream === stream && x.collector === c && x.rate === r);
            const v = cell?.[key];
            return v === null || v === undefined || !Number.isFinite(v) ? null : [X(i), Y(v)];
          })
          .filter((p): p is number[] => p !== null);
        if (pts.length === 0) continue;
        const color = COLORS[c] ?? '#555';
        const dash = c.includes('acctd') ? ' stroke-dasharray="5,3"' : '';
        out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${pts.map((p) => `${p[0]!.toFixed(1)},${p[1]!.toFixed(1)}`).join(' ')}"/>`);
        for (const p of pts) out.push(`<circle cx="${p[0]!.toFixed(1)}" cy="${p[1]!.toFixed(1)}" r="3" fill="${color}"/>`);
      }
    }
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** PNG of the SVG through @resvg/resvg-js, or null (with the reason) when it is not installed. */
export async function svgToPng(svg: string): Promise<{ png: Buffer } | { error: string }> {
  try {
    const { Resvg } = (await import('@resvg/resvg-js')) as typeof import('@resvg/resvg-js');
    const r = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: 'white' });
    return { png: Buffer.from(r.render().asPng()) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
