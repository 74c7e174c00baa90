export * from './fluent-conf';
export * from './fluentd-config';
export * from './fluentd-daemon-set';
export * from './elasticsearch';
export * from './elasticsearch-bootstrap';
export * from './kibana';
export * from './fluentd-alerts';
export * from './efk-stack';
