// Injected by edge/web/build.ts: the worker's bundled source (the element starts it from a Blob,
// so it works from any origin), and the portable kernel as base64 (compiled from bytes in pages).
declare const __DEEPRNN_WORKER_SOURCE__: string;
declare const __DEEPRNN_KERNEL_BASE64__: string;
declare const __DEEPRNN_KERNEL_DOT_BASE64__: string;
declare const __DEEPRNN_KERNEL_DOTADD_BASE64__: string;
// The training worker's source, and the relaxed-SIMD kernel it trains with where the browser has
// relaxed SIMD (the arithmetic `deeprnn train` uses in Node: the same weights for the same run).
declare const __DEEPRNN_TRAIN_WORKER_SOURCE__: string;
declare const __DEEPRNN_TRAIN_KERNEL_BASE64__: string;
// Cross-origin isolated pages: the shared-memory relaxed build, and the helper threads' source.
declare const __DEEPRNN_TRAIN_SHARED_KERNEL_BASE64__: string;
declare const __DEEPRNN_TRAIN_HELPER_SOURCE__: string;
