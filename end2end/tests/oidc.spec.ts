import { expect, test } from '@playwright/test';
import { alicePushes, waitForChange } from './demo';
import { waitForHydration, watchForErrors } from './pages';

// The demo runs with a real OpenID Provider beside it (playwright.config.ts): oscar exists
// only there, in its cluster-admins group.
test('oscar signs in through the provider, lands on the dashboard with its groups, and approves dev', async ({ page }) => {
  test.setTimeout(90_000);
  const errors = watchForErrors(page);
  const sha = alicePushes();
  const short = sha.slice(0, 7);

  await page.goto('/login');
  await waitForHydration(page);
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
  // The provider's own login page.
  await expect(page).toHaveTitle(/Test IdP/);
  await page.getByLabel('Login').fill('oscar');
  await page.getByLabel('Password').fill('pw-oscar');
  await page.getByRole('button', { name: 'Sign in to Test IdP' }).click();

  await expect(page).toHaveURL(/127\.0\.0\.1:\d+\/$/);
  await waitForHydration(page);
  await expect(page.getByTestId('matrix')).toBeVisible();
  await expect(page.locator('body')).toContainText('oscar');
  await page.goto('/account');
  await expect(page.locator('main')).toContainText('cluster-admins');
  await expect(page.locator('main')).toContainText('approver');

  await waitForChange(page, sha, 'dev');
  await page.getByRole('link', { name: `hello-web ${short} to dev` }).click();
  await waitForHydration(page);
  await expect(page.getByTestId('policy-status')).toContainText('0 of 1 approval');
  await page.getByTestId('approve').click();
  await expect(page.getByRole('status').filter({ hasText: 'Merged into env/dev' })).toBeVisible({ timeout: 10_000 });
  expect(errors).toEqual([]);
});

test('a callback with a forged state gets a clear page, not a sign-in', async ({ page }) => {
  await page.goto('/login');
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
  await expect(page).toHaveTitle(/Test IdP/);
  const response = await page.goto('/auth/oidc/callback?code=forged&state=forged');
  expect(response?.status()).toBe(400);
  await expect(page.getByTestId('sign-in-error')).toContainText('state does not match');
  await page.goto('/');
  await expect(page).toHaveURL(/\/login/);
});
