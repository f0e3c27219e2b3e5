// The offline-first connection against a fake bridge (test/fake-bridge.mjs):
// local changes apply at once, survive outages and reloads, reach the server
// exactly once in effect, and tabs of one profile lose nothing.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { connect, MemoryStorage, GCounter, ORSet, LWWRegister, topic } from "../lib/laniakea.js";
import { FakeBridge } from "./fake-bridge.mjs";

const TABLES = { pages: { hits: "gcounter", score: "pncounter", tags: "orset", title: "lwwreg" } };
const FAST = { reconnectAfterMs: () => 20, rejoinAfterMs: () => 20, timeout: 2000 };
const clients = [];
const bridges = [];

after(async () => {
  for (const c of clients) c.disconnect();
  for (const b of bridges) await b.stop().catch(() => {});
});

async function bridge() {
  const b = await new FakeBridge(TABLES).start();
  bridges.push(b);
  return b;
}

function client(b, opts = {}) {
  const c = connect({ url: b.url, WebSocket, storage: new MemoryStorage(), socket: FAST, ...opts });
  clients.push(c);
  return c;
}

async function until(pred, what, ms = 5000) {
  const end = performance.now() + ms; // not Date.now(), which tests of clocks move
  while (!(await pred())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const joined = (b, n = 1) => until(() => b.joins.length >= n, "a join");
// a register's write in a stored record: waiting to be sent (pend), or the server's (base)
const storedTitle = (rec) => rec?.pend?.title?.at(-1)?.[0] ?? rec?.base?.title;
const serverHits = (b, key = "k") => b.row("pages", key).state.hits.bigValue();

test("local_increment_is_visible_at_once_and_reaches_the_server_once", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits") !== undefined, "the column types");
  row.increment("hits", 3);
  assert.equal(row.get("hits").value(), 3, "applied before any round trip");
  assert.equal(row.pending, 1);
  await row.flushed();
  assert.equal(row.pending, 0);
  assert.equal(serverHits(b), 3n);
  assert.equal(String(b.row("pages", "k").state.hits), '{"n1":3}');
});

test("increments_made_during_an_outage_arrive_after_it_exactly_once", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  await b.stop();
  await until(() => c.status === "offline", "offline status");
  for (let i = 0; i < 5; i++) row.increment("hits");
  row.add("tags", "offline");
  assert.equal(row.get("hits").value(), 5);
  assert.equal(row.pending, 6);
  await new Promise((r) => setTimeout(r, 100));
  await b.start(b.port);
  await until(() => c.status === "online", "online again");
  await row.flushed();
  assert.equal(serverHits(b), 5n);
  assert.deepEqual(b.row("pages", "k").state.tags.elements(), ["offline"]);
});

test("a_lost_acknowledgement_is_resent_and_never_double_counts", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  b.dropReplies = 1;
  row.increment("hits", 7);
  await until(() => b.pushes.length === 1, "the first push");
  // the reply never comes: the connection drops, and the push is sent again
  for (const ws of b.sockets) ws.terminate();
  await row.flushed();
  assert.ok(b.pushes.length >= 2, "pushed again after the lost reply");
  assert.equal(serverHits(b), 7n, "resending the node's own count is idempotent");
});

test("disconnect_on_purpose_keeps_changes_and_connect_sends_them", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const statuses = [];
  c.on("status", (s) => statuses.push(s));
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  c.disconnect();
  assert.equal(c.status, "offline");
  row.increment("score", 4);
  row.decrement("score", 1);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(b.pushes.length, 0, "nothing is sent while disconnected");
  c.connect();
  await row.flushed();
  assert.equal(b.row("pages", "k").state.score.value(), 3);
  assert.deepEqual(statuses.slice(-3), ["offline", "connecting", "online"]);
});

test("a_reload_keeps_unsent_changes_and_sends_them_once", async () => {
  const b = await bridge();
  const storage = new MemoryStorage();
  const first = client(b, { node: "n1", storage });
  const row = first.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  first.disconnect();
  row.increment("hits", 2);
  row.add("tags", "kept");
  await new Promise((r) => setTimeout(r, 50)); // the storage commit
  // the page goes away with its changes unsent; a new page on the same storage
  const second = client(b, { node: "n1", storage });
  const again = second.row("pages", "k");
  await until(() => again.get("hits")?.value() === 2, "the stored change after the reload");
  await again.flushed();
  assert.equal(serverHits(b), 2n);
  assert.deepEqual(b.row("pages", "k").state.tags.elements(), ["kept"]);
});

