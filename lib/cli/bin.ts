#!/usr/bin/env node
// Only Node's own modules load before the code cache is in place: the CLI's other modules, yaml, cdk8s and the
// program all compile with the code earlier runs kept.
import { cacheDirectory, installCodeCache } from './code-cache';

const codeCache = installCodeCache(cacheDirectory(process.cwd()));
// Required here: an import would be hoisted above the cache and load the CLI (and yaml with it) first.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { EXIT_UNUSABLE, main } = require('./main') as typeof import('./main');

void main(process.argv.slice(2)).then((code) => {
  // A run that could not run its program keeps no code: what it compiled may be only part of what a run uses.
  if (code !== EXIT_UNUSABLE) codeCache?.save();
  // The program may leave timers or sockets open; once everything printed has been flushed, the command is done.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
});
