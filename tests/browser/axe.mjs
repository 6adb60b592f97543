// Accessibility checks with axe-core: injects axe.min.js (from player/node_modules, like
// playwright-core) into a page and runs it with the WCAG 2.0/2.1 level A and AA rules.
//
// The script is evaluated through the DevTools protocol, not added as a <script> tag, so
// the pages' Content-Security-Policy (no inline script) applies to them unchanged.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { repoRoot } from './harness.mjs';

const requireFromPlayer = createRequire(join(repoRoot, 'player', 'package.json'));
let axeSource = null;

function source() {
  if (axeSource === null) axeSource = readFileSync(requireFromPlayer.resolve('axe-core/axe.min.js'), 'utf8');
  return axeSource;
}

export const WCAG_AA_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

// Runs axe on the page (or on the part under `include`, a CSS selector) and resolves to
// its violations, each reduced to { id, impact, help, nodes: [{ target, summary }] }.
export async function axeViolations(page, { include, tags = WCAG_AA_TAGS } = {}) {
  const loaded = await page.evaluate(() => typeof window.axe === 'object');
  if (!loaded) await page.evaluate(source());
  return page.evaluate(
    async ({ include, tags }) => {
      const result = await window.axe.run(include ? { include: [include] } : document, {
        runOnly: { type: 'tag', values: tags },
        resultTypes: ['violations'],
      });
      return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
      }));
    },
    { include, tags },
  );
}

// One line per violation and node, for a failure message or the test's output.
export function formatViolations(where, violations) {
  if (violations.length === 0) return `${where}: 0 violations`;
  const lines = [`${where}: ${violations.length} violation(s)`];
  for (const v of violations) {
    lines.push(`  [${v.impact}] ${v.id}: ${v.help}`);
    for (const n of v.nodes) lines.push(`    ${n.target}\n      ${String(n.summary).replace(/\n/g, '\n      ')}`);
  }
  return lines.join('\n');
}