test("the_node_id_is_stable_per_storage", async () => {
  const b = await bridge();
  const storage = new MemoryStorage();
  const one = client(b, { storage });
  const id = await one.nodeReady;
  assert.match(id, /^web-[0-9a-f]{16}$/);
  const two = client(b, { storage });
  assert.equal(await two.nodeReady, id);
  const other = client(b);
  assert.notEqual(await other.nodeReady, id);
});

test("two_tabs_of_one_profile_offline_lose_no_increment_and_no_element", async () => {
  const b = await bridge();
  const storage = new MemoryStorage(); // one profile: one storage, one node id
  const tabA = client(b, { storage });
  const tabB = client(b, { storage });
  const a = tabA.row("pages", "k");
  const bb = tabB.row("pages", "k");
  await joined(b, 2);
  await until(() => a.get("hits") && bb.get("hits"), "types in both tabs");
  assert.equal(await tabA.nodeReady, await tabB.nodeReady);
  tabA.disconnect();
  tabB.disconnect();
  for (let i = 0; i < 20; i++) {
    a.increment("hits");
    bb.increment("hits", 2);
    a.add("tags", `a${i}`);
    bb.add("tags", `b${i}`);
  }
  // each tab sees the other's edits while both are offline
  await until(() => a.get("hits").value() === 60 && bb.get("hits").value() === 60, "both tabs at 60");
  await until(() => a.get("tags").size === 40 && bb.get("tags").size === 40, "both tabs with 40 tags");
  tabA.connect();
  tabB.connect();
  await a.flushed();
  await bb.flushed();
  assert.equal(serverHits(b), 60n);
  assert.equal(b.row("pages", "k").state.tags.size, 40);
});

test("remote_deltas_merge_and_never_overwrite_local_changes", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  c.disconnect();
  row.add("tags", "mine");
  c.connect();
  b.write("pages", "k", "tags", (s) => s.add("theirs", "n2"));
  await row.flushed();
  await until(() => row.get("tags").size === 2, "both elements");
  assert.deepEqual(row.get("tags").elements(), ["mine", "theirs"]);
});

test("join_sends_have_node_and_the_capability_probe", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  row.increment("hits");
  await row.flushed();
  c.disconnect();
  c.connect();
  await joined(b, 2);
  const params = b.joins.at(-1).payload;
  assert.equal(params.node, "n1");
  assert.deepEqual(Object.keys(params.caps).sort(), [
    "connectionType", "effectiveType", "hasSharedArrayBuffer", "hasWebTransport", "hasWorkers", "memoryMb",
  ]);
  assert.deepEqual(params.have.hits, { n1: 1 });
  assert.equal(c.profile, "full");
});

test("bad_local_operations_throw_at_once_and_are_not_kept", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  assert.throws(() => row.decrement("hits"), { name: "TypeError", message: /decrement needs a pncounter/ });
  assert.throws(() => row.increment("hits", 0), TypeError);
  assert.throws(() => row.increment("hits", 1.5), TypeError);
  assert.throws(() => row.add("tags", "\udc00"), { name: "TypeError", message: /lone surrogate/ });
  assert.throws(() => row.add("hits", "x"), { name: "TypeError", message: /add needs an orset/ });
  assert.equal(row.pending, 0);
});

test("operations_before_the_types_are_known_are_kept_and_applied_once_they_are", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  c.disconnect();
  const row = c.row("pages", "fresh");
  row.increment("hits", 4);
  assert.equal(row.get("hits"), undefined, "unknown type: nothing to show yet");
  assert.throws(() => row.add("tags", "\ud800"), { name: "TypeError", message: /lone surrogate/ }, "checked even before the type is known");
  assert.equal(row.pending, 1);
  c.connect();
  await until(() => row.get("hits")?.value() === 4, "applied after the join told the types");
  await row.flushed();
  assert.equal(serverHits(b, "fresh"), 4n);
});

