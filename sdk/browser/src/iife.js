// The IIFE entry (/sdk/countersign.iife.js): defines the global `Countersign` for a plain <script>
// tag, and runs the calls the snippet's stub queued before this file loaded, in order, settling
// the promises the stub returned for them.
import { Countersign } from "./index.js";

const stub = globalThis.Countersign;
globalThis.Countersign = Countersign;
for (const [method, args, resolve, reject] of stub?._q || []) {
  try {
    Promise.resolve(Countersign[method](...args)).then(resolve, reject);
  } catch (error) {
    reject(error);
  }
}
