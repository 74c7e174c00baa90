/** Renders bench results as Markdown (bench/results.md and the README's Performance section). */
import type { Measurement } from './harness';
import type { BenchResults } from './results';

function cell(m: Measurement | undefined): string {
  if (!m) return 'n/a';
  if (m.timedOut) return `> ${fmtMs(m.medianMs)} (stopped at the time limit)`;
  if (m.runs === 1) return `${fmtMs(m.medianMs)} (1 run)`;
  return `${fmtMs(m.medianMs)} (${fmtMs(m.minMs)}–${fmtMs(m.maxMs)})`;
}

function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function rss(m: Measurement | undefined): string {
  return m?.peakRssMb === null || m?.peakRssMb === undefined ? 'n/a' : `${Math.round(m.peakRssMb)} MB`;
}

function cpu(m: Measurement | undefined): string {
  if (m?.cpuMs === null || m?.cpuMs === undefined) return 'n/a';
  return m.userCpuMs === null ? fmtMs(m.cpuMs) : `${fmtMs(m.cpuMs)} (user ${fmtMs(m.userCpuMs)})`;
}

function x(v: number | null | undefined): string {
  return v === null || v === undefined ? 'n/a' : `${v.toFixed(2)}×`;
}

/** The machine line. */
export function machineLine(r: BenchResults): string {
  const mc = r.machine;
  return `${mc.cpuModel}, ${mc.cores} cores, ${mc.memoryGb} GB RAM, Node ${mc.node}, ${mc.os} (${mc.kernel}); 1-min load average ${mc.loadAverage.start} at start, ${mc.loadAverage.end ?? '?'} at end`;
}

