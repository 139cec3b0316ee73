import { expect, test } from '@playwright/test';
import { alicePushesARole, aliceRemovesTheRole, waitForChange } from './demo';
import { signedIn, waitForHydration, watchForErrors } from './pages';

test('carol, the security reviewer, finds an RBAC change waiting for her, clears her review, and it leaves her list', async ({ browser }) => {
  test.setTimeout(150_000);
  const bob = await signedIn(browser, 'bob');
  const carol = await signedIn(browser, 'carol');
  const errors = watchForErrors(carol);
  const sha = alicePushesARole();
  const name = `hello-web ${sha.slice(0, 7)} to staging`;
  try {
    // dev takes it on bob's approval (dev's policy asks for no security review).
    await waitForChange(bob, sha, 'dev');
    await bob.getByRole('link', { name: `hello-web ${sha.slice(0, 7)} to dev` }).click();
    await waitForHydration(bob);
    await bob.getByTestId('approve').click();

    // Once dev verified it, staging's change waits for carol: it is in her list.
    await waitForChange(carol, sha, 'staging', 90_000);
    await carol.goto('/changes?mine=1');
    await carol.getByRole('link', { name }).click();
    await waitForHydration(carol);
    await expect(carol.getByTestId('risks')).toContainText('rbac');
    const who = carol.getByTestId('who-reviews');
    await expect(who).toContainText('a review from group security');
    await expect(who).toContainText('1 more approval from group cluster-admins');

    // Her approval clears the security review; the cluster admins' approval is still needed.
    await carol.getByTestId('approve').click();
    await expect(carol.getByTestId('policy-status')).toContainText('security review by carol');
    await expect(who).not.toContainText('a review from group security');
    await expect(who).toContainText('1 more approval from group cluster-admins');
    await expect(carol.getByTestId('approve')).toBeDisabled();

    // Nothing waits for her any more.
    await carol.goto('/changes?mine=1');
    await waitForHydration(carol);
    await expect(carol.getByRole('link', { name })).toHaveCount(0);
    expect(errors).toEqual([]);
  } finally {
    // Later tests start from the demo's app: the Role goes again (staging never took it).
    aliceRemovesTheRole();
  }
});
