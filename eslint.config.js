import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules', 'data', 'coverage', '.tmp'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['bin/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The pure stages: no I/O libraries (STYLE.md, habit 1).
    files: ['src/analyze/**/*.ts', 'src/plan/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ['bullmq', 'ioredis', 'fastify', 'pg', 'better-sqlite3', 'kysely', 'prometheus-query', 'node:http', 'node:fs'],
      }],
    },
  },
);