/** The result tables (no heading), shared by results.md and the README. */
export function renderTables(r: BenchResults): string {
  const m = r.measurements;
  const d = r.derived;
  const lines: string[] = [];
  lines.push(`Median wall time of ${r.options.runs} whole-process runs after ${r.options.warmups} warm-up (min–max in brackets); peak RSS by ${r.options.rss}.`);
  lines.push('');
  if (m['platform-floor'] || m['platform-tsx']) {
    lines.push('**(a) Reference platform, every environment (`stacks/main.ts`)**', '');
    lines.push('| run | wall | CPU | peak RSS | wall vs floor |', '| --- | --- | --- | --- | --- |');
    for (const id of ['platform-tsx', 'platform-tsx-cjs', 'platform-npm', 'platform-js', 'platform-cli', 'platform-cli-edit', 'platform-cli-cold', 'platform-floor']) {
      if (!m[id]) continue;
      lines.push(`| ${m[id].label} | ${cell(m[id])} | ${cpu(m[id])} | ${rss(m[id])} | ${x(m['platform-floor'] ? Math.round((m[id].medianMs / m['platform-floor'].medianMs) * 100) / 100 : null)} |`);
    }
    lines.push('');
  }
  const sizes = r.options.sizes.filter((n) => m[`scale-${n}-shipshape-js`]);
  if (sizes.length > 0) {
    lines.push('**(b) Generated stacks: N AntiAffinityDeployments × 3 environments (dev, stage, prod)**', '');
    lines.push(
      '| N | objects | shipshape (precompiled) | plain cdk8s-plus-27 (precompiled) | overhead (wall) | CPU shipshape / plain | overhead (user CPU) | shipshape (tsx) | floor | peak RSS shipshape / plain |',
      '| ---: | ---: | --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const n of sizes) {
      const s = m[`scale-${n}-shipshape-js`];
      lines.push(
        `| ${n} | ${s.report?.objects ?? '?'} | ${cell(s)} | ${cell(m[`scale-${n}-raw-js`])} | ${x(d[`scale${n}ShipshapeOverRaw`])} | ${cpu(s)} / ${cpu(m[`scale-${n}-raw-js`])} | ${x(d[`scale${n}ShipshapeOverRawCpu`])} | ${cell(m[`scale-${n}-shipshape-tsx`])} | ${cell(m[`scale-${n}-floor`])} | ${rss(s)} / ${rss(m[`scale-${n}-raw-js`])} |`,
      );
    }
    lines.push('');
    const marginals = Object.entries(d).filter(([k]) => k.startsWith('marginalMsPerObject_'));
    if (marginals.length > 0) {
      lines.push('Marginal cost per object (difference of medians / difference of object counts):', '');
      lines.push('| step | shipshape | plain cdk8s-plus-27 | floor |', '| --- | --- | --- | --- |');
      const steps = [...new Set(marginals.map(([k]) => k.split('_').pop()!))];
      for (const step of steps) {
        const v = (variant: string): string => {
          const value = d[`marginalMsPerObject_${variant}_${step}`];
          return value === null || value === undefined ? 'n/a' : `${value.toFixed(3)} ms`;
        };
        lines.push(`| ${step.replace('to', ' → ')} | ${v('shipshape-js')} | ${v('raw-js')} | ${v('floor')} |`);
      }
      lines.push('');
    }
  }
  const kustomize = r.options.sizes.filter((n) => m[`kustomize-${n}`]);
  if (kustomize.length > 0) {
    lines.push('**(c) Against `kubectl kustomize` (generated base + 3 overlays, one `kubectl kustomize` per environment)**', '');
    lines.push('| N | kubectl kustomize | shipshape (precompiled) | shipshape (tsx) | peak RSS kustomize / shipshape |', '| ---: | --- | --- | --- | --- |');
    for (const n of kustomize) {
      lines.push(
        `| ${n} | ${cell(m[`kustomize-${n}`])} | ${cell(m[`scale-${n}-shipshape-js`])} | ${cell(m[`scale-${n}-shipshape-tsx`])} | ${rss(m[`kustomize-${n}`])} / ${rss(m[`scale-${n}-shipshape-js`])} |`,
      );
    }
    lines.push('');
  }
  if (m['pulumi-js'] || m['pulumi-tsx']) {
    lines.push('**(d) Pulumi program under mocks (every resource of every environment of the reference platform)**', '');
    lines.push('| run | resources registered | wall | peak RSS |', '| --- | ---: | --- | --- |');
    for (const id of ['pulumi-js', 'pulumi-tsx']) {
      if (m[id]) lines.push(`| ${m[id].label} | ${m[id].report?.resources ?? '?'} | ${cell(m[id])} | ${rss(m[id])} |`);
    }
    lines.push('');
  }
  if (r.targets.length > 0) {
    lines.push('**Targets**', '');
    lines.push('| target | measured | met |', '| --- | --- | --- |');
    for (const t of r.targets) lines.push(`| ${t.target} | ${t.value}${t.note ? ` (${t.note})` : ''} | ${t.met === null ? 'n/a' : t.met ? 'yes' : '**no**'} |`);
    lines.push('');
  }
  return lines.join('\n');
}

/** bench/results.md. */
export function renderMarkdown(r: BenchResults): string {
  const lines = [
    `# shipshape benchmark results`,
    '',
    `Generated ${r.generatedAt} by \`npm run bench\`${r.options.quick ? ' (quick mode: not for publication)' : ''} in ${r.durationS} s.`,
    '',
    `Machine: ${machineLine(r)}.`,
    '',
  ];
  if (r.build) lines.push(`Precompiled path built with tsc into bench/.work/js in ${fmtMs(r.build.tscMs)}${r.build.ok ? '' : ' (tsc reported type errors; JavaScript still emitted)'}.`, '');
  lines.push(renderTables(r));
  if (r.checks.length > 0) {
    lines.push('**Output checks**', '');
    for (const c of r.checks) lines.push(`- ${c.ok ? 'ok' : 'FAILED'}: ${c.name} (${c.detail})`);
    lines.push('');
  }
  if (r.errors.length > 0) {
    lines.push('**Errors**', '');
    for (const e of r.errors) lines.push('```', e.trim(), '```');
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}
