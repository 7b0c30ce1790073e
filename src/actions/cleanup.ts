import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as core from '@actions/core';
import { TEMP_STATE } from './temp-state.js';

/**
 * The `post:` step of the actions that clone (GitOps, lineage, gate's GitOps baseline): removes the temp
 * folders the main step recorded with core.saveState and did not remove itself — it removes its own on exit
 * and on SIGINT/SIGTERM/SIGHUP, so only a SIGKILL leaves any. Only `mlloop-*` folders directly in the
 * temp folder are touched, whatever the state says.
 */
export function cleanup(): void {
  let dirs: unknown;
  try {
    dirs = JSON.parse(core.getState(TEMP_STATE) || '[]');
  } catch {
    dirs = [];
  }
  const root = path.resolve(tmpdir());
  let removed = 0;
  for (const dir of Array.isArray(dirs) ? dirs : []) {
    if (typeof dir !== 'string') continue;
    const abs = path.resolve(dir);
    if (path.dirname(abs) !== root || !path.basename(abs).startsWith('mlloop-')) continue;
    rmSync(abs, { recursive: true, force: true, maxRetries: 2, retryDelay: 50 });
    removed++;
  }
  if (removed) core.info(`removed ${removed} temporary folder(s) the main step left behind`);
}

cleanup();
