// Type declarations of laniakea-client (DESIGN §7; docs/client.md).

/** Canonical JSON of a state, as text or parsed. */
export type StateJSON = string | Record<string, unknown>;

/** The part every CRDT value shares.  Values are immutable: operations return new ones. */
export abstract class CRDT {
  /** The SQL type name: "gcounter", "pncounter", "orset", ... */
  static readonly typeName: string | undefined;
  /** Canonical JSON text, byte-equal to PostgreSQL's output for the same state. */
  toString(): string;
  /** The parsed canonical JSON. */
  toJSON(): Record<string, unknown>;
  merge(other: this): this;
  /** The smallest d with this.merge(d) equal to this.merge(newer). */
  delta(newer: this): this;
  equals(other: CRDT): boolean;
  /** this ≤ other in the lattice. */
  leq(other: this): boolean;
}

interface CRDTClass<T extends CRDT> {
  readonly typeName: string | undefined;
  /** Throws a TypeError naming the problem on bad input, a RangeError past a limit. */
  from(json: StateJSON | T): T;
  empty(): T;
}

declare abstract class Counter extends CRDT {
  /** `by` a positive integer or bigint (default 1). */
  increment(node: string, by?: number | bigint): this;
  /** A number; a RangeError beyond ±(2^53−1). */
  value(): number;
  /** Always exact. */
  bigValue(): bigint;
}

export class GCounter extends Counter {
  private constructor();
  static readonly typeName: "gcounter";
  static from(json: StateJSON | GCounter): GCounter;
  static empty(): GCounter;
}

export class PNCounter extends Counter {
  private constructor();
  static readonly typeName: "pncounter";
  static from(json: StateJSON | PNCounter): PNCounter;
  static empty(): PNCounter;
  decrement(node: string, by?: number | bigint): this;
}

export class ORSet extends CRDT {
  private constructor();
  static readonly typeName: "orset";
  static from(json: StateJSON | ORSet): ORSet;
  static empty(): ORSet;
  add(element: string, node: string): ORSet;
  /** Observed-remove; removing an absent element changes nothing. */
  remove(element: string): ORSet;
  has(element: string): boolean;
  /** Sorted as in SQL (byte order of the UTF-8). */
  elements(): string[];
  readonly size: number;
}

/** The last-writer-wins register of text (lwwreg). */
export class LWWRegister extends CRDT {
  private constructor();
  static readonly typeName: "lwwreg";
  static from(json: StateJSON | LWWRegister): LWWRegister;
  static empty(): LWWRegister;
  /**
   * The register with value written as node.  Without clock: at node's next
   * hybrid logical clock, max(now, node's last clock + 1, this clock + 1).
   * With clock (µs since 1970): at that clock, or this register's clock + 1
   * when that is later; a RangeError when more than 5 minutes ahead of now.
   */
  set(value: string, node: string, clock?: number | bigint): LWWRegister;
  /** The value written last; null for the empty register. */
  get(): string | null;
  /** The clock of the last write, µs since 1970; null for the empty register. */
  readonly clock: bigint | null;
  /** The node id of the last write; null for the empty register. */
  readonly node: string | null;
}

/** The class of an SQL type name, or undefined. */
export function typeNamed(name: string): CRDTClass<CRDT> | undefined;
/** @internal registers a class for a core kind. */
export function defineType(name: string, kind: number, cls: CRDTClass<CRDT>): void;

/** A storage of plain records by key; see docs/client.md, "Storage". */
export interface Storage {
  get(key: string): Promise<any>;
  list(prefix: string): Promise<Array<[string, any]>>;
  /** Atomically replaces the record with fn(record); fn is synchronous, undefined keeps it. */
  update(key: string, fn: (record: any) => any): Promise<any>;
  /** Several records in one atomic update; an undefined entry keeps its record. */
  update(keys: string[], fn: (records: any[]) => any[] | undefined): Promise<any[]>;
  /** fn(key) after another user of the same storage (another tab) changed a record. */
  watch?(fn: (key: string) => void): () => void;
}

export class MemoryStorage implements Storage {
  get(key: string): Promise<any>;
  list(prefix: string): Promise<Array<[string, any]>>;
  update(key: string, fn: (record: any) => any): Promise<any>;
  update(keys: string[], fn: (records: any[]) => any[] | undefined): Promise<any[]>;
  watch(fn: (key: string) => void): () => void;
}