test("table_rows_appear_and_go", async () => {
  const b = await bridge();
  b.write("pages", "x", "hits", (v) => v.increment("srv", 1));
  const c = client(b, { node: "n1" });
  const t = c.table("pages");
  const seen = [];
  const gone = [];
  t.on("row", (r) => seen.push(r.key));
  t.on("delete", (r) => gone.push(r.key));
  await until(() => seen.includes("x"), "the existing row");
  t.row("y").add("tags", "new");
  await until(() => seen.includes("y"), "a row created here");
  assert.deepEqual(t.rows().map((r) => r.key), ["x", "y"]);
  await t.row("y").flushed();
  assert.deepEqual(b.row("pages", "y").state.tags.elements(), ["new"]);
  assert.equal(b.pushes.at(-1).payload.key, "y", "table pushes name the key");
  b.remove("pages", "x");
  await until(() => gone.includes("x"), "the deleted row");
  assert.deepEqual(t.rows().map((r) => r.key), ["y"]);
});

// ---- deletes: causal length ----

test("delete_is_applied_at_once_and_pushed_with_the_incarnation_deleted", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  row.increment("hits", 2);
  await row.flushed();
  let told = 0;
  row.on("delete", () => told++);
  row.delete();
  assert.equal(row.deleted, true);
  assert.equal(row.get("hits").value(), 0);
  assert.equal(told, 1);
  await row.flushed();
  const push = b.pushes.find((p) => p.event === "delete");
  assert.deepEqual(push.payload, { cl: 1 });
  assert.equal(b.row("pages", "k").cl, 2);
  assert.equal(told, 1, "told once");
});

test("a_write_to_a_deleted_row_recreates_it_at_the_next_incarnation", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  row.increment("hits", 5);
  row.delete();
  row.increment("hits", 1);
  assert.equal(row.deleted, false);
  assert.equal(row.cl, 3);
  assert.equal(row.get("hits").value(), 1, "a fresh state: the old count went with the delete");
  await row.flushed();
  const r = b.row("pages", "k");
  assert.equal(r.cl, 3);
  assert.equal(r.state.hits.value(), 1);
  const merge = b.pushes.filter((p) => p.event === "merge").at(-1);
  assert.equal(merge.payload.cl, 3);
});

test("a_remote_delete_drops_local_changes_it_did_not_see", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  c.disconnect();
  row.increment("hits", 9); // made in incarnation 1, never seen by the deleter
  b.remove("pages", "k");
  c.connect();
  await until(() => row.deleted, "the delete");
  await row.flushed();
  assert.equal(row.get("hits").value(), 0);
  assert.equal(b.row("pages", "k").cl, 2);
  assert.equal(b.row("pages", "k").state.hits.value(), 0, "the stale increment did not resurrect the row");
});

test("stale_events_of_an_older_incarnation_are_ignored", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  b.remove("pages", "k");
  await until(() => row.deleted, "delete");
  for (const ws of b.sockets)
    for (const [t, ref] of ws.topics)
      ws.send(JSON.stringify([ref, null, t, "delta", { key: "k", deltas: { hits: { old: 50 } } }]));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(row.get("hits").toString(), "{}", "cl 1 (absent) after cl 2: ignored");
  assert.equal(row.deleted, true);
  b.row("pages", "k").cl = 3; // re-created on the server
  b.write("pages", "k", "hits", (v) => v.increment("srv", 1));
  await until(() => !row.deleted && row.get("hits").value() === 1, "the newer incarnation");
});

test("deleting_offline_is_kept_and_pushed_on_reconnect", async () => {
  const b = await bridge();
  const storage = new MemoryStorage();
  const c = client(b, { node: "n1", storage });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  row.increment("hits");
  await row.flushed();
  c.disconnect();
  row.delete();
  await new Promise((r) => setTimeout(r, 50));
  const again = client(b, { node: "n1", storage }).row("pages", "k");
  await until(() => again.deleted, "the delete, after a reload");
  await again.flushed();
  assert.equal(b.row("pages", "k").cl, 2);
});

