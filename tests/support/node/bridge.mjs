// Drives one browser for the Python tests (tests/support/browsers.py) over
// stdin/stdout, one JSON object a line: Chromium over the DevTools protocol,
// Firefox over WebDriver BiDi, both through puppeteer-core and Debian's own
// browser builds (nothing is downloaded).
//
//   node bridge.mjs chrome|firefox EXECUTABLE PROFILE_DIR
//
// It prints {"ready": true, "version": "..."} once the browser runs, then
// answers each request {"id", "op", ...} with {"id", "result"} or {"id", "error"}:
//   open {url}                 a new tab on url             -> tab number
//   eval {tab, fn, args}       (fn)(...args) in the tab     -> its JSON value
//   console {tab}              console lines since the last call (CORS errors among them)
//   close                      closes the browser and exits
//
// Keeping the browser off the network is the caller's business (arguments and
// environment below come from it); this file only adds Firefox preferences.

import readline from 'node:readline';
import puppeteer from 'puppeteer-core';

const [kind, executablePath, profile] = process.argv.slice(2);

// Firefox phones home unless told not to; MOZ_DISABLE_NONLOCAL_CONNECTIONS
// (set by the caller) turns any remaining attempt into an error.
const FIREFOX_PREFS = {
  'app.update.enabled': false,
  'app.update.auto': false,
  'app.normandy.enabled': false,
  'app.shield.optoutstudies.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'browser.safebrowsing.downloads.remote.enabled': false,
  'browser.safebrowsing.provider.google4.updateURL': '',
  'browser.safebrowsing.provider.mozilla.updateURL': '',
  'browser.region.network.url': '',
  'browser.region.update.enabled': false,
  'browser.search.update': false,
  'browser.newtabpage.enabled': false,
  'browser.startup.homepage_override.mstone': 'ignore',
  'datareporting.healthreport.uploadEnabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.server': '',
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.trr.mode': 5,
  'extensions.update.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'services.settings.server': 'http://127.0.0.1:9/remote-settings-off',
  'dom.push.connection.enabled': false,
};

const CHROME_ARGS = process.env.CORS_CHROMIUM_ARGS ? JSON.parse(process.env.CORS_CHROMIUM_ARGS) : [];

function send(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const browser = await puppeteer.launch(kind === 'firefox'
  ? { browser: 'firefox', executablePath, headless: true, userDataDir: profile, extraPrefsFirefox: FIREFOX_PREFS,
      env: process.env, protocolTimeout: 30000 }
  : { browser: 'chrome', executablePath, headless: true, userDataDir: profile, args: CHROME_ARGS,
      env: process.env, protocolTimeout: 30000 });

const tabs = [];
const lines = [];
send({ ready: true, version: await browser.version() });

async function handle(req) {
  switch (req.op) {
    case 'open': {
      const page = await browser.newPage();
      const n = tabs.length;
      lines[n] = [];
      // Chromium reports CORS failures as console errors; Firefox's arrive as
      // page errors over BiDi. Both are kept, in order.
      page.on('console', (m) => lines[n].push(m.text()));
      page.on('pageerror', (e) => lines[n].push(e.message));
      await page.goto(req.url);
      tabs.push(page);
      return n;
    }
    case 'eval':
      return await tabs[req.tab].evaluate(`(${req.fn})(...${JSON.stringify(req.args)})`);
    case 'console':
      return lines[req.tab].splice(0);
    case 'close':
      await browser.close();
      return null;
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const req = JSON.parse(line);
  try {
    send({ id: req.id, result: (await handle(req)) ?? null });
  } catch (e) {
    send({ id: req.id, error: String(e && e.stack || e) });
  }
  if (req.op === 'close') break;
}
process.exit(0);
