// Compiled by tsc in CI (test/run.sh): the declarations must describe the
// API as an application uses it.  Not run.
import { connect, GCounter, PNCounter, ORSet, LWWRegister, MemoryStorage, topic, probe } from "laniakea-client";
import type { Client, Row, Table, Status, Capabilities } from "laniakea-client";

const g: GCounter = GCounter.from('{"a":1}').increment("b", 2n).merge(GCounter.empty());
const n: number = g.value();
const big: bigint = g.bigValue();
const p: PNCounter = PNCounter.from({ p: { a: 1 } }).decrement("a", 1);
const s: ORSet = ORSet.empty().add("x", "node").remove("y");
const items: string[] = s.elements();
const size: number = s.size;
const same: boolean = s.equals(s) && s.leq(s.merge(s)) && s.has("x");
const d: ORSet = s.delta(s.add("z", "node"));
const text: string = d.toString();
const json: Record<string, unknown> = d.toJSON();
const r: LWWRegister = LWWRegister.empty().set("Buy milk", "node").merge(LWWRegister.from('{"c":1,"n":"a","v":"x"}'));
const title: string | null = r.get();
const at: bigint | null = r.set("later", "node", 1_700_000_000_000_000n).clock;
const writer: string | null = r.node;

const client: Client = connect({ url: "/socket", storage: new MemoryStorage(), node: "n1" });
const status: Status = client.status;
client.on("status", (st: Status) => console.log(st, client.profile));
const row: Row = client.row("counters", 42);
row.increment("hits").decrement("score", 2n).add("tags", "x").remove("tags", "y").set("title", "t");
const hits = row.get<GCounter>("hits")?.value();
row.on("change", (r: Row) => console.log(r.pending, r.deleted, r.cl));
row.on("delete", () => console.log("gone"));
row.on("error", (e: Error) => console.log(e.message));
const done: Promise<void> = row.flushed();
row.delete();
const table: Table = client.table("todos");
table.on("row", (r: Row) => console.log(r.key, table.rows().length));
const todo: Row = table.row("t1").set("title", "Buy milk").set("done", "false");
const shown: string | null | undefined = todo.get<LWWRegister>("title")?.get();
todo.on("delete", (gone: Row) => console.log(gone.deleted));
const other: Table = client.table({ schema: "app", name: "items" });
const caps: Capabilities = probe();
const t: string = topic("todos", "a") + topic({ schema: "app", name: "a.b" }, 42);
client.on("auth", ({ reason }) => client.setToken(async () => reason + "-renewed"));
client.disconnect();
client.connect();

// @ts-expect-error a value of one type does not merge another
g.merge(s);
// @ts-expect-error decrement is a pncounter's
g.decrement("a");
// @ts-expect-error the url is required
connect({});
// @ts-expect-error a register holds text
r.set(5, "node");
// @ts-expect-error a table of another schema names both
client.table({ name: "items" });

export { n, big, p, items, size, same, text, json, status, hits, done, caps, t, title, at, writer, shown, other };