test("a_malformed_state_from_the_server_is_reported_and_the_rest_still_merges", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  const errors = [];
  row.on("error", (e) => errors.push(e));
  await joined(b);
  await until(() => row.get("hits"), "types");
  for (const ws of b.sockets)
    for (const [t, ref] of ws.topics)
      ws.send(JSON.stringify([ref, null, t, "delta", { key: "k", deltas: { hits: { x: -1 }, tags: { c: { s: [[1, 1]] }, e: { ok: { s: [1] } } } } }]));
  await until(() => row.get("tags").has("ok"), "the valid column");
  assert.equal(row.get("hits").toString(), "{}");
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /column hits from the server: value out of range/);
});

test("topics_are_the_cores_with_dots_colons_and_percents_escaped_in_names", () => {
  assert.equal(topic("pages"), "crdt:pages");
  assert.equal(topic("pages", 42), "crdt:pages:42");
  assert.equal(topic("pages", "a:b.c%"), "crdt:pages:a:b.c%", "a key is as it is");
  assert.equal(topic({ schema: "public", name: "pages" }, "k"), "crdt:pages:k", "public is not written");
  assert.equal(topic({ schema: "app", name: "items" }, "k"), "crdt:app.items:k");
  assert.equal(topic("app.items", "k"), "crdt:app%2Eitems:k", "a name is not parsed: this is table app.items of public");
  assert.equal(topic({ schema: "a.b:c", name: "50%:x.y" }), "crdt:a%2Eb%3Ac.50%25%3Ax%2Ey");
  assert.equal(topic("%2E"), "crdt:%252E", "an escape in a name is escaped in turn");
  assert.equal(topic({ schema: "日本", name: "tâble \"q\"" }, "ключ"), 'crdt:日本.tâble "q":ключ', "nothing else is escaped");
  assert.throws(() => topic(""), TypeError);
  assert.throws(() => topic({ schema: "", name: "t" }), TypeError);
  assert.throws(() => topic({ name: "t" }), TypeError);
  assert.throws(() => topic(null), TypeError);
  assert.throws(() => topic("t\ud800"), { name: "TypeError", message: /table is not valid Unicode/ });
  assert.throws(() => topic("t", "\udc00"), { name: "TypeError", message: /key is not valid Unicode/ });
});

test("rows_of_a_table_of_another_schema_use_its_topic", async () => {
  const storage = new MemoryStorage();
  const c = connect({ url: "ws://127.0.0.1:1/socket", WebSocket, storage, node: "n1", socket: FAST });
  clients.push(c);
  c.disconnect();
  const row = c.row({ schema: "app", name: "to.dos" }, "k");
  assert.equal(row.topic, "crdt:app.to%2Edos:k");
  assert.equal(c.row({ schema: "app", name: "to.dos" }, "k"), row, "one row object per topic");
  row.increment("hits");
  await until(async () => (await storage.list("crdt:app.to%2Edos:")).length === 1, "the row stored under its topic");
  assert.equal(c.table({ schema: "app", name: "to.dos" }).topic, "crdt:app.to%2Edos");
});

test("values_from_storage_and_wire_are_the_core_types", () => {
  assert.ok(GCounter.from({ a: 1 }) instanceof GCounter);
  assert.ok(ORSet.empty() instanceof ORSet);
});

// ---- lwwreg and the node's clock ----

test("row_set_writes_a_register_as_this_node_and_the_server_gets_that_write", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("title"), "types");
  row.set("title", "Buy milk");
  assert.equal(row.get("title").get(), "Buy milk", "applied before any round trip");
  await row.flushed();
  const server = b.row("pages", "k").state.title;
  assert.equal(server.get(), "Buy milk");
  assert.equal(server.node, "n1");
  assert.equal(b.pushes.at(-1).payload.delta.n, "n1", "the push is this node's write");
  b.write("pages", "k", "title", (r) => r.set("Buy oat milk", "n2"));
  await until(() => row.get("title").get() === "Buy oat milk", "a later write from elsewhere");
  row.set("title", "Buy both");
  await row.flushed();
  assert.equal(b.row("pages", "k").state.title.get(), "Buy both", "a set beats the register it was made on");
  assert.throws(() => row.set("title", "a\u0000"), { name: "TypeError", message: /NUL/ });
  assert.throws(() => row.set("hits", "x"), { name: "TypeError", message: /set needs an lwwreg/ });
  assert.throws(() => row.set("title", 5), TypeError);
});

