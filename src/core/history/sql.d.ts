// SQL files imported with `?raw` are their text (vite in tests; scripts/build.mjs's sql plugin in the bundle).
declare module '*.sql?raw' {
  const text: string;
  export default text;
}
