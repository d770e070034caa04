/**
 * A small SVG line chart (no dependencies): throughput against database size on a logarithmic x axis.
 * Enough for a benchmark report that renders on GitHub and in any browser.
 */

export interface Series {
  name: string;
  points: [x: number, y: number][];
  /** Drawn dashed: a reference line rather than a measurement series. */
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const compact = (n: number) =>
  n >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${+(n / 1e3).toFixed(1)}k` : String(Math.round(n));

/** A "nice" step (1, 2 or 5 × 10^k) giving about `ticks` intervals up to `max`. */
function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 5, 10].find((m) => m * pow >= raw) ?? 10) * pow;
}

export function lineChartSvg(opts: ChartOptions): string {
  const width = opts.width ?? 760;
  const height = opts.height ?? 420;
  const m = { left: 70, right: 200, top: 44, bottom: 56 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const xs = opts.series.flatMap((s) => s.points.map((p) => p[0])).filter((x) => x > 0);
  const ys = opts.series.flatMap((s) => s.points.map((p) => p[1]));
  const xMin = 10 ** Math.floor(Math.log10(Math.min(...xs)));
  const xMax = 10 ** Math.ceil(Math.log10(Math.max(...xs)));
  const yStep = niceStep(Math.max(1, ...ys) * 1.1, 5);
  const yMax = Math.ceil((Math.max(1, ...ys) * 1.1) / yStep) * yStep;
  const x = (v: number) => m.left + ((Math.log10(v) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * w;
  const y = (v: number) => m.top + h - (v / yMax) * h;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${m.left + w / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
  ];
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    out.push(
      `<line x1="${m.left}" x2="${m.left + w}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`,
      `<text x="${m.left - 8}" y="${y(v) + 4}" text-anchor="end" fill="#444">${compact(v)}</text>`,
    );
  }
  for (let d = xMin; d <= xMax * 1.0001; d *= 10) {
    out.push(
      `<line x1="${x(d)}" x2="${x(d)}" y1="${m.top}" y2="${m.top + h}" stroke="#e5e5e5"/>`,
      `<text x="${x(d)}" y="${m.top + h + 18}" text-anchor="middle" fill="#444">${compact(d)}</text>`,
    );
  }
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${w}" height="${h}" fill="none" stroke="#999"/>`,
    `<text x="${m.left + w / 2}" y="${height - 14}" text-anchor="middle">${esc(opts.xLabel)}</text>`,
    `<text transform="translate(18 ${m.top + h / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`,
  );
  opts.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter((p) => p[0] > 0);
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}"/>`,
      ...pts.map(
        (p) =>
          `<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="4" fill="${color}"><title>${esc(s.name)}: ${Math.round(p[1])} at ${compact(p[0])}</title></circle>`,
      ),
      `<line x1="${m.left + w + 16}" x2="${m.left + w + 36}" y1="${m.top + 14 + i * 22}" y2="${m.top + 14 + i * 22}" stroke="${color}" stroke-width="2.5"/>`,
      `<text x="${m.left + w + 42}" y="${m.top + 18 + i * 22}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
