// Pull-request event payloads as GitHub delivers them to GITHUB_EVENT_PATH (trimmed to the fields that
// carry meaning; shapes and names as in the webhook documentation).

function repo(full: string, fork: boolean, id: number) {
  const [owner, name] = full.split('/') as [string, string];
  return {
    id,
    node_id: `R_kgDO${id}`,
    name,
    full_name: full,
    private: false,
    owner: { login: owner, id: id + 1, type: 'User' },
    html_url: `https://github.com/${full}`,
    fork,
    url: `https://api.github.com/repos/${full}`,
    default_branch: 'main',
    visibility: 'public',
  };
}

export function pullRequestEvent(opts: { number: number; fork: boolean; base?: string; head?: string; sha?: string }) {
  const base = repo('acme/ocr-fields', false, 600001);
  const head = opts.fork ? repo('alice-ml/ocr-fields', true, 700002) : base;
  const sha = opts.sha ?? 'f'.repeat(40);
  return {
    action: 'synchronize',
    number: opts.number,
    before: 'e'.repeat(40),
    after: sha,
    pull_request: {
      url: `https://api.github.com/repos/acme/ocr-fields/pulls/${opts.number}`,
      id: 1900000000 + opts.number,
      node_id: `PR_kwDO${opts.number}`,
      html_url: `https://github.com/acme/ocr-fields/pull/${opts.number}`,
      number: opts.number,
      state: 'open',
      locked: false,
      title: 'Improve amount extraction (ocr-v3.0)',
      user: { login: opts.fork ? 'alice-ml' : 'bob', id: 42, type: 'User' },
      body: 'Retrained with the corrected samples.',
      draft: false,
      author_association: opts.fork ? 'FIRST_TIME_CONTRIBUTOR' : 'MEMBER',
      head: { label: `${head.owner.login}:${opts.head ?? 'better-amounts'}`, ref: opts.head ?? 'better-amounts', sha, user: head.owner, repo: head },
      base: { label: `acme:${opts.base ?? 'main'}`, ref: opts.base ?? 'main', sha: 'a'.repeat(40), user: base.owner, repo: base },
      merged: false,
      mergeable: null,
      commits: 3,
      additions: 120,
      deletions: 14,
      changed_files: 4,
    },
    repository: base,
    sender: { login: opts.fork ? 'alice-ml' : 'bob', id: 42, type: 'User' },
  };
}
