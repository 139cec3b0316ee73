// Figure of issue 5: a change whose rendered diff has 10,000+ lines. Measures how long the
// change page takes to be usable (diff rows on screen and the page hydrated) and how
// smooth scrolling is (frame times while scrolling through the open objects).
import { expect, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('a 10,000-line diff', async ({ page }) => {
  const data = process.env.FLUXGATE_E2E_DATA!;
  const work = mkdtempSync(join(tmpdir(), 'fluxgate-bench-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.invalid', ...args], { cwd: work, encoding: 'utf8' });
  git('clone', '-q', join(data, 'repos/hello-web.git'), '.');
  const lines = Array.from({ length: 10_000 }, (_, i) => `    line ${i}: ${'x'.repeat(40)}`).join('\n');
  writeFileSync(join(work, 'deploy/big.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  big.txt: |\n${lines}\n`);
  const k = join(work, 'deploy/kustomization.yaml');
  writeFileSync(k, readFileSync(k, 'utf8').replace('  - service.yaml\n', '  - service.yaml\n  - big.yaml\n'));
  git('add', '.');
  git('commit', '-qm', 'a big config map');
  git('push', '-q', 'origin', 'main');
  const short = git('rev-parse', 'HEAD').trim().slice(0, 7);

  await page.goto('/login');
  await page.getByLabel('User name').fill('bob');
  await page.getByLabel('Password').fill('demo');
  await page.getByRole('button', { name: 'Sign in' }).click();
  let href = '';
  await expect(async () => {
    await page.goto('/changes?env=dev&state=open');
    href = (await page.getByRole('link', { name: `hello-web ${short} to dev` }).getAttribute('href', { timeout: 1000 }))!;
  }).toPass({ timeout: 60_000 });

  const start = Date.now();
  await page.goto(href);
  await expect(page.locator('table.diff tr.line').first()).toBeVisible();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const usable = Date.now() - start;
  const rows = await page.locator('table.diff tr').count();

  // Frame times while scrolling down the page.
  const frames: number[] = await page.evaluate(async () => {
    const times: number[] = [];
    let last = performance.now();
    let done = false;
    const tick = (t: number) => { times.push(t - last); last = t; if (!done) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
    for (let y = 0; y < 40; y++) { window.scrollBy(0, 400); await new Promise((r) => setTimeout(r, 16)); }
    done = true;
    return times;
  });
  frames.sort((a, b) => a - b);
  const p = (q: number) => frames[Math.min(frames.length - 1, Math.floor(q * frames.length))].toFixed(1);
  console.log(`10,000-line diff: page usable after ${usable} ms; ${rows} diff rows in the DOM; ` +
    `scrolling frame times p50 ${p(0.5)} ms, p95 ${p(0.95)} ms, max ${p(1)} ms over ${frames.length} frames`);
});
