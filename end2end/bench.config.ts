// Benchmarks in the browser (not part of `npm test`): `npx playwright test -c bench.config.ts`.
// Same server setup as the tests: the release binary in demo mode on a fresh data directory.
import base from './playwright.config';
import { defineConfig } from '@playwright/test';

export default defineConfig({ ...base, testDir: './bench', timeout: 120_000 });
