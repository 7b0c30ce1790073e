import * as path from 'node:path';
import { defineCommand } from './define.js';

export const command = defineCommand({
  name: 'ct check',
  summary: 'decide whether to retrain, from alerts, metric history, the inference log and corrected samples',
  description:
    'Reads the retrain policy (mlloop/retrain-policy@1, validated against schemas/retrain-policy.schema.json) and whichever signals ' +
    'are given: Alertmanager alerts (a webhook payload, a JSONL log of payloads, GET /api/v2/alerts output, or a live --alertmanager), ' +
    'a metric history (JSONL, one line per period), the inference log (the model_inference_log JSONL) and the count of new ' +
    'human-corrected samples. Every trigger that holds becomes a reason with its evidence. Alerts are de-duplicated by fingerprint, ' +
    'and an alert that already caused a retrain does not cause another. A cooldown and a maximum frequency, kept in a state file, ' +
    'hold a retrain back. Writes the decision JSON and exits 0 either way: it is a decision, not a failure; use the `retrain` ' +
    'output in a workflow `if:`.',
  options: {
    policy: { type: 'path', default: 'retrain_policy.yaml', help: 'the retrain policy (YAML or JSON)', placeholder: 'FILE' },
    alerts: { type: 'path', multiple: true, help: 'Alertmanager alerts: a webhook payload (JSON), payloads as JSONL, or GET /api/v2/alerts output', placeholder: 'FILE' },
    alertmanager: { type: 'string', help: 'URL of a running Alertmanager whose active alerts are read (API v2)', placeholder: 'URL' },
    history: { type: 'path', help: 'metric history, JSONL: {"date": "2025-06-12", "model_version": "ocr-v3.2", "metrics": {"accuracy": 0.91}}; or a history store (postgres:// URL or embedded store folder): one period per recorded evaluation', placeholder: 'FILE' },
    'inference-log': { type: 'path', help: 'the inference log, JSONL: {"file_id", "confidence_score", "error", "status", "model_version", "timestamp"}', placeholder: 'FILE' },
    corrected: { type: 'integer', min: 0, help: 'number of new human-corrected samples since the last training', placeholder: 'N' },
    state: { type: 'path', default: '.mlloop/ct-state.json', help: 'state file remembering past retrains (cooldown, maximum frequency) and alerts acted on; keep it between runs (cache or commit it)', placeholder: 'FILE' },
    out: { type: 'path', default: 'ct-decision.json', help: 'where the decision JSON is written', placeholder: 'FILE' },
    'dry-run': { type: 'boolean', help: 'decide without recording the retrain in the state file' },
  },
  outputs: {
    retrain: 'true or false: use it in `if: steps.<id>.outputs.retrain == \'true\'`',
    mode: 'incremental or full',
    triggers: 'comma-separated names of the triggers that held',
    'decision-path': 'path of the decision JSON',
  },
  examples: [
    {
      command: 'mlloop ct check --policy retrain_policy.yaml --history metrics_history.jsonl --inference-log inference.jsonl --corrected 240',
      explain: 'decide from the daily metric history, the inference log and the corrected-sample count; writes ct-decision.json',
    },
    {
      command: 'mlloop ct check --policy retrain_policy.yaml --alertmanager http://alertmanager:9093 --json',
      explain: 'decide from the alerts firing now; prints {"retrain", "mode", "reasons": [{"trigger", "evidence"}], …}',
    },
    {
      command: 'mlloop ct check --alerts payload.json --state .mlloop/ct-state.json --dry-run',
      explain: 'see what would happen for an Alertmanager webhook payload, without recording a retrain',
    },
  ],
  async run(o, ctx) {
    const { ctCheck } = await import('../core/ct/check.js');
    const { describeTrigger, decisionHeadline } = await import('../core/ct/describe.js');
    const { mdTable } = await import('../core/format/markdown.js');
    const abs = (p: string | undefined) => (p === undefined ? undefined : path.resolve(ctx.cwd, p));
    const { isPostgresUrl } = await import('../core/history/db.js');
    const { decision, stateWritten } = await ctCheck({
      policy: abs(o.policy)!,
      alerts: o.alerts.map((a) => abs(a)!),
      alertmanager: o.alertmanager,
      history: o.history && isPostgresUrl(o.history) ? o.history : abs(o.history),
      inferenceLog: abs(o.inferenceLog),
      corrected: o.corrected,
      state: abs(o.state),
      out: abs(o.out),
      dryRun: o.dryRun,
      now: ctx.now(),
      log: ctx.log,
      signal: ctx.signal,
      secret: (v) => ctx.secret(v),
    });
    const headline = decisionHeadline(decision);
    const lines = decision.checked.map((c) => `  ${c.holds ? '✔' : '·'} ${c.trigger}: ${describeTrigger(c)}`);
    const text = [headline, ...lines, `decision: ${o.out}${stateWritten ? `; retrain recorded in ${o.state}` : ''}`].join('\n');
    const summary = [
      `### mlloop ct check: ${decision.retrain ? `retrain (${decision.mode})` : 'no retrain'}`,
      '',
      headline,
      '',
      mdTable(['trigger', 'holds', 'evidence'], decision.checked.map((c) => [c.trigger, c.holds ? 'yes' : 'no', describeTrigger(c)])),
      '',
    ].join('\n');
    return {
      exitCode: 0,
      data: { ...decision, decision_path: abs(o.out) },
      text,
      summary,
      outputs: {
        retrain: decision.retrain,
        mode: decision.mode,
        triggers: decision.reasons.map((r) => r.trigger).join(','),
        'decision-path': abs(o.out)!,
      },
    };
  },
});
