// The glue between the connector and jsonata-js (see `jsonata.rs`): compile (cached),
// evaluate, and answer with one string: `R` + JSON result, `U` (undefined), `E` + JSON of the
// error (`code`, `message`, `position`), or `K` / `KX` (an evaluation with a mark read a hidden
// value, or an engine limit stopped it). The cache's size is put in before it loads.
var __cache = new Map();
function __error(e) {
  return "E" + JSON.stringify({ code: e && e.code, message: e && (e.message || String(e)), position: e && e.position });
}
function __compile(expr) {
  var c = __cache.get(expr);
  if (!c) {
    if (__cache.size >= CACHED) { __cache.clear(); }
    c = jsonata(expr);
    __cache.set(expr, c);
  }
  return c;
}
function __check(expr) {
  try { __compile(expr); return ""; } catch (e) { return __error(e); }
}
// The names an expression reads at the top of its input (`a` in `a.b`, `$.a`, `$$.a`,
// `$states.input.a`), outside predicates, later path steps and lambdas (where the context is
// another value): what data flow can check.
function __names(expr) {
  var out = [];
  function first(steps) {
    var s0 = steps[0], s1 = steps[1], s2 = steps[2];
    if (!s0) { return; }
    if (s0.type === "name") { out.push(s0.value); }
    else if (s0.type === "variable" && (s0.value === "" || s0.value === "$") && s1 && s1.type === "name") { out.push(s1.value); }
    else if (s0.type === "variable" && s0.value === "states" && s1 && s1.type === "name" && s1.value === "input" && s2 && s2.type === "name") { out.push(s2.value); }
    else { walk(s0); }
  }
  function walk(n) {
    if (!n || typeof n !== "object") { return; }
    if (Array.isArray(n)) { n.forEach(walk); return; }
    switch (n.type) {
      case "path": first(n.steps || []); return;
      case "name": if (!n.stages && !n.predicate) { out.push(n.value); } return;
      case "lambda": return;
      case "binary": walk(n.lhs); walk(n.rhs); return;
      case "unary": if (n.value === "[" || n.value === "{") { walk(n.expressions); walk(n.lhs); } else { walk(n.expression); } return;
      case "function": case "partial": walk(n.arguments); return;
      case "condition": walk(n.condition); walk(n.then); walk(n["else"]); return;
      case "block": walk(n.expressions); return;
      case "bind": walk(n.rhs); return;
      default: return;
    }
  }
  try { walk(__compile(expr).ast()); return JSON.stringify(out); } catch (e) { return __error(e); }
}
// The unstable functions `expr` calls (a name it binds itself is its own function).
function __unstable_calls(expr) {
  var unstable = ["now", "millis", "random", "uuid"], called = [], bound = [];
  function walk(n) {
    if (!n || typeof n !== "object") { return; }
    if (Array.isArray(n)) { n.forEach(walk); return; }
    if (n.type === "bind" && n.lhs && n.lhs.type === "variable") { bound.push(n.lhs.value); }
    if (n.type === "lambda") { (n.arguments || []).forEach(function (a) { if (a.type === "variable") { bound.push(a.value); } }); }
    if ((n.type === "function" || n.type === "partial") && n.procedure && n.procedure.type === "variable"
        && unstable.indexOf(n.procedure.value) >= 0 && called.indexOf(n.procedure.value) < 0) {
      called.push(n.procedure.value);
    }
    Object.keys(n).forEach(function (k) { walk(n[k]); });
  }
  try {
    walk(__compile(expr).ast());
    return JSON.stringify(called.filter(function (c) { return bound.indexOf(c) < 0; }));
  } catch (e) { return __error(e); }
}
function __unstable(name) {
  return function () {
    throw { code: "UNSTABLE", message: "$" + name + "() gives another value on every run, so a re-run or a retry would send another request (and could charge twice); read a time or id from the input or $states.context instead" };
  };
}
// Hides every value equal to `mark` in `v` (a JSON value, changed in place): an object or
// array that holds one directly becomes a proxy whose read of it ([[Get]]: a path step,
// `JSON.stringify`, `Object.values`) sets `seen.read` and throws. A key stays visible
// (`$keys`): the run puts its value there; the value is what only the run can tell. Each
// evaluation has its own `seen`, so work an earlier one left queued cannot count as a read.
function __hide(v, mark, seen) {
  if (v === null || typeof v !== "object") { return v; }
  var hides = false;
  Object.keys(v).forEach(function (k) {
    if (v[k] === mark) { hides = true; } else { v[k] = __hide(v[k], mark, seen); }
  });
  if (!hides) { return v; }
  return new Proxy(v, {
    get: function (t, k, r) {
      if (Object.prototype.hasOwnProperty.call(t, k) && t[k] === mark) {
        seen.read = true;
        throw { code: "UC0001", message: "reads a value only the run can tell" };
      }
      return Reflect.get(t, k, r);
    }
  });
}
// Evaluates `expr`. With a `mark`, every value equal to it is hidden, and an evaluation that
// reads one answers `K` whatever it did next (a function may have caught the throw); one that
// fails other than by a JSONata error (with its `code`, all along the chain of errors `$eval`
// wraps in `error`) answers `KX`: a stack or memory limit may have stopped it inside a read,
// before the read was counted. A task input that is the mark as a whole (a task's result:
// no key around it to hide it behind) is evaluated over three stand-ins, an object and an
// array whose every read counts and the mark itself: an answer that reads none of them and
// is the same for all three does not depend on the input.
function __eval(expr, input, bindings, mark) {
  var c;
  try { c = __compile(expr); } catch (e) { return Promise.resolve(__error(e)); }
  var seen = { read: false };
  var failed = function (e) {
    if (!mark) { return __error(e); }
    if (seen.read) { return "K"; }
    for (var x = e, n = 0; n < 64; x = x.error, n++) {
      if (!x || typeof x.code !== "string") { return "KX"; }
      if (x.error === undefined) { return __error(e); }
    }
    return "KX";
  };
  try {
    var b = JSON.parse(bindings), i = input === "" ? undefined : JSON.parse(input);
    if (mark) {
      b = __hide(b, mark, seen);
      if (i !== mark) { i = __hide(i, mark, seen); }
    }
    ["now", "millis", "random", "uuid"].forEach(function (n) { b[n] = __unstable(n); });
    var run = function (input) {
      return c.evaluate(input, b).then(
        function (r) {
          if (!mark) { return r === undefined ? "U" : "R" + JSON.stringify(r); }
          var text;
          try { text = r === undefined ? "U" : "R" + JSON.stringify(r); } catch (e) { return failed(e); }
          // A result holding the mark (read some other way) is not claimed either.
          return seen.read || text.indexOf(JSON.stringify(mark).slice(1, -1)) >= 0 ? "K" : text;
        },
        failed);
    };
    if (!mark || i !== mark) { return run(i); }
    var standins = [__opaque({}, seen), __opaque([], seen), mark], answer = null;
    var next = function (k) {
      if (k === standins.length) { return answer; }
      return run(standins[k]).then(function (text) {
        if (text === "K" || text === "KX") { return text; }
        if (answer !== null && text !== answer) { return "K"; }
        answer = text;
        return next(k + 1);
      });
    };
    return next(0);
  } catch (e) { return Promise.resolve(failed(e)); }
}
// A stand-in for a value only the run can tell, of `target`'s kind: every read of it counts,
// but for an array's `sequence` (jsonata asks every array input whether it is one of its own
// sequences; the run's array is not).
function __opaque(target, seen) {
  var read = function () {
    seen.read = true;
    throw { code: "UC0001", message: "reads a value only the run can tell" };
  };
  var get = function (t, k) { return Array.isArray(t) && k === "sequence" ? undefined : read(); };
  return new Proxy(target, { get: get, has: read, ownKeys: read, getOwnPropertyDescriptor: read });
}
