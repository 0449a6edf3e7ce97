import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository this bench was compiled from (dist/bench/lib → the root). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A past commit of the product, compiled on its own, or why it could not be. */
export type OldBuild = { main: string } | { skipped: string };

/**
 * Builds commit `commit` of this repository into `dir`: its tree from git (`git archive`),
 * this checkout's node_modules linked in (the dependencies did not change since), and its
 * own tsconfig.json narrowed to src/ and workers/ (the server; its tests and bench are not
 * needed). Returns the compiled entry point, or `skipped` with the reason when there is no
 * git history holding the commit (a tarball, a shallow clone) or it does not compile.
 */
export function buildCommit(commit: string, dir: string): OldBuild {
  const run = (command: string, args: string[], cwd: string) => {
    const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 300_000 });
    if (r.error !== undefined) return r.error.message;
    if (r.status !== 0) {
      return `${command} ${args.join(' ')} exited with ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().slice(-600)}`;
    }
    return null;
  };
  const noCommit = run('git', ['cat-file', '-e', `${commit}^{commit}`], ROOT);
  if (noCommit !== null) {
    return { skipped: `commit ${commit} is not in this checkout's git history (${noCommit})` };
  }
  mkdirSync(dir, { recursive: true });
  const tar = join(dir, 'tree.tar');
  const archived =
    run('git', ['archive', '--format=tar', '-o', tar, commit], ROOT) ??
    run('tar', ['-xf', tar], dir);
  if (archived !== null) return { skipped: `could not extract commit ${commit}: ${archived}` };
  const modules = join(ROOT, 'node_modules');
  if (!existsSync(modules)) return { skipped: `no node_modules at ${modules} to build with` };
  symlinkSync(modules, join(dir, 'node_modules'), 'dir');
  writeFileSync(
    join(dir, 'tsconfig.bench.json'),
    `${JSON.stringify({ extends: './tsconfig.json', include: ['src', 'workers'] })}\n`,
  );
  const tsc = join(modules, 'typescript', 'bin', 'tsc');
  const built = run(process.execPath, [tsc, '-p', 'tsconfig.bench.json'], dir);
  if (built !== null) return { skipped: `commit ${commit} did not compile: ${built}` };
  const main = join(dir, 'dist', 'src', 'main.js');
  if (!existsSync(main)) return { skipped: `commit ${commit} compiled, but has no ${main}` };
  return { main };
}
