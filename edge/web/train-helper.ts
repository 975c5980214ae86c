/**
 * A helper thread of in-page training (cross-origin isolated pages): a Web Worker that runs the
 * native engine's helper loop (trainer/engines/helper.ts) on the training worker's shared memory.
 */
import { runHelper } from '../../trainer/engines/helper.ts';
import type { ThreadJob } from '../../trainer/engines/native.ts';

const scope = self as unknown as { postMessage(m: 'ready'): void; onmessage: ((e: MessageEvent<ThreadJob>) => void) | null };
scope.onmessage = (e) => {
  scope.onmessage = null;
  runHelper(e.data, () => scope.postMessage('ready'));
};