export class IndexedDBStorage implements Storage {
  constructor(name?: string);
  get(key: string): Promise<any>;
  list(prefix: string): Promise<Array<[string, any]>>;
  update(key: string, fn: (record: any) => any): Promise<any>;
  update(keys: string[], fn: (records: any[]) => any[] | undefined): Promise<any[]>;
  watch(fn: (key: string) => void): () => void;
}

/** The capability probe sent in the join params (the seed's names). */
export interface Capabilities {
  hasWorkers: boolean;
  hasSharedArrayBuffer: boolean;
  hasWebTransport: boolean;
  memoryMb: number;
  connectionType: string;
  effectiveType: string;
}

export function probe(): Capabilities;

/** A table: its name in schema public (not parsed: "a.b" is the table named a.b), or schema and name. */
export type TableName = string | { schema: string; name: string };

/**
 * `crdt:<table>` or `crdt:<table>:<key>`, as the core writes it: the table
 * schema-qualified unless in public, '%', '.' and ':' of names as %25, %2E, %3A.
 */
export function topic(table: TableName, key?: string | number): string;

export type Status = "connecting" | "online" | "offline";
export type Profile = "full" | "constrained" | "minimal";

export interface ConnectOptions {
  /** "/socket" or "ws://host:4000/socket". */
  url: string;
  /** A JWT for a bridge run with --jwt-secret, or a function returning one (asked again once it expires). */
  token?: string | (() => string | Promise<string>);
  /** The largest message the bridge takes (its --max-message); default 65536. */
  maxMessage?: number;
  /** The node id of this client's counts and dots; default: one per browser profile, kept in storage. */
  node?: string;
  /** Default: IndexedDB in browsers, memory elsewhere. */
  storage?: Storage;
  /** A WebSocket class, e.g. the `ws` package's in Node.js 20. */
  WebSocket?: unknown;
  /** Overrides of the probed capabilities (a server peer knows its own). */
  caps?: Partial<Capabilities>;
  /** Options passed to the phoenix Socket (reconnectAfterMs, heartbeatIntervalMs, ...). */
  socket?: Record<string, unknown>;
}

type Off = () => void;

export class Row {
  private constructor();
  readonly table: TableName;
  readonly key: string;
  readonly topic: string;
  /** Causal length: odd while the row exists, even once deleted. */
  readonly cl: number;
  readonly deleted: boolean;
  /** Local changes the server has not acknowledged. */
  readonly pending: number;
  /** The current value (local edits included); undefined while the column's type is unknown. */
  get(column: string): CRDT | undefined;
  get<T extends CRDT>(column: string): T | undefined;
  /** The columns whose type is known. */
  columns(): string[];
  increment(column: string, by?: number | bigint): this;
  decrement(column: string, by?: number | bigint): this;
  add(column: string, element: string): this;
  remove(column: string, element: string): this;
  /** lwwreg columns: written as this node, at its next clock (kept in storage). */
  set(column: string, value: string): this;
  delete(): this;
  /** Resolves once every local change so far is acknowledged. */
  flushed(): Promise<void>;
  on(event: "change" | "delete", fn: (row: Row) => void): Off;
  on(event: "error", fn: (error: Error) => void): Off;
}

export class Table {
  private constructor();
  readonly name: TableName;
  readonly topic: string;
  /** The rows that exist, in key order. */
  rows(): Row[];
  row(key: string | number): Row;
  /** Local changes to its rows (deleted ones too) the server has not acknowledged. */
  readonly pending: number;
  /** "row" when a row appears, "delete" when one goes, "change" after any change of any of its rows (and once for each row read from storage). */
  on(event: "row" | "delete" | "change", fn: (row: Row) => void): Off;
  /** A row's error: a push refused, storage failing, a state from the server refused. */
  on(event: "error", fn: (error: Error) => void): Off;
  leave(): void;
}

export class Client {
  private constructor();
  readonly status: Status;
  readonly profile: Profile | null;
  /** The node id, once known (see nodeReady). */
  readonly node: string | null;
  readonly nodeReady: Promise<string>;
  readonly storage: Storage;
  row(table: TableName, key: string | number): Row;
  table(table: TableName): Table;
  disconnect(): void;
  connect(): void;
  /** A new token: the connection reopens with it (after an "auth" event). */
  setToken(token: string | (() => string | Promise<string>)): void;
  on(event: "status", fn: (status: Status) => void): Off;
  /** The token expired (close 4001, or refused): edits wait in storage until setToken(). */
  on(event: "auth", fn: (info: { reason: string }) => void): Off;
  on(event: "profile", fn: (profile: Profile) => void): Off;
  on(event: "error", fn: (error: Error) => void): Off;
}

export function connect(options: ConnectOptions): Client;
