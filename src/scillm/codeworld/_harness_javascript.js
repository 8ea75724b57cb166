// CodeWorld's function harness for JavaScript, run inside the sandbox: `node main.js START`.
// Same protocol as _harness_python.py: spec.json holds {filename, entrypoints, calls: [{args,
// timeout_s}], load_timeout_s, output_cap, stdout_cap}; one JSON line per event goes to fd 1,
// while the program's console output is captured per call. The program runs as a script in
// this context, so top-level `function solve` (or `module.exports.solve`) is found. Per-call CPU
// comes from process.cpuUsage(), so node's start-up is not counted.
'use strict';
const fs = require('fs');
const util = require('util');
const vm = require('vm');

const spec = JSON.parse(fs.readFileSync('spec.json', 'utf8'));
const start = Number(process.argv[2] || 0);
const MESSAGE_CAP = 2000;
let captured = '';

const emit = (record) => fs.writeSync(1, JSON.stringify(record) + '\n');
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

function expired(err) {
  return Boolean(err && err.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT');
}

function withTimeout(promise, ms) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timeout'), {
      code: 'ERR_SCRIPT_EXECUTION_TIMEOUT',
    })), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

async function invoke(source, timeoutS, keepValue = true) {
  captured = '';
  const ms = Math.max(1, Math.round(timeoutS * 1000));
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  let status = 'ok';
  let message = '';
  let value;
  try {
    value = vm.runInThisContext(source, { timeout: ms });
    if (value && typeof value.then === 'function') value = await withTimeout(value, ms);
  } catch (err) {
    if (expired(err)) [status, message] = ['timeout', `ran longer than ${timeoutS} s`];
    else if (err instanceof RangeError && /memory|allocation/i.test(err.message)) {
      [status, message] = ['memory_limit', describe(err)];
    } else [status, message] = ['error', describe(err)];
  }
  const cpu = process.cpuUsage(cpu0);
  const record = {
    status,
    message,
    cpu_ms: (cpu.user + cpu.system) / 1000,
    wall_ms: Number(process.hrtime.bigint() - wall0) / 1e6,
    stdout: captured.slice(0, spec.stdout_cap),
  };
  if (status === 'ok' && keepValue) {
    Object.assign(record, encode(value === undefined ? null : value));
  }
  return record;
}

function encode(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    return { status: 'error', message: `returned a value that is not JSON data: ${describe(err)}` };
  }
  if (text === undefined) return { status: 'error', message: `returned a ${typeof value}` };
  if (text.length > spec.output_cap) {
    return { status: 'output_limit', message: `return value over ${spec.output_cap} bytes` };
  }
  return { output: JSON.parse(text) };
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

async function main() {
  const source = fs.readFileSync(spec.filename, 'utf8');
  globalThis.module = { exports: {} };
  globalThis.exports = globalThis.module.exports;
  globalThis.require = require;
  let script;
  try {
    script = new vm.Script(source, { filename: spec.filename });
  } catch (err) {
    emit({ event: 'compile_error', message: describe(err) });
    return;
  }
  globalThis.__codeworld_script = script;
  const loaded = await invoke(
    '__codeworld_script.runInThisContext()', spec.load_timeout_s, false);
  if (loaded.status !== 'ok') {
    emit({ event: 'load_error', ...loaded });
    return;
  }
  const name = spec.entrypoints.find((n) => typeof lookup(n) === 'function');
  if (name === undefined) {
    const names = spec.entrypoints.map((n) => `'${n}'`).join(' or ');
    emit({ event: 'no_entrypoint', message: `the program defines no function ${names}` });
    return;
  }
  emit({ event: 'loaded', entrypoint: name });
  globalThis.__codeworld_entry = lookup(name);
  for (let index = start; index < spec.calls.length; index++) {
    globalThis.__codeworld_args = spec.calls[index].args;
    const record = await invoke(
      '__codeworld_entry(...__codeworld_args)', spec.calls[index].timeout_s);
    emit({ event: 'call', index, ...record });
  }
  emit({ event: 'done' });
}

main();