test("a_reload_never_sets_a_register_at_a_clock_below_one_already_used", async (t) => {
  const b = await bridge();
  const storage = new MemoryStorage();
  const now = Date.now();
  t.mock.method(Date, "now", () => now + 3_600_000); // this wall clock runs an hour ahead, then is corrected
  const first = client(b, { node: "n1", storage });
  const one = first.row("pages", "one");
  await joined(b);
  await until(() => one.get("title"), "types");
  first.disconnect();
  one.set("title", "set an hour ahead");
  await until(async () => storedTitle(await storage.get("crdt:pages:one")), "stored");
  const used = LWWRegister.from(storedTitle(await storage.get("crdt:pages:one"))).clock;
  assert.ok((await storage.get("clock:n1")).last >= String(used), "the node's clock is stored with the write");
  Date.now.mock.mockImplementation(() => now);
  // the page reloads; another register of another row, set with the wall clock back at now
  const second = client(b, { node: "n1", storage });
  const two = second.row("pages", "two");
  two.set("title", "set after the reload");
  await until(async () => storedTitle(await storage.get("crdt:pages:two")), "the second set stored");
  const later = LWWRegister.from(storedTitle(await storage.get("crdt:pages:two")));
  assert.ok(later.clock > used, `${later.clock} is above ${used}, the clock used before the reload`);
  assert.ok(later.clock < used + 1000n, "the stored clock, not a new guess");
});

test("two_tabs_setting_one_register_offline_order_their_writes", async (t) => {
  const b = await bridge();
  const storage = new MemoryStorage();
  const now = Date.now();
  t.mock.method(Date, "now", () => now); // both in one millisecond
  const tabA = client(b, { storage, node: "n1" });
  const tabB = client(b, { storage, node: "n1" });
  const a = tabA.row("pages", "k");
  const bb = tabB.row("pages", "k");
  await joined(b, 2);
  await until(() => a.get("title") && bb.get("title"), "types in both tabs");
  tabA.disconnect();
  tabB.disconnect();
  a.set("title", "zzz from A");
  await until(async () => storedTitle(await storage.get("crdt:pages:k")), "A's write stored");
  bb.set("title", "aaa from B, later");
  await until(() => a.get("title").get() === "aaa from B, later" && bb.get("title").get() === "aaa from B, later",
    "both tabs show B's later write, though its value sorts first");
  tabA.connect();
  tabB.connect();
  await a.flushed();
  await bb.flushed();
  assert.equal(b.row("pages", "k").state.title.get(), "aaa from B, later");
});

// ---- the server's whole row is authoritative ----

test("a_whole_row_of_a_smaller_cl_replaces_the_row_when_nothing_waits_to_be_sent", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  row.increment("hits", 2);
  row.delete();
  await row.flushed();
  assert.equal(row.cl, 2);
  assert.equal(b.pushes.filter((p) => p.event === "delete").length, 1, "one delete push");
  c.disconnect();
  // the server collects the tombstone and the key starts again at cl 1
  const r = b.row("pages", "k");
  r.cl = 1;
  r.state.hits = GCounter.from({ db: 7 });
  c.connect();
  await until(() => !row.deleted, "the server's row adopted");
  assert.equal(row.cl, 1);
  assert.equal(row.get("hits").toString(), '{"db":7}');
  assert.equal(row.pending, 0);
  // and stays so: a later reload reads it from storage
  assert.equal(b.joins.at(-1).payload.have.hits, undefined, "a deleted row has nothing to offer");
});

test("a_whole_row_of_a_smaller_cl_does_not_replace_changes_waiting_to_be_sent", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  row.increment("hits", 2);
  await row.flushed();
  c.disconnect();
  row.delete(); // at cl 1, not sent yet
  b.row("pages", "k").state.hits = GCounter.from({ db: 7 });
  c.connect();
  await row.flushed();
  assert.equal(row.deleted, true, "the delete waiting to be sent was kept");
  assert.equal(b.row("pages", "k").cl, 2, "and reached the server");
});

