// The demo page on laniakea-client: one row of demo_pages and the table
// demo_todos (examples/demo.sql), edited offline-first.  Every change is
// applied at once, kept in IndexedDB, and sent when the bridge can be reached.
import { connect } from '/laniakea.js';

const $ = (id) => document.getElementById(id);
const client = connect({ url: '/socket' });
const row = client.row('demo_pages', 'home');
const todos = client.table('demo_todos');

function text(value, fallback = '…') {
  return value === undefined ? fallback : String(value.bigValue());
}

function renderContributions(visits) {
  const counts = Object.entries(visits?.toJSON() ?? {}).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const max = Math.max(1, ...counts.map(([, n]) => n));
  $('contributions').replaceChildren(
    ...counts.map(([node, n]) => {
      const li = document.createElement('li');
      li.className = node === client.node ? 'me' : '';
      li.dataset.node = node;
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = node === client.node ? `you · ${node}` : node;
      who.title = node;
      const bar = document.createElement('span');
      bar.className = 'bar';
      const fill = document.createElement('i');
      fill.style.width = `${(100 * n) / max}%`;
      bar.append(fill);
      const count = document.createElement('span');
      count.className = 'n';
      count.textContent = n;
      li.append(who, bar, count);
      return li;
    }),
  );
}

function renderTags(tags) {
  $('tags').replaceChildren(
    ...(tags?.elements() ?? []).map((t) => {
      const li = document.createElement('li');
      li.append(t);
      const x = document.createElement('button');
      x.textContent = '×';
      x.title = `remove ${t}`;
      x.setAttribute('aria-label', `remove ${t}`);
      x.onclick = () => row.remove('tags', t);
      li.append(x);
      return li;
    }),
  );
}

function render() {
  const visits = row.get('visits');
  $('visits').textContent = text(visits);
  $('score').textContent = text(row.get('score'));
  renderContributions(visits);
  renderTags(row.get('tags'));
  $('pending').textContent = row.pending + todos.pending;
  $('node').textContent = client.node ?? '…';
  $('profile').textContent = client.profile ?? (client.status === 'connecting' ? '…' : 'not joined yet');
}

// ---- the todo list: the table topic of demo_todos, one row per item ----

const items = new Map(); // key → its <li>, kept so that an edit in progress is never replaced

// Time-ordered keys: the list (in key order) shows items in the order they were added.
function newKey() {
  const rand = Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, '0'));
  return `${Date.now().toString(36)}-${rand.join('')}`;
}

const titleOf = (row) => row.get('title')?.get() ?? '';

function todoItem(row) {
  let li = items.get(row.key);
  if (!li) {
    li = document.createElement('li');
    li.dataset.key = row.key;
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.onchange = () => row.set('done', String(box.checked));
    label.append(box);
    const title = document.createElement('input');
    title.className = 'title';
    title.maxLength = 200;
    // a change is sent when the field is left or Enter pressed; an emptied title is not one
    title.onchange = () => {
      const v = title.value.trim();
      if (v && v !== titleOf(row)) row.set('title', v);
      else title.value = titleOf(row);
    };
    title.onkeydown = (e) => {
      if (e.key === 'Enter') title.blur();
      if (e.key === 'Escape') {
        title.value = titleOf(row);
        title.blur();
      }
    };
    const del = document.createElement('button');
    del.className = 'del';
    del.textContent = '×';
    del.onclick = () => row.delete();
    li.append(label, title, del);
    items.set(row.key, li);
  }
  const [box, title, del] = [
    li.querySelector('input[type=checkbox]'),
    li.querySelector('input.title'),
    li.querySelector('button'),
  ];
  const text = titleOf(row);
  const done = row.get('done')?.get() === 'true';
  box.checked = done;
  li.classList.toggle('done', done);
  box.setAttribute('aria-label', `done: ${text}`);
  title.setAttribute('aria-label', `title of ${text}`);
  del.setAttribute('aria-label', `delete ${text}`);
  del.title = `delete ${text}`;
  if (document.activeElement !== title) title.value = text;
  return li;
}

function renderTodos() {
  const rows = todos.rows();
  const lis = rows.map(todoItem);
  for (const key of items.keys()) if (!rows.some((r) => r.key === key)) items.delete(key);
  const list = $('todos');
  // re-inserting a focused field would blur it: only when the list itself changed
  if (lis.length !== list.children.length || lis.some((li, i) => list.children[i] !== li)) list.replaceChildren(...lis);
  const left = rows.filter((r) => r.get('done')?.get() !== 'true').length;
  $('todo-count').textContent = rows.length
    ? `${left} to do, ${rows.length - left} done`
    : 'Nothing to do. Add something above.';
}

let todosQueued = false;
function scheduleTodos() {
  if (todosQueued) return;
  todosQueued = true;
  queueMicrotask(() => {
    todosQueued = false;
    renderTodos();
  });
}

todos.on('row', scheduleTodos);
todos.on('error', (e) => console.warn('laniakea:', e.message));
todos.on('delete', scheduleTodos);
todos.on('change', () => {
  scheduleTodos();
  render();
});
$('todo-add').onsubmit = (ev) => {
  ev.preventDefault();
  const text = $('todo-new').value.trim();
  if (text) todos.row(newKey()).set('title', text).set('done', 'false');
  $('todo-new').value = '';
};

function renderStatus() {
  $('status').textContent = client.status;
  $('status').className = `pill ${client.status}`;
}

row.on('change', render);
row.on('error', (e) => console.warn('laniakea:', e.message));
client.on('status', () => {
  renderStatus();
  render();
});
client.on('profile', render);
client.nodeReady.then(render);

$('inc').onclick = () => row.increment('visits', 1);
$('inc10').onclick = () => row.increment('visits', 10);
$('score-inc').onclick = () => row.increment('score', 1);
$('score-dec').onclick = () => row.decrement('score', 1);
$('add').onsubmit = (ev) => {
  ev.preventDefault();
  const t = $('tag').value.trim();
  if (t) row.add('tags', t);
  $('tag').value = '';
};
$('toggle').onclick = (ev) => {
  const goOffline = ev.target.getAttribute('aria-pressed') !== 'true';
  if (goOffline) client.disconnect();
  else client.connect();
  ev.target.setAttribute('aria-pressed', String(goOffline));
  ev.target.textContent = goOffline ? 'Reconnect' : 'Go offline';
};

if ('serviceWorker' in navigator) {
  navigator.serviceWorker
    .register('/sw.js')
    .then(() => navigator.serviceWorker.ready)
    .then(() => {
      $('shell').textContent = 'cached for offline use';
    });
}
renderStatus();
render();
renderTodos();

// for the end-to-end tests and the curious: window.laniakea.row.get("visits")
window.laniakea = { client, row, todos };
