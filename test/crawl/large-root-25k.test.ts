import { startAzurite } from '../../dev/azurite';
import { largeRootSuite } from './large-root-suite';

/**
 * A 25,000-item root: past the 5,000 rows the crawl holds before it streams a user's pages, and past the ~13,900
 * IDs one index row holds (the index is written as `overflow`). On an Azurite of its own: Azurite finds an entity
 * by walking its partition, so each write costs in proportion to the partition's size (docs/table-limits.md; the
 * first crawl alone takes about 4 minutes here) and this test would slow every test file sharing the run's
 * Azurite. For the same reason there is no second crawl at this size (about 10 more minutes): the index's
 * overflow read-back is tested on the store directly (test/integration/drive-item-store.test.ts).
 */
describe('a drive root of 25,000 items', () => {
  largeRootSuite([[25_000, { longNameShare: 0.2, childrenPageCap: 999, repeatAtPageBoundary: true }]], {
    timeoutMs: 900_000,
    recrawl: false,
    storage: () => startAzurite(),
  });
});
