// The demo page on laniakea-client: one row of demo_pages (examples/demo.sql),
// edited offline-first.  Every click is applied at once, kept in IndexedDB,
// and sent when the bridge can be reached.
import { connect } from "/laniakea.js";

const $ = (id) => document.getElementById(id);
const client = connect({ url: "/socket" });
const row = client.row("demo_pages", "home");

function text(value, fallback = "…") {
  return value === undefined ? fallback : String(value.bigValue());
}

function renderContributions(visits) {
  const counts = Object.entries(visits?.toJSON() ?? {}).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const max = Math.max(1, ...counts.map(([, n]) => n));
  $("contributions").replaceChildren(
    ...counts.map(([node, n]) => {
      const li = document.createElement("li");
      li.className = node === client.node ? "me" : "";
      li.dataset.node = node;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = node === client.node ? `you · ${node}` : node;
      who.title = node;
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("i");
      fill.style.width = `${(100 * n) / max}%`;
      bar.append(fill);
      const count = document.createElement("span");
      count.className = "n";
      count.textContent = n;
      li.append(who, bar, count);
      return li;
    }),
  );
}

function renderTags(tags) {
  $("tags").replaceChildren(
    ...(tags?.elements() ?? []).map((t) => {
      const li = document.createElement("li");
      li.append(t);
      const x = document.createElement("button");
      x.textContent = "×";
      x.title = `remove ${t}`;
      x.setAttribute("aria-label", `remove ${t}`);
      x.onclick = () => row.remove("tags", t);
      li.append(x);
      return li;
    }),
  );
}

function render() {
  const visits = row.get("visits");
  $("visits").textContent = text(visits);
  $("score").textContent = text(row.get("score"));
  renderContributions(visits);
  renderTags(row.get("tags"));
  $("pending").textContent = row.pending;
  $("node").textContent = client.node ?? "…";
  $("profile").textContent = client.profile ?? (client.status === "connecting" ? "…" : "not joined yet");
}

function renderStatus() {
  $("status").textContent = client.status;
  $("status").className = `pill ${client.status}`;
}

row.on("change", render);
row.on("error", (e) => console.warn("laniakea:", e.message));
client.on("status", () => {
  renderStatus();
  render();
});
client.on("profile", render);
client.nodeReady.then(render);

$("inc").onclick = () => row.increment("visits", 1);
$("inc10").onclick = () => row.increment("visits", 10);
$("score-inc").onclick = () => row.increment("score", 1);
$("score-dec").onclick = () => row.decrement("score", 1);
$("add").onsubmit = (ev) => {
  ev.preventDefault();
  const t = $("tag").value.trim();
  if (t) row.add("tags", t);
  $("tag").value = "";
};
$("toggle").onclick = (ev) => {
  const goOffline = ev.target.getAttribute("aria-pressed") !== "true";
  if (goOffline) client.disconnect();
  else client.connect();
  ev.target.setAttribute("aria-pressed", String(goOffline));
  ev.target.textContent = goOffline ? "Reconnect" : "Go offline";
};

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").then(() => navigator.serviceWorker.ready).then(() => {
    $("shell").textContent = "cached for offline use";
  });
}
renderStatus();
render();

// for the end-to-end tests and the curious: window.laniakea.row.get("visits")
window.laniakea = { client, row };
