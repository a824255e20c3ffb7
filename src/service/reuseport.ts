/**
 * Sockets in a port's SO_REUSEPORT group, counted from /proc/net/udp{,6}: every UDP socket of
 * this user bound to the listener's exact address and port (the kernel groups sockets by
 * address, port and owner). Used to spread over the sockets of several collector processes
 * sharing one port. 0 when it cannot be told (no /proc).
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';

function procHex(address: string): { file: string; hex: string } | undefined {
  const le = endianness() === 'LE';
  const word = (b: number[]) => (le ? [...b].reverse() : b).map((x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();
  if (!address.includes(':')) {
    const p = address.split('.').map(Number);
    if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return undefined;
    return { file: '/proc/net/udp', hex: word(p) };
  }
  // Expand an IPv6 text address to 16 bytes.
  const [head, tail] = address.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const words = [...h, ...new Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t].map((w) => parseInt(w, 16));
  if (words.length !== 8 || words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffff)) return undefined;
  const bytes = words.flatMap((w) => [w >> 8, w & 0xff]);
  let hex = '';
  for (let i = 0; i < 16; i += 4) hex += word(bytes.slice(i, i + 4));
  return { file: '/proc/net/udp6', hex };
}

export function reuseportGroupSize(address: string, port: number): number {
  const a = procHex(address);
  if (a === undefined) return 0;
  let text: string;
  try {
    text = readFileSync(a.file, 'utf8');
  } catch {
    return 0;
  }
  const want = `${a.hex}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
  const uid = String(process.getuid?.() ?? 0);
  let n = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === want && f[3] === '07' && f[7] === uid) n++;
  }
  return n;
}
