import { SwarmServiceProps } from '../../lib/swarm';

/** A service with a `$` in every field the compose renderer writes from props. */
export const DOLLAR_EVERYWHERE: SwarmServiceProps = {
  name: 'web',
  image: 'nginx:1.27.2',
  entrypoint: ['/bin/sh', '-c', 'exec "$0" "$@"'],
  command: ['sh', '-c', 'echo "$HOME" ${PATH}'],
  environment: { GREETING: 'key=${AWS_SECRET_ACCESS_KEY}', HOST: '$HOSTNAME', DOUBLE: '$$x', DEFAULTED: '${X:-default}' },
  healthcheck: { test: ['CMD-SHELL', 'test -n "$HOSTNAME"'] },
  labels: { 'com.example.price': '$5' },
  user: '${APP_UID}',
  logging: { driver: 'fluentd', fluentd: '127.0.0.1:24224', tag: 'web.$TAG.{{.Name}}' },
  placement: { constraints: ['node.labels.zone == $ZONE'] },
  configs: [{ name: 'settings', content: 'price: $5\n', target: '/etc/$app/settings.yml' }],
  mounts: [{ type: 'volume', source: 'cache', target: '/cache/$x' }],
};
