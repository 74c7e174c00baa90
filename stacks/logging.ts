import { EfkLogging, Stack } from '../lib';
import { platformSettings } from './environments';

/** What the rest of the platform hands to the logging stack. */
export interface LoggingOptions {
  /**
   * PriorityClass of Elasticsearch and Kibana, e.g. the platform's `critical` tier.
   * @default - none
   */
  readonly priorityClassName?: string;
}

/**
 * The reference platform's logging: Elasticsearch, Kibana and Fluentd in the `logging` namespace of every
 * environment, sized, retained and archived as the environment's `logging` settings say (stacks/environments.ts).
 */
export function addLogging(stack: Stack, options: LoggingOptions = {}): EfkLogging {
  const settings = platformSettings(stack.environment);
  return new EfkLogging(stack, 'logging', { ...settings.logging, priorityClassName: options.priorityClassName, alerts: settings.alerts });
}