test("a_join_of_a_row_deleted_before_names_no_states_in_have", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await joined(b);
  await until(() => row.get("hits"), "types");
  row.delete();
  row.increment("hits", 1); // cl 3
  await row.flushed();
  c.disconnect();
  c.connect();
  await joined(b, 2);
  assert.deepEqual(b.joins.at(-1).payload.have, {}, "the server answers with its whole row");
});

test("a_tables_pending_counts_its_rows_deleted_ones_too_and_it_tells_of_their_changes", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const t = c.table("pages");
  // a row asked for before the table's join: its columns are known once it is joined
  await until(() => t.row("a").get("title") && c.status === "online", "the table joined");
  const changed = [];
  t.on("change", (r) => changed.push(r.key));
  c.disconnect();
  t.row("a").set("title", "x");
  t.row("b").increment("hits").delete();
  assert.equal(t.pending, 3, "a set, an increment and a delete");
  assert.ok(changed.includes("a") && changed.includes("b"));
  assert.deepEqual(t.rows().map((r) => r.key), ["a"], "b is deleted");
  c.connect();
  await until(() => t.pending === 0, "everything acknowledged");
  assert.equal(b.row("pages", "a").state.title.get(), "x");
});

test("a_table_tells_of_rows_read_from_storage_deleted_ones_too", async () => {
  const b = await bridge();
  const storage = new MemoryStorage();
  const first = client(b, { node: "n1", storage });
  const t1 = first.table("pages");
  await until(() => first.status === "online" && t1.row("x").get("hits"), "the table joined");
  first.disconnect();
  t1.row("x").increment("hits");
  t1.row("y").increment("hits").delete();
  await until(async () => (await storage.get("crdt:pages:y"))?.del === 1, "stored");
  // a reload, offline: the rows come from storage, and the table says so
  const second = client(b, { node: "n1", storage });
  second.disconnect();
  const t2 = second.table("pages");
  const changed = new Set();
  t2.on("change", (r) => changed.add(r.key));
  await until(() => changed.has("x") && changed.has("y"), "a change for each stored row");
  assert.equal(t2.pending, 2, "x's increment and y's delete (which dropped y's increment)");
  assert.deepEqual(t2.rows().map((r) => r.key), ["x"]);
});

// ---- regressions of the client review ----

test("a_change_larger_than_a_message_is_sent_in_pieces_and_the_connection_never_loops", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const big = c.row("pages", "big");
  const small = c.row("pages", "small");
  await until(() => big.get("tags") && small.get("hits"), "types");
  c.disconnect();
  // 200 elements of 400 bytes: some 85 KB of delta, over the bridge's 64 KiB
  for (let i = 0; i < 200; i++) big.add("tags", "offline-" + String(i).padStart(400, "0"));
  small.increment("hits");
  await new Promise((r) => setTimeout(r, 50));
  c.connect();
  await big.flushed();
  await small.flushed();
  assert.equal(b.row("pages", "big").state.tags.size, 200);
  assert.equal(serverHits(b, "small"), 1n);
  assert.ok(!b.closes.includes(1009), `no message over the limit: closes ${b.closes}`);
  assert.ok(b.frames.every((f) => Buffer.byteLength(f) <= 65536));

  // a state learnt from the server, larger than a message: the rejoin's have leaves it out
  for (let i = 0; i < 200; i++) b.write("pages", "big", "tags", (v) => v.add("server-" + String(i).padStart(400, "0"), "srv"));
  await until(() => big.get("tags").size === 400, "the server's elements");
  c.disconnect();
  small.increment("hits");
  c.connect();
  await small.flushed();
  assert.equal(serverHits(b, "small"), 2n);
  assert.ok(!b.closes.includes(1009), `no join over the limit: closes ${b.closes}`);
});

