import type * as Yaml from 'yaml';

/**
 * The yaml package, loaded on first use: a program run by the CLI brings its own copy in its bundle, so the CLI
 * loads one only when it reads YAML itself (diff's committed output, a cdk8s.yaml not read before).
 */
export function yaml(): typeof Yaml {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('yaml') as typeof Yaml;
}
