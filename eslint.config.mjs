// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/**
 * Module boundaries (docs/architecture.md → Modules): a feature module imports another only
 * through that module's index.ts (its public surface), never its other files; core imports no
 * feature module. src/app, the composition root, and the tests may import anything.
 */
const MODULES = ['auth', 'users', 'waste', 'recycling', 'locations', 'maintenance'];
const boundaries = MODULES.map((own) => {
  const others = MODULES.filter((m) => m !== own).join('|');
  return {
    files: [`src/modules/${own}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // `../auth/x` from a module's root, or `../../../modules/auth/x` from deeper folders.
              regex: `^(\\.\\./)+(modules/)?(${others})/`,
              message: `import another module through its index ('../<module>'), not its internals`,
            },
          ],
        },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tmp/**', 'deploy/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: {
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': ['error', { allow: ['error', 'warn'] }],
    },
  },
  ...boundaries,
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^(\\.\\./)+modules/', message: 'core must not depend on a feature module' },
          ],
        },
      ],
    },
  },
  {
    files: ['bench/**', 'scripts/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // Plain CommonJS scripts (fixtures run with node against dist/, config files).
    files: ['**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
