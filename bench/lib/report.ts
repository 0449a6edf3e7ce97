import type { BenchResults, RunRecord } from './results.js';

/** docs/benchmarks.md, rendered from one run's results (and the hand-written analysis). */

const num = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '—';
const ms = (n: number | undefined) => (n === undefined ? '—' : num(n, n < 10 ? 2 : 1));
const ratio = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '—');
const mib = (bytes: number) => `${num(bytes / 1024 / 1024, 1)} MiB`;

function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

/** One column of a table: its header and how a row fills its cell. */
type Column<T> = readonly [header: string, cell: (row: T) => string];

/** A table whose header and cells come from one list of columns, so they cannot drift apart. */
function columnTable<T>(columns: readonly Column<T>[], rows: readonly T[]): string {
  return table(
    columns.map(([header]) => header),
    rows.map((row) => columns.map(([, cell]) => cell(row))),
  );
}

function runsOf(results: BenchResults, scenario: string): RunRecord[] {
  return results.runs.filter((r) => r.scenario === scenario);
}

function casesOf(runs: RunRecord[]): string[] {
  return [...new Set(runs.map((r) => r.case))];
}

const SYSTEMS = [
  'product',
  'product-sync-under-lock',
  'product-before-issue-12',
  'product (answer cache off)',
  'mutex-clone',
  'single-thread',
  'ceiling',
];
const bySystem = (a: RunRecord, b: RunRecord) =>
  SYSTEMS.indexOf(a.system) - SYSTEMS.indexOf(b.system);

/** CPU cores used during the run: the server / the load generator / everything else. */
function cpuCell(run: RunRecord): string {
  const r = run.result;
  return `${num(r.serverCpu, 2)} / ${num(r.loadCpu, 2)} / ${num(r.otherCpu, 2)}`;
}

function errorsOf(run: RunRecord): string {
  const bad = Object.entries(run.result.statuses)
    .filter(([code]) => code !== '200' && code !== '201')
    .map(([code, n]) => `${n}× ${code}`);
  if (run.result.errors > 0) bad.push(`${run.result.errors} errors`);
  return bad.length === 0 ? '' : ` ⚠ ${bad.join(', ')}`;
}

type Side = RunRecord['result']['read'];

/** The p50 and p99 columns of the requests `side` picks from a run (its reads or its writes). */
function percentileColumns(side: (run: RunRecord) => Side): Column<RunRecord>[] {
  return [
    ['p50 ms', (run) => ms(side(run)?.p50)],
    ['p99 ms', (run) => ms(side(run)?.p99)],
  ];
}

/** The last column of a scenario table: CPU use, and any failed requests. */
const cpuColumn: Column<RunRecord> = [
  'CPU: server / load / other',
  (run) => `${cpuCell(run)}${errorsOf(run)}`,
];

/** One table of read runs: a row per case and system, ratios against the product. */
function readTable(runs: RunRecord[]): string {
  const rows: string[][] = [];
  for (const c of casesOf(runs)) {
    const caseRuns = runs.filter((r) => r.case === c).sort(bySystem);
    const product = caseRuns.find((r) => r.system === 'product')?.result.read;
    for (const run of caseRuns) {
      const s = run.result.read;
      rows.push([
        c,
        `**${run.system}**`,
        s ? num(s.rps) : '—',
        ms(s?.mean),
        ms(s?.p50),
        ms(s?.p99),
        product && s ? ratio(product.rps / s.rps) : '—',
        s ? num((run.result.serverCpu / s.rps) * 1e6) : '—',
        cpuCell(run),
        `${run.order + 1}${run.attempts > 1 ? ` (of ${run.attempts} runs)` : ''}${errorsOf(run)}`,
      ]);
    }
  }
  return table(
    [
      'case',
      'system',
      'req/s',
      'mean ms',
      'p50 ms',
      'p99 ms',
      'product ÷ system (req/s)',
      'server CPU µs/req',
      'CPU: server / load / other',
      'order',
    ],
    rows,
  );
}

