// Runs before every test file (vitest.config.ts setupFiles): the file's shared temp folders go when the file ends.
import { afterAll } from 'vitest';
import { removeFileTempDirs } from './tmp.js';

afterAll(removeFileTempDirs);