test("counts_past_2_53_are_exact_on_the_wire_both_ways", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await until(() => row.get("hits"), "types");
  row.increment("hits", 2n ** 53n + 1n);
  await row.flushed();
  assert.ok(b.frames.some((f) => f.includes('"delta":{"n1":9007199254740993}')), "the push carries the exact count");
  b.broadcastRaw("pages", "k", "delta", '{"key":"k","deltas":{"hits":{"srv":9007199254740995}}}');
  await until(() => row.get("hits").bigValue() === 2n ** 54n + 4n, "the server's exact count merged");
  assert.equal(String(row.get("hits")), '{"n1":9007199254740993,"srv":9007199254740995}');
});

test("an_expired_token_is_reported_renewed_before_reconnecting_and_edits_wait", async () => {
  const b = await bridge();
  let n = 0;
  const c = client(b, { node: "n1", token: () => `token-${++n}` });
  const auth = [];
  c.on("auth", (e) => auth.push(e.reason));
  const row = c.row("pages", "k");
  await until(() => c.status === "online" && row.get("hits"), "joined");
  b.expire();
  row.increment("hits");
  await row.flushed();
  assert.deepEqual(b.tokens, ["token-1", "token-2"], "one reconnection, with a new token");
  assert.equal(serverHits(b), 1n);

  // a fixed token cannot be renewed: the application is told, nothing loops, the edit waits
  const d = client(b, { node: "n2", token: "fixed" });
  const dauth = [];
  d.on("auth", (e) => dauth.push(e.reason));
  const drow = d.row("pages", "k");
  await until(() => d.status === "online" && drow.get("hits"), "joined");
  b.expire();
  await until(() => dauth.length === 1, "the auth event");
  drow.increment("hits", 2);
  await new Promise((r) => setTimeout(r, 300)); // FAST reconnects every 20 ms: a loop would show
  assert.equal(b.tokens.filter((t) => t === "fixed").length, 1, "no reconnection with the refused token");
  assert.equal(drow.pending, 1);
  d.setToken("fresh");
  await drow.flushed();
  assert.equal(b.row("pages", "k").state.hits.bigValue(), 3n);
  assert.deepEqual(auth, [], "a token function that renews raises no auth event");
});

test("lone_surrogates_in_keys_columns_and_elements_throw_and_nothing_is_sent", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await until(() => row.get("tags"), "types");
  assert.throws(() => c.row("pages", "x\ud800y"), { name: "TypeError", message: /key is not valid Unicode/ });
  assert.throws(() => c.table("pages").row("\udc00"), { name: "TypeError", message: /key is not valid Unicode/ });
  assert.throws(() => row.increment("hits\udc00"), { name: "TypeError", message: /column is not valid Unicode/ });
  assert.throws(() => row.add("tags", "a\ud83d"), { name: "TypeError", message: /element is not valid Unicode/ });
  assert.throws(() => row.set("title", "\ud800"), { name: "TypeError", message: /value is not valid Unicode/ });
  row.add("tags", "\ud83d\ude00"); // a whole pair is fine
  await row.flushed();
  assert.deepEqual(b.row("pages", "k").state.tags.elements(), ["\ud83d\ude00"]);
  assert.equal(b.pushes.length, 1);
});

test("a_push_refused_for_good_is_reported_and_dropped_and_other_columns_still_go", async () => {
  const b = await bridge();
  let transient = 2;
  b.refuse = ({ event, payload }) => {
    if (event === "merge" && payload.column === "title") return "permission denied for table pages";
    if (event === "merge" && payload.column === "tags" && transient-- > 0) return "database unavailable";
  };
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await until(() => row.get("title"), "types");
  const errors = [];
  row.on("error", (e) => errors.push(e));
  row.set("title", "not allowed");
  row.increment("hits", 2);
  row.add("tags", "retried");
  await until(() => row.pending === 0, "every change settled");
  assert.equal(serverHits(b), 2n, "the good column went");
  assert.deepEqual(b.row("pages", "k").state.tags.elements(), ["retried"], "the transient refusal was retried");
  const final = errors.filter((e) => e.final);
  assert.equal(final.length, 1);
  assert.equal(final[0].column, "title");
  assert.equal(final[0].operations, 1);
  assert.match(final[0].message, /permission denied/);
  assert.equal(row.get("title").get(), null, "the refused write is dropped here too");
  const titlePushes = b.pushes.filter((p) => p.payload.column === "title").length;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(b.pushes.filter((p) => p.payload.column === "title").length, titlePushes, "never sent again");
});

