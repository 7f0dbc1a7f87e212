#!/usr/bin/env node
// Runs the TypeScript entry point through tsx (a runtime dependency), so `npx patternd` works without a build.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
