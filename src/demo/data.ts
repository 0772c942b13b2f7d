/**
 * Sample data for the demo GPS service: a few fixed trackers and a deterministic position generator.
 *
 * Nothing here is random, so tests and the benchmark can predict every byte of a response, and a large export
 * is generated as it is sent instead of stored. Every tracker circles a loop small enough that latitude and
 * longitude keep two integer digits and speed stays within 10.0..49.5: every CSV line of an export is exactly
 * {@link CSV_LINE_BYTES} long.
 */

export interface Position {
  readonly lat: number;
  readonly lon: number;
  /** ISO 8601 UTC timestamp, millisecond precision. */
  readonly ts: string;
}

export interface TrackPoint extends Position {
  /** km/h. Plausible rather than physical: it is not derived from the distance between points. */
  readonly speed: number;
}

export interface Device {
  readonly id: string;
  readonly name: string;
  readonly imei: string;
  readonly last_position: Position;
}

/** Internal shape of a tracker: its public fields plus what the generator needs. */
interface TrackerSpec {
  readonly id: string;
  readonly name: string;
  readonly imei: string;
  readonly home: { readonly lat: number; readonly lon: number };
  /** Points per loop: gives each tracker its own rhythm. */
  readonly loopPoints: number;
}

/** Time of point 0 of every track. On a whole minute, as {@link csvLines} relies on. */
const TRACK_START_MS = Date.UTC(2024, 0, 1, 0, 0, 0);
/** One fix every 5 s, like a typical tracker's moving interval. A whole number of seconds, as {@link csvLines} relies on. */
const TRACK_STEP_MS = 5_000;
/** Loop radii in degrees (~1.1 km north-south). */
const LAT_RADIUS = 0.01;
const LON_RADIUS = 0.015;

const TRACKERS: readonly TrackerSpec[] = [
  { id: 'trk-001', name: 'Delivery van Berlin', imei: '356938035643809', home: { lat: 52.520008, lon: 13.404954 }, loopPoints: 720 },
  { id: 'trk-002', name: 'Courier bike Vienna', imei: '356938035643817', home: { lat: 48.208174, lon: 16.373819 }, loopPoints: 480 },
  { id: 'trk-003', name: 'Service truck Oslo', imei: '356938035643825', home: { lat: 59.913869, lon: 10.752245 }, loopPoints: 1_080 },
  { id: 'trk-004', name: 'Ferry Stockholm', imei: '356938035643833', home: { lat: 59.329323, lon: 18.068581 }, loopPoints: 1_440 },
];

const BY_ID = new Map(TRACKERS.map((t) => [t.id, t]));

/** The generator's raw point: numbers not yet rounded, so JSON and CSV can each format them once. */
function rawPoint(spec: TrackerSpec, index: number): { lat: number; lon: number; ms: number; speed: number } {
  const angle = (2 * Math.PI * (index % spec.loopPoints)) / spec.loopPoints;
  return {
    lat: spec.home.lat + LAT_RADIUS * Math.sin(angle),
    lon: spec.home.lon + LON_RADIUS * Math.cos(angle),
    ms: TRACK_START_MS + index * TRACK_STEP_MS,
    // 3 speed-ups and slow-downs per loop; 29.75 ± 19.75 stays within 10.0..49.5 once rounded to 0.1.
    speed: 29.75 + 19.75 * Math.sin(3 * angle),
  };
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits));

/** Point `index` (0-based) of a tracker's track. */
function trackPoint(spec: TrackerSpec, index: number): TrackPoint {
  const p = rawPoint(spec, index);
  return { lat: round(p.lat, 6), lon: round(p.lon, 6), ts: new Date(p.ms).toISOString(), speed: round(p.speed, 1) };
}

function toDevice(spec: TrackerSpec): Device {
  // The "last" position is the last point of the tracker's first loop: fixed, and on its track.
  const { lat, lon, ts } = trackPoint(spec, spec.loopPoints - 1);
  return { id: spec.id, name: spec.name, imei: spec.imei, last_position: { lat, lon, ts } };
}

const DEVICES: readonly Device[] = TRACKERS.map(toDevice);

