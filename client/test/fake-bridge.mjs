// A stand-in for laniakea-bridge that speaks Phoenix Channels V2 over a real
// WebSocket, for unit tests of the connection: it keeps rows as the bridge
// and the database would (states merged with the same values, causal lengths
// as docs/protocol.md specifies for deletes), and lets a test cut it off,
// drop replies, or count what reached it.  The real bridge is tested by the
// browser suite.
import { WebSocketServer } from "ws";
import { typeNamed } from "../lib/laniakea.js";

export class FakeBridge {
  /**
   * tables: {name: {column: type}}; maxMessage: a larger message closes the
   * connection with 1009, as the bridge's --max-message does.
   */
  constructor(tables, { maxMessage = 65536 } = {}) {
    this.tables = tables;
    this.maxMessage = maxMessage;
    this.frames = []; // every frame received, as text
    this.closes = []; // close codes of the connections
    this.tokens = []; // the token of each connection
    this.expired = new Set(); // tokens refused: closed with 4001, as the bridge does once one expires
    this.refuse = () => undefined; // (push) → a reason to refuse it with, or undefined
    this.rows = new Map(); // "table\0key" → {cl, state: {col: value}}
    this.pushes = []; // every push received: {topic, event, payload}
    this.dropReplies = 0; // the next n push replies are never sent
    this.joins = [];
    this.sockets = new Set();
  }

  async start(port = 0) {
    this.wss = new WebSocketServer({ port, host: "127.0.0.1", maxPayload: this.maxMessage });
    await new Promise((r) => this.wss.on("listening", r));
    this.port = this.wss.address().port;
    this.url = `ws://127.0.0.1:${this.port}/socket`;
    this.wss.on("connection", (ws, req) => this.#serve(ws, new URL(req.url, "http://x").searchParams.get("token")));
    return this;
  }

  /** An outage: every connection closed and new ones refused until start() again. */
  async stop() {
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
    await new Promise((r) => this.wss.close(r));
  }

  row(table, key) {
    const id = `${table}\0${key}`;
    if (!this.rows.has(id)) {
      const state = {};
      for (const [c, t] of Object.entries(this.tables[table])) state[c] = typeNamed(t).empty();
      this.rows.set(id, { cl: 1, state });
    }
    return this.rows.get(id);
  }

  /** The tokens in use expire: their connections are closed with 4001. */
  expire() {
    for (const ws of this.sockets) {
      this.expired.add(ws.token);
      ws.close(4001, "token expired");
    }
  }

  /** An event written as it is (numbers past 2^53 included) to the subscribers of a row. */
  broadcastRaw(table, key, event, payloadText) {
    for (const ws of this.sockets)
      for (const [topic, joinRef] of ws.topics)
        if (topic === `crdt:${table}:${key}` || topic === `crdt:${table}`)
          ws.send(`[${JSON.stringify(joinRef)},null,${JSON.stringify(topic)},${JSON.stringify(event)},${payloadText}]`);
  }

  /** A change made on the server side (another client, SQL): broadcast as a delta. */
  write(table, key, column, fn) {
    const r = this.row(table, key);
    const before = r.state[column];
    r.state[column] = fn(before);
    this.#broadcast(table, key, "delta", { key, deltas: { [column]: before.delta(r.state[column]).toJSON() }, ...cl(r) });
  }

  /** A delete made on the server side. */
  remove(table, key) {
    const r = this.row(table, key);
    if (r.cl % 2 === 0) return;
    this.#reset(table, r, r.cl + 1);
    this.#broadcast(table, key, "delete", { key, cl: r.cl });
  }

  #reset(table, r, n) {
    r.cl = n;
    for (const [c, t] of Object.entries(this.tables[table])) r.state[c] = typeNamed(t).empty();
  }

  #serve(ws, token) {
    this.tokens.push(token);
    if (this.expired.has(token)) return ws.close(4001, "token expired");
    this.sockets.add(ws);
    ws.token = token;
    ws.topics = new Map();
    ws.on("close", (code) => {
      this.closes.push(code);
      this.sockets.delete(ws);
    });
    ws.on("message", (data) => {
      this.frames.push(String(data));
      const [joinRef, ref, topic, event, payload] = JSON.parse(String(data));
      const reply = (status, response) => ws.send(JSON.stringify([joinRef, ref, topic, "phx_reply", { status, response }]));
      if (topic === "phoenix") return reply("ok", {});
      const [, table, ...rest] = topic.split(":");
      const key = rest.length ? rest.join(":") : undefined;
      if (!this.tables[table]) return reply("error", { reason: "unmatched topic" });
      if (event === "phx_join") return this.#join(ws, joinRef, topic, table, key, payload, reply);
      if (event === "phx_leave") return ws.topics.delete(topic), reply("ok", {});
      this.pushes.push({ topic, event, payload });
      const refused = this.refuse({ topic, event, payload });
      if (refused) return reply("error", { reason: refused });
      const k = key ?? payload.key;
      const r = this.row(table, k);
      if (event === "merge") {
        const pcl = payload.cl ?? 1;
        if (pcl > r.cl) this.#reset(table, r, pcl);
        if (pcl === r.cl) {
          const T = typeNamed(this.tables[table][payload.column]);
          const before = r.state[payload.column];
          r.state[payload.column] = before.merge(T.from(payload.delta));
          const d = before.delta(r.state[payload.column]);
          if (!d.equals(T.empty())) this.#broadcast(table, k, "delta", { key: k, deltas: { [payload.column]: d.toJSON() }, ...cl(r) });
        }
      } else if (event === "delete") {
        if (payload.cl === r.cl && r.cl % 2 === 1) {
          this.#reset(table, r, r.cl + 1);
          this.#broadcast(table, k, "delete", { key: k, cl: r.cl });
        }
      } else return reply("error", { reason: "unknown event" });
      if (this.dropReplies > 0) this.dropReplies--;
      else reply("ok", {});
    });
  }

  #join(ws, joinRef, topic, table, key, payload, reply) {
    this.joins.push({ topic, payload });
    ws.topics.set(topic, joinRef);
    const base = { profile: "full", node: payload.node, columns: this.tables[table] };
    if (key !== undefined) {
      const r = this.row(table, key);
      return reply("ok", { ...base, key, state: states(r), cl: r.cl, ...(r.cl % 2 ? {} : { deleted: true }) });
    }
    const rows = [];
    for (const [id, r] of this.rows)
      if (id.startsWith(`${table}\0`))
        rows.push({ key: id.slice(table.length + 1), state: states(r), cl: r.cl, ...(r.cl % 2 ? {} : { deleted: true }) });
    reply("ok", { ...base, rows });
  }

  #broadcast(table, key, event, payload) {
    for (const ws of this.sockets)
      for (const [topic, joinRef] of ws.topics)
        if (topic === `crdt:${table}:${key}` || topic === `crdt:${table}`)
          ws.send(JSON.stringify([joinRef, null, topic, event, payload]));
  }
}

function states(r) {
  return Object.fromEntries(Object.entries(r.state).map(([c, v]) => [c, v.toJSON()]));
}

function cl(r) {
  return r.cl > 1 ? { cl: r.cl } : {};
}
