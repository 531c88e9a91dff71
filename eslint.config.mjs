// Type-aware lint: the rules CONVENTIONS.md asks for, on top of typescript-eslint's recommended set.
import tseslint from 'typescript-eslint';

/**
 * The rooms of src/, lowest first (docs/architecture.md): a folder imports only from rooms below it and from the
 * root files every room may use (config.ts, errors.ts, version.ts, guid.ts); only the hosts (functions, cli) import the
 * composition root, app-context.ts. Rooms of one layer do not import each other.
 */
const LAYERS = [
  ['logging', 'telemetry'],
  ['storage', 'secrets'],
  ['identity'],
  ['graph'],
  ['tenants'],
  ['crawl'],
  ['consent'],
  ['status'],
  ['functions', 'cli'],
];
const layering = LAYERS.flatMap((layer, index) =>
  layer.map((folder) => {
    const hosts = index === LAYERS.length - 1;
    const banned = [...LAYERS.slice(index + 1).flat(), ...layer.filter((other) => other !== folder)];
    if (!hosts) banned.push('app-context');
    return {
      files: [`src/${folder}/**/*.ts`],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              {
                regex: `^(\\.\\./)+(${banned.join('|')})(/|$)`,
                message: `src/${folder} may not import ${banned.join(', ')}: rooms import only rooms below them (docs/architecture.md).`,
              },
            ],
          },
        ],
      },
    };
  }),
);

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'coverage/**',
      'node_modules/**',
      '.sim/**',
      '.tools/**',
      'eslint.config.mjs',
      'jest.config.js',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      eqeqeq: ['error', 'always'],
      'no-throw-literal': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...layering,
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
