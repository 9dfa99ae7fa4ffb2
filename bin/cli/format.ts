import * as prettier from "prettier";
import type { GeneratedFile } from "../../generator/generate.js";

const prettierOptions: prettier.Options = { parser: "typescript", printWidth: 120 };

/** Formats generated TypeScript with prettier; other files pass through. */
export async function formatFiles(files: readonly GeneratedFile[]): Promise<GeneratedFile[]> {
  return Promise.all(
    files.map(async (file) =>
      file.name.endsWith(".ts") ? { name: file.name, content: await prettier.format(file.content, prettierOptions) } : file,
    ),
  );
}
