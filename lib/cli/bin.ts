#!/usr/bin/env node
import { main } from './main';

main(process.argv.slice(2)).then((code) => {
  // The program may leave timers or sockets open; once everything printed has been flushed, the command is done.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
});
