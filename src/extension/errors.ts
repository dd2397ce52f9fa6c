/**
 * Errors become notifications with an action that helps (select a model, change the provider, open
 * settings, show the log), never a stack trace: the details go to the log channel.
 */
export { actionsFor, notificationText } from './error-actions';
import * as vscode from 'vscode';
import { actionsFor, notificationText } from './error-actions';
import { isEngineError } from '../engine/errors';

export async function reportError(e: unknown, log: vscode.LogOutputChannel, context: string): Promise<void> {
  const { code, text } = notificationText(e);
  if (code === 'CANCELLED') {
    log.info(`${context}: cancelled`);
    return;
  }
  // An expected refusal (a bad model folder, an empty prompt) is one line; only an internal error, a bug,
  // earns its stack trace in the log.
  if (isEngineError(e) && code !== 'INTERNAL') log.warn(`${context}: [${code}] ${text}`);
  else log.error(`${context}: [${code}] ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  const actions = actionsFor(code);
  const pick = await vscode.window.showErrorMessage(`Circuit Inspector: ${text}`, ...actions.map((a) => a.title));
  const action = actions.find((a) => a.title === pick);
  if (action) await vscode.commands.executeCommand(action.command, ...(action.args ?? []));
}
