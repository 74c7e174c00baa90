/**
 * `npm run bench`: whole-process benchmarks of synth, written to bench/results.json and bench/results.md.
 *
 *   (a) the reference platform (stacks/main.ts) through tsx, precompiled and the `shipshape` CLI (with a
 *       warm and a cold compile cache), against the serialization floor (the same files written from a JSON dump);
 *   (b) generated stacks of 10, 100 and 1000 AntiAffinityDeployments x 3 environments,
 *       against the same objects written with plain cdk8s-plus-27;
 *   (c) `kubectl kustomize` rendering the same three environments from a base + overlays;
 *   (d) the Pulumi program under mocks, registering every resource of the reference platform.
 *
 * Options: --runs N (timed runs, default 5), --warmups N (default 1), --sizes 10,100,1000,
 * --only a,b,c,d, --kustomize-runs N (timed kustomize runs at 1000 services, default 1: one run takes minutes),
 * --kustomize-budget S (time limit of one such run, default 90 s; a run stopped there is reported as a lower bound),
 * --quick (2 runs, sizes 10,100, writes to bench/.work/ instead of bench/).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, Measurement, describeMachine, hasGnuTime, measure, measureInterleaved, readTree, treeDifferences, withoutImageTests } from './harness';
import { writeKustomizeLayout } from './generators/kustomize';
import { renderMarkdown } from './report';
import type { BenchResults } from './results';

const ROOT = path.resolve(__dirname, '..');
const BENCH = path.join(ROOT, 'bench');
const WORK = path.join(BENCH, '.work');
const JS = path.join(WORK, 'js');
const NODE = process.execPath;
const TSX = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface Options {
  runs: number;
  warmups: number;
  sizes: number[];
  only: Set<string>;
  quick: boolean;
  outDir: string;
  kustomizeRuns: number;
  kustomizeBudgetS: number;
}

function parseOptions(argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  const options: Options = {
    runs: Number(value('runs') ?? (quick ? 2 : 5)),
    warmups: Number(value('warmups') ?? 1),
    sizes: (value('sizes') ?? (quick ? '10,100' : '10,100,1000')).split(',').map(Number),
    only: new Set((value('only') ?? 'a,b,c,d').split(',')),
    quick,
    outDir: value('out') ?? (quick ? WORK : BENCH),
    kustomizeRuns: Number(value('kustomize-runs') ?? 1),
    kustomizeBudgetS: Number(value('kustomize-budget') ?? 90),
  };
  if (!Number.isInteger(options.runs) || options.runs < 1 || options.sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(`bad options: ${argv.join(' ')}`);
  }
  return options;
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

const TRASH = path.join(WORK, 'trash');
let trashed = 0;

/**
 * Clears a run's output directory before the run. The old tree is moved aside, not deleted: deleting
 * thousands of files right before a run makes the file system slow down the run's own writes.
 */
function fresh(dir: string): () => void {
  return () => {
    if (fs.existsSync(dir)) {
      fs.mkdirSync(TRASH, { recursive: true });
      fs.renameSync(dir, path.join(TRASH, String(trashed++)));
    }
    fs.mkdirSync(path.dirname(dir), { recursive: true });
  };
}

/** Deletes the moved-aside outputs; called between measurements (the next one starts with a warm-up). */
function emptyTrash(): void {
  fs.rmSync(TRASH, { recursive: true, force: true });
}

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a === undefined || b === undefined || b === 0 ? null : Math.round((a / b) * 100) / 100;
}

