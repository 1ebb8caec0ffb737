// Builds one JavaScript plugin into a component: node build.mjs <source.js> <wit dir> <out.wasm>
//
// Uses componentize-js's JS API (the `jco componentize` CLI of jco 1.35 fails on --wit paths
// here). Every WASI feature of the engine is disabled, so the component imports nothing but
// the contract's own interfaces (migrate:transform/ids, log).
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

const [source, wit, out] = process.argv.slice(2);
if (!source || !wit || !out) {
  console.error('usage: node build.mjs <source.js> <wit dir> <out.wasm>');
  process.exit(2);
}
const { component } = await componentize({
  sourcePath: resolve(source),
  witPath: resolve(wit),
  worldName: 'transform',
  disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
console.log(`${out}: ${component.byteLength} bytes`);
