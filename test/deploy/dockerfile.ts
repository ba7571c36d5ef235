import { execFileSync } from 'node:child_process';
import { Hash, createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, posix } from 'node:path';

/**
 * Reads the Dockerfile and replays its stages on this machine, without a Docker engine: WORKDIR,
 * COPY (from the build context or from another stage), RUN (with BuildKit --mount flags
 * dropped, since they only add a cache), ENV, USER, CMD and HEALTHCHECK. The result is a
 * directory laid out as the image's root would be, so the tests boot exactly what the image
 * would hold. Stages listed in `substitute` are not run; their paths come from the checkout
 * instead (the build stage's dist/ is the `nest build` output that the test command makes).
 */

export interface Instruction {
  cmd: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

export interface ParsedDockerfile {
  args: Record<string, string>;
  stages: Stage[];
}

export function parseDockerfile(text: string): ParsedDockerfile {
  const instructions: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    const trimmed = line.trim();
    if (!buf && (trimmed === '' || trimmed.startsWith('#'))) return;
    if (buf && trimmed.startsWith('#')) return; // comment inside a continuation
    if (!buf) start = i + 1;
    if (line.endsWith('\\')) {
      buf += line.slice(0, -1) + ' ';
      return;
    }
    buf += line;
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(buf);
    if (m) instructions.push({ cmd: m[1].toUpperCase(), args: m[2].trim(), line: start });
    buf = '';
  });

  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.cmd === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile:${ins.line}: cannot read FROM ${ins.args}`);
      const from = m[1].replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args[a ?? b] ?? '');
      stages.push({ name: m[2] ?? String(stages.length), from, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.cmd === 'ARG') {
        const [k, v = ''] = ins.args.split('=');
        args[k.trim()] = v.trim();
      }
    } else {
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  return { args, stages };
}

/** Splits `--flag=value ... rest` into flags and the rest. */
function takeFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([\w-]+)(?:=(\S+))?\s+/.exec(rest);
    if (!m) break;
    flags[m[1]] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

/** ENV k=v k2="v 2" (or the legacy `ENV k v`). */
function parseEnv(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!args.includes('=')) {
    const [k, ...v] = args.split(/\s+/);
    out[k] = v.join(' ');
    return out;
  }
  const re = /(\w+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S+)/g;
  for (const m of args.matchAll(re)) {
    const v = m[2];
    out[m[1]] = v.startsWith('"') || v.startsWith("'") ? v.slice(1, -1) : v;
  }
  return out;
}

function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) {
    throw new Error(`expected the JSON (exec) form, got ${args}`);
  }
  return parsed as string[];
}

export interface ReplayedImage {
  /** The directory standing in for the image's `/`. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  user?: { uid: number; gid: number };
  cmd: string[];
  healthcheck?: string[];
  exposed: number[];
  /** Per stage, the shell commands that RUN executed (or skipped as cached). */
  ran: Record<string, string[]>;
}

export interface ReplayOptions {
  context: string;
  dockerfile: string;
  /** Stage name → (path inside that stage → path on this machine). */
  substitute: Record<string, Record<string, string>>;
  /** Where stage roots are cached between runs (keyed by their inputs). */
  cacheDir: string;
  /** Fresh directory for the final stage. */
  outDir: string;
  /** Extra environment for RUN (e.g. npm_config_prefer_offline). */
  runEnv?: Record<string, string>;
}

function hashPath(hash: Hash, path: string): void {
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path).sort()) {
      hash.update(entry);
      hashPath(hash, join(path, entry));
    }
  } else {
    hash.update(readFileSync(path));
  }
}

/** Replays the last stage (and the stages it copies from) into options.outDir. */
export function replayImage(options: ReplayOptions): ReplayedImage {
  const parsed = parseDockerfile(readFileSync(options.dockerfile, 'utf8'));
  const byName = new Map(parsed.stages.map((s) => [s.name, s]));
  const stageRoots = new Map<string, string>();
  const ran: Record<string, string[]> = {};

  const inside = (root: string, workdir: string, p: string) =>
    join(root, posix.isAbsolute(p) ? p : posix.join(workdir, p));

  function copyInto(srcs: string[], destIn: string, root: string, workdir: string) {
    const dest = inside(root, workdir, destIn);
    const intoDir = destIn.endsWith('/') || srcs.length > 1;
    for (const src of srcs) {
      const target = intoDir ? join(dest, posix.basename(src.replace(/\/$/, ''))) : dest;
      mkdirSync(dirname(target), { recursive: true });
      rmSync(target, { recursive: true, force: true });
      try {
        // Hard links: instant, and the files stay read-only for the app user.
        execFileSync('cp', ['-al', src, target], { stdio: 'pipe' });
      } catch {
        cpSync(src, target, { recursive: true });
      }
    }
  }

  function run(stage: Stage, root: string): ReplayedImage {
    let workdir = '/';
    const env: Record<string, string> = {};
    let user: ReplayedImage['user'];
    let cmd: string[] = [];
    let healthcheck: string[] | undefined;
    const exposed: number[] = [];
    ran[stage.name] = [];
    for (const ins of stage.instructions) {
      switch (ins.cmd) {
        case 'WORKDIR':
          workdir = posix.resolve(workdir, ins.args);
          mkdirSync(join(root, workdir), { recursive: true });
          break;
        case 'ENV':
          Object.assign(env, parseEnv(ins.args));
          break;
        case 'COPY': {
          const { flags, rest } = takeFlags(ins.args);
          const parts = rest.startsWith('[') ? execForm(rest) : rest.split(/\s+/);
          const dest = parts.pop()!;
          let srcs: string[];
          if (flags.from) {
            const sub = options.substitute[flags.from];
            srcs = parts.map((p) => {
              if (sub) {
                if (!sub[p]) throw new Error(`Dockerfile:${ins.line}: no substitute for ${p}`);
                return sub[p];
              }
              return inside(stageRoot(flags.from), '/', p);
            });
          } else {
            srcs = parts.map((p) => join(options.context, p));
          }
          for (const s of srcs) {
            if (!existsSync(s)) throw new Error(`Dockerfile:${ins.line}: ${s} does not exist`);
          }
          copyInto(srcs, dest, root, workdir);
          break;
        }
        case 'RUN': {
          const { rest } = takeFlags(ins.args);
          ran[stage.name].push(rest);
          execFileSync('sh', ['-c', rest], {
            cwd: join(root, workdir),
            env: { ...process.env, ...env, ...options.runEnv },
            stdio: 'pipe',
            timeout: 300_000,
          });
          break;
        }
        case 'USER': {
          const [u, g] = ins.args.split(':');
          if (!/^\d+$/.test(u)) throw new Error(`Dockerfile:${ins.line}: USER must be numeric`);
          user = { uid: Number(u), gid: Number(g ?? u) };
          break;
        }
        case 'CMD':
          cmd = execForm(ins.args);
          break;
        case 'HEALTHCHECK': {
          const { rest } = takeFlags(ins.args);
          healthcheck = rest.startsWith('CMD ') ? execForm(rest.slice(4).trim()) : undefined;
          break;
        }
        case 'EXPOSE':
          exposed.push(...ins.args.split(/\s+/).map((p) => Number(p.split('/')[0])));
          break;
        default:
          // LABEL, ARG, SHELL... do not change what the process sees.
          break;
      }
    }
    return { root, workdir, env, user, cmd, healthcheck, exposed, ran };
  }

  /** A copied-from stage, replayed once per distinct input and cached. */
  function stageRoot(name: string): string {
    const cached = stageRoots.get(name);
    if (cached) return cached;
    const stage = byName.get(name);
    if (!stage) throw new Error(`Dockerfile: no stage named ${name}`);
    const hash = createHash('sha256').update(
      JSON.stringify([stage.from, stage.instructions.map((i) => [i.cmd, i.args])]),
    );
    for (const ins of stage.instructions) {
      if (ins.cmd !== 'COPY' || ins.args.includes('--from=')) continue;
      const parts = ins.args.split(/\s+/).slice(0, -1);
      for (const p of parts) hashPath(hash, join(options.context, p));
    }
    const key = `${name}-${hash.digest('hex').slice(0, 16)}`;
    const root = join(options.cacheDir, key);
    if (existsSync(join(root, '.replayed'))) {
      ran[name] = ['(cached)'];
    } else {
      // Older inputs of this stage are of no further use.
      if (existsSync(options.cacheDir)) {
        for (const old of readdirSync(options.cacheDir)) {
          if (old.startsWith(`${name}-`))
            rmSync(join(options.cacheDir, old), { recursive: true, force: true });
        }
      }
      mkdirSync(root, { recursive: true });
      run(stage, root);
      writeFileSync(join(root, '.replayed'), new Date().toISOString());
    }
    stageRoots.set(name, root);
    return root;
  }

  const last = parsed.stages[parsed.stages.length - 1];
  rmSync(options.outDir, { recursive: true, force: true });
  mkdirSync(options.outDir, { recursive: true });
  const image = run(last, options.outDir);
  return { ...image, ran };
}
