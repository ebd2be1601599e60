/** One line of a chart: a name and a y value per x (null = not measured; the line breaks there). */
export interface Series {
  name: string;
  values: readonly (number | null)[];
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  /** The x positions (e.g. 1, 2, 4 parallel units), shown as categories at equal spacing. */
  x: readonly (number | string)[];
  series: readonly Series[];
  width?: number;
  height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}

/** A round-number step so that `max` spans about five grid lines. */
export function niceStep(max: number): number {
  if (!(max > 0)) return 1;
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const factor = [1, 2, 2.5, 5, 10].find((f) => f * magnitude >= raw) ?? 10;
  return factor * magnitude;
}

/** A self-contained SVG line chart (no fonts or scripts from outside): axes, grid, one polyline per series, a legend. */
export function lineChartSvg(chart: LineChart): string {
  const width = chart.width ?? 720;
  const height = chart.height ?? 420;
  const left = 80;
  const right = 200;
  const top = 50;
  const bottom = 60;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const all = chart.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const step = niceStep(Math.max(0, ...all));
  const yMax = Math.max(step, Math.ceil(Math.max(0, ...all) / step) * step);
  const n = chart.x.length;
  const xAt = (i: number) => left + (n <= 1 ? plotW / 2 : (i * plotW) / (n - 1));
  const yAt = (v: number) => top + plotH - (v / yMax) * plotH;
  const fmt = (v: number) => (Number.isInteger(v) ? v.toLocaleString('en-US') : String(v));
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(chart.title)}</text>`,
  );
  for (let v = 0; v <= yMax + step / 2; v += step) {
    const y = yAt(v).toFixed(1);
    out.push(
      `<line x1="${left}" y1="${y}" x2="${left + plotW}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`,
    );
  }
  chart.x.forEach((x, i) => {
    const px = xAt(i).toFixed(1);
    out.push(
      `<line x1="${px}" y1="${top + plotH}" x2="${px}" y2="${top + plotH + 5}" stroke="#333"/>`,
      `<text x="${px}" y="${top + plotH + 20}" text-anchor="middle">${escapeXml(String(x))}</text>`,
    );
  });
  out.push(
    `<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`,
    `<text x="${left + plotW / 2}" y="${height - 15}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`,
    `<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`,
  );
  chart.series.forEach((series, s) => {
    const color = COLORS[s % COLORS.length]!;
    // consecutive measured points form one polyline; a null breaks the line
    let run: string[] = [];
    const flush = () => {
      if (run.length > 1)
        out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${run.join(' ')}"/>`);
      run = [];
    };
    series.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return flush();
      const point = `${xAt(i).toFixed(1)},${yAt(v).toFixed(1)}`;
      run.push(point);
      out.push(
        `<circle cx="${xAt(i).toFixed(1)}" cy="${yAt(v).toFixed(1)}" r="3.5" fill="${color}"><title>${escapeXml(`${series.name}: ${fmt(v)}`)}</title></circle>`,
      );
    });
    flush();
    const ly = top + 10 + s * 22;
    out.push(
      `<line x1="${left + plotW + 15}" y1="${ly}" x2="${left + plotW + 40}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${left + plotW + 46}" y="${ly}" dominant-baseline="middle">${escapeXml(series.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
