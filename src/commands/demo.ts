import { defineCommand } from './define.js';

export const command = defineCommand({
  name: 'demo',
  summary: 'the whole loop on one machine: train, evaluate, gate, report, release, canary, rollback, dispatch, retrain',
  description:
    'Runs the whole mlloop loop on the bundled example model (examples/ocr-fields), offline, in about a minute or two: ' +
    'train a baseline and a candidate → evaluate both on the same test set → gate with a significance test → the pull-request ' +
    'report (Markdown and HTML) → image tag → Helm values → deploy to a local bare GitOps repository (staging, then production) → ' +
    'start the example service with an injected latency fault → smoke test and canary analysis → a rollback commit with quarantine → ' +
    'a GPU dispatch decision on a bundled snapshot of real GPU nodes, explained → a retrain decision from sample alerts and the ' +
    'service\'s inference log → a relabel export. Needs only Node, git and python3. Every step prints its progress; the end is a ' +
    'table of every decision and the path of every artifact. --keep DIR leaves everything there for inspection (a second run reuses it); without it the temporary folder is removed at the end.',
  options: {
    keep: { type: 'path', help: 'keep every artifact in this folder (emptied first) instead of a temporary one', placeholder: 'DIR' },
    python: { type: 'string', default: 'python3', help: 'the Python interpreter for the example model', placeholder: 'CMD' },
    'baseline-epochs': { type: 'integer', default: 1, min: 1, help: 'epochs of the baseline model (the production model of the story)' },
    'candidate-epochs': { type: 'integer', default: 8, min: 1, help: 'epochs of the candidate model (the pull request)' },
    'fault-latency-ms': { type: 'integer', default: 300, min: 0, help: 'latency injected into the canary so its analysis fails' },
  },
  examples: [
    { command: 'mlloop demo', explain: 'run the whole loop in a temporary folder and print the summary' },
    { command: 'mlloop demo --keep ./mlloop-demo', explain: 'keep every artifact (reports, GitOps repo, verdicts) in ./mlloop-demo' },
  ],
  async run(o, ctx) {
    const { runDemo } = await import('../cli/demo.js');
    return runDemo(o, ctx);
  },
});
