// Annotations of a screenshot: arrow, rectangle, text and blur. Shapes are kept in image pixels
// (the screenshot's own resolution) and drawn into the PNG that is uploaded; blur replaces the
// area's pixels by coarse blocks, so what was under it cannot be read back from the file.

export const BLUR_BLOCK = 12;
export const STROKE = "#e8392b";

// From a point on the displayed canvas (CSS pixels) to image pixels.
export function toImagePoint(point, displayed, image) {
  return {
    x: clamp(Math.round((point.x * image.width) / displayed.width), 0, image.width),
    y: clamp(Math.round((point.y * image.height) / displayed.height), 0, image.height),
  };
}

export function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

// A rectangle from two corners dragged in any direction.
export function rectFrom(a, b) {
  return { x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(a.x - b.x), h: Math.abs(a.y - b.y) };
}

// The two barbs of an arrow pointing from (x1, y1) to (x2, y2).
export function arrowHead(x1, y1, x2, y2, size = 18, spread = Math.PI / 7) {
  const angle = Math.atan2(y2 - y1, x2 - x1);
  return [
    { x: x2 - size * Math.cos(angle - spread), y: y2 - size * Math.sin(angle - spread) },
    { x: x2 - size * Math.cos(angle + spread), y: y2 - size * Math.sin(angle + spread) },
  ];
}

// Pixelates `rect` of an ImageData-like {data, width, height} in place: each block takes its
// mean colour.
export function pixelate(image, rect, block = BLUR_BLOCK) {
  const x0 = clamp(Math.floor(rect.x), 0, image.width);
  const y0 = clamp(Math.floor(rect.y), 0, image.height);
  const x1 = clamp(Math.ceil(rect.x + rect.w), 0, image.width);
  const y1 = clamp(Math.ceil(rect.y + rect.h), 0, image.height);
  for (let by = y0; by < y1; by += block) {
    for (let bx = x0; bx < x1; bx += block) {
      const ex = Math.min(bx + block, x1);
      const ey = Math.min(by + block, y1);
      const sum = [0, 0, 0, 0];
      for (let y = by; y < ey; y += 1) {
        for (let x = bx; x < ex; x += 1) {
          const i = (y * image.width + x) * 4;
          for (let c = 0; c < 4; c += 1) sum[c] += image.data[i + c];
        }
      }
      const count = (ex - bx) * (ey - by);
      for (let y = by; y < ey; y += 1) {
        for (let x = bx; x < ex; x += 1) {
          const i = (y * image.width + x) * 4;
          for (let c = 0; c < 4; c += 1) image.data[i + c] = Math.round(sum[c] / count);
        }
      }
    }
  }
  return image;
}

// Draws the screenshot and its shapes on a 2D context of the image's size. Blurs first, so a
// rectangle or an arrow drawn over a blurred area stays sharp.
export function render(ctx, image, shapes) {
  ctx.drawImage(image, 0, 0);
  for (const shape of shapes.filter((s) => s.type === "blur")) {
    const r = shape.rect;
    if (r.w < 1 || r.h < 1) continue;
    const data = ctx.getImageData(r.x, r.y, r.w, r.h);
    pixelate(data, { x: 0, y: 0, w: r.w, h: r.h });
    ctx.putImageData(data, r.x, r.y);
  }
  ctx.strokeStyle = STROKE;
  ctx.fillStyle = STROKE;
  ctx.lineWidth = 4;
  ctx.lineCap = "round";
  for (const shape of shapes) {
    if (shape.type === "rect") {
      ctx.strokeRect(shape.rect.x, shape.rect.y, shape.rect.w, shape.rect.h);
    } else if (shape.type === "arrow") {
      const { x1, y1, x2, y2 } = shape;
      ctx.beginPath();
      ctx.moveTo(x1, y1);
      ctx.lineTo(x2, y2);
      const [a, b] = arrowHead(x1, y1, x2, y2);
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(x2, y2);
      ctx.lineTo(b.x, b.y);
      ctx.stroke();
    } else if (shape.type === "text") {
      ctx.font = "bold 28px sans-serif";
      ctx.textBaseline = "top";
      ctx.lineWidth = 6;
      ctx.strokeStyle = "#ffffff";
      ctx.strokeText(shape.text, shape.x, shape.y);
      ctx.fillText(shape.text, shape.x, shape.y);
      ctx.strokeStyle = STROKE;
      ctx.lineWidth = 4;
    }
  }
}
