// The signature canvas: pointer events (a finger, a pen or a mouse), `touch-action: none` in the
// stylesheet so a finger draws instead of scrolling, a backing store as dense as the screen, a
// Clear button. strokes.js keeps the lines and makes the PNG.

import { Strokes, backingSize, draw, exportPng, pointIn } from "./strokes.js";

export class SignaturePad extends EventTarget {
  constructor(canvas) {
    super();
    this.canvas = canvas;
    this.strokes = new Strokes();
    this.pointer = null;
    this.ratio = 1;
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) canvas.addEventListener(type, (e) => this.up(e));
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  get enough() {
    return this.strokes.enough;
  }

  resize() {
    const rect = this.canvas.getBoundingClientRect();
    if (!rect.width || !rect.height) return;
    const { width, height, ratio } = backingSize(rect.width, rect.height, window.devicePixelRatio);
    if (this.canvas.width === width && this.canvas.height === height) return;
    this.canvas.width = width;
    this.canvas.height = height;
    this.ratio = ratio;
    this.redraw();
  }

  redraw() {
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    draw(ctx, this.strokes.strokes, { scale: this.ratio });
  }

  down(e) {
    if (this.pointer !== null || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    this.pointer = e.pointerId;
    try {
      this.canvas.setPointerCapture(e.pointerId);
    } catch {
      // a synthetic pointer cannot be captured; drawing still works while it stays on the canvas
    }
    const p = pointIn(e, this.canvas.getBoundingClientRect());
    this.strokes.begin(p.x, p.y);
    this.redraw();
  }

  move(e) {
    if (e.pointerId !== this.pointer) return;
    e.preventDefault();
    const rect = this.canvas.getBoundingClientRect();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) {
      const p = pointIn(ev, rect);
      this.strokes.extend(p.x, p.y);
    }
    this.redraw();
  }

  up(e) {
    if (e.pointerId !== this.pointer) return;
    this.pointer = null;
    this.strokes.end();
    this.dispatchEvent(new Event("change"));
  }

  clear() {
    this.strokes.clear();
    this.redraw();
    this.dispatchEvent(new Event("change"));
  }

  /** The signature as a PNG data URL, or null when nothing (or too little) was drawn. */
  toPng() {
    return exportPng(this.strokes, (width, height) => {
      const c = document.createElement("canvas");
      c.width = width;
      c.height = height;
      return c;
    });
  }
}
