import { ConfigurationError, ExternalError } from '../errors.js';
import type { Logger } from '../log.js';
import type { GitHub } from './client.js';

/** GitHub refuses issue comments longer than this many characters. */
export const MAX_COMMENT_CHARS = 65_536;

export function checkMarker(marker: string): string {
  if (!/^[A-Za-z0-9_.:/-]{1,100}$/.test(marker)) {
    throw new ConfigurationError(`marker "${marker}" may use only letters, digits and _ . : / -`, { hint: 'pick a short name per gate, e.g. ocr-gate' });
  }
  return marker;
}

/** The hidden line that identifies one sticky comment. */
export function markerTag(marker: string): string {
  return `<!-- mlloop:${checkMarker(marker)} -->`;
}

/**
 * The comment body: marker first, then the report, cut to GitHub's limit. A cut never splits a surrogate
 * pair, closes an open code fence, and points to where the whole report is (the job summary).
 */
export function commentBody(report: string, marker: string, fullReportUrl?: string): string {
  const tag = markerTag(marker);
  // Text from metrics files must not carry a marker of its own (it could hijack another gate's comment).
  const whole = `${tag}\n${report.replace(/<!--/g, '&lt;!--')}`;
  if (whole.length <= MAX_COMMENT_CHARS) return whole;
  const where = fullReportUrl ? `[the job summary](${fullReportUrl})` : 'the job summary';
  const note = `\n\n> ✂️ This report was cut to fit GitHub's ${MAX_COMMENT_CHARS.toLocaleString('en-US')}-character comment limit (${whole.length.toLocaleString('en-US')} characters). The full report is in ${where}.\n`;
  let cut = MAX_COMMENT_CHARS - note.length - 8;
  const code = whole.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  let head = whole.slice(0, cut);
  head = head.slice(0, Math.max(head.lastIndexOf('\n'), tag.length));
  if ((head.match(/^```/gm) ?? []).length % 2 === 1) head += '\n```';
  return `${head}${note}`;
}

export interface UpsertResult {
  action: 'created' | 'updated' | 'unchanged' | 'forbidden';
  id: number | null;
  url: string | null;
  /** Comments scanned to find the sticky one. */
  scanned: number;
  /** Extra copies (left by an earlier race) that were deleted. */
  removed: number;
}

function status(e: unknown): number | undefined {
  return typeof (e as { status?: unknown })?.status === 'number' ? (e as { status: number }).status : undefined;
}

/** The login comments are posted as: the token's user, or github-actions[bot] for an installation token. */
async function ownLogin(gh: GitHub, fallback: string): Promise<string> {
  try {
    return (await gh.rest.users.getAuthenticated()).data.login;
  } catch (e) {
    if (status(e) === 403 || status(e) === 404) return fallback;
    throw e;
  }
}

/** One forge's comments on one pull or merge request, as the sticky comment needs them. */
export interface StickyThread<T extends { id: number; body?: string | null }> {
  /** Every comment, oldest first. */
  list(): Promise<T[]>;
  create(body: string): Promise<{ id: number; url: string | null }>;
  update(id: number, body: string): Promise<{ id: number; url: string | null }>;
  remove(id: number): Promise<void>;
  urlOf(c: T): string | null;
}

/**
 * The sticky comment on either forge (GitHub comments, GitLab notes): among the comments `own` accepts whose body
 * starts with the marker line (`tag`, from markerTag), the oldest is kept and updated in place (unless it already says `body`), later copies
 * a race left are deleted, and one is created when there is none.
 */
export async function upsertSticky<T extends { id: number; body?: string | null }>(
  thread: StickyThread<T>,
  req: { tag: string; body: string; own: (c: T) => boolean; log: Logger; what: string },
): Promise<UpsertResult> {
  const { tag } = req;
  const all = await thread.list();
  const mine = all.filter((c) => req.own(c) && (c.body ?? '').startsWith(tag));
  req.log.debug(`sticky ${req.what} ${tag}: ${all.length} scanned, ${mine.length} own with the marker`);
  if (mine.length === 0) return { action: 'created', ...(await thread.create(req.body)), scanned: all.length, removed: 0 };
  const [keep, ...extra] = mine;
  for (const c of extra) await thread.remove(c.id);
  if (keep!.body === req.body) return { action: 'unchanged', id: keep!.id, url: thread.urlOf(keep!), scanned: all.length, removed: extra.length };
  return { action: 'updated', ...(await thread.update(keep!.id, req.body)), scanned: all.length, removed: extra.length };
}

/**
 * Creates or updates the one comment of a gate on a pull request (upsertSticky). All comments are paged
 * (100 per page) and filtered by author and by the marker on the first line, so a comment by someone else
 * quoting the marker is never touched.
 * A 403 (a fork's read-only token) is returned as `forbidden`, never thrown: the caller decides.
 */
export async function upsertComment(
  gh: GitHub,
  req: { owner: string; repo: string; issue: number; marker: string; body: string; author?: string; log: Logger },
): Promise<UpsertResult> {
  const { owner, repo } = req;
  const tag = markerTag(req.marker);
  try {
    const me = req.author ?? (await ownLogin(gh, 'github-actions[bot]'));
    return await upsertSticky(
      {
        list: () => gh.paginate(gh.rest.issues.listComments, { owner, repo, issue_number: req.issue, per_page: 100 }),
        create: async (body) => {
          const { data } = await gh.rest.issues.createComment({ owner, repo, issue_number: req.issue, body });
          return { id: data.id, url: data.html_url };
        },
        update: async (id, body) => {
          const { data } = await gh.rest.issues.updateComment({ owner, repo, comment_id: id, body });
          return { id: data.id, url: data.html_url };
        },
        remove: async (id) => void (await gh.rest.issues.deleteComment({ owner, repo, comment_id: id })),
        urlOf: (c) => c.html_url,
      },
      { tag, body: req.body, own: (c) => c.user?.login === me, log: req.log, what: 'comment' },
    );
  } catch (e) {
    const s = status(e);
    if (s === 403) return { action: 'forbidden', id: null, url: null, scanned: 0, removed: 0 };
    if (s === 404) throw new ConfigurationError(`pull request #${req.issue} not found in ${req.owner}/${req.repo}`, { hint: 'check --pr and --repository (and that the token can read the repository)' });
    if (s === 401) throw new ConfigurationError('GitHub rejected the token (401 Bad credentials)', { hint: 'pass a valid token (in a workflow: ${{ github.token }})' });
    throw new ExternalError(`GitHub API error while writing the PR comment: ${(e as Error).message}`, { hint: 'rerun the job; GitHub may be degraded' });
  }
}

/** Pull request number and fork status from a runner's event payload. */
export function pullRequestFromEvent(event: unknown): { number: number; fork: boolean; baseRef: string | null; headRepo: string | null } | undefined {
  const e = (event ?? {}) as Record<string, any>;
  const pr = e.pull_request ?? (e.issue?.pull_request ? e.issue : undefined);
  if (!pr || typeof pr.number !== 'number') return undefined;
  const headRepo: string | null = pr.head?.repo?.full_name ?? null;
  const baseRepo: string | null = pr.base?.repo?.full_name ?? e.repository?.full_name ?? null;
  const fork = pr.head?.repo?.fork === true || (headRepo !== null && baseRepo !== null && headRepo !== baseRepo);
  return { number: pr.number, fork, baseRef: pr.base?.ref ?? null, headRepo };
}
