// CodeWorld's value codec for JavaScript: the wire format of values.py (its docstring is the
// contract), so what a test passes and a program returns crosses between Python and JavaScript
// exactly where JavaScript has the type. Node only, no packages: the harness copies this file
// into the sandbox and calls `const { encode, decode } = require('./_values.js')`.
//
// decode(data, root) takes data as JSON.parse gives it and returns:
//   int → number when safe, else BigInt; float → number (NaN, ±Infinity, -0); str → string;
//   bytes → Uint8Array; list, tuple → Array; set, frozenset → Set; dict whose keys are all str →
//   plain object, any other dict → Map (a tuple key becomes an Array, compared by identity);
//   None → null.
// encode(value, root) returns data for JSON.stringify:
//   null, undefined → None; boolean → bool; a number with an integer value (not -0) → int, any
//   other number → float; BigInt → int; string → str; Uint8Array (a Buffer too) → bytes;
//   Array → list and Set → set, but tuple and frozenset where they are a Set element or a Map
//   key (Python needs those hashable); plain object (own enumerable string keys) → dict with str keys; Map →
//   dict. Anything else (functions, symbols, class instances, Dates, other typed arrays, a value
//   nested in itself) throws an Error naming the place, e.g. `result[0]["k"]`.
// So in Python terms a JavaScript result holds no tuple (an Array is a list), no frozenset and
// no whole-number float (1.0 is the int 1): verdicts.same_value(..., language="javascript")
// compares with that in mind. A Python str whose surrogates pair up arrives as one character,
// and a Set element or Map key -0 as 0 (JavaScript stores it so).
'use strict';

const MAX_DEPTH = 100;
const DECIMAL_BITS = 2000n;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const FLOATS = { nan: NaN, inf: Infinity, '-inf': -Infinity, '-0': -0 };
const CARRIED = 'null, boolean, number, BigInt, string, Uint8Array, Array, Set, Map or a plain object';
const PATH_CAP = 200;

class PathError extends Error {
  constructor(reason) {
    super(reason);
    this.reason = reason;
    this.steps = []; // innermost first, added while unwinding
  }

  at(root) {
    let path = this.steps.reverse().join('');
    if (path.length > PATH_CAP) path = `${path.slice(0, PATH_CAP / 2)}…${path.slice(-PATH_CAP / 2)}`;
    this.message = `${root}${path}: ${this.reason}`;
    return this;
  }
}

function step(fn, value, depth, name, flag) {
  try {
    return fn(value, depth, flag);
  } catch (err) {
    if (err instanceof PathError) err.steps.push(name);
    throw err;
  }
}

const keyStep = (key) => `[${typeof key === 'string' ? JSON.stringify(key) : String(key).slice(0, 60)}]`;

function encode(value, root = 'value') {
  try {
    return enc(value, 0, false);
  } catch (err) {
    throw err instanceof PathError ? err.at(root) : err;
  }
}

function decode(data, root = 'value') {
  try {
    return dec(data, 0);
  } catch (err) {
    throw err instanceof PathError ? err.at(root) : err;
  }
}

function intText(big) {
  const size = big < 0n ? -big : big;
  if (size < 1n << DECIMAL_BITS) return big.toString();
  return `${big < 0n ? '-' : ''}0x${size.toString(16)}`;
}

function segments(text) {
  const out = [];
  let run = '';
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const paired = unit >= 0xd800 && unit <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    if (paired) {
      run += text.slice(i, i + 2);
      i++;
    } else if (unit >= 0xd800 && unit <= 0xdfff) {
      out.push(run, unit);
      run = '';
    } else run += text[i];
  }
  out.push(run);
  return out;
}

// `hashable`: the value is a Set element or a Map key, so an Array is a tuple there.
function enc(value, depth, hashable) {
  switch (typeof value) {
    case 'string':
      return LONE.test(value) ? { $str: segments(value) } : value;
    case 'number':
      if (Object.is(value, -0)) return { $float: '-0' };
      if (Number.isNaN(value)) return { $float: 'nan' };
      if (!Number.isFinite(value)) return { $float: value > 0 ? 'inf' : '-inf' };
      if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
        return { $int: intText(BigInt(value)) };
      }
      return value;
    case 'bigint':
      return value >= -SAFE && value <= SAFE ? Number(value) : { $int: intText(value) };
    case 'boolean':
      return value;
    case 'undefined':
      return null;
    case 'object':
      break;
    default:
      throw new PathError(`cannot carry a value of type ${typeof value}: use ${CARRIED}`);
  }
  if (value === null) return null;
  if (value instanceof Uint8Array) {
    return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
  if (depth >= MAX_DEPTH) {
    throw new PathError(`nests more than ${MAX_DEPTH} containers (does it contain itself?)`);
  }
  depth++;
  if (Array.isArray(value)) {
    const items = new Array(value.length);
    for (let i = 0; i < value.length; i++) items[i] = step(enc, value[i], depth, `[${i}]`, hashable);
    return hashable ? { $tuple: items } : items;
  }
  if (value instanceof Set) {
    const items = Array.from(value, (item) => step(enc, item, depth, ' (a set element)', true));
    return hashable ? { $frozenset: items } : { $set: items };
  }
  const proto = Object.getPrototypeOf(value);
  const plain = proto === Object.prototype || proto === null;
  if ((value instanceof Map || plain) && hashable) {
    throw new PathError('a Set element or Map key cannot be a dict (a Map or object) in Python');
  }
  if (value instanceof Map) return dict(Array.from(value), depth);
  if (plain) return dict(Object.entries(value), depth);
  const name = (value.constructor && value.constructor.name) || 'object';
  throw new PathError(
    `cannot carry a value of type ${name}: use ${CARRIED} (convert it first, e.g. Array.from(x))`);
}

