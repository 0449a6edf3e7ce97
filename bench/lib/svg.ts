import type { BenchResults, RunRecord } from './results.js';

/**
 * The chart of docs/benchmarks.svg, drawn by hand (no dependency): throughput by scenario
 * and system (linear scale), and latency p50 (bar) with p99 (whisker) (log scale).
 */

export const SYSTEM_COLORS: Record<string, string> = {
  product: '#2563eb',
  'product (answer cache off)': '#60a5fa',
  'mutex-clone': '#dc2626',
  'single-thread': '#d97706',
  ceiling: '#6b7280',
};
const SYSTEM_ORDER = [
  'product',
  'product (answer cache off)',
  'mutex-clone',
  'single-thread',
  'ceiling',
];

interface Bar {
  system: string;
  value: number;
  /** Second value drawn as a whisker above the bar (p99 over p50). */
  whisker?: number;
}

interface Group {
  label: string;
  bars: Bar[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function short(n: number): string {
  if (n === 0) return '0';
  if (n >= 10_000) return `${(n / 1000).toFixed(0)}k`;
  if (n >= 1000) return `${(n / 1000).toFixed(1)}k`;
  if (n >= 100) return n.toFixed(0);
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function niceMax(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

interface Panel {
  x: number;
  y: number;
  width: number;
  height: number;
  title: string;
  groups: Group[];
  scale: 'linear' | 'log';
}

function panel(p: Panel): string {
  const out: string[] = [];
  const left = p.x + 56;
  const top = p.y + 28;
  const plotW = p.width - 66;
  const plotH = p.height - 78;
  const values = p.groups.flatMap((g) => g.bars.flatMap((b) => [b.value, b.whisker ?? 0]));
  const positive = values.filter((v) => v > 0);
  out.push(
    `<text x="${p.x}" y="${p.y + 14}" font-size="14" font-weight="600">${esc(p.title)}</text>`,
  );
  if (positive.length === 0) return out.join('\n');
  let toY: (v: number) => number;
  const ticks: number[] = [];
  if (p.scale === 'linear') {
    const max = niceMax(Math.max(...positive));
    toY = (v) => top + plotH - (v / max) * plotH;
    for (let i = 0; i <= 5; i++) ticks.push((max * i) / 5);
  } else {
    const lo = Math.floor(Math.log10(Math.min(...positive)));
    const hi = Math.ceil(Math.log10(Math.max(...positive)));
    const span = Math.max(1, hi - lo);
    toY = (v) => top + plotH - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / span) * plotH;
    for (let e = lo; e <= lo + span; e++) ticks.push(10 ** e);
  }
  for (const t of ticks) {
    const y = toY(t).toFixed(1);
    out.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y}" y2="${y}" stroke="#e5e7eb"/>`,
      `<text x="${left - 6}" y="${y}" font-size="10" text-anchor="end" dominant-baseline="middle" fill="#4b5563">${short(t)}</text>`,
    );
  }
  const groupW = plotW / p.groups.length;
  p.groups.forEach((group, gi) => {
    const gx = left + gi * groupW;
    const barW = Math.min(22, (groupW - 10) / Math.max(1, group.bars.length));
    const start = gx + (groupW - barW * group.bars.length) / 2;
    group.bars.forEach((bar, bi) => {
      const x = start + bi * barW;
      const y = toY(bar.value);
      const base = top + plotH;
      const color = SYSTEM_COLORS[bar.system] ?? '#111827';
      out.push(
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${Math.max(0.5, base - y).toFixed(1)}" fill="${color}"><title>${esc(`${group.label} · ${bar.system}: ${short(bar.value)}${bar.whisker === undefined ? '' : ` (p99 ${short(bar.whisker)})`}`)}</title></rect>`,
      );
      let labelY = y - 3;
      if (bar.whisker !== undefined && bar.whisker > 0) {
        const wy = toY(bar.whisker);
        const cx = x + (barW - 2) / 2;
        out.push(
          `<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${y.toFixed(1)}" y2="${wy.toFixed(1)}" stroke="#111827"/>`,
          `<line x1="${(cx - 3).toFixed(1)}" x2="${(cx + 3).toFixed(1)}" y1="${wy.toFixed(1)}" y2="${wy.toFixed(1)}" stroke="#111827"/>`,
        );
        labelY = wy - 3;
      }
      out.push(
        `<text x="${(x + (barW - 2) / 2).toFixed(1)}" y="${labelY.toFixed(1)}" font-size="8" text-anchor="middle" fill="#111827">${short(bar.value)}</text>`,
      );
    });
    const lines = group.label.split('\n');
    lines.forEach((line, li) => {
      out.push(
        `<text x="${(gx + groupW / 2).toFixed(1)}" y="${(top + plotH + 14 + li * 12).toFixed(1)}" font-size="10" text-anchor="middle" fill="#374151">${esc(line)}</text>`,
      );
    });
  });
  out.push(
    `<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#9ca3af"/>`,
  );
  return out.join('\n');
}

function groupOf(
  runs: RunRecord[],
  label: string,
  pick: (r: RunRecord) => Bar | null,
): Group | null {
  const bars = runs
    .map(pick)
    .filter((b): b is Bar => b !== null)
    .sort((a, b) => SYSTEM_ORDER.indexOf(a.system) - SYSTEM_ORDER.indexOf(b.system));
  return bars.length === 0 ? null : { label, bars };
}

const CASE_LABELS: Record<string, string> = {
  'hot page': 'S1 hot page\n(100 × 1 KB)',
  'context DTO': 'S2 context\nDTO',
};

function labelOf(run: RunRecord): string {
  if (run.scenario === 'S4') return `S4 page of 50\nfrom ${run.case.replace(' messages', '')}`;
  if (run.scenario === 'S3') return `S3 reads\n${run.case}`;
  if (run.scenario === 'S5') return `S5 append to\n${run.case.replace(' messages', '')}`;
  if (run.scenario === 'S7') return `S7 product\n${run.case}`;
  return CASE_LABELS[run.case] ?? `${run.scenario}\n${run.case}`;
}

function groups(results: BenchResults, kind: 'throughput' | 'latency'): Group[] {
  const keys: { scenario: string; case: string }[] = [];
  for (const run of results.runs) {
    if (kind === 'throughput' && run.scenario === 'S5') continue;
    if (!keys.some((k) => k.scenario === run.scenario && k.case === run.case)) {
      keys.push({ scenario: run.scenario, case: run.case });
    }
  }
  return keys
    .map((key) => {
      const runs = results.runs.filter((r) => r.scenario === key.scenario && r.case === key.case);
      return groupOf(runs, labelOf(runs[0]!), (r) => {
        const stats = r.scenario === 'S5' ? r.result.write : r.result.read;
        if (stats === null) return null;
        return kind === 'throughput'
          ? { system: r.system, value: stats.rps }
          : { system: r.system, value: stats.p50, whisker: stats.p99 };
      });
    })
    .filter((g): g is Group => g !== null);
}

export function renderSvg(results: BenchResults): string {
  const width = 1100;
  const panelH = 330;
  const height = 60 + panelH * 2 + 20;
  const m = results.machine;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="20" y="24" font-size="16" font-weight="700">chat-context-server benchmark (${results.mode}) — ${m.cpus} cores, Node ${esc(m.node)}, ${esc(results.startedAt.slice(0, 10))}</text>`,
  ];
  let lx = 20;
  for (const system of SYSTEM_ORDER) {
    parts.push(
      `<rect x="${lx}" y="36" width="12" height="12" fill="${SYSTEM_COLORS[system]}"/>`,
      `<text x="${lx + 16}" y="46" font-size="12">${system}</text>`,
    );
    lx += 40 + system.length * 7;
  }
  parts.push(
    panel({
      x: 20,
      y: 60,
      width: width - 40,
      height: panelH,
      title: 'Throughput, requests/s (higher is better; S3 mixed counts reads only)',
      groups: groups(results, 'throughput'),
      scale: 'linear',
    }),
    panel({
      x: 20,
      y: 60 + panelH,
      width: width - 40,
      height: panelH,
      title: 'Latency, ms: bar = p50, whisker = p99 (log scale, lower is better)',
      groups: groups(results, 'latency'),
      scale: 'log',
    }),
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}
