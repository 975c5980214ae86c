// Injected by edge/web/build.ts: the worker's bundled source (the element starts it from a Blob,
// so it works from any origin), and the portable kernel as base64 (compiled from bytes in pages).
declare const __DEEPRNN_WORKER_SOURCE__: string;
declare const __DEEPRNN_KERNEL_BASE64__: string;