function dict(entries, depth) {
  const plain = entries.every(([k]) => typeof k === 'string' && k[0] !== '$' && !LONE.test(k));
  if (plain) {
    const out = Object.create(null); // so a "__proto__" key is just a key
    for (const [key, item] of entries) out[key] = step(enc, item, depth, keyStep(key), false);
    return out;
  }
  return {
    $dict: entries.map(([key, item]) => [
      step(enc, key, depth, ' (a dict key)', true),
      step(enc, item, depth, keyStep(key), false),
    ]),
  };
}

function dec(data, depth) {
  const kind = typeof data;
  if (data === null || kind === 'string' || kind === 'number' || kind === 'boolean') return data;
  if (kind !== 'object') throw new PathError(`a ${kind} is not JSON data`);
  const keys = Array.isArray(data) ? null : Object.keys(data);
  if (keys && keys.length === 1 && keys[0][0] === '$') {
    return step(tag, data[keys[0]], depth, `.${keys[0]}`, keys[0]);
  }
  if (depth >= MAX_DEPTH) throw new PathError(`nests more than ${MAX_DEPTH} containers`);
  if (!keys) return data.map((item, i) => step(dec, item, depth + 1, `[${i}]`));
  const out = {};
  for (const key of keys) {
    if (key[0] === '$') {
      throw new PathError(`key ${JSON.stringify(key)}: an object with a '$' key must be a single `
        + 'tag such as {"$tuple": [...]}; write a dict with such keys as {"$dict": [[key, value], ...]}');
    }
    Object.defineProperty(out, key, {
      value: step(dec, data[key], depth + 1, keyStep(key)),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function tag(payload, depth, name) {
  const list = Array.isArray(payload);
  if (name === '$int' && typeof payload === 'string') {
    const negative = payload.startsWith('-');
    let big;
    try {
      big = BigInt(negative ? payload.slice(1) : payload);
    } catch {
      throw new PathError(`${JSON.stringify(payload.slice(0, 60))} is not an integer`);
    }
    if (negative) big = -big;
    return big >= -SAFE && big <= SAFE ? Number(big) : big;
  }
  if (name === '$float' && Object.hasOwn(FLOATS, payload)) return FLOATS[payload];
  if (name === '$str' && list) return payload.map(textRun).join('');
  if (name === '$bytes' && typeof payload === 'string') {
    const bytes = Buffer.from(payload, 'base64');
    if (bytes.toString('base64') !== payload) throw new PathError('not base64');
    return new Uint8Array(bytes);
  }
  if (['$tuple', '$set', '$frozenset', '$dict'].includes(name) && list) {
    if (depth >= MAX_DEPTH) throw new PathError(`nests more than ${MAX_DEPTH} containers`);
    depth++;
    if (name === '$dict') return decodedDict(payload, depth);
    const items = payload.map((item, i) => step(dec, item, depth, `[${i}]`));
    return name === '$tuple' ? items : new Set(items);
  }
  throw new PathError(`unknown tag or bad payload ${JSON.stringify({ [name]: payload }).slice(0, 80)}`);
}

function textRun(run) {
  if (typeof run === 'string') return run;
  if (Number.isInteger(run) && run >= 0 && run <= 0x10ffff) return String.fromCodePoint(run);
  throw new PathError(`$str holds text and code points, not ${JSON.stringify(run).slice(0, 60)}`);
}

function decodedDict(pairs, depth) {
  const entries = pairs.map((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new PathError(`$dict entry ${i} must be a [key, value] list`);
    }
    return [step(dec, pair[0], depth, `[${i}][0]`), step(dec, pair[1], depth, `[${i}][1]`)];
  });
  if (!entries.every(([key]) => typeof key === 'string')) return new Map(entries);
  const out = {};
  for (const [key, value] of entries) {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

module.exports = { decode, encode };
