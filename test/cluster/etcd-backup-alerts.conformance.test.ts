// Real-tool suite: EtcdBackup's alert rules loaded and evaluated by Prometheus' own promtool, on
// kube-state-metrics series for the scenarios an operator meets: backups succeeding, failing since some time,
// never succeeding, a Job Pending forever (prod's old EKS configuration), a CronJob Prometheus does not see, and
// a macro schedule. Every promtool call runs under `timeout`.
import { parse, stringify } from 'yaml';
import { expect, it } from 'vitest';
import { AlertRule, AlertRuleGroup } from '../../lib/logging';
import { EtcdBackup } from '../../lib/cluster';
import { conformanceSuite } from '../support/conformance';
import { validateManifest } from '../support/schema';
import { findObject, synthStack, testEnvironment } from '../support/synth';
import { promtoolWorkspace } from '../support/promtool';

const H = 3600;
const env = testEnvironment({ controlPlane: { kind: 'kubeadm' } });

function synthesize(schedule?: string) {
  let backup!: EtcdBackup;
  const result = synthStack((s) => {
    backup = new EtcdBackup(s, 'etcd', { ...(schedule ? { schedule } : {}), alerts: { prometheusLabels: { release: 'prometheus' } } });
  }, env);
  const file = result.files.find((f) => f.path === 'monitoring/etcd-backup-alerts.rules.yml')!;
  return { result, backup, content: file.content, groups: backup.alertGroups as AlertRuleGroup[] };
}

const sixHourly = synthesize();
const daily = synthesize('@daily');
const SEL = { namespace: 'kube-system', cronjob: 'etcd-backup' };
// Two kube-state-metrics replicas report the same CronJob; the rules fold them into one alert.
const KSM = [
  { job: 'kube-state-metrics', instance: '10.0.0.7:8080' },
  { job: 'kube-state-metrics', instance: '10.0.0.8:8080' },
];

/** promtool's expanding notation for a value held over consecutive one-minute samples: [[value, minutes], ...]. */
const held = (segments: Array<[number, number]>) => segments.map(([v, minutes]) => `${v}x${minutes - 1}`).join(' ');
const series = (name: string, labels: Record<string, string>, values: string) => ({
  series: `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`,
  values,
});
const fromBoth = (name: string, values: string) => KSM.map((k) => series(name, { ...k, ...SEL }, values));

/** The expected alert: the CronJob's labels plus the rule's, and its annotations (they hold no templates). */
function alert(groups: AlertRuleGroup[], name: string) {
  const rule: AlertRule = groups[0].rules.find((r) => r.alert === name)!;
  expect(JSON.stringify(rule.annotations)).not.toContain('{{');
  return { exp_labels: { ...SEL, ...rule.labels }, exp_annotations: rule.annotations };
}

/** A six-hourly CronJob whose runs at 0h, 6h, 12h... start on time (next schedule time advances) and succeed after 5 minutes while `succeeds(run)`. */
function sixHourlyHistory(hours: number, succeeds: (run: number) => boolean): { lastSuccess: string | undefined; next: string } {
  const minutes = hours * 60;
  const lastSuccess: number[] = [];
  const next: number[] = [];
  let last: number | undefined;
  for (let m = 0; m < minutes; m++) {
    const run = Math.floor(m / 360);
    if (m % 360 >= 5 && succeeds(run)) last = run * 6 * H + 300;
    lastSuccess.push(last ?? NaN);
    next.push((run + 1) * 6 * H);
  }
  const compress = (values: number[]) => {
    const segments: Array<[number, number]> = [];
    for (const v of values) {
      const tail = segments[segments.length - 1];
      if (tail && tail[0] === v) tail[1]++;
      else segments.push([v, 1]);
    }
    return segments;
  };
  const firstSuccess = lastSuccess.findIndex((v) => !Number.isNaN(v));
  return {
    // Before the first success kube-state-metrics has no series at all: blank samples ("_") stand for that.
    lastSuccess: firstSuccess < 0 ? undefined : [firstSuccess > 0 ? `_x${firstSuccess - 1}` : '', held(compress(lastSuccess.slice(firstSuccess)))].filter(Boolean).join(' '),
    next: held(compress(next)),
  };
}

