import * as path from 'node:path';
import { Document } from 'yaml';
import { ConfigurationError, closest, jsonPath } from '../errors.js';
import { readYaml } from '../io/yaml.js';
import { writeFilesAtomic } from '../io/atomic.js';
import { validateSchema, type JsonSchema } from '../schema.js';
import templateSchema from '../../../schemas/config-template.schema.json';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface MergeOutcome {
  merged: Obj;
  /** Dotted paths the user set that the template also has (their value replaced the template's). */
  overridden: string[];
  /** Dotted paths the user added that the template does not have. */
  added: string[];
  /** Dotted paths the user deleted with null. */
  deleted: string[];
}

/**
 * Deep merge, the rules documented in docs/commands/config-merge.md: mappings merge key by key; a list
 * replaces the template's list whole; null deletes the key; a scalar replaces a scalar. Replacing a
 * mapping with a scalar or a list (or the reverse) is refused: it is almost always a mistake in the
 * overrides' indentation.
 */
export function deepMerge(template: Obj, overrides: Obj, file: string): MergeOutcome {
  const out: MergeOutcome = { merged: {}, overridden: [], added: [], deleted: [] };
  const walk = (base: Obj | undefined, over: Obj, segs: string[]): Obj => {
    const result: Obj = { ...(base ?? {}) };
    for (const [k, v] of Object.entries(over)) {
      const here = [...segs, k];
      const dotted = here.join('.');
      const has = base !== undefined && Object.prototype.hasOwnProperty.call(base, k);
      const old = has ? base![k] : undefined;
      if (v === null) {
        if (has) {
          delete result[k];
          out.deleted.push(dotted);
        }
        continue;
      }
      if (has && isObj(old) !== isObj(v)) {
        throw new ConfigurationError(`the template has ${isObj(old) ? 'a mapping' : Array.isArray(old) ? 'a list' : 'a value'} here, the overrides ${isObj(v) ? 'a mapping' : Array.isArray(v) ? 'a list' : 'a value'}`, {
          file,
          path: jsonPath(here),
          hint: isObj(old) ? `set its keys (e.g. ${dotted}.${Object.keys(old)[0] ?? 'key'}), or write null to delete it first` : 'write a single value here, as the template does',
        });
      }
      if (isObj(v)) {
        result[k] = walk(has ? (old as Obj) : undefined, v, here);
      } else {
        (has ? out.overridden : out.added).push(dotted);
        result[k] = v;
      }
    }
    return result;
  };
  out.merged = walk(template, overrides, []);
  return out;
}

/** Suggests the template key an added key was probably meant to be (`training.learning_rate` → `training.lr`?). */
export function suggestions(template: Obj, added: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of added) {
    const segs = a.split('.');
    let node: Json = template;
    for (const s of segs.slice(0, -1)) node = isObj(node) ? (node[s] ?? null) : null;
    if (!isObj(node)) continue;
    const guess = closest(segs.at(-1)!, Object.keys(node));
    if (guess) out[a] = [...segs.slice(0, -1), guess].join('.');
  }
  return out;
}

export interface TemplateInfo {
  name: string;
  version: string;
}

export interface Provenance {
  schema: 'mlloop/config-provenance@1';
  job_id: string;
  template_used: string;
  template: TemplateInfo & { file: string };
  overrides_file: string;
  merged_config_path: string;
  commit_sha: string | null;
  triggered_by: string | null;
  submit_time: string;
  overridden_keys: string[];
  added_keys: string[];
  deleted_keys: string[];
}

export interface MergeFilesInput {
  template: string;
  overrides: string;
  out: string;
  provenance: string;
  jobId: string;
  commitSha?: string;
  triggeredBy?: string;
  submitTime: Date;
  strict: boolean;
  /** As the user named the files (for the record). */
  names: { template: string; overrides: string; out: string };
}

export async function mergeFiles(i: MergeFilesInput): Promise<{ provenance: Provenance; outcome: MergeOutcome; suggestions: Record<string, string> }> {
  const tpl = await readYaml(i.template, 'template');
  if (!isObj(tpl)) throw new ConfigurationError('a template must be a YAML mapping with a "template: {name, version}" block', { file: i.names.template, path: '$' });
  validateSchema(tpl, templateSchema as JsonSchema, i.names.template);
  const info = tpl.template as unknown as TemplateInfo;
  const over = (await readYaml(i.overrides, 'overrides')) ?? {};
  if (!isObj(over)) throw new ConfigurationError('the overrides must be a YAML mapping of the keys to change', { file: i.names.overrides, path: '$', hint: 'e.g. training: {lr: 0.0005, epochs: 50}' });
  // The overrides may pin the template they were written for: a different version is refused.
  const pin = over.template;
  if (pin !== undefined) {
    if (!isObj(pin)) throw new ConfigurationError('"template" must be {name, version}', { file: i.names.overrides, path: '$.template' });
    for (const k of ['name', 'version'] as const) {
      if (pin[k] !== undefined && String(pin[k]) !== info[k]) {
        throw new ConfigurationError(`the overrides were written for template ${k} "${String(pin[k])}", but ${i.names.template} is ${info.name}@${info.version}`, { file: i.names.overrides, path: `$.template.${k}`, hint: 'use the template version the overrides name, or update the overrides for the new template' });
      }
    }
  }
  const { template: _t, ...base } = tpl;
  const { template: _p, ...changes } = over;
  const outcome = deepMerge(base, changes, i.names.overrides);
  const sugg = suggestions(base, outcome.added);
  if (i.strict && outcome.added.length) {
    const first = outcome.added[0]!;
    throw new ConfigurationError(`"${first}" is not in template ${info.name}@${info.version}`, { file: i.names.overrides, path: jsonPath(first.split('.')), hint: sugg[first] ? `did you mean "${sugg[first]}"?` : 'only keys of the template may be overridden with --strict' });
  }
  const provenance: Provenance = {
    schema: 'mlloop/config-provenance@1',
    job_id: i.jobId,
    template_used: `${path.basename(i.names.template)}@${info.version}`,
    template: { name: info.name, version: info.version, file: i.names.template },
    overrides_file: i.names.overrides,
    merged_config_path: i.names.out,
    commit_sha: i.commitSha ?? null,
    triggered_by: i.triggeredBy ?? null,
    submit_time: i.submitTime.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    overridden_keys: outcome.overridden,
    added_keys: outcome.added,
    deleted_keys: outcome.deleted,
  };
  const yamlText = mergedYaml(outcome, info, i.jobId);
  await writeFilesAtomic([
    { path: i.out, data: yamlText },
    { path: i.provenance, data: `${JSON.stringify(provenance, null, 2)}\n` },
  ]);
  return { provenance, outcome, suggestions: sugg };
}

/** The merged config as YAML, with a header naming job and template and a comment on every key the user set. */
function mergedYaml(o: MergeOutcome, info: TemplateInfo, jobId: string): string {
  const doc = new Document(o.merged);
  doc.commentBefore = ` auto-generated by mlloop config merge for job ${jobId}\n template: ${info.name}@${info.version}`;
  for (const [keys, note] of [[o.overridden, 'overridden by user'], [o.added, 'added by user']] as const) {
    for (const k of keys) {
      const node = doc.getIn(k.split('.'), true) as { comment?: string } | undefined;
      if (node && typeof node === 'object') node.comment = ` ${note}`;
    }
  }
  return doc.toString({ lineWidth: 0 });
}
