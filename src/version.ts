// Replaced at build time from package.json (see scripts/build.mjs); the fallback serves tests run from source.
declare const __MLLOOP_VERSION__: string | undefined;
export const VERSION: string = typeof __MLLOOP_VERSION__ === 'string' ? __MLLOOP_VERSION__ : '0.0.0-dev';
