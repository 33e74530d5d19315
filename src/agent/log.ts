// Structured logs: one JSON object per line on stdout, with a level threshold.

export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

export function jsonLogger(level: Level, write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  const threshold = LEVELS.indexOf(level);
  const log = (at: Level) => (msg: string, fields: Fields = {}) => {
    if (LEVELS.indexOf(at) < threshold) return;
    write(`${JSON.stringify({ ts: new Date().toISOString(), level: at, msg, ...fields })}\n`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** For tests: keeps entries in memory. */
export function memoryLogger(): Logger & { entries: (Fields & { level: Level; msg: string })[] } {
  const entries: (Fields & { level: Level; msg: string })[] = [];
  const log = (level: Level) => (msg: string, fields: Fields = {}) => void entries.push({ level, msg, ...fields });
  return { entries, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}