function scenarioSection(results: BenchResults): string[] {
  const out: string[] = [];
  const s1 = runsOf(results, 'S1');
  if (s1.length > 0) {
    out.push(
      '### S1 — hot read',
      '',
      `One context of 100 messages of 1 KB; \`${s1[0]!.request}\`; ${s1[0]!.connections} connections.`,
      '',
      readTable(s1),
      '',
    );
  }
  const s2 = runsOf(results, 'S2');
  if (s2.length > 0) {
    out.push(
      '### S2 — context DTO read',
      '',
      `\`${s2[0]!.request}\` on the same context; ${s2[0]!.connections} connections.`,
      '',
      readTable(s2),
      '',
    );
  }
  const s4 = runsOf(results, 'S4');
  if (s4.length > 0) {
    const cases = casesOf(s4);
    const first = cases[0]!;
    const growth = SYSTEMS.filter((sys) => s4.some((r) => r.system === sys)).map((sys) => {
      const base = s4.find((r) => r.case === first && r.system === sys)?.result.read?.mean;
      return [
        `**${sys}**`,
        ...cases.map((c) => {
          const mean = s4.find((r) => r.case === c && r.system === sys)?.result.read?.mean;
          return mean !== undefined && base !== undefined ? ratio(mean / base) : '—';
        }),
      ];
    });
    out.push(
      '### S4 — a page of 50 from contexts of growing size',
      '',
      `The newest 50 messages (\`?limit=50&offset=total−50\`) of one context of each size; ${s4[0]!.connections} connections.`,
      '',
      readTable(s4),
      '',
      `Mean page time relative to the ${first} context (1.00× = flat; the target is ≤ 1.2× for the product):`,
      '',
      table(['system', ...cases], growth),
      '',
    );
  }
  const s3 = runsOf(results, 'S3');
  if (s3.length > 0) {
    const rows: string[][] = [];
    const systems = [...new Set(s3.map((r) => r.system))].sort(
      (a, b) => SYSTEMS.indexOf(a) - SYSTEMS.indexOf(b),
    );
    for (const sys of systems) {
      const ro = s3.find((r) => r.system === sys && r.case === 'read-only');
      const mx = s3.find((r) => r.system === sys && r.case === 'mixed');
      for (const run of [ro, mx]) {
        if (run === undefined) continue;
        const s = run.result.read;
        const w = run.result.write;
        rows.push([
          `**${sys}**`,
          run.case,
          s ? num(s.rps) : '—',
          ms(s?.p50),
          ms(s?.p99),
          w ? num(w.rps) : '—',
          ms(w?.p50),
          ms(w?.p99),
          run === mx && ro?.result.read && s ? ratio(s.p99 / ro.result.read.p99) : '',
          `${cpuCell(run)}${errorsOf(run)}`,
        ]);
      }
    }
    out.push(
      '### S3 — mixed reads and appends over 100 contexts',
      '',
      `Every connection (${s3[0]!.connections}) repeats 9 reads of a random context's first page of 50 and 1 append of 1 KB to a random context; the read-only run repeats the reads alone. Read percentiles count reads only (status 200), append ones appends only (201). The product fsyncs each append; the baselines keep appends in memory only.`,
      '',
      table(
        [
          'system',
          'run',
          'reads/s',
          'read p50 ms',
          'read p99 ms',
          'appends/s',
          'append p50 ms',
          'append p99 ms',
          'read p99 mixed ÷ read-only',
          'CPU: server / load / other',
        ],
        rows,
      ),
      '',
    );
  }
  const s5 = runsOf(results, 'S5');
  if (s5.length > 0) {
    const baseOf = (system: string) => s5.find((r) => r.system === system)?.result.write;
    out.push(
      '### S5 — appends to a small and to a large context (product)',
      '',
      s5Description(results, s5[0]!.connections),
      '',
      columnTable<RunRecord>(
        [
          ['context', (run) => run.case],
          ['system', (run) => `**${run.system}**`],
          ['appends/s', (run) => (run.result.write ? num(run.result.write.rps) : '—')],
          ['mean ms', (run) => ms(run.result.write?.mean)],
          ...percentileColumns((run) => run.result.write),
          [
            'mean ÷ first case',
            (run) => {
              const w = run.result.write;
              const base = baseOf(run.system);
              return w && base ? ratio(w.mean / base.mean) : '—';
            },
          ],
          [
            'server CPU µs/append',
            (run) => {
              const w = run.result.write;
              return w ? num((run.result.serverCpu / w.rps) * 1e6) : '—';
            },
          ],
          [
            'compactions',
            (run) => (run.result.storage ? num(run.result.storage.compactions) : '—'),
          ],
          [
            'bytes written / append (log + snapshots)',
            (run) => {
              const st = run.result.storage;
              return st && st.appends > 0
                ? `${num((st.appendBytes + st.compactBytes) / st.appends)} (${num(st.appendBytes / st.appends)} + ${num(st.compactBytes / st.appends)})`
                : '—';
            },
          ],
          cpuColumn,
        ],
        s5,
      ),
      '',
    );
  }
  const mem = results.memory;
  if (mem !== null) {
    const rows: string[][] = [
      [
        '**product** shared memory in use (arena)',
        mib(mem.product.sharedUsedBytes),
        ratio(mem.product.sharedUsedBytes / mem.storedBytes),
      ],
      [
        '**product** shared memory carved (incl. free blocks)',
        mib(mem.product.sharedCarvedBytes),
        ratio(mem.product.sharedCarvedBytes / mem.storedBytes),
      ],
      [
        '**product** RSS growth (loaded − idle)',
        `${mib(mem.product.rssLoaded - mem.product.rssIdle)} (${mib(mem.product.rssIdle)} → ${mib(mem.product.rssLoaded)})`,
        ratio((mem.product.rssLoaded - mem.product.rssIdle) / mem.storedBytes),
      ],
      ...(mem.reloaded === null
        ? []
        : [
            [
              `**product**, fresh process after loading all ${num(mem.reloaded.residentContexts)} from storage (${num(mem.reloaded.seconds, 1)} s): shared memory in use`,
              mib(mem.reloaded.sharedUsedBytes),
              ratio(mem.reloaded.sharedUsedBytes / mem.storedBytes),
            ],
            [
              '**product**, fresh process after loading from storage: RSS growth',
              `${mib(mem.reloaded.rssLoaded - mem.reloaded.rssIdle)} (${mib(mem.reloaded.rssIdle)} → ${mib(mem.reloaded.rssLoaded)})`,
              ratio((mem.reloaded.rssLoaded - mem.reloaded.rssIdle) / mem.storedBytes),
            ],
          ]),
      ...mem.baselines.map((b) => [
        `**${b.system}** RSS growth (loaded − idle)`,
        `${mib(b.rssLoaded - b.rssIdle)} (${mib(b.rssIdle)} → ${mib(b.rssLoaded)})`,
        ratio((b.rssLoaded - b.rssIdle) / mem.storedBytes),
      ]),
      [
        'product data directory on disk',
        mib(mem.diskBytes),
        ratio(mem.diskBytes / mem.storedBytes),
      ],
    ];
    out.push(
      '### S6 — memory',
      '',
      `${num(mem.contexts)} contexts × ${num(mem.messagesPerContext)} messages of ${num(mem.messageBytes)} B of text, seeded through the product's API; all ${num(mem.product.residentContexts)} resident. **Stored bytes** = the message records' JSON (each message DTO as served) = ${mib(mem.storedBytes)}. The baselines load the same data from the seed file (and collect garbage) before their RSS is read.`,
      '',
      table(['what', 'bytes', '÷ stored bytes'], rows),
      '',
    );
  }
  const s7 = runsOf(results, 'S7');
  if (s7.length > 0) {
    const one = s7[0]!.result.read;
    out.push(
      '### S7 — product throughput by worker count',
      '',
      `The S1 request against a fresh product with \`--workers\` 1..${s7.length}; ${s7[0]!.connections} connections.`,
      '',
      columnTable<RunRecord>(
        [
          ['workers', (run) => run.case],
          ['req/s', (run) => (run.result.read ? num(run.result.read.rps) : '—')],
          ...percentileColumns((run) => run.result.read),
          [
            '÷ 1 worker',
            (run) => {
              const s = run.result.read;
              return s && one ? ratio(s.rps / one.rps) : '—';
            },
          ],
          [
            'server CPU µs/req',
            (run) => {
              const s = run.result.read;
              return s ? num((run.result.serverCpu / s.rps) * 1e6) : '—';
            },
          ],
          cpuColumn,
        ],
        s7,
      ),
      '',
    );
  }
  return out;
}

