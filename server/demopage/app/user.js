// SealFeed demo of an app with logged-in users: one user, two devices. Each device pane makes its own Ed25519
// identity key (the platform CSPRNG; @noble/curves in sealfeed-client.js derives the public key), logs in to the
// app's back end with the public key for a connect token bound to it (spec §6.8), and connects to the push node
// with the bundled TypeScript client. The app publishes to the user; its log and the delivery webhooks it
// received and verified are polled from its API.
import { MemoryReplayStore, SealFeedClient, SealFeedError, fromHex, publicKeyOf, toHex } from './sealfeed-client.js';

const USER = 'alice';
const DEVICES = ['phone', 'laptop'];

const $ = (id) => document.getElementById(id);
const statusEl = $('status');

function setStatus(state, text, detail) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
  statusEl.title = detail ?? '';
}

function describeError(e) {
  if (e instanceof SealFeedError) return { name: e.alert, detail: e.message };
  const message = e instanceof Error ? e.message : String(e);
  return { name: message, detail: message };
}

async function api(path, body) {
  const init = { cache: 'no-store', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.method = 'POST';
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`/api${path}`, init);
  if (!res.ok) throw new Error(`${body === undefined ? 'GET' : 'POST'} /api${path}: HTTP ${res.status} ${(await res.text()).trim()}`);
  return res.json();
}

const decoder = new TextDecoder('utf-8', { fatal: true });
function payloadText(bytes) {
  try {
    return decoder.decode(bytes);
  } catch {
    return `(binary, ${bytes.length} bytes)`;
  }
}

function item(text, cls) {
  const li = document.createElement('li');
  if (cls) li.className = cls;
  li.textContent = text; // text only, never HTML
  return li;
}

/** One device: its key, its token from the app and its connection. */
class Device {
  constructor(name, config) {
    this.name = name;
    this.config = config;
    this.el = $(`device-${name}`);
    this.statusEl = this.el.querySelector('.device-status');
    this.list = this.el.querySelector('.device-messages');
    this.seed = crypto.getRandomValues(new Uint8Array(32));
    this.publicKey = publicKeyOf(this.seed);
    this.client = undefined;
  }

  setState(state, text) {
    this.el.dataset.state = state;
    this.statusEl.textContent = text;
  }

  /** DEMO LOGIN: the app issues a token for the user name it is given, bound to this device's key. */
  async login() {
    const a = await api('/login', { user: USER, device: this.name, client_key: toHex(this.publicKey) });
    this.el.querySelector('.token').textContent = `${a.token_id.slice(0, 8)}… until ${new Date(a.expires).toLocaleTimeString()}`;
    this.el.dataset.tokenId = a.token_id;
    return a;
  }

  async connect() {
    this.setState('connecting', 'logging in…');
    let clientId;
    this.client = await SealFeedClient.connect({
      url: this.config.ws_url,
      WebSocket,
      trust: { kind: 'pinned', keyId: fromHex(this.config.server_key_id) },
      identitySeed: this.seed,
      // asked before the handshake, and again on the open connection two thirds to three quarters into each
      // token's life (TOK-012, POST-030)
      tokenSource: async () => {
        const login = await this.login();
        clientId = login.client_id;
        this.setState(this.client ? 'connected' : 'connecting', this.client ? 'connected' : 'connecting…');
        return fromHex(login.token);
      },
      onTokenRefresh: (r) => {
        if (r.ok) this.el.dataset.refreshes = String(Number(this.el.dataset.refreshes ?? '0') + 1); // TokenAccepted
        else console.warn(`sealfeed demo: ${this.name}: token refresh failed`, r.error);
      },
      replayStore: new MemoryReplayStore(),
      onMessage: (m) => this.show(m),
    });
    if (this.client.clientIdHex !== clientId) throw new Error('the client ID is not the one the token was issued for');
    this.el.querySelector('.client-id').textContent = this.client.clientIdHex;
    this.el.dataset.clientId = this.client.clientIdHex;
    this.setState('connected', 'connected');
    this.client.closed.then((err) => {
      if (err) this.setState('error', `error: ${describeError(err).name}`);
      else this.setState('closed', 'closed');
    });
  }

