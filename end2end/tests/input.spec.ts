import { expect, test } from '@playwright/test';
import { alicePushes, waitForChange } from './demo';
import { LoginPage, signedIn, waitForHydration, watchForErrors } from './pages';

test('a session that ends mid-comment leads to sign-in and back, with the comment still there', async ({ browser }) => {
  const bob = await signedIn(browser, 'bob');
  const sha = alicePushes();
  await waitForChange(bob, sha, 'dev');
  await bob.getByRole('link', { name: `hello-web ${sha.slice(0, 7)} to dev` }).click();
  await waitForHydration(bob);
  const url = bob.url();
  const comment = 'The probe timeout looks too short for a cold start.';
  await bob.getByLabel('comment').fill(comment);

  // The session ends (its cookie is gone, as when it expires) while the page stays open.
  await bob.context().clearCookies();
  await bob.getByTestId('comment').click();
  await expect(bob).toHaveURL(/\/login\?next=/);
  await waitForHydration(bob);
  await new LoginPage(bob).signIn('bob', 'demo');

  // Back where bob was, the comment as typed; it goes once sent.
  await expect(bob).toHaveURL(url);
  await waitForHydration(bob);
  await expect(bob.getByLabel('comment')).toHaveValue(comment);
  await bob.getByTestId('comment').click();
  await expect(bob.getByRole('status').filter({ hasText: 'Comment added.' })).toBeVisible();
  await expect(bob.getByLabel('comment')).toHaveValue('');
  await bob.reload();
  await waitForHydration(bob);
  await expect(bob.getByLabel('comment')).toHaveValue('');
});

test('the admin saves a policy with a mistake, reads why beside it, and fixes it without retyping', async ({ browser }) => {
  const admin = await signedIn(browser, 'admin');
  const errors = watchForErrors(admin);
  await admin.goto('/settings');
  await waitForHydration(admin);
  const editor = admin.locator('.policy-editor[data-env="staging"]');
  const box = editor.getByLabel('staging');
  const stored = await box.inputValue();
  const required = stored.match(/"required_approvals": (\d+)/)![1];
  const broken = stored.replace(/"required_approvals": \d+/, '"required_approvals": "two"');
  expect(broken).not.toEqual(stored);
  await box.fill(broken);
  await editor.getByTestId('save-policy').click();

  // Refused: the error is beside this editor, and the text is what the admin typed.
  await expect(editor.getByRole('alert')).toContainText('required_approvals: invalid type');
  await expect(box).toHaveValue(broken);
  await expect(admin.locator('.policy-editor[data-env="dev"]').getByRole('alert')).toHaveCount(0);

  // Still there after a reload, until it is saved or discarded.
  await admin.reload();
  await waitForHydration(admin);
  await expect(box).toHaveValue(broken);
  await expect(editor.getByRole('status')).toContainText('unsaved text');

  // The fix is one edit of the kept text.
  // (Back to the number it had: later tests count on staging's policy.)
  await box.fill((await box.inputValue()).replace('"two"', required));
  await editor.getByTestId('save-policy').click();
  await expect(editor.getByRole('status').filter({ hasText: 'Saved.' })).toBeVisible();
  await admin.reload();
  await waitForHydration(admin);
  await expect(box).toHaveValue(new RegExp(`"required_approvals": ${required}`));
  await expect(editor.getByText('unsaved text')).toHaveCount(0);
  // The refused save is the one failed request the browser reports.
  expect(errors.filter((e) => !e.includes('status of 422'))).toEqual([]);
});

test('adding a user empties the form; a refusal keeps it; disabled users look disabled', async ({ browser }) => {
  const admin = await signedIn(browser, 'admin');
  await admin.goto('/settings');
  await waitForHydration(admin);
  const users = admin.getByTestId('users');
  const name = `erin${Date.now()}`;
  await users.getByLabel('Name', { exact: true }).fill(name);
  await users.getByLabel('Groups', { exact: true }).fill('qa');
  await users.getByLabel('Initial password', { exact: true }).fill('short');
  await users.getByTestId('add-user').click();
  // Refused (the password is too short): the name and groups stay to be corrected.
  await expect(users.getByRole('alert')).toBeVisible();
  await expect(users.getByLabel('Name', { exact: true })).toHaveValue(name);
  await expect(users.getByLabel('Groups', { exact: true })).toHaveValue('qa');

  await users.getByLabel('Initial password', { exact: true }).fill('a-much-longer-password-1');
  await users.getByTestId('add-user').click();
  await expect(users.getByRole('status').filter({ hasText: 'User added.' })).toBeVisible();
  await expect(users.getByLabel('Name', { exact: true })).toHaveValue('');
  await expect(users.getByLabel('Groups', { exact: true })).toHaveValue('');

  const row = users.locator(`tr[data-user="${name}"]`);
  await row.getByLabel(`${name} disabled`).check();
  await row.getByRole('button', { name: 'Save' }).click();
  await expect(row.getByRole('status')).toHaveText('Saved.');
  await expect(row).toHaveClass(/disabled/);
  await expect(row.getByText('disabled', { exact: true })).toBeVisible();
});
