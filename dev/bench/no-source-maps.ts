/**
 * Preloaded into every benchmark child after tsx (`children.ts`): turns off Node's source-map support, which tsx
 * turns on for the whole process. With it on, Node parses and keeps the source map of every module it loads, the
 * Azure SDKs' shipped `.js.map` files included: in the realistic crawl that was some 14 MiB of strings, a third of
 * the crawler's live heap. The deployment runs tsc's JavaScript on a host that never enables source maps
 * (docs/benchmark.md, "What the children run"), so the benchmark's memory and CPU figures are taken without them.
 */
process.setSourceMapsEnabled(false);
