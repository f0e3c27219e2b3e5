// laniakea-client: CRDT values on the C core in WebAssembly, and an
// offline-first connection to laniakea-bridge.  See docs/client.md.
export { CRDT, GCounter, PNCounter, ORSet, LWWRegister, defineType, typeNamed } from './values.js';
export { connect, Client, Row, Table, probe, topic } from './connection.js';
export { MemoryStorage, IndexedDBStorage } from './storage.js';
