// The demo page, as a person uses it: two browser windows on one bridge see
// each other's clicks.  Needs BRIDGE_URL (the bridge serving client/).
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const url = process.env.BRIDGE_URL;
let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => browser?.close());

async function open() {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("profile").textContent !== "…");
  return { page, errors };
}

const count = (page) => page.textContent("#count").then(Number);
const tags = (page) => page.$$eval("#tags li", (lis) => lis.map((li) => li.firstChild.textContent));

test("demo_page_clicks_reach_another_window", async () => {
  const a = await open(), b = await open();
  const before = await count(b.page);
  await a.page.click("#inc");
  await a.page.click("#inc10");
  // each window shows what the bridge sends it (constrained profile: up to 100 ms later)
  for (const w of [a, b])
    await w.page.waitForFunction((n) => Number(document.getElementById("count").textContent) === n + 11,
      before, { timeout: 5000 });
  assert.equal(await count(a.page), before + 11);
  assert.equal(await count(b.page), before + 11);
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
});

test("demo_page_tags_add_and_remove_everywhere", async () => {
  const a = await open(), b = await open();
  await b.page.fill("#tag", "from-b");
  await b.page.click("#add button");
  await a.page.waitForFunction(() =>
    [...document.querySelectorAll("#tags li")].some((li) => li.firstChild.textContent === "from-b"),
  null, { timeout: 5000 });
  await a.page.click("#tags li:has-text('from-b') button");
  await b.page.waitForFunction(() =>
    ![...document.querySelectorAll("#tags li")].some((li) => li.firstChild.textContent === "from-b"),
  null, { timeout: 5000 });
  assert.ok(!(await tags(a.page)).includes("from-b"));
  assert.deepEqual(a.errors, []);
});
