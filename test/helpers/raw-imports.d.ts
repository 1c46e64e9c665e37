/** Vite's `?raw` imports: a file's exact text (the connector fixtures are signed byte for byte). */
declare module "*?raw" {
  const text: string;
  export default text;
}