  show(m) {
    const li = item('', '');
    li.dataset.messageId = m.messageId.toString();
    const id = document.createElement('strong');
    id.textContent = `#${m.messageId} `;
    const payload = document.createElement('span');
    payload.className = 'payload';
    payload.textContent = payloadText(m.payload);
    const checks = document.createElement('span');
    checks.className = 'checks';
    // onMessage runs only once the whole batch verified (BATCH-011 … BATCH-016)
    checks.textContent = 'signature ✓ proof ✓ decrypted ✓';
    li.append(id, payload, checks);
    this.list.append(li);
  }
}

let lastEvent = 0;
let webhooks = 0;
async function pollEvents() {
  const events = await api(`/events?after=${lastEvent}`);
  for (const e of events) {
    lastEvent = Math.max(lastEvent, e.seq);
    $('events').append(item(`${e.time.slice(11, 23)} ${e.text}`));
    if (e.kind === 'webhook') {
      // the app verified the webhook's signature before recording it; a refused one is listed unverified
      const li = item(e.text);
      li.dataset.verified = String(e.webhook?.verified === true);
      if (e.webhook) {
        li.dataset.type = e.webhook.type;
        li.dataset.messageId = String(e.webhook.message_id);
        li.dataset.user = e.webhook.user ?? '';
        li.dataset.device = e.webhook.device ?? '';
      }
      $('webhooks').append(li);
      webhooks++;
      $('webhook-count').textContent = `(${webhooks})`;
      $('webhook-empty').hidden = true;
    }
  }
}

// DEMO ONLY: what the push node's device directory lists for the user (TOK-020), read by the demo from the
// node's store: to_user resolves to these devices at publish time. The node records a device from its verified
// token just after the connection, so the button waits until the directory lists this page's two devices.
let devices = [];
async function pollDirectory() {
  const listed = await api(`/directory?user=${USER}`);
  $('directory').textContent = listed.length
    ? listed.map((d) => `${d.device} (client ${d.client_id.slice(0, 12)}…)`).join(', ')
    : 'no device yet';
  const ready = devices.length > 0 && devices.every((d) => d.client && listed.some((l) => l.client_id === d.client.clientIdHex));
  $('publish').disabled = !ready;
}

function startPolling() {
  let busy = false;
  setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      await pollEvents();
      await pollDirectory();
    } catch (e) {
      console.warn('sealfeed demo: events', e);
    } finally {
      busy = false;
    }
  }, 500);
}

function setUpPublish() {
  const form = $('publish-form');
  const button = $('publish');
  const result = $('publish-result');
  const list = $('deliveries');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    try {
      const a = await api('/notify', { user: USER, text: $('publish-text').value });
      result.textContent = `published to ${a.user}: ${a.deliveries.length} device(s)`;
      list.replaceChildren(
        ...a.deliveries.map((d) => {
          const li = item(`${d.device}: message ${d.message_id} (${d.status})`);
          li.dataset.device = d.device;
          li.dataset.messageId = String(d.message_id);
          return li;
        }),
      );
    } catch (e) {
      result.textContent = `publish failed: ${describeError(e).name}`;
    } finally {
      await pollDirectory().catch(() => undefined);
    }
  });
}

async function main() {
  setStatus('connecting', 'fetching the app configuration…');
  // The app ships the pin with its page, as it ships the page's code: whoever serves the app's code controls
  // the client anyway. The push node is another origin, reached only by WebSocket.
  const config = await api('/config');
  if (typeof config.server_key_id !== 'string' || !/^[0-9a-f]{64}$/.test(config.server_key_id)) throw new Error('config: no server_key_id');
  if (typeof config.ws_url !== 'string' || !/^wss?:\/\//.test(config.ws_url)) throw new Error('config: no ws_url');
  $('endpoint').textContent = config.ws_url;
  $('server-key').textContent = config.server_key_id;
  setUpPublish();
  startPolling();
  setStatus('connecting', 'connecting both devices…');
  devices = DEVICES.map((d) => new Device(d, config));
  const results = await Promise.allSettled(devices.map((d) => d.connect()));
  results.forEach((r, i) => {
    if (r.status === 'rejected') {
      devices[i].setState('error', `error: ${describeError(r.reason).name}`);
      console.error(`sealfeed demo: ${devices[i].name}:`, r.reason);
    }
  });
  if (results.some((r) => r.status === 'rejected')) {
    setStatus('error', 'a device failed to connect');
    return;
  }
  setStatus('connected', 'both devices connected');
}

main().catch((e) => {
  const { name, detail } = describeError(e);
  setStatus('error', `error: ${name}`, detail);
  console.error('sealfeed demo:', e);
});
