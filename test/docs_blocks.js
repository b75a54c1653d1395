'use strict';
// Reading the documentation as test/docs.test.js checks it: the fenced code blocks of a Markdown file with what
// marks them (language tag, the HTML comment right before), and its relative links with the headings they point to.

// What a block's language tag says about it: run it (and how), check it, or show it.
const RUN = new Set(['js', 'cjs', 'mjs', 'ts']);
const SHELL = new Set(['sh']);
const SHOWN = new Set(['console', 'text']);

// `<!-- no-run: reason -->` (a block that must not run, and why) or `<!-- file: name.js -->` (a file the other
// blocks of the same page load, e.g. a worker's module: written beside them, not run on its own).
const MARKER = /^<!--\s*(no-run|file)\s*:\s*(.*?)\s*-->$/;

/** Every fenced block of `text` (Markdown), in order: { line, lang, code, marker, reason/file } or { line, error }. */
function codeBlocks(text) {
  const lines = text.split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, info] = open;
    const start = i;
    const body = [];
    for (i++; i < lines.length && !(lines[i].startsWith(indent + fence) && lines[i].trim() === fence); i++) {
      body.push(lines[i].startsWith(indent) ? lines[i].slice(indent.length) : lines[i]);
    }
    const block = { line: start + 1, lang: info.trim().split(/\s+/)[0] || '', code: body.join('\n') + '\n' };
    let previous = start - 1;
    while (previous >= 0 && lines[previous].trim() === '') previous--;
    const marker = previous >= 0 ? MARKER.exec(lines[previous].trim()) : null;
    if (marker) {
      block.marker = marker[1];
      if (marker[1] === 'no-run') block.reason = marker[2];
      else block.file = marker[2];
    }
    if (i >= lines.length) block.error = 'the block is never closed';
    else if (!block.lang) block.error = 'a block needs a language tag (js, mjs, ts, sh, console or text)';
    else if (!RUN.has(block.lang) && !SHELL.has(block.lang) && !SHOWN.has(block.lang)) {
      block.error = `unknown language tag "${block.lang}" (js, cjs, mjs, ts, sh, console or text)`;
    } else if (block.marker === 'no-run' && !block.reason) block.error = 'a no-run marker needs its reason';
    else if (block.marker === 'file' && !/^[\w.-]+\.(c?js|mjs)$/.test(block.file)) {
      block.error = `a file marker names a .js, .cjs or .mjs file in the page's directory, not "${block.file}"`;
    } else if (block.marker && !RUN.has(block.lang)) block.error = `a ${block.marker} marker on a ${block.lang} block`;
    blocks.push(block);
  }
  return blocks;
}

/** GitHub's anchors for the headings of `text` (github-slugger: duplicates get -1, -2, …). */
function anchors(text) {
  const seen = new Map();
  const result = new Set();
  let inFence = false;
  for (const line of text.split('\n')) {
    if (/^\s*(`{3,}|~{3,})/.test(line)) inFence = !inFence;
    const heading = !inFence && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const slug = heading[1]
      .replace(/<[^>]*>/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) || 0;
    seen.set(slug, count + 1);
    result.add(count ? `${slug}-${count}` : slug);
  }
  return result;
}

/** The relative links of `text` outside code: { line, target } (absolute URLs and mailto: are not ours to check). */
function relativeLinks(text) {
  const links = [];
  let inFence = false;
  text.split('\n').forEach((line, index) => {
    if (/^\s*(`{3,}|~{3,})/.test(line)) { inFence = !inFence; return; }
    if (inFence) return;
    const prose = line.replace(/`[^`]*`/g, '');
    for (const match of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      if (!/^[a-z][a-z0-9+.-]*:/i.test(match[1])) links.push({ line: index + 1, target: match[1] });
    }
  });
  return links;
}

/** The npm scripts a shell block runs: `npm run X`, `npm start`, `npm test` (and `npm run-script X`). */
function npmScripts(code) {
  const names = [];
  for (const match of code.matchAll(/\bnpm\s+(?:run(?:-script)?\s+([\w:.-]+)|(start|test|stop|restart)\b)/g)) {
    names.push(match[1] || match[2]);
  }
  return names;
}

module.exports = { codeBlocks, anchors, relativeLinks, npmScripts, RUN, SHELL, SHOWN };
