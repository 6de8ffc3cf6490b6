// The package's entry: everything the SDK exports (the default export is the page's instance).
export * from "./countersign.js";
export { default } from "./countersign.js";
