// Browser tests run in Debian's Chromium (never a downloaded browser) against the release
// binary started in demo mode on a fresh data directory.
import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const port = Number(process.env.E2E_PORT ?? 3917);
// The test OpenID Provider (oidc-provider, see oidc/provider.mjs) the demo signs in through.
const idpPort = Number(process.env.E2E_IDP_PORT ?? 3918);
const idpConfig = JSON.stringify({
  port: idpPort,
  clients: [
    {
      client_id: 'fluxgate-e2e',
      client_secret: 'e2e-client-secret',
      redirect_uris: [`http://127.0.0.1:${port}/auth/oidc/callback`],
      post_logout_redirect_uris: [`http://127.0.0.1:${port}/login`],
    },
  ],
  // oscar approves as a member of cluster-admins (the demo's dev and staging approvers).
  users: { oscar: { password: 'pw-oscar', groups: ['cluster-admins'], name: 'Oscar' } },
});
const bin = process.env.FLUXGATE_BIN ?? resolve(__dirname, '../target/release/fluxgate');
// Tests push to the demo's application repository in there, as a developer would. The
// config is loaded again in each worker, which inherits the variable: one directory.
const dataDir = process.env.FLUXGATE_E2E_DATA ?? mkdtempSync(join(tmpdir(), 'fluxgate-e2e-'));
process.env.FLUXGATE_E2E_DATA = dataDir;

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: true,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: [
    {
      command: 'node oidc/provider.mjs',
      cwd: __dirname,
      env: { OIDC_TEST_CONFIG: idpConfig },
      url: `http://127.0.0.1:${idpPort}/.well-known/openid-configuration`,
      timeout: 30_000,
      reuseExistingServer: false,
      stdout: 'pipe',
      stderr: 'pipe',
    },
    {
      command: `"${bin}" demo --addr 127.0.0.1:${port} --data-dir "${dataDir}"`,
      cwd: resolve(__dirname, '..'),
      env: {
        FLUXGATE_OIDC_ISSUER: `http://127.0.0.1:${idpPort}`,
        FLUXGATE_OIDC_CLIENT_ID: 'fluxgate-e2e',
        FLUXGATE_OIDC_CLIENT_SECRET: 'e2e-client-secret',
        FLUXGATE_OIDC_NAME: 'Test IdP',
        FLUXGATE_OIDC_ROLE: 'approver=cluster-admins,developer=developers',
      },
      url: `http://127.0.0.1:${port}/readyz`,
      timeout: 60_000,
      reuseExistingServer: false,
      stdout: 'pipe',
      stderr: 'pipe',
    },
  ],
});
