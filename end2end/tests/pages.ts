// Page objects: what a person does, named as they would say it.
import { expect, type Browser, type Page } from '@playwright/test';

/** Fails the test on any error the page logs or throws (a broken hydration shows here). */
export function watchForErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}

export async function waitForHydration(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

export class LoginPage {
  constructor(private page: Page) {}

  async signIn(user: string, password: string) {
    await this.page.getByLabel('User name').fill(user);
    await this.page.getByLabel('Password').fill(password);
    await this.page.getByRole('button', { name: 'Sign in' }).click();
  }
}

export class EnvironmentsPage {
  constructor(private page: Page) {}

  names() {
    return this.page.locator('.env-card h2');
  }

  card(env: string) {
    return this.page.locator(`.env-card[data-env="${env}"]`);
  }

  async togglePolicy(env: string) {
    await this.card(env).getByRole('button', { name: /policy details/ }).click();
  }
}

/** A new browser context (its own cookies and storage) signed in as `user` with the demo password. */
export async function signedIn(browser: Browser, user: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto('/login');
  await waitForHydration(page);
  await new LoginPage(page).signIn(user, 'demo');
  await expect(page).toHaveURL(/\/$/);
  return page;
}
