// The "Try it out" data browser. It logs in exactly as the GPS Data Web Service document shows (JSON POST to
// /rest/v2/token, 303 to the gateway, `token` cookie), then reads the data with that cookie alone: the page
// never sees the token (the cookie is HttpOnly), and trackgate turns it into the identity header upstream.

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 400;
const HEIGHT = 300;

let live;          // the WebSocket of the live feed, while logged in
let selected;      // the device whose track is drawn
const latest = new Map();  // device id -> its latest position (from the list, then from the live feed)
let liveCount = 0;
const tracks = new Map();  // device id -> its positions

function show(part) {
  $('login').hidden = part !== 'login';
  $('data').hidden = part !== 'data';
}

function message(text, isError) {
  const el = $('login-message');
  el.textContent = text;
  el.classList.toggle('error', isError);
  el.hidden = false;
}

async function getJson(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

const formatPosition = (p) => `${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}`;

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

// ---- Login and logout -----------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  $('login-message').hidden = true;
  const body = JSON.stringify({ username: $('username').value, password: $('password').value });
  let res;
  try {
    // fetch follows the 303 to the gateway with a GET, and sends the cookie the 303 set.
    res = await fetch('/rest/v2/token', {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body,
    });
  } catch {
    message('trackgate cannot be reached.', true);
    return;
  }
  if (!res.ok) {
    message(await failureText(res), true);
    return;
  }
  const gateway = await res.json();
  $('who').textContent = `signed in as ${gateway.identity.sub} (${gateway.identity.scheme}${gateway.identity.account ? `, account ${gateway.identity.account}` : ''})`;
  show('data');
  await loadData();
  openLive();
}

/** The document's 400 ("bad credentials") and trackgate's other refusals, in words. */
async function failureText(res) {
  let detail = '';
  try {
    const body = await res.json();
    detail = body.message ?? '';
  } catch { /* not JSON: the status says it all */ }
  if (res.status === 400 && detail === 'bad credentials') return 'Wrong username or password (HTTP 400: bad credentials).';
  if (res.status === 429) return `Too many attempts: try again later (HTTP 429${detail ? `: ${detail}` : ''}).`;
  return `Login failed (HTTP ${res.status}${detail ? `: ${detail}` : ''}).`;
}

async function logout() {
  if (live) {
    live.onclose = null;
    live.close(1000, 'logout');
    live = undefined;
  }
  // Revokes the token everywhere and clears the cookie.
  const res = await fetch('/rest/v2/logout', { method: 'POST' });
  tracks.clear();
  latest.clear();
  show('login');
  message(res.status === 204 ? 'Logged out: the token is revoked. Log in again to browse the data.' : `Logout failed (HTTP ${res.status}).`, res.status !== 204);
}

// ---- Data ---------------------------------------------------------------------------------------

async function loadData() {
  const [{ devices }, { zones }] = await Promise.all([getJson('/rest/v2/devices'), getJson('/rest/v2/zones')]);
  const tbody = $('devices').tBodies[0];
  tbody.replaceChildren();
  for (const d of devices) {
    const row = tbody.insertRow();
    row.dataset.device = d.id;
    latest.set(d.id, d.last_position);
    cell(row, d.id);
    cell(row, d.name);
    cell(row, d.imei);
    cell(row, `${formatPosition(d.last_position)} at ${d.last_position.ts.slice(0, 19).replace('T', ' ')}`);
    cell(row, '–', 'live');
    row.addEventListener('click', () => select(d.id, zones));
  }
  const zbody = $('zones').tBodies[0];
  zbody.replaceChildren();
  for (const z of zones) {
    const row = zbody.insertRow();
    cell(row, z.id);
    cell(row, z.name);
    cell(row, formatPosition(z.center));
    cell(row, `${z.radius_m} m`);
  }
  await select(devices[0].id, zones);
}

