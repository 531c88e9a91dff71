import type { TableClient } from '@azure/data-tables';
import { tableCreatedOnce } from './storage-clients';

/** A store over one table: the table (created on first use) and the clock its rows' times are read with. */
export abstract class TableStore {
  protected readonly table: TableClient;
  protected readonly now: () => number;
  /** Creates the table once per process (again only after a failed creation). */
  protected readonly ensure: () => Promise<void>;

  constructor(table: TableClient, now: () => number = Date.now) {
    this.table = table;
    this.now = now;
    this.ensure = tableCreatedOnce(table);
  }
}