function s5Description(results: BenchResults, connections: number): string {
  const logRatio = results.settings.appendCompactLogRatio;
  const compaction =
    logRatio === undefined
      ? "in this run, every 1,000 log records (`COMPACT_AFTER_RECORDS`, the rule and default of that version) a context's log was folded into a snapshot of the whole context. S5 now runs with `COMPACT_LOG_RATIO=0.25` instead, not the shipped default of 1, so that a bounded run crosses several compactions of both contexts; these figures predate that"
      : `S5's product runs with \`COMPACT_LOG_RATIO=${logRatio}\`, not the shipped default of 1: a context's log is folded into a snapshot once it holds ${logRatio} × the snapshot's bytes (and at least \`COMPACT_MIN_LOG_BYTES\`, 1 MiB), so that a bounded run crosses several compactions of both contexts, the large one included (at the default ratio it would need about 4 times as many appends)`;
  return `${num(results.settings.appendCount)} appends (\`POST …/messages\`, 1 KB) to one context, ${connections} connections (each append is fsynced before it is acknowledged; the product's appends share fdatasyncs (group commit), **product-sync-under-lock** is the product with \`GROUP_COMMIT=false\`, the code before group commit, where appends serialise on the context's write lock held across each one's own fdatasync, serving a copy of the same data; **product-before-issue-12** is the code of when issue 12 was filed (commit a9894cd, the "today's code" of its S5 target), built from git by the bench and run with the same settings on another copy of the same data; ${compaction}). The warm-up appends to a third context. The case names the context's size before the run. *Bytes written / append* is what the server's own counters say the measured appends wrote to storage, log frames + compacted snapshots, divided by the appends${logRatio === undefined ? ' (not counted in this run: —)' : ''}. The baselines are not run here: they persist nothing, so the comparison is the product against itself (group commit on and off), as the target asks.`;
}

