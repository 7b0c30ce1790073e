/**
 * Which forge a command talks to: GitHub (pull-request comments) or GitLab (merge-request notes). Pure over
 * plain values: the adapters read the environment (RunnerInfo.gitlab holds GitLab CI's predefined variables).
 */
export type Forge = 'github' | 'gitlab';
export type ForgeOption = Forge | 'auto';

export const FORGE_CHOICES = ['auto', 'github', 'gitlab'] as const;

export interface ForgeFacts {
  /** Set in a GitLab CI job (from CI_API_V4_URL and the other CI_* variables). */
  gitlab?: { apiUrl?: string } | undefined;
}

/** `--forge github|gitlab` wins; `auto` (or none) means GitLab inside a GitLab CI job, GitHub everywhere else. */
export function forgeFrom(facts: ForgeFacts, option?: ForgeOption): Forge {
  if (option === 'github' || option === 'gitlab') return option;
  return facts.gitlab?.apiUrl ? 'gitlab' : 'github';
}
