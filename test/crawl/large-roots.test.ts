import { largeRootSuite } from './large-root-suite';

describe('drive roots of any size', () => {
  largeRootSuite(
    [
      [999, { longNameShare: 1 }],
      [1_000, { longNameShare: 0.5, packageShare: 0.1 }],
      [1_001, { longNameShare: 0.5, childrenPageCap: 200, repeatAtPageBoundary: true }],
      [5_000, { longNameShare: 0.3, childrenPageCap: 999, repeatAtPageBoundary: true }],
    ],
    { timeoutMs: 300_000 },
  );
});
