// What `npm start` opens, shared with the first-run end-to-end scenario (test/e2e/first-run.e2e.test.ts)
// so the test sees what a newcomer sees:
// - a workspace of its own outside the source tree: a copy of examples/ made once, so the prompts a
//   newcomer edits and the graphs Save Graph writes never land in the repository;
// - user settings for a clean first screen: no Welcome page, no Chat panel, no tips, no telemetry or
//   update checks (workspace trust is off by code-server's --disable-workspace-trust: the workspace is
//   the user's own copy, so no Restricted Mode banner either).
import { cpSync, existsSync, lstatSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const EXAMPLES = join(root, 'examples');

export const START_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.tips.enabled': false,
  'chat.disableAIFeatures': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
};

/** code-server flags for the same first screen. */
export const START_FLAGS = ['--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override'];

/**
 * The workspace `npm start` opens: `dir` (created from examples/ the first time; later runs keep the
 * user's edits and saved graphs). Beside it, a link to the repository's models/, so the examples'
 * relative model paths (`../models/compiled/two-hop`) lead where they do from examples/. Returns `dir`.
 */
export function prepareStartWorkspace(dir) {
  if (!existsSync(dir)) {
    mkdirSync(dirname(dir), { recursive: true });
    cpSync(EXAMPLES, dir, { recursive: true });
  }
  const models = join(dirname(dir), 'models');
  let present = true;
  try {
    lstatSync(models);
  } catch {
    present = false;
  }
  if (!present) symlinkSync(join(root, 'models'), models, 'dir');
  return dir;
}