conformanceSuite('EtcdBackup alerts (promtool)', ['promtool'], () => {
  const { promtool, write } = promtoolWorkspace('etcd-alerts', () => ({ 'six-hourly.rules.yml': sixHourly.content, 'daily.rules.yml': daily.content }));

  it('writes rules promtool accepts, as a plain file and as the PrometheusRule the operator loads', () => {
    expect(sixHourly.result.problems).toEqual([]);
    expect(promtool(['check', 'rules', 'six-hourly.rules.yml'])).toMatch(/SUCCESS: 4 rules found/);
    const rule = findObject(sixHourly.result, 'PrometheusRule', 'etcd-backup-alerts');
    validateManifest(rule);
    expect(parse(sixHourly.content)).toEqual({ groups: rule.spec.groups });
    write('prometheusrule.rules.yml', stringify({ groups: rule.spec.groups }));
    expect(promtool(['check', 'rules', 'prometheusrule.rules.yml'])).toMatch(/SUCCESS: 4 rules found/);
  });

  it('fire when no backup succeeded for two periods, never succeeded, is not started or is not seen, and stay quiet while backups succeed', () => {
    const g = sixHourly.groups;
    expect(sixHourly.backup.schedulePeriodSeconds).toBe(6 * H);
    const healthy = sixHourlyHistory(25, () => true);
    const failingAfterFirst = sixHourlyHistory(25, (run) => run === 0);
    const never = sixHourlyHistory(25, () => false);
    const quiet = (at: string) => ['EtcdBackupTooOld', 'EtcdBackupNeverSucceeded', 'EtcdBackupNotStarted', 'EtcdBackupNotWatched'].map((alertname) => ({ eval_time: at, alertname, exp_alerts: [] }));
    const tests = {
      rule_files: ['six-hourly.rules.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          // Every run succeeds: nothing fires, even a day in.
          interval: '1m',
          input_series: [
            ...fromBoth('kube_cronjob_created', held([[0, 25 * 60]])),
            ...fromBoth('kube_cronjob_status_last_successful_time', healthy.lastSuccess!),
            ...fromBoth('kube_cronjob_next_schedule_time', healthy.next),
          ],
          alert_rule_test: [...quiet('11h'), ...quiet('23h55m')],
        },
        {
          // The 0h run succeeded (at 0h05m), every later one fails: more than two periods (12h) later it fires, once for both replicas.
          interval: '1m',
          input_series: [
            ...fromBoth('kube_cronjob_created', held([[0, 25 * 60]])),
            ...fromBoth('kube_cronjob_status_last_successful_time', failingAfterFirst.lastSuccess!),
            ...fromBoth('kube_cronjob_next_schedule_time', failingAfterFirst.next),
          ],
          alert_rule_test: [
            ...quiet('11h'),
            { eval_time: '12h06m', alertname: 'EtcdBackupTooOld', exp_alerts: [] },
            { eval_time: '12h30m', alertname: 'EtcdBackupTooOld', exp_alerts: [alert(g, 'EtcdBackupTooOld')] },
            { eval_time: '20h', alertname: 'EtcdBackupNeverSucceeded', exp_alerts: [] },
            { eval_time: '20h', alertname: 'EtcdBackupNotStarted', exp_alerts: [] },
          ],
        },
        {
          // Runs start but none ever succeeds: kube-state-metrics has no last-successful-time series at all.
          interval: '1m',
          input_series: [...fromBoth('kube_cronjob_created', held([[0, 25 * 60]])), ...fromBoth('kube_cronjob_next_schedule_time', never.next)],
          alert_rule_test: [
            ...quiet('11h50m'),
            { eval_time: '12h30m', alertname: 'EtcdBackupNeverSucceeded', exp_alerts: [alert(g, 'EtcdBackupNeverSucceeded')] },
            { eval_time: '12h30m', alertname: 'EtcdBackupTooOld', exp_alerts: [] },
            { eval_time: '12h30m', alertname: 'EtcdBackupNotStarted', exp_alerts: [] },
          ],
        },
        {
          // The first Job (6h) stays Pending forever, as on a cluster with no control-plane node: concurrencyPolicy
          // Forbid skips every later run, so the next schedule time stays at 12h.
          interval: '1m',
          input_series: [
            ...fromBoth('kube_cronjob_created', held([[0, 25 * 60]])),
            ...fromBoth(
              'kube_cronjob_next_schedule_time',
              held([
                [6 * H, 6 * 60],
                [12 * H, 19 * 60],
              ]),
            ),
          ],
          alert_rule_test: [
            { eval_time: '17h', alertname: 'EtcdBackupNotStarted', exp_alerts: [] },
            { eval_time: '18h30m', alertname: 'EtcdBackupNotStarted', exp_alerts: [alert(g, 'EtcdBackupNotStarted')] },
            { eval_time: '18h30m', alertname: 'EtcdBackupNeverSucceeded', exp_alerts: [alert(g, 'EtcdBackupNeverSucceeded')] },
          ],
        },
        {
          // kube-state-metrics is scraped but reports no such CronJob (deleted, or never applied).
          interval: '1m',
          input_series: [series('up', KSM[0], held([[1, 120]]))],
          alert_rule_test: [
            { eval_time: '20m', alertname: 'EtcdBackupNotWatched', exp_alerts: [] },
            { eval_time: '40m', alertname: 'EtcdBackupNotWatched', exp_alerts: [alert(g, 'EtcdBackupNotWatched')] },
            { eval_time: '40m', alertname: 'EtcdBackupNeverSucceeded', exp_alerts: [] },
          ],
        },
      ],
    };
    write('six-hourly.test.yml', stringify(tests));
    expect(promtool(['test', 'rules', 'six-hourly.test.yml'])).toMatch(/SUCCESS/);
  });

  it('take the period of a macro schedule: @daily allows two days', () => {
    expect(daily.backup.schedulePeriodSeconds).toBe(24 * H);
    const g = daily.groups;
    // One success at 0h05m, then failures; next schedule advances every day at midnight.
    const tests = {
      rule_files: ['daily.rules.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            ...fromBoth('kube_cronjob_created', held([[0, 50 * 60]])),
            ...fromBoth('kube_cronjob_status_last_successful_time', `_x4 ${held([[300, 50 * 60 - 5]])}`),
            ...fromBoth(
              'kube_cronjob_next_schedule_time',
              held([
                [24 * H, 24 * 60],
                [48 * H, 24 * 60],
                [72 * H, 2 * 60],
              ]),
            ),
          ],
          alert_rule_test: [
            { eval_time: '47h', alertname: 'EtcdBackupTooOld', exp_alerts: [] },
            { eval_time: '48h30m', alertname: 'EtcdBackupTooOld', exp_alerts: [alert(g, 'EtcdBackupTooOld')] },
            { eval_time: '48h30m', alertname: 'EtcdBackupNotStarted', exp_alerts: [] },
          ],
        },
      ],
    };
    write('daily.test.yml', stringify(tests));
    expect(promtool(['test', 'rules', 'daily.test.yml'])).toMatch(/SUCCESS/);
  });
});
