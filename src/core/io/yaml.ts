import { parseDocument, type Document } from 'yaml';
import { ConfigurationError } from '../errors.js';
import { readConfigText } from './read.js';

// YAML lives apart from the JSON readers so that commands reading only JSON never load the parser.

/** Parses YAML (a JSON document is YAML too) with an error that names the file, line and column. */
export function parseYaml(text: string, file: string): unknown {
  const doc = parseYamlDocument(text, file);
  return doc.toJS({ maxAliasCount: 100 });
}

export function parseYamlDocument(text: string, file: string): Document {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    const where = pos ? ` (line ${pos.line}, column ${pos.col})` : '';
    throw new ConfigurationError(`not valid YAML${where}: ${err.message.split('\n')[0]}`, { file, line: pos?.line, column: pos?.col });
  }
  return doc;
}

export async function readYaml(file: string, what?: string): Promise<unknown> {
  return parseYaml(await readConfigText(file, what), file);
}

