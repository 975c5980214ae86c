// Modules that wrangler bundles (wrangler.toml [[rules]]): weights as bytes, the kernel compiled.
declare module '*.bin' {
  const bytes: ArrayBuffer;
  export default bytes;
}
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
declare module '*.svg' {
  const text: string;
  export default text;
}