function main(): void {
  const started = Date.now();
  const options = parseOptions(process.argv.slice(2));
  fs.mkdirSync(WORK, { recursive: true });
  const gnuTime = hasGnuTime();
  const machine = describeMachine();
  const measurements: Record<string, Measurement> = {};
  const checks: BenchResults['checks'] = [];
  const errors: string[] = [];
  const base = { runs: options.runs, warmups: options.warmups, workDir: WORK, gnuTime, log };
  const run = (id: string, label: string, cmd: Command, before?: () => void, counts?: { runs: number; warmups: number }): Measurement | undefined => {
    try {
      measurements[id] = measure(cmd, { ...base, ...counts, id, label, before });
      return measurements[id];
    } catch (e) {
      errors.push(`${label}: ${(e as Error).message}`);
      log(`  ${label}: FAILED\n${(e as Error).message}`);
      return undefined;
    } finally {
      emptyTrash();
    }
  };
  const out = (name: string): string => path.join(WORK, 'out', name);
  /** Times commands compared with each other in rounds (see measureInterleaved); each starts from an empty output directory. */
  const runInterleaved = (entries: { id: string; label: string; cmd: Command; outdir?: string; before?: () => void }[]): void => {
    const contenders = entries.map(({ id, label, cmd, outdir, before }) => {
      const clear = fresh(outdir ?? out(id));
      return { cmd, options: { ...base, id, label, before: () => (before?.(), clear()) } };
    });
    const results = measureInterleaved(contenders, ({ options: { label } }, e) => {
      errors.push(`${label}: ${e.message}`);
      log(`  ${label}: FAILED\n${e.message}`);
    });
    for (const m of results) if (m !== undefined) measurements[m.id] = m;
    emptyTrash();
  };
  log(`shipshape bench: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGb} GB, Node ${machine.node}, load ${machine.loadAverage.start}`);
  log(`runs ${options.runs} after ${options.warmups} warm-up(s), compared commands in rounds; peak RSS from ${gnuTime ? 'GNU time' : 'process.resourceUsage() of each Node process'}`);

  // Precompiled path: the library, the reference platform and the bench programs, compiled once with tsc.
  log('compiling to bench/.work/js with tsc ...');
  fs.rmSync(JS, { recursive: true, force: true });
  const tscStart = Date.now();
  const tsc = spawnSync(NODE, [TSC, '-p', path.join(BENCH, 'tsconfig.compile.json')], { cwd: ROOT, encoding: 'utf8' });
  const build = { tscMs: Date.now() - tscStart, ok: tsc.status === 0, errors: tsc.status === 0 ? undefined : (tsc.stdout + tsc.stderr).slice(0, 4000) };
  // tsc still emits when other files have type errors; the JS path is usable as long as the entry points exist.
  if (!build.ok) log(`  tsc reported errors (output still emitted):\n${build.errors}`);
  const js = (rel: string): string => path.join(JS, rel);

  // (a) reference platform against the floor
  if (options.only.has('a')) {
    log('(a) reference platform: synth of every environment');
    const dumpFile = path.join(WORK, 'platform-dump.json');
    const dump = spawnSync(NODE, [js('bench/programs/dump.js'), 'platform', dumpFile], { cwd: ROOT, encoding: 'utf8' });
    if (dump.status !== 0) {
      errors.push(`reference platform does not synthesize, (a) skipped:\n${dump.stderr.slice(-3000)}`);
      log(`  reference platform does not synthesize; (a) skipped\n${dump.stderr.slice(-3000)}`);
    } else {
      // The CLI as users run it: the compiled bin, compiling stacks/main.ts into a compile cache of its own.
      const cliCache = path.join(WORK, 'cli-cache');
      const cli = (id: string, app = 'stacks/main.ts', cache = cliCache): Command => ({
        command: NODE,
        args: [js('lib/cli/bin.js'), 'synth', '--app', app, '--out', out(id)],
        cwd: ROOT,
        env: { SHIPSHAPE_CACHE_DIR: cache },
      });
      // The loop of someone working on the platform: a program file changed since the last run. The entry imports
      // the reference platform and is rewritten before each run, so the program's modules are bundled again while
      // the packages bundle and its compiled code stay (in a cache of its own, which the cold runs do not empty).
      const edited = path.join(WORK, 'edited', 'main.ts');
      fs.mkdirSync(path.dirname(edited), { recursive: true });
      let edits = 0;
      const edit = (): void => fs.writeFileSync(edited, `import '${path.relative(path.dirname(edited), path.join(ROOT, 'stacks', 'main'))}';\n// edit ${++edits}\n`);
      edit();
      // Compared with the floor, so timed in rounds with it.
      runInterleaved([
        { id: 'platform-tsx', label: 'synth via tsx (tsx stacks/main.ts)', cmd: { command: NODE, args: [TSX, 'stacks/main.ts'], cwd: ROOT, env: { CDK8S_OUTDIR: out('platform-tsx') } } },
        {
          id: 'platform-tsx-cjs',
          label: 'synth via tsx hook in one process (node --require tsx/cjs stacks/main.ts)',
          cmd: { command: NODE, args: ['--require', 'tsx/cjs', 'stacks/main.ts'], cwd: ROOT, env: { CDK8S_OUTDIR: out('platform-tsx-cjs') } },
        },
        { id: 'platform-npm', label: 'npm run synth (npm start-up + tsx)', cmd: { command: 'npm', args: ['run', '--silent', 'synth'], cwd: ROOT, env: { CDK8S_OUTDIR: out('platform-npm') } } },
        { id: 'platform-js', label: 'synth precompiled (node main.js)', cmd: { command: NODE, args: [js('stacks/main.js')], cwd: ROOT, env: { CDK8S_OUTDIR: out('platform-js') } } },
        { id: 'platform-cli', label: 'shipshape synth, warm compile cache (node bin.js synth --app stacks/main.ts)', cmd: cli('platform-cli') },
        // Leaves a fresh cache behind, so the warm run of the next round is warm again.
        {
          id: 'platform-cli-cold',
          label: 'shipshape synth, cold compile cache (esbuild run included)',
          cmd: cli('platform-cli-cold'),
          before: () => fs.rmSync(cliCache, { recursive: true, force: true }),
        },
        {
          id: 'platform-cli-edit',
          label: 'shipshape synth after an edit of the program (packages bundle kept)',
          cmd: cli('platform-cli-edit', path.relative(ROOT, edited), path.join(WORK, 'cli-cache-edited')),
          before: edit,
        },
        { id: 'platform-floor', label: 'floor: JSON dump → same files', cmd: { command: NODE, args: [path.join(BENCH, 'programs', 'floor.cjs'), dumpFile, out('platform-floor')], cwd: ROOT } },
      ]);
      for (const variant of ['platform-tsx', 'platform-js', 'platform-cli', 'platform-cli-cold', 'platform-cli-edit']) {
        if (!fs.existsSync(out(variant)) || !fs.existsSync(out('platform-floor'))) continue;
        const diffs = treeDifferences(readTree(out(variant)), readTree(out('platform-floor')));
        checks.push({
          name: `${variant} output = floor output`,
          ok: diffs.length === 0,
          detail: diffs.length === 0 ? `${readTree(out('platform-floor')).size} files, byte-identical` : diffs.slice(0, 10).join('; '),
        });
      }
    }
  }

  // (b) scaling against plain cdk8s-plus-27
  if (options.only.has('b') || options.only.has('c')) {
    log(`(b) generated stacks: ${options.sizes.join(', ')} AntiAffinityDeployments x 3 environments`);
    for (const n of options.sizes) {
      const entries = [
        {
          id: `scale-${n}-shipshape-js`,
          label: `shipshape, ${n} services, precompiled`,
          cmd: { command: NODE, args: [js('bench/programs/synth-scale.js'), String(n), out(`scale-${n}-shipshape`)], cwd: ROOT },
          outdir: out(`scale-${n}-shipshape`),
        },
      ];
      if (options.only.has('b')) {
        entries.push(
          {
            id: `scale-${n}-raw-js`,
            label: `plain cdk8s-plus-27, ${n} services, precompiled`,
            cmd: { command: NODE, args: [js('bench/programs/raw-scale.js'), String(n), out(`scale-${n}-raw`)], cwd: ROOT },
            outdir: out(`scale-${n}-raw`),
          },
          {
            id: `scale-${n}-shipshape-tsx`,
            label: `shipshape, ${n} services, tsx`,
            cmd: { command: NODE, args: [TSX, 'bench/programs/synth-scale.ts', String(n), out(`scale-${n}-shipshape-tsx`)], cwd: ROOT },
            outdir: out(`scale-${n}-shipshape-tsx`),
          },
        );
        const dumpFile = path.join(WORK, `scale-${n}-dump.json`);
        const dump = spawnSync(NODE, [js('bench/programs/dump.js'), String(n), dumpFile], { cwd: ROOT, encoding: 'utf8' });
        if (dump.status === 0) {
          entries.push({
            id: `scale-${n}-floor`,
            label: `floor, ${n} services`,
            cmd: { command: NODE, args: [path.join(BENCH, 'programs', 'floor.cjs'), dumpFile, out(`scale-${n}-floor`)], cwd: ROOT },
            outdir: out(`scale-${n}-floor`),
          });
        } else {
          errors.push(`dump of ${n} services failed: ${dump.stderr.slice(-2000)}`);
        }
      }
      runInterleaved(entries);
      if (fs.existsSync(out(`scale-${n}-shipshape`))) {
        const shipshape = readTree(out(`scale-${n}-shipshape`));
        for (const other of ['raw', 'floor']) {
          if (!fs.existsSync(out(`scale-${n}-${other}`))) continue;
          const compared = other === 'raw' ? withoutImageTests(shipshape) : shipshape;
          const diffs = treeDifferences(compared, readTree(out(`scale-${n}-${other}`)));
          checks.push({
            name: `${n} services: shipshape output = ${other} output`,
            ok: diffs.length === 0,
            detail: diffs.length === 0 ? `${compared.size} files, byte-identical` : diffs.slice(0, 10).join('; '),
          });
        }
      }
    }
  }

  // (c) kubectl kustomize on a generated base + overlays
  if (options.only.has('c')) {
    const sizes = options.sizes.filter((n) => n >= 100);
    log(`(c) kubectl kustomize, base + 3 overlays: ${sizes.join(', ')} services`);
    for (const n of sizes) {
      const layout = path.join(WORK, `kustomize-${n}`);
      writeKustomizeLayout(n, layout);
      const target = out(`kustomize-${n}`);
      const script = 'set -e; for e in dev stage prod; do kubectl kustomize "$1/overlays/$e" > "$2/$e.yaml"; done';
      // kustomize needs minutes at 1000 services (its resource map is quadratic, kubernetes-sigs/kustomize#5084), so large sizes get --kustomize-runs timed runs (default 1) and no warm-up.
      // Each run is capped at --kustomize-budget seconds (default 90): a run stopped there is reported as a lower bound.
      const large = n >= 1000;
      const counts = large ? { runs: options.kustomizeRuns, warmups: 0 } : undefined;
      const m = run(
        `kustomize-${n}`,
        `kubectl kustomize, ${n} services x 3 overlays`,
        { command: 'sh', args: ['-c', script, 'sh', layout, target], cwd: ROOT, timeoutS: large ? options.kustomizeBudgetS : undefined },
        () => {
          fresh(target)();
          fs.mkdirSync(target, { recursive: true });
        },
        counts,
      );
      if (m && !m.timedOut) {
        const rendered = ['dev', 'stage', 'prod'].map((e) => (fs.readFileSync(path.join(target, `${e}.yaml`), 'utf8').match(/^kind: /gm) ?? []).length).reduce((a, b) => a + b, 0);
        const expected = measurements[`scale-${n}-shipshape-js`]?.report?.objects;
        checks.push({ name: `${n} services: kustomize renders as many objects as synth`, ok: rendered === expected, detail: `kustomize ${rendered}, synth ${expected}` });
      }
    }
  }

  // (d) Pulumi under mocks
  if (options.only.has('d')) {
    log('(d) Pulumi program under mocks: every resource of the reference platform');
    run('pulumi-js', 'Pulumi mocks, precompiled', { command: NODE, args: [js('bench/programs/pulumi-mocks.js')], cwd: ROOT });
    run('pulumi-tsx', 'Pulumi mocks, tsx', { command: NODE, args: [TSX, 'bench/programs/pulumi-mocks.ts'], cwd: ROOT });
  }

  machine.loadAverage.end = Math.round(os.loadavg()[0] * 100) / 100;
  const durationS = Math.round((Date.now() - started) / 1000);
  const results = derive(
    {
      generatedAt: new Date().toISOString(),
      machine,
      durationS,
      options: {
        runs: options.runs,
        warmups: options.warmups,
        sizes: options.sizes,
        quick: options.quick,
        rss: gnuTime ? 'GNU time %M (max over the process tree)' : 'process.resourceUsage().maxRSS (max over Node processes)',
      },
      build,
      measurements,
      checks,
      derived: {},
      targets: [],
      errors,
    },
    options.sizes,
  );
  fs.mkdirSync(options.outDir, { recursive: true });
  fs.writeFileSync(path.join(options.outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(options.outDir, 'results.md'), renderMarkdown(results));
  log(`wrote ${path.relative(ROOT, path.join(options.outDir, 'results.json'))} and results.md`);
  for (const c of checks) log(`  check ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  if (errors.length > 0 || checks.some((c) => !c.ok)) process.exitCode = 1;
}

/** Ratios, marginal costs and the issue's targets, from the measurements. */
function derive(results: BenchResults, sizes: number[]): BenchResults {
  const m = results.measurements;
  const ms = (id: string): number | undefined => m[id]?.medianMs;
  const objects = (n: number): number | undefined => m[`scale-${n}-shipshape-js`]?.report?.objects as number | undefined;
  const d = results.derived;
  d.platformTsxOverFloor = ratio(ms('platform-tsx'), ms('platform-floor'));
  d.platformJsOverFloor = ratio(ms('platform-js'), ms('platform-floor'));
  d.platformCliOverFloor = ratio(ms('platform-cli'), ms('platform-floor'));
  d.platformCliColdOverFloor = ratio(ms('platform-cli-cold'), ms('platform-floor'));
  d.platformCliEditOverFloor = ratio(ms('platform-cli-edit'), ms('platform-floor'));
  for (const n of sizes) {
    d[`scale${n}ShipshapeOverRaw`] = ratio(ms(`scale-${n}-shipshape-js`), ms(`scale-${n}-raw-js`));
    // User CPU leaves out the kernel's time creating thousands of files, which dominates on a busy disk.
    d[`scale${n}ShipshapeOverRawCpu`] = ratio(m[`scale-${n}-shipshape-js`]?.userCpuMs ?? undefined, m[`scale-${n}-raw-js`]?.userCpuMs ?? undefined);
    d[`scale${n}ShipshapeOverFloor`] = ratio(ms(`scale-${n}-shipshape-js`), ms(`scale-${n}-floor`));
  }
  const marginal = (variant: string, a: number, b: number): number | null => {
    const ta = ms(`scale-${a}-${variant}`);
    const tb = ms(`scale-${b}-${variant}`);
    const oa = objects(a);
    const ob = objects(b);
    if (ta === undefined || tb === undefined || oa === undefined || ob === undefined) return null;
    return Math.round(((tb - ta) / (ob - oa)) * 1000) / 1000;
  };
  const sorted = [...sizes].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) {
    for (const variant of ['shipshape-js', 'raw-js', 'floor']) {
      d[`marginalMsPerObject_${variant}_${sorted[i - 1]}to${sorted[i]}`] = marginal(variant, sorted[i - 1], sorted[i]);
    }
  }
  const t = results.targets;
  const fmt = (v: number | undefined | null, unit = ' ms'): string => (v === undefined || v === null ? 'not measured' : `${v}${unit}`);
  t.push({
    id: 'a.wall',
    target: 'cold synth of the reference platform ≤ 1.5 s wall (tsx)',
    value: fmt(ms('platform-tsx')),
    met: ms('platform-tsx') === undefined ? null : ms('platform-tsx')! <= 1500,
    note: `precompiled: ${fmt(ms('platform-js'))}; npm run synth: ${fmt(ms('platform-npm'))}`,
  });
  t.push({
    id: 'a.floor',
    target: 'cold synth ≤ 2× the floor',
    value: `tsx ${fmt(d.platformTsxOverFloor, '×')}, precompiled ${fmt(d.platformJsOverFloor, '×')}`,
    met: d.platformTsxOverFloor === null ? null : d.platformTsxOverFloor <= 2,
    note: `floor: ${fmt(ms('platform-floor'))}`,
  });
  t.push({
    id: 'a.cli',
    target: 'CLI synth ≤ 2× the floor',
    value: `warm cache ${fmt(d.platformCliOverFloor, '×')}, after an edit ${fmt(d.platformCliEditOverFloor, '×')}, cold cache ${fmt(d.platformCliColdOverFloor, '×')}`,
    met: d.platformCliOverFloor === null ? null : d.platformCliOverFloor <= 2,
    note: `warm ${fmt(ms('platform-cli'))}, after an edit ${fmt(ms('platform-cli-edit'))}, cold ${fmt(ms('platform-cli-cold'))}; floor ${fmt(ms('platform-floor'))}`,
  });
  for (const n of sizes) {
    const r = d[`scale${n}ShipshapeOverRaw`];
    t.push({
      id: `b.ratio.${n}`,
      target: `${n} services × 3: ≤ 1.3× plain cdk8s-plus-27`,
      value: fmt(r, '×'),
      met: r === null ? null : r <= 1.3,
      note: `user CPU ratio ${fmt(d[`scale${n}ShipshapeOverRawCpu`], '×')}`,
    });
  }
  if (sorted.includes(10) && sorted.includes(100) && sorted.includes(1000)) {
    const low = d['marginalMsPerObject_shipshape-js_10to100'];
    const high = d['marginalMsPerObject_shipshape-js_100to1000'];
    const deviation = low && high ? Math.round((high / low - 1) * 1000) / 10 : null;
    d.linearityDeviationPercent = deviation;
    t.push({
      id: 'b.linear',
      target: 'linear within 10% per object from 100 to 1000',
      value: `${fmt(high, ' ms/object')} (100→1000) vs ${fmt(low, ' ms/object')} (10→100): ${deviation === null ? '?' : `${deviation > 0 ? '+' : ''}${deviation}%`}`,
      met: deviation === null ? null : Math.abs(deviation) <= 10,
    });
  }
  const big = Math.max(...sizes);
  const rss = m[`scale-${big}-shipshape-js`]?.peakRssMb;
  t.push({
    id: 'b.rss',
    target: `peak RSS ≤ 400 MB at ${big} × 3`,
    value: fmt(rss, ' MB'),
    met: rss === undefined || rss === null ? null : rss <= 400,
    note: `plain cdk8s-plus-27: ${fmt(m[`scale-${big}-raw-js`]?.peakRssMb, ' MB')}`,
  });
  const k = ms(`kustomize-${big}`);
  const kLower = m[`kustomize-${big}`]?.timedOut ? '> ' : '';
  t.push({
    id: 'c.kustomize',
    target: `faster than kubectl kustomize at ${big} services × 3`,
    value: `precompiled ${fmt(ms(`scale-${big}-shipshape-js`))}, tsx ${fmt(ms(`scale-${big}-shipshape-tsx`))} vs kustomize ${kLower}${fmt(k)}`,
    met: k === undefined || ms(`scale-${big}-shipshape-js`) === undefined ? null : ms(`scale-${big}-shipshape-js`)! < k,
    note: `tsx path ${ms(`scale-${big}-shipshape-tsx`) !== undefined && k !== undefined ? (ms(`scale-${big}-shipshape-tsx`)! < k ? 'also faster' : 'slower') : 'not measured'}`,
  });
  return results;
}

main();
