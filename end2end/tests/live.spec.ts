import { expect, test } from '@playwright/test';
import { alicePushes, waitForChange } from './demo';
import { signedIn, waitForHydration, watchForErrors } from './pages';

test('a second tab follows the change as bob approves it: merged, applied, verified, without a reload; its draft stays', async ({ browser }) => {
  test.setTimeout(120_000);
  const bob = await signedIn(browser, 'bob');
  const carol = await signedIn(browser, 'carol');
  const errors = watchForErrors(carol);
  const sha = alicePushes();
  await waitForChange(bob, sha, 'dev');
  await bob.getByRole('link', { name: `hello-web ${sha.slice(0, 7)} to dev` }).click();
  await waitForHydration(bob);
  const url = bob.url();

  // carol watches the same change, with a comment half written and an object opened.
  await carol.goto(url);
  await waitForHydration(carol);
  await expect(carol.getByTestId('change-title')).toContainText('open');
  const draft = 'Half a thought about the';
  await carol.getByLabel('comment').fill(draft);
  await expect(carol.getByTestId('comment-count')).toHaveText(`${draft.length} / 10000`);
  const objectsBefore = await carol.locator('[data-object]').count();

  await bob.getByTestId('approve').click();
  const clicked = Date.now();
  // No reload in carol's tab: the state follows the server.
  await expect(carol.getByTestId('change-title')).toContainText('merged', { timeout: 5_000 });
  console.log(`second tab showed the merge ${Date.now() - clicked} ms after the click`);
  await expect(carol.getByTestId('change-title')).toContainText('verified', { timeout: 60_000 });
  await expect(carol.getByTestId('delivery')).toContainText('PASS');
  // What carol typed and what she had open are still there.
  await expect(carol.getByLabel('comment')).toHaveValue(draft);
  expect(await carol.locator('[data-object]').count()).toBe(objectsBefore);
  expect(errors).toEqual([]);

  // The audit log names the change, as a link back to it.
  await bob.goto('/audit');
  await expect(bob).toHaveTitle(/^Audit log/);
  const id = url.split('/').pop();
  await bob.getByRole('link', { name: `change:${id}` }).first().click();
  await expect(bob).toHaveURL(url);
});

test('a comment over the limit is counted, not sent, and not lost', async ({ browser }) => {
  const bob = await signedIn(browser, 'bob');
  const sha = alicePushes();
  await waitForChange(bob, sha, 'dev');
  await bob.getByRole('link', { name: `hello-web ${sha.slice(0, 7)} to dev` }).click();
  await waitForHydration(bob);
  const long = 'x'.repeat(10_001);
  await bob.getByLabel('comment').fill(long);
  await expect(bob.getByTestId('comment-count')).toHaveText('10001 / 10000');
  await expect(bob.getByLabel('comment')).toHaveAttribute('aria-invalid', 'true');
  await expect(bob.getByTestId('comment')).toBeDisabled();
  await expect(bob.getByTestId('approve')).toBeDisabled();
  // One character less and it goes; the draft is cleared only once it was recorded.
  await bob.getByLabel('comment').fill(long.slice(1));
  await bob.getByTestId('comment').click();
  await expect(bob.getByRole('status').filter({ hasText: 'Comment added.' })).toBeVisible();
  await expect(bob.getByLabel('comment')).toHaveValue('');
});

test('stopping the line shows in every open tab at once', async ({ browser }) => {
  const admin = await signedIn(browser, 'admin');
  const carol = await signedIn(browser, 'carol');
  await waitForHydration(carol);
  await expect(carol.getByTestId('line-stopped')).toHaveCount(0);
  await admin.goto('/settings');
  await waitForHydration(admin);
  const stop = admin.getByTestId('stop-the-line');
  await stop.getByPlaceholder('Reason').fill('Incident 42: database failover');
  await stop.getByRole('button', { name: 'Stop all merges' }).click();
  await expect(carol.getByTestId('line-stopped')).toContainText('Incident 42', { timeout: 5_000 });
  await stop.getByRole('button', { name: 'Allow merges again' }).click();
  await expect(carol.getByTestId('line-stopped')).toHaveCount(0, { timeout: 5_000 });
});
