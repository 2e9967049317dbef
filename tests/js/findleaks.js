#!/usr/bin/env node
// memlab's three-snapshot leak search over refgraph's Chrome exports, as
// JSON: the real-client check that an object keeps its node id from one
// export to the next (tests/test_chrome_export.py).
//
//   node tests/js/findleaks.js BASELINE TARGET FINAL WORKDIR
//
// memlab (@memlab/api, which @memlab/cli brings: findLeaksBySnapshotFilePaths, what `memlab
// find-leaks --baseline --target --final` runs) takes the objects of the
// final snapshot whose ids are in the target and not in the baseline: made
// by the step between baseline and target, still alive after the cleanup
// that followed.  Its own rules call only browser objects leaks (detached
// DOM elements, fibers...), so a leak filter here accepts every candidate
// and counts them by name.  Prints {"candidates": {name: count}, "leaks":
// number of leak traces, "traces": the first traces' text}.
'use strict';

const path = require('path');
const {config} = require('@memlab/core');
const {findLeaksBySnapshotFilePaths} = require('@memlab/api');

async function main() {
  const [baseline, target, final, workDir] = process.argv.slice(2);
  if (!workDir) {
    process.stderr.write('usage: node findleaks.js BASELINE TARGET FINAL WORKDIR\n');
    process.exit(2);
  }
  config.muteConsole = true;
  const candidates = {};
  config.externalLeakFilter = {
    leakFilter: node => {
      candidates[node.name] = (candidates[node.name] || 0) + 1;
      return node.type === 'object';
    },
  };
  const leaks = await findLeaksBySnapshotFilePaths(
    path.resolve(baseline), path.resolve(target), path.resolve(final), {workDir: path.resolve(workDir)});
  const traces = leaks.slice(0, 3).map(leak => Object.keys(leak).join(''));
  process.stdout.write(JSON.stringify({candidates, leaks: leaks.length, traces}) + '\n');
}

main().catch(error => {
  process.stderr.write(String((error && error.stack) || error) + '\n');
  process.exit(1);
});
