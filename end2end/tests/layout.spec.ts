import { expect, test, type Page } from '@playwright/test';
import { alicePushes, waitForChange } from './demo';
import { LoginPage, waitForHydration } from './pages';

async function signIn(page: Page, user: string) {
  await page.goto('/login');
  await waitForHydration(page);
  await new LoginPage(page).signIn(user, 'demo');
  await expect(page).toHaveURL(/\/$/);
}

/** How much wider than the window the page is (0 when it fits). */
async function overflow(page: Page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

test('at 390 px the header wraps, Sign out stays on screen, and the matrix scrolls in its own box', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page, 'bob');
  await waitForHydration(page);
  await expect(page.getByTestId('matrix')).toBeVisible();
  expect(await overflow(page)).toBeLessThanOrEqual(0);
  const signOut = await page.getByRole('button', { name: 'Sign out' }).boundingBox();
  expect(signOut!.x + signOut!.width).toBeLessThanOrEqual(390);
  const box = page.locator('.scroll-x').filter({ has: page.getByTestId('matrix') });
  expect(await box.evaluate((e) => getComputedStyle(e).overflowX)).toBe('auto');
  for (const path of ['/changes', '/runs', '/apps']) {
    await page.goto(path);
    await waitForHydration(page);
    expect(await overflow(page), path).toBeLessThanOrEqual(0);
  }
});

test('split view gives each side half the width', async ({ page }) => {
  const sha = alicePushes();
  await signIn(page, 'bob');
  await waitForChange(page, sha, 'dev');
  await page.getByRole('link', { name: `hello-web ${sha.slice(0, 7)} to dev` }).click();
  await waitForHydration(page);
  await page.getByLabel('Split view').check();
  const row = page.getByTestId('objects').locator('table.diff.split tr.line').first();
  await expect(row).toBeVisible();
  const [left, right] = await row.locator('td.code').evaluateAll((cells) =>
    cells.map((c) => c.getBoundingClientRect().width),
  );
  const table = await page.getByTestId('objects').locator('table.diff.split').first().boundingBox();
  expect(left).toBeGreaterThan(table!.width * 0.4);
  expect(right).toBeGreaterThan(table!.width * 0.4);
  expect(Math.abs(left - right)).toBeLessThan(table!.width * 0.05);
});
