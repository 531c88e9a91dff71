import {
  BICEP_TIMEOUT_MS,
  diagnosticLines,
  findBicep,
  INSTALL_HINT,
  MAIN_BICEP,
  runBicep,
} from './bicep-cli';

const bicep = findBicep();
const cliRequired = process.env.CI === 'true';

if (!bicep && !cliRequired) {
  // Straight to stderr: jest shows no console output of a file whose tests are all skipped.
  process.stderr.write(`Bicep CLI not found: the infra tests are skipped. ${INSTALL_HINT}\n`);
}

(bicep || cliRequired ? test : test.skip)('finds the Bicep CLI', () => {
  if (!bicep) throw new Error(`The Bicep CLI is missing and CI requires the infra tests. ${INSTALL_HINT}`);
});

(bicep ? describe : describe.skip)('infra/main.bicep with the Bicep CLI', () => {
  test(
    'builds without a warning or an error',
    async () => {
      const run = await runBicep(bicep!, ['build', MAIN_BICEP, '--stdout']);

      expect(diagnosticLines(run.stderr)).toEqual([]);
      expect(run.exitCode).toBe(0);
      expect(() => JSON.parse(run.stdout) as unknown).not.toThrow();
    },
    BICEP_TIMEOUT_MS,
  );

  test(
    'lints without a warning or an error, modules included',
    async () => {
      const run = await runBicep(bicep!, ['lint', MAIN_BICEP]);

      expect(diagnosticLines(`${run.stdout}\n${run.stderr}`)).toEqual([]);
      expect(run.exitCode).toBe(0);
    },
    BICEP_TIMEOUT_MS,
  );
});
