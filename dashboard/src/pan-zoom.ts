import { useCallback, useRef, useState } from "preact/hooks";

/** A view transform: content point p shows at p * scale + (x, y). */
export interface View {
  readonly x: number;
  readonly y: number;
  readonly scale: number;
}

const MIN_SCALE = 0.05;
const MAX_SCALE = 4;
const clamp = (scale: number) => Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));

/** The view that shows a `width` x `height` drawing whole in a `boxWidth` x `boxHeight` box. */
export function fitView(width: number, height: number, boxWidth: number, boxHeight: number): View {
  const scale = clamp(Math.min(boxWidth / Math.max(width, 1), boxHeight / Math.max(height, 1), 1));
  return { scale, x: (boxWidth - width * scale) / 2, y: (boxHeight - height * scale) / 2 };
}

/** Drag to pan, wheel to zoom around the pointer, and buttons' zoom around the centre. */
export function usePanZoom(initial: View) {
  const [view, setView] = useState(initial);
  const drag = useRef<{ startX: number; startY: number; view: View; moved: boolean } | undefined>(undefined);
  const zoomAt = useCallback((factor: number, px: number, py: number) => {
    setView((v) => {
      const scale = clamp(v.scale * factor);
      const k = scale / v.scale;
      return { scale, x: px - (px - v.x) * k, y: py - (py - v.y) * k };
    });
  }, []);
  const handlers = {
    onPointerDown(event: PointerEvent) {
      if (event.button !== 0) return;
      drag.current = { startX: event.clientX, startY: event.clientY, view, moved: false };
    },
    onPointerMove(event: PointerEvent) {
      const d = drag.current;
      if (d === undefined) return;
      const dx = event.clientX - d.startX;
      const dy = event.clientY - d.startY;
      if (!d.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      if (!d.moved) (event.currentTarget as Element).setPointerCapture(event.pointerId);
      d.moved = true;
      setView({ ...d.view, x: d.view.x + dx, y: d.view.y + dy });
    },
    onPointerUp() {
      drag.current = undefined;
    },
    onWheel(event: WheelEvent) {
      event.preventDefault();
      const box = (event.currentTarget as Element).getBoundingClientRect();
      zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - box.left, event.clientY - box.top);
    },
  };
  return { view, setView, zoomAt, handlers };
}
