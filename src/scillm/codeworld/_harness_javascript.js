// CodeWorld's one-call runner for JavaScript functions: `node call.js`, started by the Python
// harness (_harness_python.py) in a child that already runs as a uid of its own under the call's
// limits. stdin holds the call: {filename, entrypoints, entry, args, output_cap, stdout_cap};
// `entry` null asks only which entrypoint the program defines. The program runs as a script in
// this context (top-level `function solve`, or `module.exports.solve`); its console output is
// captured. The record goes to fd 3, a pipe only this process holds; time, CPU and memory are
// measured by the harness from outside.
'use strict';
const fs = require('fs');
const util = require('util');
const vm = require('vm');
const values = require('./values.js');

const call = JSON.parse(fs.readFileSync(0, 'utf8'));
const MESSAGE_CAP = 2000;
let captured = '';

const capture = (...parts) => {
  captured += parts.map((p) => (typeof p === 'string' ? p : util.inspect(p))).join(' ') + '\n';
};
for (const name of ['log', 'info', 'debug', 'warn', 'error']) console[name] = capture;
process.stdout.write = (chunk) => {
  captured += String(chunk);
  return true;
};

function describe(err) {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : `thrown: ${String(err)}`;
  return text.slice(0, MESSAGE_CAP);
}

function report(record) {
  record.stdout = captured.slice(0, call.stdout_cap);
  fs.writeSync(3, JSON.stringify(record));
  process.exit(0);
}

function encode(value) {
  let data;
  try {
    data = values.encode(value === undefined ? null : value);
  } catch (err) {
    return { status: 'error', message: `returned a value CodeWorld cannot carry: ${describe(err)}` };
  }
  if (JSON.stringify(data).length > call.output_cap) {
    return { status: 'output_limit', message: `return value over ${call.output_cap} bytes` };
  }
  return { status: 'ok', output: data };
}

function lookup(name) {
  const exported = globalThis.module.exports;
  if (exported && typeof exported[name] === 'function') return exported[name];
  if (typeof exported === 'function' && exported.name === name) return exported;
  try {
    return vm.runInThisContext(`typeof ${name} === 'function' ? ${name} : undefined`);
  } catch {
    return undefined;
  }
}

function failure(err) {
  if (err instanceof RangeError && /memory|allocation/i.test(err.message)) {
    return { status: 'memory_limit', message: describe(err) };
  }
  return { status: 'error', message: describe(err) };
}

async function main() {
  const source = fs.readFileSync(call.filename, 'utf8');
  globalThis.module = { exports: {} };
  globalThis.exports = globalThis.module.exports;
  globalThis.require = require;
  let script;
  try {
    script = new vm.Script(source, { filename: call.filename });
  } catch (err) {
    report({ status: call.entry === null ? 'compile_error' : 'error', message: describe(err) });
  }
  try {
    script.runInThisContext();
  } catch (err) {
    report(failure(err));
  }
  if (call.entry === null) {
    const name = call.entrypoints.find((n) => typeof lookup(n) === 'function');
    report({ status: 'ok', output: name === undefined ? null : name });
  }
  try {
    report(encode(await lookup(call.entry)(...values.decode(call.args))));
  } catch (err) {
    report(failure(err));
  }
}

main();
