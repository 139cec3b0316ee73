import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { alicePushes, waitForChange } from './demo';
import { signedIn, waitForHydration } from './pages';

/** Serious and critical WCAG 2 A/AA findings of axe-core on the page as it is now. */
async function seriousViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`);
}

for (const scheme of ['dark', 'light'] as const) {
  test(`the pages pass axe-core in ${scheme} mode, with no serious violations`, async ({ browser }) => {
    test.setTimeout(120_000);
    const admin = await signedIn(browser, 'admin');
    await admin.emulateMedia({ colorScheme: scheme });
    const bob = await signedIn(browser, 'bob');
    await bob.emulateMedia({ colorScheme: scheme });
    const sha = alicePushes();
    await waitForChange(bob, sha, 'dev');
    await bob.getByRole('link', { name: `hello-web ${sha.slice(0, 7)} to dev` }).click();
    await waitForHydration(bob);
    // The change page as an approver sees it: Approve, Reject, Merge, the diff.
    const found: string[] = [];
    for (const v of await seriousViolations(bob)) found.push(`change page: ${v}`);
    for (const path of ['/', '/changes', '/runs', '/apps', '/audit', '/settings', '/account']) {
      await admin.goto(path);
      await waitForHydration(admin);
      for (const v of await seriousViolations(admin)) found.push(`${path}: ${v}`);
    }
    expect(found).toEqual([]);
  });
}
