// A drawn signature as data: strokes captured from pointer events, drawn on a canvas at the
// screen's pixel density, and exported as a PNG data URL. Pure except for the canvas handed in,
// so node tests it with a recording fake (tests/js/signing-strokes.test.mjs); signature-pad.js
// wires it to a real <canvas>.
//
// Points are in CSS pixels of the drawing area; the canvas's backing store is `dpr` times larger,
// so lines are sharp on a phone's high-density screen.

/** Less ink than this (CSS px of line) is a tap or a slip, not a signature. */
export const MIN_INK = 40;
/** The exported image: at most this wide and high (px); the server refuses larger ones. */
export const EXPORT_MAX = { width: 800, height: 300 };
const PAD = 8;
const LINE = 2.5;

export class Strokes {
  constructor() {
    this.strokes = []; // [[{x, y}, …], …]
    this.current = null;
  }

  begin(x, y) {
    this.current = [{ x, y }];
    this.strokes.push(this.current);
  }

  /** A move while drawing; ignored when no stroke is under way (a hover, a second finger). */
  extend(x, y) {
    if (!this.current) return false;
    const last = this.current[this.current.length - 1];
    if (Math.hypot(x - last.x, y - last.y) < 0.5) return false;
    this.current.push({ x, y });
    return true;
  }

  end() {
    this.current = null;
  }

  clear() {
    this.strokes = [];
    this.current = null;
  }

  /** Length of all lines drawn, in CSS px. */
  get ink() {
    let total = 0;
    for (const s of this.strokes) for (let i = 1; i < s.length; i++) total += Math.hypot(s[i].x - s[i - 1].x, s[i].y - s[i - 1].y);
    return total;
  }

  /** Whether this is enough to count as a signature (an empty or dot-only drawing is refused). */
  get enough() {
    return this.ink >= MIN_INK;
  }

  /** {x, y, width, height} around every point, or null. */
  bounds() {
    const pts = this.strokes.flat();
    if (!pts.length) return null;
    const xs = pts.map((p) => p.x);
    const ys = pts.map((p) => p.y);
    const x = Math.min(...xs);
    const y = Math.min(...ys);
    return { x, y, width: Math.max(...xs) - x, height: Math.max(...ys) - y };
  }
}

/** The backing store of a canvas shown at cssWidth × cssHeight on a screen of this density. */
export function backingSize(cssWidth, cssHeight, dpr = 1) {
  const ratio = Math.min(Math.max(Number(dpr) || 1, 1), 3);
  return { width: Math.round(cssWidth * ratio), height: Math.round(cssHeight * ratio), ratio };
}

/** The point of a pointer event in CSS px of the drawing area (rect: its getBoundingClientRect()). */
export function pointIn(event, rect) {
  return { x: event.clientX - rect.left, y: event.clientY - rect.top };
}

/** Draw strokes on a 2D context: `scale` maps stroke coordinates to the context's pixels. */
export function draw(ctx, strokes, { scale = 1, dx = 0, dy = 0, color = "#111" } = {}) {
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = LINE * scale;
  for (const s of strokes) {
    const p = (q) => [(q.x + dx) * scale, (q.y + dy) * scale];
    if (s.length === 1) {
      const [x, y] = p(s[0]);
      ctx.beginPath();
      ctx.arc(x, y, (LINE * scale) / 2, 0, Math.PI * 2);
      ctx.fill();
      continue;
    }
    ctx.beginPath();
    ctx.moveTo(...p(s[0]));
    // Through the midpoints, with the points as control points: smooth lines from coarse events.
    for (let i = 1; i < s.length - 1; i++) {
      const [cx, cy] = p(s[i]);
      const [nx, ny] = p(s[i + 1]);
      ctx.quadraticCurveTo(cx, cy, (cx + nx) / 2, (cy + ny) / 2);
    }
    ctx.lineTo(...p(s[s.length - 1]));
    ctx.stroke();
  }
}

/**
 * The signature as a PNG data URL: cropped to the ink with a small margin, on a transparent
 * background, scaled down to fit EXPORT_MAX. `makeCanvas(width, height)` returns a canvas
 * (document.createElement("canvas") in a page). Null when there is not enough ink.
 */
export function exportPng(strokes, makeCanvas, { max = EXPORT_MAX, density = 2 } = {}) {
  if (!strokes.enough) return null;
  const b = strokes.bounds();
  const w = b.width + 2 * PAD;
  const h = b.height + 2 * PAD;
  const scale = Math.min(density, max.width / w, max.height / h);
  const canvas = makeCanvas(Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale)));
  const ctx = canvas.getContext("2d");
  draw(ctx, strokes.strokes, { scale, dx: PAD - b.x, dy: PAD - b.y });
  return canvas.toDataURL("image/png");
}

/** The size in bytes of a base64 data URL's content. */
export function dataUrlBytes(url) {
  const comma = url.indexOf(",");
  const b64 = comma >= 0 ? url.slice(comma + 1) : url;
  const padding = b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0;
  return Math.floor((b64.length * 3) / 4) - padding;
}
