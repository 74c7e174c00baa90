// Loaded with `node --require` when GNU time is missing: appends this process's peak RSS (kB) to BENCH_RSS_FILE on exit.
'use strict';
const fs = require('node:fs');
process.on('exit', () => {
  if (process.env.BENCH_RSS_FILE) fs.appendFileSync(process.env.BENCH_RSS_FILE, `${process.resourceUsage().maxRSS}\n`);
});
