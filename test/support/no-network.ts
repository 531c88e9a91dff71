import { installNetworkGuard, takeNetworkViolations } from './network-guard';

// Runs in every test file: nothing may leave loopback, and a test that tried fails even if it swallowed the error.
installNetworkGuard();

afterEach(() => {
  const attempts = takeNetworkViolations();
  if (attempts.length > 0) {
    throw new Error(
      `This test tried to reach beyond loopback: ${attempts.map((a) => `${a.host}:${String(a.port)}`).join(', ')}`,
    );
  }
});
