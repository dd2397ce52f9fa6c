/** The engine's progress events as a VS Code progress notification's increments. */
import type * as vscode from 'vscode';
import type { Progress } from '../shared/rpc';

/**
 * A handler that turns the engine's stage and fraction into the notification's message and bar: the
 * bar only moves forward (a later stage may report a smaller fraction), and stays within 100 %.
 */
export function progressReporter(progress: vscode.Progress<{ message?: string; increment?: number }>): (p: Progress) => void {
  let done = 0;
  return (p) => {
    const f = p.fraction !== undefined ? Math.max(done, Math.min(1, p.fraction)) : done;
    progress.report({ message: p.stage, increment: (f - done) * 100 });
    done = f;
  };
}
