// Lint: typescript-eslint's type-aware recommended rules for TypeScript,
// ESLint's recommended rules for the .mjs scripts, and nothing that
// prettier already decides (formatting is prettier's alone).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.d.mts'] },
  js.configs.recommended,
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ['**/*.ts'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { project: './tsconfig.lint.json', tsconfigRootDir: import.meta.dirname } },
    // `const { wire: _wire, ...rest } = x` drops a field on purpose.
    rules: { '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, varsIgnorePattern: '^_', argsIgnorePattern: '^_' }] },
  },
  {
    // Tests compare, save and restore methods by identity (the hook patches prototypes).
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/unbound-method': 'off' },
  },
  {
    // The browser module: DOM types, no Node ones.
    files: ['src/browser/**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.browser.json', tsconfigRootDir: import.meta.dirname } },
  },
  {
    // Runnable examples for Bun and Deno use those runtimes' globals.
    files: ['examples/bun.mjs'],
    languageOptions: { globals: { Bun: 'readonly' } },
  },
  {
    files: ['examples/deno.mjs'],
    languageOptions: { globals: { Deno: 'readonly' } },
  },
  {
    // The live page's browser script: checked against the DOM, not Node.
    files: ['src/live/page/**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.page.json', tsconfigRootDir: import.meta.dirname } },
  },
  prettier,
);
