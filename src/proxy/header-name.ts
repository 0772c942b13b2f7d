/** How frameworks read a header name, which the guard and the forwarder must read the same way. */

/** Normalises a header name the way some frameworks do (`_` and `.` read as `-`). */
export function normaliseHeaderName(name: string): string {
  return name.includes('_') || name.includes('.') ? name.replace(/[_.]/g, '-') : name;
}
