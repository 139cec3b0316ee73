// Screenshots of every page in light and dark mode, for a person to look at
// (`npx playwright test -c bench.config.ts screens`; files in $SCREENS or /tmp/fluxgate-screens).
import { expect, test } from '@playwright/test';

const out = process.env.SCREENS ?? '/tmp/fluxgate-screens';

test('every page, light and dark', async ({ browser }) => {
  for (const scheme of ['light', 'dark'] as const) {
    const context = await browser.newContext({ colorScheme: scheme, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto('/login');
    await page.screenshot({ path: `${out}/${scheme}-login.png` });
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('demo');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page).toHaveURL(/\/$/);
    await expect(async () => {
      await page.goto('/changes');
      await expect(page.getByTestId('changes')).toBeVisible({ timeout: 1000 });
    }).toPass({ timeout: 30_000 });
    const shots: [string, string][] = [['/', 'dashboard'], ['/changes', 'changes'], ['/runs', 'runs'], ['/apps', 'apps'],
      ['/apps/hello-web', 'app'], ['/audit', 'audit'], ['/settings', 'settings'], ['/nowhere', 'not-found']];
    for (const [path, name] of shots) {
      await page.goto(path);
      await page.waitForLoadState('networkidle');
      await page.screenshot({ path: `${out}/${scheme}-${name}.png`, fullPage: true });
    }
    await page.goto('/changes');
    await page.getByTestId('changes').getByRole('link').first().click();
    await expect(page.locator('table.diff').first()).toBeVisible();
    await page.screenshot({ path: `${out}/${scheme}-change.png`, fullPage: true });
    const whole = page.getByRole('button', { name: 'Show the whole object' });
    if (await whole.count()) {
      await whole.first().click();
      await page.screenshot({ path: `${out}/${scheme}-change-whole.png`, fullPage: true });
    }
    await page.getByRole('tab', { name: 'Templates and values' }).click();
    await page.screenshot({ path: `${out}/${scheme}-change-source.png`, fullPage: true });
    await page.goto('/runs');
    await page.getByTestId('runs').getByRole('link').first().click();
    await expect(page.getByTestId('log')).toBeVisible();
    await page.screenshot({ path: `${out}/${scheme}-run.png`, fullPage: true });
    await page.goto('/apps/hello-web');
    await page.locator('a[href*="/commits/"]').first().click();
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: `${out}/${scheme}-commit.png`, fullPage: true });
    await context.close();
  }
});
