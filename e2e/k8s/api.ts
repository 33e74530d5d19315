// The test harness's client for the sandbox's real kube-apiserver, with the static admin token. The API
// server listens in the control plane's network namespace, which the harness (in the root namespace)
// cannot route to; a relay there (relay.ts) forwards a Unix socket to it, and TLS runs end to end over
// that socket, verified against the sandbox CA with the name `kubernetes`. Test tool.
import { Agent, fetch } from 'undici';

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export type ApiObject = { metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> } } & Record<string, unknown>;

/** Server-side apply, as `kubectl apply --server-side` writes: the manager owns what it lists. */
const APPLY = 'application/apply-patch+yaml';

export class KubeApi {
  private readonly dispatcher: Agent;

  constructor(
    socketPath: string,
    ca: string,
    private readonly token: string,
  ) {
    this.dispatcher = new Agent({ connect: { socketPath, ca, servername: 'kubernetes' } });
  }

  async request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<ApiObject> {
    const response = await fetch(`https://kubernetes${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': contentType } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      dispatcher: this.dispatcher,
    });
    const text = await response.text();
    let parsed: ApiObject = {};
    try {
      parsed = text ? (JSON.parse(text) as ApiObject) : {};
    } catch {
      parsed = { message: text };
    }
    if (!response.ok) throw new KubeApiError(response.status, String(parsed.reason ?? ''), `${method} ${path}: HTTP ${response.status} ${String(parsed.message ?? text).slice(0, 300)}`);
    return parsed;
  }

  /** Server-side apply of `object` at `path` (the object's own URL, or its /status). */
  apply(path: string, object: unknown, fieldManager = 'nftpol-e2e'): Promise<ApiObject> {
    return this.request('PATCH', `${path}?fieldManager=${fieldManager}&force=true`, object, APPLY);
  }

  /** GET that answers null for 404. */
  async get(path: string): Promise<ApiObject | null> {
    try {
      return await this.request('GET', path);
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return null;
      throw error;
    }
  }

  /** DELETE that answers null for 404 (already gone). */
  async delete(path: string, options: Record<string, unknown> = {}): Promise<ApiObject | null> {
    try {
      return await this.request('DELETE', path, { apiVersion: 'v1', kind: 'DeleteOptions', ...options });
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return null;
      throw error;
    }
  }

  /** Plain-text health endpoints (/readyz): true when they answer 200. */
  async healthy(path: string): Promise<boolean> {
    try {
      const response = await fetch(`https://kubernetes${path}`, { headers: { authorization: `Bearer ${this.token}` }, dispatcher: this.dispatcher });
      await response.text();
      return response.ok;
    } catch {
      return false;
    }
  }

  /**
   * A watch's events, one callback each, until `stop()` (or the server ends it). Used to learn the
   * resourceVersion of a deletion: a NetworkPolicy DELETE answers with a Status that carries none.
   */
  watch(path: string, resourceVersion: string, onEvent: (type: string, object: ApiObject) => void): { stop: () => void; ended: Promise<void> } {
    const controller = new AbortController();
    const ended = (async () => {
      const separator = path.includes('?') ? '&' : '?';
      const response = await fetch(`https://kubernetes${path}${separator}watch=true&resourceVersion=${resourceVersion}&allowWatchBookmarks=true`, {
        headers: { authorization: `Bearer ${this.token}` },
        dispatcher: this.dispatcher,
        signal: controller.signal,
      });
      if (!response.ok || !response.body) throw new KubeApiError(response.status, '', `watch ${path}: HTTP ${response.status}`);
      let buffered = '';
      const decoder = new TextDecoder();
      for await (const chunk of response.body) {
        buffered += decoder.decode(chunk as Uint8Array, { stream: true });
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.trim()) {
            const event = JSON.parse(line) as { type: string; object: ApiObject };
            onEvent(event.type, event.object);
          }
        }
      }
    })().catch((error: unknown) => {
      if (!controller.signal.aborted) throw error;
    });
    return { stop: () => controller.abort(), ended };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
