// The /demo page: every open tab is a dot on a shared canvas (positions on
// demo/positions over the unreliable channel, 20 per second) and a chat
// with identities (demo/chat, reliable, publishIdentity). window.demo holds
// the page's state for the browser tests.
import { connect } from "./broker.js";

const POSITIONS = "demo/positions";
const CHAT = "demo/chat";
const DOT_TIMEOUT_MS = 2000;
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const text = (b) => new TextDecoder().decode(b);

const demo = {
  state: "connecting",
  alias: "",
  server: "",
  rtt: null,
  rateIn: 0,
  rateOut: 0,
  dots: {}, // alias -> {x, y, name, seen}
  drawn: [], // aliases of the dots on the canvas at the last frame
  chat: [], // {from, text} in arrival order
  errors: [], // server ERRORs and state failures
  states: [], // every state change, in order
  client: null,
  ready: false,
};
window.demo = demo;

const name = params.get("name") ?? `tab-${Math.random().toString(36).slice(2, 6)}`;
const hue = Math.floor(Math.random() * 360);
let sent = 0;
let received = 0;

function say(from, line, cls) {
  demo.chat.push({ from, text: line });
  const div = document.createElement("div");
  if (cls) div.className = cls;
  div.textContent = `${from}: ${line}`;
  $("chat").append(div);
  $("chat").scrollTop = $("chat").scrollHeight;
}

function setState(s, err) {
  demo.state = s;
  demo.states.push(s);
  $("state").textContent = s;
  $("state").className = `state-${s}`;
  if (err) demo.errors.push({ state: s, reason: String(err.message ?? err) });
}

const options = {
  url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`,
  token: params.get("token") ?? undefined,
  authBody: params.get("token") ?? undefined,
  server: params.has("server") ? BigInt(params.get("server")) : undefined,
};

const c = await connect(options).catch((err) => {
  setState("closed", err);
  throw err;
});
demo.client = c;
setState(c.state);
const showWho = () => {
  demo.alias = String(c.alias);
  demo.server = String(c.serverAlias);
  $("me").textContent = `${name} (alias ${demo.alias})`;
  $("server").textContent = demo.server;
};
showWho();
c.on("state", (s, err) => {
  setState(s, err);
  if (s === "connected") showWho();
});
c.on("error", (e) => {
  demo.errors.push({ code: e.codeName, topic: e.topic, reason: e.reason });
  say("server", `${e.codeName} ${e.topic} ${e.reason}`, "err");
});
c.on("message", (m) => {
  received++;
  const from = String(m.fromAlias);
  if (m.topic === POSITIONS) {
    let p;
    try {
      p = JSON.parse(text(m.body));
    } catch {
      return;
    }
    if (p.leave) delete demo.dots[from];
    else demo.dots[from] = { x: p.x, y: p.y, name: p.name ?? from, hue: p.hue ?? 0, seen: performance.now() };
  } else if (m.topic === CHAT) {
    say(m.identity?.length ? text(m.identity) : `alias ${from}`, text(m.body));
  }
});
await c.subscribe([POSITIONS, CHAT]);

// Moving: a slow circle from a random start, so that tabs do not overlap.
const phase = Math.random() * 2 * Math.PI;
const me = { x: 240, y: 180 };
setInterval(() => {
  const t = performance.now() / 2000 + phase;
  me.x = 240 + 150 * Math.cos(t);
  me.y = 180 + 110 * Math.sin(t * 1.3);
  if (c.publish(POSITIONS, JSON.stringify({ x: me.x, y: me.y, name, hue }), { reliable: false })) sent++;
}, 50);

addEventListener("beforeunload", () => {
  c.publish(POSITIONS, JSON.stringify({ leave: true }), { reliable: true });
});

$("say").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const line = $("line").value.trim();
  if (!line) return;
  c.publishIdentity(CHAT, line, { reliable: true });
  sent++;
  say(`me (${name})`, line);
  $("line").value = "";
});

setInterval(async () => {
  demo.rateIn = received;
  demo.rateOut = sent;
  received = sent = 0;
  $("rateIn").textContent = demo.rateIn;
  $("rateOut").textContent = demo.rateOut;
  try {
    demo.rtt = await c.ping({ signal: AbortSignal.timeout(2000) });
    $("rtt").textContent = demo.rtt.toFixed(1);
  } catch {
    $("rtt").textContent = "-";
  }
}, 1000);

const ctx = $("board").getContext("2d");
function dot(x, y, label, h, mine) {
  ctx.beginPath();
  ctx.arc(x, y, mine ? 10 : 8, 0, 2 * Math.PI);
  ctx.fillStyle = `hsl(${h} 70% 50%)`;
  ctx.fill();
  if (mine) {
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#000";
    ctx.stroke();
  }
  ctx.fillStyle = "#222";
  ctx.fillText(label, x + 12, y + 4);
}
function frame() {
  const now = performance.now();
  ctx.clearRect(0, 0, 480, 360);
  const drawn = [];
  for (const [alias, d] of Object.entries(demo.dots)) {
    // A tab that closed without its leave message stops updating.
    if (now - d.seen > DOT_TIMEOUT_MS) {
      delete demo.dots[alias];
      continue;
    }
    dot(d.x, d.y, d.name, d.hue, false);
    drawn.push(alias);
  }
  dot(me.x, me.y, `${name} (me)`, hue, true);
  demo.drawn = drawn;
  $("dotCount").textContent = drawn.length + 1;
}
// A timer rather than requestAnimationFrame: a background tab still
// expires dots and keeps window.demo current.
setInterval(frame, 50);
demo.ready = true;
