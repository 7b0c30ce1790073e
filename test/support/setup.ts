// Runs before every test file (vitest.config.ts setupFiles): the file's shared temp folders go when the file ends.
import { afterAll } from 'vitest';
import { removeFileTempDirs } from './tmp.js';

// The tests describe the run they simulate: a CI job that runs them (GitHub Actions, GitLab CI) must not lend its
// own repository, token, event or merge request to the commands they start.
for (const name of Object.keys(process.env)) {
  if (/^(GITHUB_|RUNNER_|ACTIONS_|INPUT_|CI_|GITLAB_)/.test(name)) delete process.env[name];
}

afterAll(removeFileTempDirs);
