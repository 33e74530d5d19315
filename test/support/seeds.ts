// The YAML examples of the seed pages, extracted from the pages' own text (fenced blocks, or the
// rendered page's "yaml" marker lines followed by an indented block).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SEEDS } from './paths.js';

export interface SeedSnippet {
  readonly file: string;
  readonly index: number;
  readonly text: string;
}

export function seedSnippets(): SeedSnippet[] {
  const out: SeedSnippet[] = [];
  for (const file of readdirSync(SEEDS).sort()) {
    const page = readFileSync(join(SEEDS, file), 'utf8');
    const blocks: string[] = [];
    for (const m of page.matchAll(/```(?:yaml)?\n([\s\S]*?)```/g)) blocks.push(m[1]!);
    if (blocks.length === 0) {
      const lines = page.split('\n');
      for (let i = 0; i < lines.length; i++) {
        if (lines[i]!.trim() !== 'yaml') continue;
        const block: string[] = [];
        for (i++; i < lines.length && lines[i]!.trim() !== ''; i++) block.push(lines[i]!);
        blocks.push(block.join('\n'));
      }
    }
    blocks.forEach((text, index) => out.push({ file, index, text }));
  }
  return out;
}
