import { expect, test } from '@playwright/test';
import { generateKeyPairSync } from 'node:crypto';
import { LoginPage, waitForHydration, watchForErrors } from './pages';

/** A fresh ed25519 public key in OpenSSH's one-line form (as in a .pub file). */
function sshEd25519(comment: string): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  const field = (b: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(b.length);
    return Buffer.concat([length, b]);
  };
  const blob = Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
}

test('alice registers a signing key and makes, uses and revokes a read-only token on her account page', async ({ page, playwright, baseURL }) => {
  const errors = watchForErrors(page);
  await page.goto('/login');
  await waitForHydration(page);
  await new LoginPage(page).signIn('alice', 'demo');
  await expect(page.locator('.user-menu')).toContainText('alice');
  await waitForHydration(page);
  await page.getByRole('link', { name: 'Account' }).click();
  await expect(page).toHaveURL(/\/account$/);

  const keys = page.getByTestId('signing-keys');
  await keys.getByLabel('public key').fill(sshEd25519('alice@e2e'));
  await keys.getByLabel('key title').fill('e2e laptop');
  await keys.getByTestId('add-key').click();
  await expect(keys.getByRole('status')).toContainText('SHA256:');
  await expect(keys.locator('table')).toContainText('e2e laptop');

  const tokens = page.getByTestId('tokens');
  await tokens.getByLabel('token name').fill('e2e-token');
  await tokens.getByTestId('create-token').click();
  const value = (await tokens.getByTestId('new-token').textContent()) ?? '';
  expect(value).toMatch(/^fgt_[0-9a-f]{64}$/);
  const row = tokens.locator('tr', { hasText: 'e2e-token' });
  await expect(row).toContainText('live');

  // Outside the browser's session: the token reads the API and can do nothing more.
  const api = await playwright.request.newContext({ baseURL });
  const auth = { Authorization: `Bearer ${value}` };
  expect((await api.get('/api/v1/changes', { headers: auth })).status()).toBe(200);
  expect((await api.post('/api/v1/changes/nope/approve', { headers: auth })).status()).toBe(403);
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row).toContainText('revoked');
  expect((await api.get('/api/v1/changes', { headers: auth })).status()).toBe(401);
  await api.dispose();
  expect(errors).toEqual([]);
});
