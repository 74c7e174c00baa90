// Inputs shared by the unit tests and the conformance suites that check the same rules against the real tools.

const SHA = 'a'.repeat(64);

/**
 * Strings a YAML 1.1 reader (PyYAML, SnakeYAML, Go's yaml.v2 behind `kubectl create -f`) resolves to a bool,
 * number, null, date, timestamp or merge key, and some that only YAML 1.2 or Go's strconv does.
 */
export const YAML_SPECIAL_WORDS: readonly string[] = [
  'on', 'On', 'ON', 'off', 'Off', 'OFF', 'yes', 'Yes', 'YES', 'no', 'No', 'NO', 'y', 'Y', 'n', 'N',
  'true', 'True', 'FALSE', 'null', 'Null', 'NULL', '~', '',
  '1_000', '1__0', '+_1', '0x1F', '0X1F', '0x_1F', '0_x1F', '0o17', '0O17', '017', '0b1010', '-0b1', '+1', '-1', '08', '09.5',
  '1e3', '1E+3', '6.02e23', '1.5', '.5', '1.', '-.', '.', '1_000.5',
  '.inf', '.Inf', '-.inf', '+.INF', '.nan', '.NaN', '.NAN',
  '2001-01-01', '2001-1-1', '2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.10 -5', '2001-12-14T21:59:43Z', '2001-13-45',
  '12:30:00', '1:20', '190:20:30.15', '-1:30',
  '<<', '=',
];

/** Valid and invalid inputs of each rule, with the Kubernetes (or distribution, or robfig/cron) verdict. */
export const NAME_CASES = {
  dns1123Label: { valid: ['a', 'web-api', '0web', 'a'.repeat(63)], invalid: ['', 'Web', 'web_', '-web', 'web-', 'a.b', 'a'.repeat(64), 'web api', 'web\n'] },
  dns1123Subdomain: { valid: ['a', 'a.b', 'system-x.example.com', `${'a'.repeat(63)}.${'b'.repeat(63)}`], invalid: ['', 'A.b', 'a..b', '.a', 'a.', 'a_b', 'system:metrics'] },
  dns1035Label: { valid: ['a', 'web-api', 'w0'], invalid: ['', '0web', '1-web', 'Web', 'web-', 'a'.repeat(64)] },
  qualifiedName: {
    valid: ['team', 'app.kubernetes.io/name', 'example.com/Team_1.x', 'A', 'a'.repeat(63), `${'p'.repeat(20)}.io/${'n'.repeat(63)}`],
    invalid: ['', 'my key', 'team ', ' team', 'a/b/c', '/name', 'Example.com/team', 'example.com/', '-team', 'team-', 'a'.repeat(64), 'team\nx', 'ex_ample.com/team'],
  },
  labelValue: { valid: ['', 'v', 'v1.2_3-x', 'A', 'a'.repeat(63)], invalid: ['a b', ' a', 'a ', '-a', 'a-', 'a'.repeat(64), 'a\nb', 'a/b', 'a:b'] },
};

export const IMAGE_CASES = {
  valid: [
    'nginx', 'nginx:1.27.2', 'library/nginx:1.27.2', 'ghcr.io/acme/web:1.4.2', 'localhost:5000/a/b:v1', 'registry.example.com:5000/team/app:1_0',
    `nginx@sha256:${SHA}`, `nginx:1.0@sha256:${SHA}`, `ghcr.io/acme/web@sha512:${'0'.repeat(128)}`, '[::1]:5000/app:1', 'Registry.Example.com/app:1', 'a__b/c-d.e:TAG_x',
    `app:${'t'.repeat(128)}`,
  ],
  invalid: [
    'NGINX:1.0', 'Nginx:1.0', ' nginx:1.0', 'nginx:1.0 ', 'nginx: 1.0', 'nginx:1.0\n', 'ng\ninx:1.0', 'nginx@sha256:abc', `nginx@md5:${SHA.slice(0, 32)}`, `nginx@sha256:${'A'.repeat(64)}`,
    'nginx:-1', 'nginx:.1', 'a//b:1', 'nginx:', ':1.0', 'nginx:1:2', `app:${'t'.repeat(129)}`, 'a_/b:1', '', 'http://ghcr.io/acme/web:1',
  ],
};

export const CRON_CASES = {
  valid: ['@daily', '@yearly', '@annually', '@monthly', '@weekly', '@midnight', '@hourly', '@every 1h30m', '0 3 * * MON', '0 3 * * mon-fri', '*/15 * * * *', '0 */6 * * *',
    '0 0 1 JAN *', '0 9-17/2 * * 1-5', '5 4 * * sun', '0 0 * * 0,6', '59 23 31 12 6', '0 0 1-31/10 * *', '30 2 * * *', '0 0 ? * *', '1,,2 * * * *', '  0 3 * * *  ', '1/5 * * * *'],
  invalid: ['99 99 99 99 99', '*/0 * * * *', '* * * *', '* * * * * *', '', '@reboot', '@daily 1', '0 3 * * 7', '0 3 * * FOO', '5-1 * * * *', '60 * * * *', '* 24 * * *', '* * 0 * *',
    '* * * 13 *', 'TZ=UTC 0 3 * * *', 'CRON_TZ=UTC 0 3 * * *', '*/x * * * *', '1/2/3 * * * *', 'every day', '0 3 * * MON-', '-1 * * * *'],
};

/** ConfigMap data keys with the API server's verdict (k8s.io/apimachinery IsConfigMapKey). */
export const CONFIG_MAP_KEY_CASES = {
  valid: ['a', 'A', '0', 'app.properties', 'LOG_LEVEL', 'a-b_c.d', '.env', '.a', 'a..b', 'a.', '-', '_', 'on', '1_000', 'k'.repeat(253)],
  invalid: ['', '.', '..', '..data', '...', '..a', 'has space', 'a/b', 'ü', 'a:b', 'a\nb', 'tab\t', 'k'.repeat(254)],
};
