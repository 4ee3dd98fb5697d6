// Flat config: typescript-eslint's type-aware recommended rules over src/.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", "out/", "dist/", "*.vsix", "esbuild.mjs", "generate.mjs", "eslint.config.mjs"] },
    js.configs.recommended,
    ...tseslint.configs.recommendedTypeChecked,
    {
        languageOptions: {
            parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
        },
        rules: {
            "@typescript-eslint/no-floating-promises": "error",
            "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
            eqeqeq: "error",
            curly: "error",
        },
    },
    {
        // node:test's describe/it return promises that the runner itself awaits.
        files: ["src/test/**/*.ts"],
        rules: { "@typescript-eslint/no-floating-promises": "off" },
    },
);
