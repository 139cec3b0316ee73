import { expect, test } from '@playwright/test';
import { EnvironmentsPage, LoginPage, waitForHydration, watchForErrors } from './pages';

test('bob signs in, sees dev → staging → prod, and opens a policy in the hydrated page', async ({ page }) => {
  const errors = watchForErrors(page);
  await page.goto('/');
  await expect(page).toHaveURL(/\/login\?next=%2F$/);
  await waitForHydration(page);
  await new LoginPage(page).signIn('bob', 'demo');

  await expect(page).toHaveURL(/\/$/);
  const envs = new EnvironmentsPage(page);
  await expect(envs.names()).toHaveText(['dev', 'staging', 'prod']);
  await expect(envs.card('prod')).toContainText('env/prod');
  await expect(page.locator('.user-menu')).toContainText('bob');
  await waitForHydration(page);

  // The toggle only works once the WASM has hydrated the page.
  await expect(envs.card('prod').locator('.policy-details')).toHaveCount(0);
  await envs.togglePolicy('prod');
  await expect(envs.card('prod').locator('.policy-details')).toContainText('Approvals required: 2');
  await expect(envs.card('prod').locator('.policy-details')).toContainText('Extra review by group security');
  await expect(envs.card('prod').getByRole('button', { name: 'Hide policy details' })).toBeVisible();
  await envs.togglePolicy('prod');
  await expect(envs.card('prod').locator('.policy-details')).toHaveCount(0);

  // Client-side navigation to another page.
  await page.getByRole('link', { name: 'Apps' }).click();
  await expect(page).toHaveURL(/\/apps$/);
  await expect(page.getByTestId('apps')).toContainText('hello-web');
  expect(errors).toEqual([]);
});

test('a wrong password gets a clear message and no session', async ({ page }) => {
  await page.goto('/login');
  await new LoginPage(page).signIn('bob', 'not-the-password');
  await expect(page.getByRole('alert')).toHaveText('Wrong user name or password.');
  await page.goto('/');
  await expect(page).toHaveURL(/\/login\?next=%2F$/);
});

test('signing out ends the session', async ({ page }) => {
  await page.goto('/login');
  await new LoginPage(page).signIn('alice', 'demo');
  await expect(page.locator('.user-menu')).toContainText('alice');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/login\?next=%2F$/);
});

test('an unknown page answers 404', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading')).toHaveText('404: nothing here');
});
