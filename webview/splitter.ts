/**
 * The drag bar between the graph and the details pane. The pane has a fixed height (its content
 * scrolls), so clicking a node never changes the graph's size; dragging the bar, or Arrow Up / Down on
 * it, sets that height.
 */
const STEP = 24;

export function attachSplitter(bar: HTMLElement, graph: HTMLElement, pane: HTMLElement, minGraph = 120, minPane = 40): void {
  const set = (h: number) => {
    const room = graph.getBoundingClientRect().height + pane.getBoundingClientRect().height;
    const px = Math.round(Math.max(minPane, Math.min(h, room - minGraph)));
    pane.style.height = `${px}px`;
    bar.setAttribute('aria-valuenow', String(px));
  };
  bar.addEventListener('pointerdown', (ev) => {
    ev.preventDefault();
    bar.setPointerCapture(ev.pointerId);
    // The pane's bottom stays where it is: its height is the distance from the pointer to that bottom.
    const bottom = pane.getBoundingClientRect().bottom;
    const move = (e: PointerEvent) => set(bottom - e.clientY);
    const up = () => {
      bar.removeEventListener('pointermove', move);
      bar.removeEventListener('pointerup', up);
      bar.removeEventListener('pointercancel', up);
    };
    bar.addEventListener('pointermove', move);
    bar.addEventListener('pointerup', up);
    bar.addEventListener('pointercancel', up);
  });
  bar.addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowUp' && ev.key !== 'ArrowDown') return;
    ev.preventDefault();
    set(pane.getBoundingClientRect().height + (ev.key === 'ArrowUp' ? STEP : -STEP));
  });
}
