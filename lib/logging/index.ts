// Internal barrel of lib/logging, for the library's modules and tests; the public names are listed in lib/index.ts.
export * from './fluent-conf';
export * from './fluentd-config';
export * from './fluentd-daemon-set';
export * from './elasticsearch';
export * from './elasticsearch-bootstrap';
export * from './elasticsearch-exporter';
export * from './kibana';
export * from './fluentd-alerts';
export * from './efk-logging';