async function select(deviceId, zones) {
  selected = deviceId;
  for (const row of $('devices').tBodies[0].rows) row.classList.toggle('selected', row.dataset.device === deviceId);
  if (!tracks.has(deviceId)) {
    const { positions } = await getJson(`/rest/v2/devices/${encodeURIComponent(deviceId)}/positions?limit=1000`);
    tracks.set(deviceId, positions);
  }
  $('track-device').textContent = deviceId;
  drawTrack(tracks.get(deviceId), zones);
}

// ---- The track, drawn inline: an equirectangular projection fitted to the track and the zones near it ----

let project;

function drawTrack(points, zones) {
  const svg = $('track');
  svg.replaceChildren();
  const lats = points.map((p) => p.lat);
  const lons = points.map((p) => p.lon);
  const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const kx = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180); // a degree of longitude is shorter up north
  const spanX = (maxLon - minLon) * kx;
  const spanY = maxLat - minLat;
  const scale = 0.85 * Math.min(WIDTH / spanX, HEIGHT / spanY);
  const cx = (minLon + maxLon) / 2;
  const cy = (minLat + maxLat) / 2;
  project = (lat, lon) => [WIDTH / 2 + (lon - cx) * kx * scale, HEIGHT / 2 - (lat - cy) * scale];
  const metresPerDegree = 111_320;

  for (const z of zones) {
    const [x, y] = project(z.center.lat, z.center.lon);
    if (x < -WIDTH || x > 2 * WIDTH || y < -HEIGHT || y > 2 * HEIGHT) continue;
    const circle = document.createElementNS(SVG, 'circle');
    circle.setAttribute('class', 'zone');
    circle.setAttribute('cx', x.toFixed(1));
    circle.setAttribute('cy', y.toFixed(1));
    circle.setAttribute('r', ((z.radius_m / metresPerDegree) * scale).toFixed(1));
    const title = document.createElementNS(SVG, 'title');
    title.textContent = z.name;
    circle.append(title);
    svg.append(circle);
  }
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('class', 'track');
  line.setAttribute('points', points.map((p) => project(p.lat, p.lon).map((v) => v.toFixed(1)).join(',')).join(' '));
  svg.append(line);
  const marker = document.createElementNS(SVG, 'circle');
  marker.setAttribute('id', 'live-marker');
  marker.setAttribute('class', 'live');
  marker.setAttribute('r', '6');
  const last = latest.get(selected);
  moveMarker(marker, last.lat, last.lon);
  svg.append(marker);
}

function moveMarker(marker, lat, lon) {
  const [x, y] = project(lat, lon);
  marker.setAttribute('cx', x.toFixed(1));
  marker.setAttribute('cy', y.toFixed(1));
}

// ---- Live feed ----------------------------------------------------------------------------------

function openLive() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // The browser sends the `token` cookie with the upgrade; trackgate checks it like any request.
  const ws = new WebSocket(`${scheme}//${location.host}/rest/v2/live`);
  live = ws;
  $('live-state').textContent = 'connecting…';
  ws.onopen = () => { $('live-state').textContent = 'connected'; };
  ws.onclose = () => { if (live === ws) $('live-state').textContent = 'closed'; };
  ws.onmessage = (event) => {
    const update = JSON.parse(event.data);
    if (update.device_id === undefined) return;
    const row = $('devices').querySelector(`tr[data-device="${CSS.escape(update.device_id)}"]`);
    if (row) {
      const td = row.cells[4];
      td.textContent = `${formatPosition(update)} at ${update.ts.slice(11, 19)}`;
      td.classList.add('updated');
    }
    latest.set(update.device_id, update);
    if (update.device_id === selected) {
      const marker = $('live-marker');
      if (marker) moveMarker(marker, update.lat, update.lon);
    }
    liveCount++;
    $('live-count').textContent = String(liveCount);
  };
}

$('login-form').addEventListener('submit', login);
$('logout').addEventListener('click', logout);
