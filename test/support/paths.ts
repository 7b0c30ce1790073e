import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import { existsSync } from 'node:fs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST = join(ROOT, 'dist');
export const EXAMPLE = join(ROOT, 'examples', 'ocr-fields');
/** Real public data (Kubernetes GPU nodes and pods), read-only; where each file came from: its SOURCES.md. */
export const K8S_FIXTURES = join(ROOT, 'test', 'fixtures', 'k8s');

/** The project's virtualenv Python with the reference tools (sacrebleu, pycocotools, scikit-learn, scipy). */
export const PYTHON = process.env.MLLOOP_TEST_PYTHON ?? (existsSync(join(ROOT, '.venv/bin/python')) ? join(ROOT, '.venv/bin/python') : 'python3');