export function listDevices(): readonly Device[] {
  return DEVICES;
}

export function findDevice(id: string): Device | undefined {
  return DEVICES.find((d) => d.id === id);
}

function specOf(deviceId: string): TrackerSpec {
  const spec = BY_ID.get(deviceId);
  if (spec === undefined) throw new RangeError(`unknown demo device ${deviceId}`);
  return spec;
}

/** The first `count` points of a device's track. */
export function positions(deviceId: string, count: number): TrackPoint[] {
  const spec = specOf(deviceId);
  const out: TrackPoint[] = [];
  for (let i = 0; i < count; i++) out.push(trackPoint(spec, i));
  return out;
}

/** Point `index` of a device's track, for the live feed (which wraps around the loop forever). */
export function positionAt(deviceId: string, index: number): TrackPoint {
  return trackPoint(specOf(deviceId), index);
}

// ---- Geographical zones ----------------------------------------------------------------------------

/** A circular geofence, as the seed's "geographical zones": a centre and a radius. */
export interface Zone {
  readonly id: string;
  readonly name: string;
  readonly center: { readonly lat: number; readonly lon: number };
  readonly radius_m: number;
}

/** One depot per tracker, where its loop starts (point 0): every loop leaves and re-enters it. */
const ZONES: readonly Zone[] = TRACKERS.map((t, i) => {
  const start = rawPoint(t, 0);
  return {
    id: `zone-00${i + 1}`,
    name: `${t.name.split(' ').pop() ?? t.id} depot`,
    center: { lat: round(start.lat, 6), lon: round(start.lon, 6) },
    radius_m: 300,
  };
});

export function listZones(): readonly Zone[] {
  return ZONES;
}

// ---- CSV track export -------------------------------------------------------------------------------

export const CSV_HEADER = 'ts,lat,lon,speed_kmh\n';
/** `2024-01-01T00:00:00.000Z,52.520008,13.419954,29.8\n`: 24 + 1 + 9 + 1 + 9 + 1 + 4 + 1 bytes. */
export const CSV_LINE_BYTES = 50;

/** Size of a complete export of `points` points, known before generating it. */
export function csvExportBytes(points: number): number {
  return CSV_HEADER.length + points * CSV_LINE_BYTES;
}

/** `,lat,lon,speed\n` of every point of a tracker's loop: the part of a CSV line that repeats each loop. */
const csvTails = new Map<string, readonly string[]>();

function csvTailsOf(spec: TrackerSpec): readonly string[] {
  let tails = csvTails.get(spec.id);
  if (tails === undefined) {
    tails = Array.from({ length: spec.loopPoints }, (_, i) => {
      const p = rawPoint(spec, i);
      return `,${p.lat.toFixed(6)},${p.lon.toFixed(6)},${p.speed.toFixed(1)}\n`;
    });
    csvTails.set(spec.id, tails);
  }
  return tails;
}

/**
 * Lines `[from, to)` of a device's CSV track export, as one string. Callers generate an export in
 * slices of a few thousand lines so that only one slice is ever in memory.
 *
 * Generation is the bottleneck of a large export, so it avoids per-line work that repeats: the position
 * part comes from the loop's precomputed tails, and the timestamp's `YYYY-MM-DDTHH:MM:` prefix is only
 * formatted once a minute (points are whole seconds apart).
 */
export function csvLines(deviceId: string, from: number, to: number): string {
  const spec = specOf(deviceId);
  const tails = csvTailsOf(spec);
  let out = '';
  let minute = Number.NaN;
  let minutePrefix = '';
  for (let i = from; i < to; i++) {
    const ms = TRACK_START_MS + i * TRACK_STEP_MS;
    const msInMinute = ms % 60_000;
    if (ms - msInMinute !== minute) {
      minute = ms - msInMinute;
      minutePrefix = new Date(minute).toISOString().slice(0, 17);
    }
    const seconds = msInMinute / 1000;
    out += `${minutePrefix}${seconds < 10 ? '0' : ''}${seconds}.000Z${tails[i % spec.loopPoints]}`;
  }
  return out;
}