export function renderMarkdown(results: BenchResults, analysis: string | null): string {
  const m = results.machine;
  const s = results.settings;
  const out: string[] = [
    '# Benchmarks',
    '',
    `<!-- Generated by \`${results.command}\` (bench/run.ts); do not edit by hand. The analysis section is bench/analysis.md. -->`,
    '',
    `Run of ${results.startedAt} (**${results.mode}** mode, ${num(results.elapsedSeconds / 60, 1)} min), regenerated by \`${results.command}\`. Raw results: \`bench/results/latest.json\`.`,
    '',
    `**Machine:** ${m.cpus} cores (${m.cpuModel}), ${num(m.memoryGiB, 1)} GiB RAM, Node ${m.node}, ${m.platform}; load average ${num(m.loadAverage, 2)} when the run started.`,
    '',
  ];
  const notes = [...results.notes];
  const others = results.runs.map((r) => r.result.otherCpu);
  const meanOther = others.reduce((a, b) => a + b, 0) / Math.max(1, others.length);
  if (meanOther > 0.25) {
    notes.push(
      `other processes on the machine used ${num(meanOther, 2)} of its ${m.cpus} cores on average during the measured runs (the *other* CPU column, run by run); read the ratios with that in mind.`,
    );
  }
  if (notes.length > 0) {
    out.push(...notes.map((n) => `> **Note:** ${n}`), '');
  }
  out.push(
    '## Targets',
    '',
    table(
      ['scenario', 'what', 'target', 'achieved', 'result', 'by server CPU per request ¹'],
      results.targets.map((t) => [
        t.scenario,
        t.what,
        t.target,
        `${t.achieved.toFixed(2)}×`,
        t.pass ? '✅ met' : `❌ missed: ${t.missedBy}`,
        t.achievedByCpu === undefined ? '' : `${t.achievedByCpu.toFixed(2)}×`,
      ]),
    ),
    '',
    "¹ The same ratio from each system's server CPU time per response (informative, less sensitive to other processes than req/s; the target is judged on req/s).",
    '',
    ...(analysis !== null && results.targets.some((t) => !t.pass)
      ? [
          'Why targets are missed — the bottleneck from CPU profiles, and what was tried: see [Analysis](#analysis).',
          '',
        ]
      : []),
    '![Throughput and latency by scenario and system](benchmarks.svg)',
    '',
    '## How it is measured',
    '',
    `- **Command:** \`npm run bench\` (full) or \`npm run bench -- --quick\`; it builds first, then runs \`node dist/bench/run.js\`. Results: \`bench/results/<timestamp>.json\` and \`bench/results/latest.json\`; this page and \`docs/benchmarks.svg\` are written by the run.`,
    `- **Systems**, each in its own process: the **product** (\`node dist/src/main.js\`, ${s.productWorkers} workers, default settings, fsync ${s.fsync ? 'on' : 'off'}); **mutex-clone** (one async lock per context held for the whole request, a \`structuredClone\` of the whole context and \`JSON.stringify\` per request, one thread); **single-thread** (hono + a \`Map\` + \`JSON.stringify\`, no lock, no clone); **ceiling** (hono answering precomputed bytes: the limit of this HTTP stack here). The baselines use the product's own validation and error mapping (\`bench/baselines/\`).`,
    "- **Same data, same bytes:** the product is seeded through its HTTP API; its answers (context DTOs, every message) are exported into a seed file that each baseline loads at start. `test/bench/fairness.test.ts` checks that every baseline answers the benchmark's reads with the product's exact bytes.",
    `- **Load:** autocannon in a separate process (not the orchestrator's, not the server's), ${s.warmupSeconds} s warm-up then ${s.durationSeconds} s measured per run; ${s.readConnections} connections for reads, ${s.appendConnections} for S5's appends to one context. Systems run one at a time (the others idle), in an order that alternates from one scenario (or case) to the next (the \`order\` column)${s.rounds > 1 ? ` and is reversed in each of up to ${s.rounds} rounds (as far as the run's time plan allows); of a system's runs the quietest (the one during which other processes used the least CPU) is kept, and the \`order\` column says how many runs there were` : ''}. Latency is taken per response with sub-millisecond precision. *CPU* columns are cores busy over the run: the server process (all its threads) / the load generator / everything else on the machine; ${s.retries > 0 ? `when even the kept round had other processes using more than ${num(s.noisyCpu, 2)} cores, it is measured again (up to ${s.retries} more time${s.retries === 1 ? '' : 's'}, within a bounded total).` : 'runs are not re-measured in this mode, however busy the machine was (see the *other* CPU).'} *Server CPU µs/req* (server CPU time per response) is a second view of cost, less sensitive to other processes than req/s (contention still inflates it, most for the product, whose threads hand requests to each other). Between warm-up and measurement, and after each run, the bench waits until the server is idle, so no run pays for requests another left in flight. On this machine the load generator shares the ${m.cpus} cores with the server, as the server's threads share them with each other.`,
    `- **Durability:** the product runs as shipped, acknowledging a write only after fsync. The baselines are in-memory designs; the write-heavy targets (S3, S5) compare the product with itself, and S3's table shows the baselines' in-memory appends for reference only.`,
    '',
    '## Results',
    '',
    ...scenarioSection(results),
  );
  if (results.seeding.length > 0) {
    out.push(
      '### Seeding',
      '',
      table(
        ['dataset', 'contexts', 'messages', 'seconds', 'messages/s'],
        results.seeding.map((p) => [
          p.phase,
          num(p.contexts),
          num(p.messages),
          num(p.seconds, 1),
          num(p.messages / p.seconds),
        ]),
      ),
      '',
      `Seeding appends each context’s messages in order, ${s.seedConcurrency} requests in flight across contexts, every append fsynced.`,
      '',
    );
  }
  if (analysis !== null) out.push('## Analysis', '', analysis.trim(), '');
  return `${out.join('\n')}\n`;
}
