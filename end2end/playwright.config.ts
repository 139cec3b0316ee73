// Browser tests run in Debian's Chromium (never a downloaded browser) against the release
// binary started in demo mode on a fresh data directory.
import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const port = Number(process.env.E2E_PORT ?? 3917);
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
  webServer: {
    command: `"${bin}" demo --addr 127.0.0.1:${port} --data-dir "${dataDir}"`,
    cwd: resolve(__dirname, '..'),
    url: `http://127.0.0.1:${port}/readyz`,
    timeout: 60_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
