// The package's ES module entry (also served at /sdk/countersign.js): the page's instance and the API.
import { createCountersign } from "./countersign.js";

export { createCountersign, VERSION, EARLY_CALLS } from "./countersign.js";
export { LIMITS } from "./events.js";
export { MAX_DELAY_MS, CLOCK_TOLERANCE_MS } from "./transport.js";
export { MemoryStorage } from "./queue.js";

/** The page's SDK: `Countersign.initialize({apiUrl, appId})`, then track/page/record. */
export const Countersign = createCountersign();
export default Countersign;
