import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'dist-check/', 'dist-bench/', 'coverage/', 'node_modules/', 'data/', 'bench-results/', 'test-results/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-extraneous-class': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  // The dashboard's browser scripts: ES modules served as they are (no build), type-checked by tsconfig.dashboard.json.
  {
    files: ['src/dashboard/assets/**/*.js'],
    languageOptions: { sourceType: 'module', globals: browserGlobals() },
  },
  // Layer rules (docs/architecture.md, where each part lives). Each folder may import only what its rule allows.
  ...layerRules([
    {
      folder: 'src/reconciler',
      why: 'the reconciler is pure: it imports nothing but the domain (src/domain.ts)',
      patterns: [{ regex: '^(?!\\.\\./domain\\.js$)' }],
    },
    {
      folder: 'src/store',
      why: 'the store knows nothing of HTTP (no fastify, node:http, api, dashboard, ingest or listener code)',
      patterns: [{ regex: '^(fastify|@fastify/.*|node:https?|https?)$' }, { regex: '^\\.\\./(api|dashboard|ingest|http)/' }],
    },
    {
      folder: 'src/simulator',
      why: 'the simulator stands alone: of this project it imports only src/openim/ and src/errors.ts',
      patterns: [{ regex: '^\\.\\./(?!openim/|errors\\.js$)' }],
    },
    {
      folder: 'src/client',
      why: 'the subscriber client (exports ./client) stands alone: it imports only src/util/ and types from src/domain.ts',
      patterns: [{ regex: '^\\.\\./(?!util/|domain\\.js$)' }, { regex: '^\\.\\./domain\\.js$', allowTypeImports: true }],
    },
    {
      folder: 'src/util',
      why: 'src/util holds small pure helpers any part (the standalone client too) may use: they import nothing of this project',
      patterns: [{ regex: '^\\.\\./' }],
    },
    {
      folder: 'src/dashboard',
      why: 'the API mounts the dashboard: the dashboard must not import the API back (no folder cycle)',
      patterns: [{ regex: '^\\.\\./api/' }],
    },
  ]),
);

/** The browser globals the dashboard's scripts use (read-only). */
function browserGlobals() {
  const names = ['window', 'document', 'location', 'sessionStorage', 'console', 'fetch', 'Headers', 'URLSearchParams', 'AbortController', 'EventSource', 'ResizeObserver', 'CSS', 'Node', 'setTimeout', 'clearTimeout', 'setInterval'];
  return Object.fromEntries(names.map((name) => [name, 'readonly']));
}

/**
 * One `@typescript-eslint/no-restricted-imports` block per folder: an import whose specifier matches one of the
 * folder's patterns is an error that says the folder's rule.
 */
function layerRules(layers) {
  return layers.map(({ folder, why, patterns }) => ({
    files: [`${folder}/**/*.ts`],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: patterns.map((p) => ({ ...p, message: `${folder}: ${why}.` })) }],
    },
  }));
}
