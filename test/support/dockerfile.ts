import { createRequire } from "node:module";
import { execFile } from "node:child_process";
import { cp, mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

/** One instruction of a Dockerfile: its keyword and the rest of the line (continuations joined). */
export interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** A build stage: `FROM image [AS name]` and its instructions. */
export interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Parses a Dockerfile into stages; comments and blank lines dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.replace(/\\\n\s*/g, " ").split("\n");
  for (const line of lines.map((l) => l.trim())) {
    if (line === "" || line.startsWith("#")) continue;
    const [keyword = "", ...rest] = line.split(/\s+/);
    const args = rest.join(" ");
    if (keyword.toUpperCase() === "FROM") {
      const [image = "", as, name] = args.split(/\s+/);
      stages.push({ image, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`Dockerfile: ${keyword} before FROM`);
      stage.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

/** What the last stage of a replayed build leaves: its folder (the image's WORKDIR), environment, command and health check. */
export interface ReplayedImage {
  readonly dir: string;
  readonly env: Record<string, string>;
  readonly cmd: string[];
  readonly healthcheck: string[] | undefined;
  readonly exposed: number[];
  readonly user: string | undefined;
}

/**
 * Replays a Dockerfile without a Docker engine: each stage is a folder
 * standing for its WORKDIR; COPY copies from the build context (minus
 * `.dockerignore`) or from an earlier stage, RUN runs the command there
 * with the stage's ENV, and the last stage's CMD, HEALTHCHECK, EXPOSE and
 * USER are returned for the caller to run. `chown` needs users this
 * machine may not have, so RUN lines skip it (USER is reported, not
 * switched to).
 */
export async function replayDockerfile(context: string, workRoot: string): Promise<ReplayedImage> {
  const stages = parseDockerfile(await readFile(join(context, "Dockerfile"), "utf8"));
  const ignored = await dockerignore(context);
  const dirs = new Map<string, string>();
  let image: ReplayedImage | undefined;
  for (const [index, stage] of stages.entries()) {
    const dir = join(workRoot, `stage-${index}`);
    await mkdir(dir, { recursive: true });
    if (stage.name) dirs.set(stage.name, dir);
    const env: Record<string, string> = {};
    let cmd: string[] = [];
    let healthcheck: string[] | undefined;
    const exposed: number[] = [];
    let user: string | undefined;
    for (const { keyword, args } of stage.instructions) {
      switch (keyword) {
        case "WORKDIR":
          if (args !== "/app") throw new Error(`replay supports WORKDIR /app only, not ${args}`);
          break;
        case "ENV":
          for (const [, key, value] of args.matchAll(/(\w+)=(\S+)/g)) env[key!] = value!;
          break;
        case "COPY": {
          const parts = args.split(/\s+/);
          const from = parts[0]?.startsWith("--from=") ? dirs.get(parts.shift()!.slice("--from=".length)) : context;
          if (!from) throw new Error(`COPY ${args}: no such stage`);
          const target = join(dir, parts.pop()!);
          for (const source of parts) {
            // An earlier stage's paths are absolute in the image (/app/dist); its folder stands for /app.
            const path = join(from, from === context ? source : source.replace(/^\/app\//, ""));
            const isDir = (await stat(path)).isDirectory();
            await cp(
              path,
              isDir ? target : join(target.endsWith("/") ? target : `${target}/`, source.split("/").pop()!),
              {
                recursive: true,
                filter: (p) => from !== context || !ignored(p.slice(context.length + 1)),
              },
            );
          }
          break;
        }
        case "RUN":
          // No chown (no other user here), and no `npm cache clean`: in an image it trims a cache of its
          // own, here it would empty this machine's npm cache under the installs other tests run at once.
          await sh(args.replace(/&&\s*chown\s+\S+\s+\S+/g, "").replace(/&&\s*npm cache clean --force/g, ""), dir, env);
          break;
        case "CMD":
          cmd = JSON.parse(args) as string[];
          break;
        case "HEALTHCHECK":
          healthcheck = JSON.parse(args.slice(args.indexOf("CMD") + 3).trim()) as string[];
          break;
        case "EXPOSE":
          exposed.push(...args.split(/\s+/).map((p) => Number.parseInt(p, 10)));
          break;
        case "USER":
          user = args;
          break;
        default:
          throw new Error(`replay does not know ${keyword}`);
      }
    }
    image = { dir, env, cmd, healthcheck, exposed, user };
  }
  if (!image) throw new Error("Dockerfile has no stage");
  return image;
}

async function dockerignore(context: string): Promise<(path: string) => boolean> {
  return dockerIgnored(await readFile(join(context, ".dockerignore"), "utf8").catch(() => ""));
}

/** picomatch, vitest's glob matcher: `*` and `?` stay within one path segment and `**` spans any number, as in Docker. */
const picomatch = createRequire(import.meta.url)("picomatch") as (
  glob: string,
  options: { dot: boolean },
) => (path: string) => boolean;

/**
 * Whether a `.dockerignore` (its text) leaves a path of the build context (`services/a/data/x`,
 * `/`-separated, from the context root) out, as Docker reads it: a pattern is Go's filepath.Match
 * from the context root, with `**` for any number of folders, and leaves a folder out with
 * everything in it; a later `!pattern` takes a path back in. Comments (`#`) and blank lines are skipped.
 */
export function dockerIgnored(text: string): (path: string) => boolean {
  const patterns = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const exception = line.startsWith("!");
      const glob = (exception ? line.slice(1) : line).replace(/^\/+/, "");
      return { exception, matches: picomatch(glob, { dot: true }) };
    });
  return (path) => {
    // The path itself and each folder above it, as Docker's MatchesOrParentMatches.
    const parts = path.split("/");
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let ignored = false;
    for (const { exception, matches } of patterns)
      if (candidates.some((candidate) => matches(candidate))) ignored = !exception;
    return ignored;
  };
}

function sh(command: string, cwd: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      "sh",
      ["-c", command],
      { cwd, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`RUN ${command} failed:\n${stdout}\n${stderr}`)) : resolve(),
    );
  });
}
