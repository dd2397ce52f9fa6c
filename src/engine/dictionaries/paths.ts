/**
 * Resolving the file paths a dictionary config names. They must stay inside the dictionary's folder:
 * a config from the internet must not make us read /etc/passwd or a file beside the folder, whether by
 * an absolute path, `..`, or a symlink pointing out. Hugging Face URIs (`hf://…`, as circuit-tracer's
 * published configs use) are not downloaded: the user downloads them and points at the local copy.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import { EngineError } from '../errors';

function invalid(msg: string, hint?: string): never {
  throw new EngineError('DICTIONARY_INVALID', msg, hint);
}

/** The real path of `rel` inside `root`, or a DICTIONARY_INVALID error saying why not. */
export function resolveInside(root: string, rel: string, what: string): string {
  if (typeof rel !== 'string' || rel.length === 0) invalid(`${what}: the file path is empty.`);
  if (/^hf:\/\//i.test(rel)) {
    invalid(
      `${what} refers to ${rel}, a Hugging Face URI; Circuit Inspector does not download files.`,
      'Download it (e.g. `huggingface-cli download <repo> <file> --local-dir <this folder>`) and change the path in config.yaml to the local copy, relative to the config\'s folder.',
    );
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(rel) && !/^[a-z]:[\\/]/i.test(rel)) invalid(`${what} refers to ${rel}, a URL; only files inside the dictionary folder can be used.`);
  if (isAbsolute(rel) || /^[a-z]:/i.test(rel) || rel.startsWith('\\') || rel.startsWith('/')) {
    invalid(`${what} is the absolute path ${rel}; paths in a dictionary config must be relative to its folder.`, 'Copy or link the file into the dictionary folder and name it relative to config.yaml.');
  }
  const parts = rel.split(/[\\/]+/);
  if (parts.includes('..')) invalid(`${what} (${rel}) leaves the dictionary folder with "..".`, 'Put the file inside the dictionary folder.');
  const full = join(root, normalize(rel));
  if (!existsSync(full)) invalid(`${what}: ${rel} does not exist in ${root}.`);
  const realRoot = realpathSync(root);
  const real = realpathSync(full);
  const back = relative(realRoot, real);
  if (back === '' || isAbsolute(back) || back.split(sep)[0] === '..') {
    invalid(`${what}: ${rel} is a link to ${real}, outside the dictionary folder ${realRoot}.`, 'Copy the file into the dictionary folder instead of linking to it.');
  }
  if (!statSync(real).isFile()) invalid(`${what}: ${rel} is not a file.`);
  return real;
}
