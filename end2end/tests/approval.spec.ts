import { expect, test } from '@playwright/test';
import { alicePushes, waitForChange } from './demo';
import { LoginPage, waitForHydration, watchForErrors } from './pages';

async function signIn(page: import('@playwright/test').Page, user: string) {
  await page.goto('/login');
  await waitForHydration(page);
  await new LoginPage(page).signIn(user, 'demo');
  await expect(page).toHaveURL(/\/$/);
}

test('alice pushes, bob approves dev (it merges, the demo reconciler applies it, probes verify it), then approves and merges staging', async ({ page, browser }) => {
  // The whole loop: CI, CD, Flux's stand-in and the probes take a few seconds each.
  test.setTimeout(120_000);
  const errors = watchForErrors(page);
  const sha = alicePushes();
  const short = sha.slice(0, 7);

  await signIn(page, 'bob');
  // The change request appears once CI and CD ran (seconds).
  await waitForChange(page, sha, 'dev');
  await page.getByRole('link', { name: `hello-web ${short} to dev` }).click();
  await waitForHydration(page);
  await expect(page.getByTestId('change-title')).toContainText(`hello-web ${short} to dev`);
  await expect(page.getByTestId('policy-status')).toContainText('0 of 1 approval');

  // The rendered diff, object by object: the Deployment's image is the new tag.
  const objects = page.getByTestId('objects');
  await expect(objects).toContainText('Deployment');
  await expect(objects.locator('tr.insert').filter({ hasText: `main-${short}` }).first()).toBeVisible();
  await page.getByRole('tab', { name: 'Templates and values' }).click();
  await expect(page.getByTestId('source-diff')).toContainText('apps/hello-web/templates/deployment.yaml');
  await page.getByRole('tab', { name: /Rendered objects/ }).click();

  await expect(page.getByTestId('merge')).toBeDisabled();
  await page.getByLabel('comment').fill('Looks right.');
  await page.getByTestId('approve').click();
  // dev merges as soon as its policy is met: bob's approval is the only hand action.
  await expect(page.getByRole('status').filter({ hasText: 'Merged into env/dev' })).toBeVisible({ timeout: 10_000 });
  const changeUrl = page.url();
  // The demo reconciler (standing in for Flux) applies it and the probe verifies it.
  await expect(async () => {
    await page.goto(changeUrl);
    await expect(page.getByTestId('change-title')).toContainText('verified', { timeout: 1000 });
  }).toPass({ timeout: 60_000 });
  await expect(page.getByTestId('delivery')).toContainText('PASS');
  await expect(page.getByTestId('who-reviews')).toContainText(/Approved by\s*bob/);

  // alice, the author, may not review her own change; the timeline shows what happened.
  const alice = await browser.newPage();
  await signIn(alice, 'alice');
  await alice.goto(page.url());
  await expect(alice.getByTestId('change-title')).toContainText('verified');
  await waitForHydration(alice);
  await alice.getByRole('tab', { name: 'Timeline' }).click();
  await expect(alice.getByTestId('timeline')).toContainText('approved');
  await expect(alice.getByTestId('timeline')).toContainText('merged into env/dev');
  await expect(alice.getByTestId('timeline')).toContainText('demo reconciler (stands in for Flux)');

  // The dashboard shows the new version in dev.
  await page.goto('/');
  const cell = page.getByTestId('matrix').locator('tr[data-app="hello-web"] td[data-env="dev"]');
  await expect(cell).toContainText(short);
  await expect(cell).toContainText('verified');
  await expect(page.getByTestId('flux-dev')).toContainText('demo reconciler (stands in for Flux)');
  await expect(page.getByTestId('flux-dev')).toContainText('in sync');

  // The CD pipeline moved on: dev's change links staging's, which waits for approval and
  // says whose, and merges by hand.
  await expect(async () => {
    await page.goto(changeUrl);
    await expect(page.getByTestId('next-change')).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 30_000 });
  await page.getByTestId('next-change').getByRole('link').click();
  await expect(page.getByTestId('change-title')).toContainText(`hello-web ${short} to staging`);
  await waitForHydration(page);
  await expect(page.getByTestId('who-reviews')).toContainText(/Approved by\s*nobody yet/);
  await expect(page.getByTestId('who-reviews')).toContainText(/Still needed\s*1 more approval from/);
  // A double click approves once: the button is off while the request runs and after.
  await page.getByTestId('approve').dblclick();
  await expect(page.getByTestId('policy-status')).toContainText('Ready to merge', { timeout: 10_000 });
  await expect(page.getByTestId('approve')).toBeDisabled();
  await page.getByRole('tab', { name: 'Timeline' }).click();
  await expect(page.getByTestId('timeline').locator('li').filter({ hasText: /approved [0-9a-f]{7}/ })).toHaveCount(1);
  await page.getByRole('tab', { name: /Rendered objects/ }).click();
  await page.getByTestId('merge').click();
  await expect(page.getByRole('status').filter({ hasText: 'Merged into env/staging' })).toBeVisible();

  // The CI run's page shows its steps and log.
  await page.goto('/runs?app=hello-web&kind=ci');
  await page.getByTestId('runs').getByRole('link').first().click();
  await expect(page.getByTestId('run-state')).toHaveText('succeeded');
  await expect(page.getByTestId('log')).toContainText('tests passed');
  // ... and leads on: its CD run, whose page links the change of each environment.
  await page.getByTestId('related').getByRole('link', { name: 'CD run' }).click();
  await expect(page.getByTestId('related').getByRole('link', { name: 'dev change (verified)' })).toBeVisible();
  await expect(page.getByTestId('related').getByRole('link', { name: /staging change/ })).toBeVisible();
  // fluxgate's own log lines link the changes they name.
  await expect(page.getByTestId('log').getByRole('link').first()).toHaveAttribute('href', /^\/changes\//);
  expect(errors).toEqual([]);
});

test('alice cannot approve her own change', async ({ page }) => {
  const sha = alicePushes();
  const short = sha.slice(0, 7);
  await signIn(page, 'alice');
  await waitForChange(page, sha, 'dev');
  await page.getByRole('link', { name: `hello-web ${short} to dev` }).click();
  await expect(page.getByTestId('cannot-review')).toContainText('authors cannot');
  await expect(page.getByTestId('approve')).toHaveCount(0);
});
