// Modules that wrangler bundles (wrangler.toml [[rules]]): the kernel, compiled.
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
