// What the demo's people do outside the browser, and waiting for its pipelines.
import { expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** alice commits a visible change to the demo app and pushes it (the push hook tells fluxgate). */
export function alicePushes(): string {
  return alicePushesWith((work) => {
    const page = join(work, 'site/index.html');
    writeFileSync(page, readFileSync(page, 'utf8').replace('</body>', '<p>New in this release.</p></body>'));
  }, 'A line for the release notes');
}

/** alice gives the demo app a Role to read its ConfigMaps: an RBAC change, which the
 * staging and prod policies send to the security group for review. */
export function alicePushesARole(): string {
  return alicePushesWith((work) => {
    writeFileSync(
      join(work, 'deploy/role.yaml'),
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: hello-web-config-reader\nrules:\n  - apiGroups: [""]\n    resources: ["configmaps"]\n    verbs: ["get"]\n',
    );
    const k = join(work, 'deploy/kustomization.yaml');
    writeFileSync(k, readFileSync(k, 'utf8').replace('  - service.yaml\n', '  - service.yaml\n  - role.yaml\n'));
  }, 'Read its own configuration through a Role');
}

/** alice takes the Role out again, so that later tests start from the demo's app. */
export function aliceRemovesTheRole(): string {
  return alicePushesWith((work) => {
    const k = join(work, 'deploy/kustomization.yaml');
    writeFileSync(k, readFileSync(k, 'utf8').replace('  - role.yaml\n', ''));
    rmSync(join(work, 'deploy/role.yaml'));
  }, 'No Role after all');
}

function alicePushesWith(edit: (work: string) => void, message: string): string {
  const data = process.env.FLUXGATE_E2E_DATA!;
  const work = mkdtempSync(join(tmpdir(), 'fluxgate-e2e-work-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.invalid', ...args], {
      cwd: work,
      encoding: 'utf8',
    });
  git('clone', '-q', join(data, 'repos/hello-web.git'), '.');
  edit(work);
  git('add', '-A');
  git('commit', '-qm', message);
  git('push', '-q', 'origin', 'main');
  return git('rev-parse', 'HEAD').trim();
}

/**
 * Waits for the change request of `sha` in `env` to be listed. When the commit's CI run
 * failed instead, the test's failure message carries the run's error and log.
 */
export async function waitForChange(page: Page, sha: string, env: string, timeout = 25_000) {
  const name = `hello-web ${sha.slice(0, 7)} to ${env}`;
  await expect(async () => {
    const runs = await (await page.request.get('/api/v1/runs?app=hello-web')).json();
    const failed = runs.runs.find(
      (r: { commit_sha: string; kind: string; state: string }) =>
        r.commit_sha === sha && r.kind === 'ci' && r.state === 'failed',
    );
    if (failed) {
      const log = await (await page.request.get(`/api/v1/runs/${failed.id}/logs`)).json();
      const lines = log.lines.map((l: { line: string }) => l.line).join('\n');
      throw new Error(`the CI run of ${sha} failed: ${failed.error}\n${lines}`);
    }
    await page.goto(`/changes?env=${env}&state=open`);
    await expect(page.getByRole('link', { name })).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout });
}
