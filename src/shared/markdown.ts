/**
 * Escaping for hover Markdown. Labels come from model files and graph files: every character Markdown
 * (or a table) could interpret is backslash-escaped, and line breaks become spaces, so a label can
 * neither inject links / commands nor break the table it sits in.
 */
export function escapeMarkdown(s: string): string {
  return s
    .replace(/[\r\n]+/g, ' ')
    .replace(/[\\`*_{}[\]()#+\-.!|<>~&"':$=]/g, (c) => `\\${c}`);
}

/** A token shown inline: quotes around it, whitespace made visible. */
export function tokenMarkdown(tok: string): string {
  return escapeMarkdown(JSON.stringify(tok).slice(1, -1));
}
