// The two workloads of the client benchmark, for laniakea-client, Yjs and
// Automerge alike; the same module runs in Node and in Chromium (run.mjs).
// Each case has a setup (untimed, run before every repetition) and a timed
// body that ends by reading the result, so lazy work is counted.
export const N = 10000;

function check(got, want, what) {
  if (got !== want) throw new Error(`${what}: ${got} elements, expected ${want}`);
}

// ---- laniakea-client: ORSet values on the core in WebAssembly ----
export function laniakeaCases({ ORSet }) {
  const set = (node, prefix) =>
    ORSet.from({
      c: { [node]: [[1, N]] },
      e: Object.fromEntries(Array.from({ length: N }, (_, i) => [`${prefix}${i}`, { [node]: [i + 1] }])),
    });
  const a = set('n1', 'a');
  const b = set('n2', 'b');
  // what a remote node's add sends, as the phoenix client hands it over (parsed JSON)
  const deltas = Array.from({ length: N }, (_, i) => ({
    c: { remote: [[i + 1, i + 1]] },
    e: { [`r${i}`]: { remote: [i + 1] } },
  }));
  return {
    merge: { body: () => check(a.merge(b).size, 2 * N, 'merge') },
    apply: {
      body: () => {
        let s = ORSet.empty();
        for (const d of deltas) s = s.merge(ORSet.from(d));
        check(s.size, N, 'apply');
      },
    },
  };
}

// ---- Yjs: a Y.Map used as a set (key → true) ----
export function yjsCases(Y) {
  const doc = (prefix) => {
    const d = new Y.Doc();
    d.transact(() => {
      const m = d.getMap('s');
      for (let i = 0; i < N; i++) m.set(`${prefix}${i}`, true);
    });
    return Y.encodeStateAsUpdate(d);
  };
  const ua = doc('a');
  const ub = doc('b');
  const remote = new Y.Doc();
  const updates = [];
  remote.on('update', (u) => updates.push(u));
  for (let i = 0; i < N; i++) remote.getMap('s').set(`r${i}`, true);
  let target;
  return {
    merge: {
      setup: () => {
        target = new Y.Doc();
        Y.applyUpdate(target, ua);
      },
      body: () => {
        Y.applyUpdate(target, ub);
        check(target.getMap('s').size, 2 * N, 'yjs merge');
      },
    },
    apply: {
      setup: () => {
        target = new Y.Doc();
      },
      body: () => {
        for (const u of updates) Y.applyUpdate(target, u);
        check(target.getMap('s').size, N, 'yjs apply');
      },
    },
  };
}

// ---- Automerge: a map used as a set (key → true) ----
export function automergeCases(A) {
  const doc = (prefix) =>
    A.save(
      A.change(A.init(), (d) => {
        for (let i = 0; i < N; i++) d[`${prefix}${i}`] = true;
      }),
    );
  const sa = doc('a');
  const sb = doc('b');
  let remote = A.init();
  const changes = [];
  for (let i = 0; i < N; i++) {
    remote = A.change(remote, (d) => {
      d[`r${i}`] = true;
    });
    changes.push(A.getLastLocalChange(remote));
  }
  let x;
  let y;
  return {
    merge: {
      setup: () => {
        x = A.load(sa);
        y = A.load(sb);
      },
      body: () => check(Object.keys(A.merge(x, y)).length, 2 * N, 'automerge merge'),
    },
    apply: {
      setup: () => {
        x = A.init();
      },
      body: () => {
        let d = x;
        for (const c of changes) [d] = A.applyChanges(d, [c]);
        check(Object.keys(d).length, N, 'automerge apply');
      },
    },
  };
}

/** Milliseconds of one run of a case. */
function timeOnce(c) {
  c.setup?.();
  const t0 = performance.now();
  c.body();
  return performance.now() - t0;
}

/**
 * The median and the fastest of a list of milliseconds (on a machine shared
 * with other work, the fastest run is the one least disturbed).
 */
function summary(times) {
  times.sort((p, q) => p - q);
  return { median: times[Math.floor(times.length / 2)], min: times[0] };
}

/**
 * Every case: warm rounds, then reps timed ones, each round running every
 * library's merge and then every library's apply in turn, so that a burst of
 * load on this shared machine falls on all of them alike rather than on
 * whichever library was running.  Automerge's apply takes about a minute here
 * (applyChanges one change at a time grows with the document), so it runs
 * once, unwarmed, after the rounds.
 */
export function runAll(libs, { warm = 2, reps = 7 } = {}, only = ['laniakea', 'yjs', 'automerge']) {
  const cases = {};
  for (const [name, make] of [
    ['laniakea', () => laniakeaCases(libs.laniakea)],
    ['yjs', () => yjsCases(libs.Y)],
    ['automerge', () => automergeCases(libs.Automerge)],
  ])
    if (only.includes(name)) cases[name] = make();
  const times = {};
  for (const name of Object.keys(cases)) times[name] = { merge: [], apply: [] };
  for (let round = 0; round < warm + reps; round++)
    for (const workload of ['merge', 'apply'])
      for (const [name, c] of Object.entries(cases)) {
        if (name === 'automerge' && workload === 'apply') continue;
        const t = timeOnce(c[workload]);
        if (round >= warm) times[name][workload].push(t);
      }
  if (cases.automerge) times.automerge.apply.push(timeOnce(cases.automerge.apply));
  const out = {};
  for (const [name, t] of Object.entries(times)) out[name] = { merge: summary(t.merge), apply: summary(t.apply) };
  return out;
}
