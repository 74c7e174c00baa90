import type { File, Reporter, Task } from 'vitest';
import { SKIP_MARKER } from './skip-marker';

function* walk(tasks: readonly Task[]): Generator<Task> {
  for (const task of tasks) {
    yield task;
    if (task.type === 'suite') yield* walk(task.tasks);
  }
}

/**
 * Ends the run (after the default reporter's summary) with one line per conformance suite skipped for a
 * missing tool, saying what is missing and how to get it, and a plain "N passed, N failed, N skipped" line.
 */
export default class ConformanceReporter implements Reporter {
  onFinished(files: File[] = []): void {
    const skippedSuites: string[] = [];
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const file of files) {
      // A file that failed to load has no tests but must count as a failure.
      if (file.result?.state === 'fail' && file.tasks.length === 0) counts.failed++;
      for (const task of walk(file.tasks)) {
        if (task.type === 'suite') {
          const at = task.name.indexOf(SKIP_MARKER);
          if (at >= 0) skippedSuites.push(`${task.name.slice(0, at)} (${file.name}): ${task.name.slice(at + SKIP_MARKER.length, -1)}`);
          continue;
        }
        const state = task.result?.state;
        if (state === 'pass') counts.passed++;
        else if (state === 'fail') counts.failed++;
        else counts.skipped++;
      }
    }
    const out: string[] = [''];
    for (const line of skippedSuites) out.push(`skipped conformance suite: ${line}`);
    if (skippedSuites.length) out.push('(CI sets SHIPSHAPE_REQUIRE_CONFORMANCE=1, under which a missing tool fails the run)');
    out.push(`tests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
    process.stdout.write(`${out.join('\n')}\n`);
  }
}
