import type { RunningAzurite } from '../../dev/azurite';
import type { SimulatedCloud } from '../../dev/sim/simulated-cloud';

declare global {
  var __driveCrawlerTestServices: { azurite: RunningAzurite; cloud: SimulatedCloud } | undefined;
}
