// Broken clients: each bad frame closes that connection with the right code,
// and a well-behaved client on the same bridge keeps getting its deltas.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  CAPS,
  connect,
  join,
  rawFrame,
  rawTcp,
  rawWs,
  sleep,
  sql,
  startBridge,
  teardown,
  uniqueKey,
  waitFor,
  withTimeout,
  wsFrame,
} from './lib/harness.mjs';

const MAX_MESSAGE = 4096;

describe('broken clients', () => {
  let bridge;
  let good;
  let goodKey;
  let count = 0;

  before(async () => {
    bridge = await startBridge({ name: 'protocol', args: ['--max-message', String(MAX_MESSAGE)] });
    goodKey = uniqueKey('good');
    await sql('INSERT INTO counters (id) VALUES ($1)', [goodKey]);
    const socket = await connect(bridge);
    good = (await join(socket, `crdt:counters:${goodKey}`, { node: 'good', caps: CAPS.full })).channel;
  });
  after(teardown);

  // The good client still gets deltas, and its connection was never dropped.
  async function goodClientStillWorks() {
    count++;
    await sql("UPDATE counters SET hits = increment(hits, 'sql', 1) WHERE id = $1", [goodKey]);
    await waitFor(() => good.events.some((e) => e.payload.deltas.hits && e.payload.deltas.hits.sql === count), {
      what: `the good client's delta ${count}`,
    });
    assert.equal(good.socket.opens, 1);
    assert.deepEqual(good.socket.closes, []);
  }

  async function closedWith(ws, code) {
    const closed = await withTimeout(ws.closed, 5000, 'the bridge to close the connection');
    assert.equal(closed.code, code, `close code (reason ${JSON.stringify(closed.reason)})`);
  }

  test('malformed_json_closes_that_connection_with_1003', async () => {
    const before = (await bridge.metrics()).samples.laniakea_protocol_errors_total;
    for (const text of [
      '[null,"1","phoenix","heartbeat",{}',
      'not json at all',
      '{"topic":"phoenix"}',
      '[1,2,3]',
      '[null,"1","phoenix","heartbeat"]',
      '[null,1,"phoenix","heartbeat",{}]',
      '[null,"1","phoenix","heartbeat",[]]',
      '[null,"1",7,"heartbeat",{}]',
    ]) {
      const ws = await rawWs(bridge);
      ws.send(text);
      await closedWith(ws, 1003);
      assert.deepEqual(ws.messages, [], text);
    }
    const after = (await bridge.metrics()).samples.laniakea_protocol_errors_total;
    assert.equal(after - before, 8);
    await goodClientStillWorks();
  });

  test('binary_frame_closes_that_connection_with_1003', async () => {
    const ws = await rawWs(bridge);
    ws.send(Buffer.from(JSON.stringify([null, '1', 'phoenix', 'heartbeat', {}])), { binary: true });
    await closedWith(ws, 1003);
    await goodClientStillWorks();
  });

  test('message_under_the_limit_is_served', async () => {
    const ws = await rawWs(bridge);
    const frame = JSON.stringify([null, '1', 'phoenix', 'heartbeat', { pad: 'x'.repeat(MAX_MESSAGE - 100) }]);
    assert.ok(frame.length <= MAX_MESSAGE);
    ws.send(frame);
    assert.equal((await rawFrame(ws, (m) => m[1] === '1'))[3], 'phx_reply');
    ws.close();
  });

  test('oversized_frame_closes_that_connection_with_1009', async () => {
    const ws = await rawWs(bridge);
    ws.send(JSON.stringify([null, '1', 'phoenix', 'heartbeat', { pad: 'x'.repeat(MAX_MESSAGE) }]));
    await closedWith(ws, 1009);
    await goodClientStillWorks();
  });

  test('oversized_message_in_fragments_closes_with_1009', async () => {
    const ws = await rawWs(bridge);
    const text = JSON.stringify([null, '1', 'phoenix', 'heartbeat', { pad: 'x'.repeat(MAX_MESSAGE) }]);
    const parts = [text.slice(0, 1500), text.slice(1500, 3000), text.slice(3000)];
    ws.send(parts[0], { fin: false });
    ws.send(parts[1], { fin: false });
    ws.send(parts[2], { fin: true });
    await closedWith(ws, 1009);
    await goodClientStillWorks();
  });

  test('fragmented_message_under_the_limit_is_served', async () => {
    const ws = await rawWs(bridge);
    const text = JSON.stringify([null, '9', 'phoenix', 'heartbeat', { pad: 'y'.repeat(2000) }]);
    ws.send(text.slice(0, 700), { fin: false });
    ws.send(text.slice(700, 1400), { fin: false });
    ws.send(text.slice(1400), { fin: true });
    assert.deepEqual(await rawFrame(ws, (m) => m[1] === '9'), [
      null,
      '9',
      'phoenix',
      'phx_reply',
      { status: 'ok', response: {} },
    ]);
    ws.close();
  });

  test('invalid_utf8_closes_that_connection_with_1007', async () => {
    const ws = await rawWs(bridge);
    // a text frame whose payload is not UTF-8 (ws does not check what it sends)
    ws.send(
      Buffer.concat([
        Buffer.from('[null,"1","phoenix","heartbeat",{"x":"'),
        Buffer.from([0xff, 0xfe, 0xc3]),
        Buffer.from('"}]'),
      ]),
      { binary: false },
    );
    await closedWith(ws, 1007);
    await goodClientStillWorks();
  });

  // RFC 6455 5.1: a server must close the connection on an unmasked client
  // frame.  libwebsockets 4.1 never checks the MASK bit; the bridge's guard
  // (src/lws/guard.c) cuts the frame out and the session closes with 1002.
  test('unmasked_client_frame_closes_that_connection_with_1002', async () => {
    const sock = await rawTcp(bridge);
    sock.write(wsFrame(JSON.stringify([null, '1', 'phoenix', 'heartbeat', {}])));
    await waitFor(() => sock.frames.length === 1, { what: 'the heartbeat reply' });
    sock.write(wsFrame(JSON.stringify([null, '2', 'phoenix', 'heartbeat', {}]), { mask: false }));
    await withTimeout(sock.ended, 2000, 'the bridge to drop the connection');
    const replies = sock.frames.filter((f) => f.opcode === 1).map((f) => JSON.parse(f.data.toString()));
    assert.deepEqual(
      replies.map((r) => r[1]),
      ['1'],
      'the unmasked frame was not served',
    );
    const close = sock.frames.find((f) => f.opcode === 8);
    assert.ok(close, 'a close frame');
    assert.equal(close.data.readUInt16BE(0), 1002);
  });

  test('frames_before_an_unmasked_one_in_the_same_packet_are_served', async () => {
    const sock = await rawTcp(bridge);
    sock.write(
      Buffer.concat([
        wsFrame(JSON.stringify([null, '1', 'phoenix', 'heartbeat', {}])),
        wsFrame(JSON.stringify([null, '2', 'phoenix', 'heartbeat', {}]), { mask: false }),
        wsFrame(JSON.stringify([null, '3', 'phoenix', 'heartbeat', {}])),
      ]),
    );
    await withTimeout(sock.ended, 2000, 'the bridge to drop the connection');
    const replies = sock.frames.filter((f) => f.opcode === 1).map((f) => JSON.parse(f.data.toString()));
    assert.deepEqual(
      replies.map((r) => r[1]),
      ['1'],
      'only the frame before the unmasked one was served',
    );
    assert.equal(sock.frames.find((f) => f.opcode === 8)?.data.readUInt16BE(0), 1002);
  });

  test('unmasked_frame_after_a_keep_alive_request_still_closes_with_1002', async () => {
    // requests whose framing headers lws reads its own way: the guard must read
    // them the same way and still see the upgrade that follows
    for (const extra of [
      'Transfer-Encoding: chunked',
      'Content-Length: 0\r\nContent-Length: 300',
      `Content-Length: ${'0'.repeat(29)}300`,
    ]) {
      const sock = await rawTcp(bridge, { before: `GET /healthz HTTP/1.1\r\nHost: x\r\n${extra}\r\n\r\n` });
      sock.write(wsFrame(JSON.stringify([null, '1', 'phoenix', 'heartbeat', {}]), { mask: false }));
      await withTimeout(sock.ended, 2000, `the bridge to drop the connection (${extra})`);
      assert.deepEqual(
        sock.frames.filter((f) => f.opcode === 1),
        [],
        `the unmasked frame was not served (${extra})`,
      );
      assert.equal(sock.frames.find((f) => f.opcode === 8)?.data.readUInt16BE(0), 1002, extra);
    }
    await goodClientStillWorks();
  });

  test('h2c_upgrade_is_hung_up', async () => {
    // lws 4.1 would switch the connection to HTTP/2, which the guard cannot read
    const sock = net.connect(bridge.port, '127.0.0.1');
    let got = '';
    sock.on('data', (d) => {
      got += d.toString('latin1');
    });
    sock.on('error', () => {});
    const ended = new Promise((r) => sock.once('close', r));
    sock.write(
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
        'HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
    );
    await withTimeout(ended, 2000, 'the bridge to hang up');
    assert.doesNotMatch(got, /^HTTP\/1\.1 101/, 'no switch to HTTP/2');
    await goodClientStillWorks();
  });

  test('request_with_a_body_header_before_an_upgrade_fails_the_websocket_with_1002', async () => {
    // a request body the guard does not frame: it stops following, so lws's
    // upgrade after it is failed rather than served unchecked
    const sock = await rawTcp(bridge, { before: 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n' });
    sock.write(wsFrame(JSON.stringify([null, '1', 'phoenix', 'heartbeat', {}])));
    await withTimeout(sock.ended, 2000, 'the bridge to drop the connection');
    assert.deepEqual(
      sock.frames.filter((f) => f.opcode === 1),
      [],
      'not even a masked frame is served',
    );
    assert.equal(sock.frames.find((f) => f.opcode === 8)?.data.readUInt16BE(0), 1002);
  });

  test('masked_frames_split_at_every_byte_are_served', async () => {
    // the guard holds back a frame header split across reads; it must never stall one
    const sock = await rawTcp(bridge);
    sock.setNoDelay(true);
    const bytes = Buffer.concat(
      [1, 2].map((r) =>
        wsFrame(JSON.stringify([null, String(r), 'phoenix', 'heartbeat', { pad: 'x'.repeat(200 * r) }])),
      ),
    );
    for (let i = 0; i < bytes.length; i++) {
      sock.write(bytes.subarray(i, i + 1));
      if (i < 24) await sleep(5); // the headers, one TCP segment per byte
    }
    await waitFor(() => sock.frames.filter((f) => f.opcode === 1).length === 2, { what: 'both heartbeat replies' });
    const replies = sock.frames.filter((f) => f.opcode === 1).map((f) => JSON.parse(f.data.toString()));
    assert.deepEqual(
      replies.map((r) => r[1]),
      ['1', '2'],
    );
    sock.destroy();
  });

  test('unmasked_client_frame_leaves_other_clients_unaffected', async () => {
    const sock = await rawTcp(bridge);
    sock.write(wsFrame(JSON.stringify([null, '1', 'phoenix', 'heartbeat', {}]), { mask: false }));
    sock.write(wsFrame(Buffer.from([0x5b, 0x00, 0xff]), { mask: false }));
    await sleep(200);
    await goodClientStillWorks();
    sock.destroy();
  });

  test('reserved_opcode_closes_that_connection_with_1002', async () => {
    const sock = await rawTcp(bridge);
    sock.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4])); // FIN, opcode 0x3 (reserved), masked, empty
    await withTimeout(sock.ended, 5000, 'the bridge to drop the connection');
    const close = sock.frames.find((f) => f.opcode === 8);
    assert.ok(close, 'a close frame');
    assert.equal(close.data.readUInt16BE(0), 1002);
    await goodClientStillWorks();
  });

  // The bridge serves every frame of one read before it writes, so a burst
  // used to overflow the client's queue of replies; and closing a socket
  // with the rest of the burst unread made the kernel reset the connection,
  // so the client lost the replies and the close frame (1006).
  test('burst_of_5000_frames_is_answered_in_full_and_in_order', async () => {
    const ws = await rawWs(bridge);
    const N = 5000;
    for (let i = 0; i < N; i++) ws.send(JSON.stringify([null, String(i), 'phoenix', 'heartbeat', {}]));
    await waitFor(() => ws.messages.length === N, { timeout: 20000, what: `${N} replies` });
    assert.deepEqual(
      ws.messages.map((m) => m[1]),
      Array.from({ length: N }, (_, i) => String(i)),
    );
    assert.ok(ws.messages.every((m) => m[3] === 'phx_reply' && m[4].status === 'ok'));
    assert.equal(ws.readyState, ws.OPEN);
    ws.close();
    await goodClientStillWorks();
  });

  test('close_after_a_burst_comes_with_its_code_after_every_earlier_reply', async () => {
    const ws = await rawWs(bridge);
    const N = 1000;
    for (let i = 0; i < N; i++) ws.send(JSON.stringify([null, String(i), 'phoenix', 'heartbeat', {}]));
    ws.send(Buffer.from('[]'), { binary: true });
    // what follows the bad frame is read and dropped, not served
    for (let i = N; i < 2 * N; i++) ws.send(JSON.stringify([null, String(i), 'phoenix', 'heartbeat', {}]));
    await closedWith(ws, 1003);
    assert.deepEqual(
      ws.messages.map((m) => m[1]),
      Array.from({ length: N }, (_, i) => String(i)),
    );
    await goodClientStillWorks();
  });

  test('client_that_does_not_read_is_not_read_from_and_gets_every_reply_later', async () => {
    // each refusal echoes its 3 kB topic: 4,000 of them are 12 MB of replies,
    // more than the kernel's socket buffers hold while the client reads
    // nothing (its receive buffer grows only as it reads), so the bridge must
    // stop reading this client instead of queueing what it cannot send
    const N = 4000;
    const topic = `crdt:counters:${'k'.repeat(3000)}`;
    const before = (await bridge.metrics()).samples.laniakea_frames_in_total;
    const sock = await rawTcp(bridge);
    sock.pause();
    let i = 0;
    const writeSome = () => {
      while (i < N) {
        if (!sock.write(wsFrame(JSON.stringify(['1', String(i), topic, 'increment', { column: 'hits' }])))) {
          i++;
          return false;
        }
        i++;
      }
      return true;
    };
    // it writes on whenever TCP takes more, reading or not
    sock.on('drain', writeSome);
    writeSome();
    await sleep(1000);
    const stalled = (await bridge.metrics()).samples.laniakea_frames_in_total - before;
    assert.ok(stalled < N, `the bridge read ${stalled} of ${N} frames while the client read nothing`);
    await goodClientStillWorks();
    sock.resume();
    await waitFor(() => sock.frames.filter((f) => f.opcode === 1).length === N, {
      timeout: 30000,
      what: `${N} replies`,
    });
    const replies = sock.frames.filter((f) => f.opcode === 1).map((f) => JSON.parse(f.data.toString()));
    assert.deepEqual(
      replies.map((r) => r[1]),
      Array.from({ length: N }, (_, k) => String(k)),
    );
    assert.ok(replies.every((r) => r[4].status === 'error' && r[4].response.reason === 'unmatched topic'));
    assert.equal(
      sock.frames.some((f) => f.opcode === 8),
      false,
      'not closed',
    );
    sock.destroy();
  });

  test('client_that_vanishes_mid_frame_is_cleaned_up', async () => {
    const before = (await bridge.metrics()).samples.laniakea_connections;
    const sock = await rawTcp(bridge);
    const frame = wsFrame(JSON.stringify([null, '1', 'phoenix', 'heartbeat', { pad: 'z'.repeat(1000) }]));
    sock.write(frame.subarray(0, 300));
    await sleep(100);
    sock.destroy();
    await waitFor(async () => (await bridge.metrics()).samples.laniakea_connections === before, {
      what: 'the connection gauge to drop back',
    });
    await goodClientStillWorks();
  });
});
