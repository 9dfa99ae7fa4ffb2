import { SetupError } from "@tsmicro/runtime/errors";

/**
 * Refuses an output path that could land outside the output directory:
 * absolute, with `..` or empty segments, backslashes or control characters.
 * Crafted file or package names in a request end here.
 */
export function checkOutputPath(path: string, source: string): string {
  const segments = path.split("/");
  const unsafe =
    path === "" ||
    path.startsWith("/") ||
    /^[a-zA-Z]:/.test(path) ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this check rejects.
    /[\\\0-\x1f]/.test(path) ||
    segments.some((s) => s === "" || s === "." || s === "..");
  if (unsafe) throw new SetupError("TSM_ERR_OUTPUT_PATH", JSON.stringify(path), source);
  return path;
}
