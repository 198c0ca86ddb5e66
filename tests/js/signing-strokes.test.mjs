// The signature canvas's pure part (web/static/js/signing/strokes.js): strokes from pointer
// moves, a drawing too small to be a signature refused, high-density backing stores, the PNG
// export cropped to the ink.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { EXPORT_MAX, Strokes, backingSize, dataUrlBytes, draw, exportPng, pointIn } from "../../web/static/js/signing/strokes.js";

class FakeContext {
  constructor() { this.calls = []; }
  beginPath() { this.calls.push(["beginPath"]); }
  moveTo(x, y) { this.calls.push(["moveTo", x, y]); }
  lineTo(x, y) { this.calls.push(["lineTo", x, y]); }
  quadraticCurveTo(...a) { this.calls.push(["quad", ...a]); }
  arc(...a) { this.calls.push(["arc", ...a]); }
  stroke() { this.calls.push(["stroke"]); }
  fill() { this.calls.push(["fill"]); }
}

function fakeCanvas(made) {
  return (width, height) => {
    const ctx = new FakeContext();
    const canvas = { width, height, ctx, getContext: () => ctx, toDataURL: (type) => `data:${type};base64,iVBORw0KGgo=` };
    made.push(canvas);
    return canvas;
  };
}

function zigzag(strokes, x0 = 10, y0 = 10) {
  strokes.begin(x0, y0);
  for (let i = 1; i <= 10; i++) strokes.extend(x0 + i * 10, y0 + (i % 2) * 20);
  strokes.end();
}

describe("strokes", () => {
  it("are empty and not enough to start with", () => {
    const s = new Strokes();
    assert.equal(s.enough, false);
    assert.equal(s.bounds(), null);
  });

  it("refuse a tap or a short slip as a signature", () => {
    const s = new Strokes();
    s.begin(5, 5);
    s.end();
    s.begin(10, 10);
    s.extend(20, 10);
    s.end();
    assert.equal(s.strokes.length, 2);
    assert.ok(s.ink < 40);
    assert.equal(s.enough, false);
  });

  it("count a real drawing and clear it", () => {
    const s = new Strokes();
    zigzag(s);
    assert.equal(s.enough, true);
    assert.deepEqual(s.bounds(), { x: 10, y: 10, width: 100, height: 20 });
    s.clear();
    assert.equal(s.enough, false);
  });

  it("ignore moves without a pressed pointer", () => {
    const s = new Strokes();
    assert.equal(s.extend(1, 1), false);
    assert.equal(s.strokes.length, 0);
  });
});

describe("the canvas", () => {
  it("has a backing store as dense as the screen, within reason", () => {
    assert.deepEqual(backingSize(320, 160, 2), { width: 640, height: 320, ratio: 2 });
    assert.deepEqual(backingSize(320, 160, 0.5), { width: 320, height: 160, ratio: 1 });
    assert.deepEqual(backingSize(320, 160, 5), { width: 960, height: 480, ratio: 3 });
  });

  it("takes points relative to the drawing area", () => {
    assert.deepEqual(pointIn({ clientX: 110, clientY: 60 }, { left: 100, top: 50 }), { x: 10, y: 10 });
  });

  it("draws lines through scaled points, and a dot for a tap", () => {
    const ctx = new FakeContext();
    draw(ctx, [[{ x: 1, y: 1 }, { x: 2, y: 2 }, { x: 3, y: 3 }], [{ x: 5, y: 5 }]], { scale: 2 });
    assert.deepEqual(ctx.calls[1], ["moveTo", 2, 2]);
    assert.deepEqual(ctx.calls[2], ["quad", 4, 4, 5, 5]);
    assert.deepEqual(ctx.calls[3], ["lineTo", 6, 6]);
    assert.equal(ctx.calls.filter((c) => c[0] === "arc").length, 1);
    assert.equal(ctx.lineWidth, 5);
  });
});

describe("the export", () => {
  it("is null without enough ink", () => {
    const made = [];
    assert.equal(exportPng(new Strokes(), fakeCanvas(made)), null);
    assert.equal(made.length, 0);
  });

  it("is a PNG data URL cropped to the ink with a margin", () => {
    const s = new Strokes();
    zigzag(s, 100, 100);
    const made = [];
    const url = exportPng(s, fakeCanvas(made));
    assert.match(url, /^data:image\/png;base64,/);
    assert.equal(made[0].width, (100 + 16) * 2);
    assert.equal(made[0].height, (20 + 16) * 2);
    // The first point lands at the margin, not at 100 px.
    assert.deepEqual(made[0].ctx.calls[1], ["moveTo", 16, 16]);
  });

  it("fits a wide drawing into the largest image the server takes", () => {
    const s = new Strokes();
    s.begin(0, 0);
    s.extend(3000, 10);
    s.end();
    const made = [];
    exportPng(s, fakeCanvas(made));
    assert.ok(made[0].width <= EXPORT_MAX.width && made[0].height <= EXPORT_MAX.height);
  });

  it("measures a data URL's bytes", () => {
    assert.equal(dataUrlBytes("data:image/png;base64,AAAA"), 3);
    assert.equal(dataUrlBytes("data:image/png;base64,AAA="), 2);
  });
});
