import type { CampaignResult } from './campaign.js';

/** A readable account of a campaign: counts, then each kind of violation with examples. */
export function summarize(result: CampaignResult, examplesPerCheck = 3): string {
  const lines = [
    `seed ${result.seed} (rerun with FUZZ_SEED=${result.seed}): ${result.sent} requests, ` +
      `${(result.elapsedMs / 1000).toFixed(1)} s in all, ${result.createdLive} fuzz contexts live`,
    `statuses ${JSON.stringify(result.byStatus)}`,
    `routes ${JSON.stringify(result.byRoute)}`,
  ];
  const byCheck = new Map<string, typeof result.violations>();
  for (const v of result.violations) byCheck.set(v.check, [...(byCheck.get(v.check) ?? []), v]);
  lines.push(`violations: ${result.violations.length}`);
  for (const [check, list] of byCheck) {
    lines.push(`  ${check}: ${list.length}`);
    for (const v of list.slice(0, examplesPerCheck)) {
      lines.push(`    [${v.route}] ${v.request}`, `      -> ${v.response}`);
    }
  }
  return lines.join('\n');
}
