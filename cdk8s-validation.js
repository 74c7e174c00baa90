// Entry point of the shipshape policy as a cdk8s-cli validation plugin (see cdk8s.yaml).
// cdk8s-cli loads plugins with require(); tsx lets it load the TypeScript source directly.
require('tsx/cjs');
module.exports = require('./lib/core/policy/cdk8s-validation.ts');
