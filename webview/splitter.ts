/**
 * The drag bar between the graph and the details pane. The pane is as tall as its content up to a cap
 * (42% of the panel by default, see webview.css); dragging the bar, or Arrow Up / Down on it, moves that
 * cap, so in a short or narrow side panel the user chooses between more graph and more card.
 */
const STEP = 24;

export function attachSplitter(bar: HTMLElement, graph: HTMLElement, pane: HTMLElement, minGraph = 80, minPane = 40): void {
  // The graph keeps at least minGraph pixels between its top and the bar.
  const limit = (h: number) => Math.max(minPane, Math.min(h, pane.getBoundingClientRect().bottom - graph.getBoundingClientRect().top - minGraph - bar.offsetHeight));
  const setCap = (h: number) => {
    const cap = Math.round(limit(h));
    pane.style.maxHeight = `${cap}px`;
    bar.setAttribute('aria-valuenow', String(cap));
  };
  bar.addEventListener('pointerdown', (ev) => {
    ev.preventDefault();
    bar.setPointerCapture(ev.pointerId);
    // The pane's bottom stays where it is: its cap is the distance from the pointer to that bottom.
    const bottom = pane.getBoundingClientRect().bottom;
    const move = (e: PointerEvent) => setCap(bottom - e.clientY);
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
    // From what is shown now (the content may be shorter than the cap).
    const shown = pane.getBoundingClientRect().height;
    setCap(shown + (ev.key === 'ArrowUp' ? STEP : -STEP));
  });
}
