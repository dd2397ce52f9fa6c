// Lint: ESLint's and typescript-eslint's recommended rules (syntax only, no type information, so it
// stays fast) plus a few that catch real mistakes here; tsc --noEmit (strict) does the type checking.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'out/', '.cache/', 'test-results/', 'node_modules/', 'models/', 'tools/', '.e2e/', '.gl/', '.whl/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-var': 'error',
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      'no-throw-literal': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
    },
  },
  // Plain JavaScript (build and harness scripts) runs in Node.
  { files: ['**/*.mjs', '**/*.js'], languageOptions: { globals: globals.node } },
  // Tests take hostile JSON apart and mutate it on purpose.
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
);
