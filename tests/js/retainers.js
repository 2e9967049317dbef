#!/usr/bin/env node
// memlab's retainer path to the objects of one class in a .heapsnapshot,
// as JSON: the real-client check of refgraph's Chrome export
// (tests/chrome_e2e.sh, tests/test_chrome_export.py).
//
//   node tests/js/retainers.js FILE.heapsnapshot CLASS_NAME
//
// memlab parses the file (@memlab/heap-analysis getFullHeapFromFile: its
// own parser, its shortest paths from the GC roots, its dominators) and
// TraceFinder.getPathToGCRoots walks the path it found; nothing here
// computes a path.  Prints {"node_count", "edge_count", "matches", "paths"}
// where each path is the list of steps from the root: the node (name,
// type, id, self_size, retained_size) and the edge that reached it (name,
// type; none for the root).  Exits 1 when no object has that class name.
'use strict';

const path = require('path');
const {config, TraceFinder} = require('@memlab/core');
const {getFullHeapFromFile} = require('@memlab/heap-analysis');

const MAX_PATHS = 5;

function describeNode(node) {
  return {
    name: node.name,
    type: node.type,
    id: node.id,
    self_size: node.self_size,
    retained_size: node.retainedSize,
  };
}

async function main() {
  const [file, className] = process.argv.slice(2);
  if (!file || !className) {
    process.stderr.write('usage: node retainers.js FILE.heapsnapshot CLASS_NAME\n');
    process.exit(2);
  }
  config.muteConsole = true; // memlab's progress lines would mix with the JSON
  const heap = await getFullHeapFromFile(path.resolve(file));
  const matches = [];
  heap.nodes.forEach(node => {
    if (node.name === className && node.type === 'object') {
      matches.push(node);
    }
  });
  const finder = new TraceFinder();
  const paths = [];
  for (const node of matches.slice(0, MAX_PATHS)) {
    const steps = [];
    let edgeIn = null;
    for (let item = finder.getPathToGCRoots(heap, node); item; item = item.next) {
      steps.push({
        node: describeNode(item.node),
        edge: edgeIn && {name: edgeIn.name_or_index, type: edgeIn.type},
      });
      edgeIn = item.edge || null; // the edge from item.node to the next step
    }
    paths.push(steps);
  }
  const result = {
    node_count: heap.nodes.length,
    edge_count: heap.edges.length,
    matches: matches.length,
    paths,
  };
  process.stdout.write(JSON.stringify(result, null, 1) + '\n');
  process.exit(matches.length > 0 ? 0 : 1);
}

main().catch(err => {
  process.stderr.write(`retainers.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(3);
});
