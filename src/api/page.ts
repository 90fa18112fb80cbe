/**
 * The inspection page at `/`: a static HTML shell, one plain script and one stylesheet from
 * src/api/ui/, served by mapek itself (no build step, no CDN). The script reads the inspection
 * API with the page's own credentials and writes every text with textContent, never as HTML.
 */
import { readFileSync } from 'node:fs';

/** Headers for the page and its assets: nothing inline runs, nothing but this origin is reached. */
export const UI_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** The assets under /ui/ (a fixed list: request paths never reach the file system). */
const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

const cache = new Map<string, string>();

function read(file: string): string {
  let text = cache.get(file);
  if (text === undefined) {
    text = readFileSync(new URL(`./ui/${file}`, import.meta.url), 'utf8');
    cache.set(file, text);
  }
  return text;
}

/** The HTML shell of the page; the incidents are fetched by the script. */
export function renderIndexPage(): string {
  return read('index.html');
}

/** One asset of the page by file name (`app.js`, `style.css`), or null. */
export function uiAsset(name: string): { body: string; type: string } | null {
  const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  return type ? { body: read(name), type } : null;
}
