import type { RunnerInfo } from '../github/runner-info.js';

/**
 * Which forge a command talks to: GitHub (pull-request comments) or GitLab (merge-request notes). Pure over
 * plain values: the adapters read the environment (RunnerInfo.gitlab holds GitLab CI's predefined variables).
 */
export type Forge = 'github' | 'gitlab';
export type ForgeOption = Forge | 'auto';

export const FORGE_CHOICES = ['auto', 'github', 'gitlab'] as const;

/** RunnerInfo.gitlab is set exactly in a GitLab CI job (CI_API_V4_URL, which every job has). */
export type ForgeFacts = Pick<RunnerInfo, 'gitlab'>;

/** `--forge github|gitlab` wins; `auto` (or none) means GitLab inside a GitLab CI job, GitHub everywhere else. */
export function forgeFrom(facts: ForgeFacts, option?: ForgeOption): Forge {
  if (option === 'github' || option === 'gitlab') return option;
  return facts.gitlab ? 'gitlab' : 'github';
}