test("a_burst_of_operations_on_one_row_costs_core_calls_linear_in_its_length", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  c.disconnect();
  const { calls } = await import("../lib/core.js");
  const cost = async (n) => {
    const row = c.row("pages", `burst-${n}`);
    await row.loaded;
    const before = calls.n;
    for (let i = 0; i < n; i++) row.increment("hits");
    await until(async () => await c.storage.get(row.topic), "stored");
    await new Promise((r) => setTimeout(r, 50));
    return calls.n - before;
  };
  await c.nodeReady;
  // the types known, as after a join
  await c.storage.update("crdt:pages", () => ({ types: TABLES.pages }));
  const small = await cost(100);
  const large = await cost(800);
  assert.ok(large < small * 8 * 1.5, `800 operations cost ${large} core calls, 100 cost ${small}: not linear`);
});

test("two_clients_writing_as_one_node_id_are_told", async () => {
  const b = await bridge();
  const a = client(b, { node: "same" });
  const other = client(b, { node: "same" });
  const errors = [];
  a.on("error", (e) => errors.push(e));
  const ra = a.row("pages", "k");
  const rb = other.row("pages", "k");
  await until(() => ra.get("hits") && rb.get("hits"), "both joined");
  a.disconnect();
  ra.increment("hits", 3);
  rb.increment("hits", 5);
  await rb.flushed();
  a.connect();
  await until(() => errors.some((e) => e.code === "node"), "the error naming the node");
  assert.match(errors.find((e) => e.code === "node").message, /another client writes as node same/);
});

test("an_operation_on_a_column_the_table_does_not_have_throws_at_once", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const row = c.row("pages", "k");
  await until(() => row.get("hits"), "types");
  assert.throws(() => row.increment("hitz"), { name: "TypeError", message: /column hitz does not exist/ });
  assert.throws(() => c.table("pages").row("k").add("tagz", "x"), { name: "TypeError", message: /column tagz does not exist/ });
  assert.equal(row.pending, 0);
  await row.flushed();
});

test("row_and_table_give_one_object_per_row", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const r = c.row("pages", "same");
  await until(() => r.get("hits"), "types");
  const t = c.table("pages");
  await t.loaded;
  assert.equal(t.row("same"), r);
  assert.equal(c.row("pages", "same"), r);
  r.increment("hits", 3);
  assert.equal(t.row("same").get("hits").value(), 3);
  await until(() => t.rows().includes(r), "the row in the table's view");
  assert.equal(t.rows().filter((x) => x.key === "same").length, 1);
});

test("deleted_rows_leave_storage_and_the_table_once_their_delete_is_acknowledged", async () => {
  const b = await bridge();
  const c = client(b, { node: "n1" });
  const t = c.table("pages");
  await until(() => c.status === "online" && t.row("a").get("hits"), "joined");
  for (let i = 0; i < 50; i++) b.write("pages", `srv-${i}`, "hits", (v) => v.increment("srv", 1));
  t.row("mine").increment("hits");
  await until(() => t.rows().length === 51, "the rows");
  await t.row("mine").flushed();
  for (let i = 0; i < 50; i++) b.remove("pages", `srv-${i}`);
  t.row("mine").delete();
  await until(() => t.rows().length === 0 && t.pending === 0, "every row deleted and acknowledged");
  await until(async () => (await c.storage.list("crdt:pages:")).length === 0, "no record left");
  // a later delete event of a key not held keeps nothing either
  b.remove("pages", "never-seen");
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(await c.storage.list("crdt:pages:"), []);
});

test("rows_whose_columns_are_all_empty_are_in_table_views", async () => {
  const b = await bridge();
  b.row("pages", "fresh"); // inserted with every column at its default, empty
  const c = client(b, { node: "n1" });
  const t = c.table("pages");
  const seen = [];
  t.on("row", (r) => seen.push(r.key));
  await until(() => seen.includes("fresh"), "the empty row announced");
  assert.deepEqual(t.rows().map((r) => r.key), ["fresh"]);
  b.remove("pages", "fresh");
  await until(() => t.rows().length === 0, "gone once deleted");
});
