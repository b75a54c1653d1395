/**
 * A throwaway redis-server for `npm start -- --redis`, the tests and the benchmarks: a free loopback port, a
 * temporary directory (append-only file, fsynced on every write by default, so a restart loses nothing
 * acknowledged), stopped by its pid. It runs under a small shell that kills it and removes its directory when this
 * process goes away, even by SIGKILL (the shell's stdin is a pipe from us): nothing outlives the process that
 * started it.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

/** The redis-server to run (MULTIPROC_REDIS_SERVER, else the one on PATH), or null with the reason. */
export function findRedisServer(): { path: string | null; why: string } {
  const named = process.env.MULTIPROC_REDIS_SERVER;
  if (named) {
    try {
      fs.accessSync(named, fs.constants.X_OK);
      return { path: named, why: '' };
    } catch {
      return { path: null, why: `MULTIPROC_REDIS_SERVER=${named} is not an executable` };
    }
  }
  try {
    const found = execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
    if (found) return { path: found, why: '' };
  } catch {
    // not found
  }
  return { path: null, why: 'redis-server is not installed (Debian: apt-get install redis-server)' };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** TLS files for a server that accepts only TLS (`--tls-port`); clients need not show a certificate. */
export interface RedisTlsFiles {
  cert: string;
  key: string;
  ca: string;
}

function ping(port: number, tlsFiles?: RedisTlsFiles): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsFiles
      ? tls.connect({ port, host: '127.0.0.1', ca: fs.readFileSync(tlsFiles.ca), servername: 'localhost' })
      : net.connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(1000, () => { socket.destroy(); resolve(false); });
    socket.on('error', () => resolve(false));
    socket.on(tlsFiles ? 'secureConnect' : 'connect', () => socket.write('PING\r\n'));
    // A server that wants a password answers NOAUTH: it is up all the same.
    socket.on('data', (d) => {
      reply += d.toString();
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
      }
    });
  });
}

/** Runs the server; when told `keep` (a restart) or when its stdin closes, kills it, and then (not `keep`) removes its directory. */
const WATCHER = '"$0" "$@" & echo $!; read line; kill $! 2>/dev/null; wait; [ "$line" = keep ] || rm -rf "$MP_REDIS_DIR"';

export class RedisServer {
  readonly dir: string;
  readonly #binary: string;
  port = 0;
  pid = 0;
  #watcher: ReturnType<typeof spawn> | undefined;

  readonly #password: string | undefined;
  readonly #fsync: string;
  readonly #tls: RedisTlsFiles | undefined;

  private constructor(binary: string, dir: string, options: { password?: string; fsync?: string; tls?: RedisTlsFiles }) {
    this.#binary = binary;
    this.dir = dir;
    this.#password = options.password;
    this.#fsync = options.fsync ?? 'always';
    this.#tls = options.tls;
  }

  /**
   * Starts a server (`password`: clients must authenticate; `fsync`: 'everysec', Redis's usual setting, for
   * benchmarks, where 'always' would measure the disk; `tls`: TLS only); rejects with the reason when redis-server
   * is not installed or does not come up.
   */
  static async start(options: { password?: string; fsync?: 'always' | 'everysec'; tls?: RedisTlsFiles } = {}): Promise<RedisServer> {
    const found = findRedisServer();
    if (!found.path) throw new Error(found.why);
    const server = new RedisServer(found.path, fs.mkdtempSync(path.join(os.tmpdir(), 'mp-redis-')), options);
    server.port = await freePort();
    await server.#launch();
    return server;
  }

  get url(): string {
    return `${this.#tls ? 'rediss' : 'redis'}://127.0.0.1:${this.port}`;
  }

  async #launch(): Promise<void> {
    const t = this.#tls;
    const listen = t ? ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', t.cert, '--tls-key-file', t.key,
      '--tls-ca-cert-file', t.ca, '--tls-auth-clients', 'no'] : ['--port', String(this.port)];
    const args = [...listen, '--bind', '127.0.0.1', '--dir', this.dir, '--save', '',
      '--appendonly', 'yes', '--appendfsync', this.#fsync, '--logfile', path.join(this.dir, 'redis.log'),
      ...(this.#password ? ['--requirepass', this.#password] : [])];
    const watcher = spawn('sh', ['-c', WATCHER, this.#binary, ...args],
      { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, MP_REDIS_DIR: this.dir } });
    this.#watcher = watcher;
    this.pid = await new Promise<number>((resolve, reject) => {
      watcher.once('error', reject);
      watcher.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    });
    watcher.unref();
    (watcher.stdin as net.Socket).unref();
    (watcher.stdout as net.Socket).unref();
    for (let i = 0; i < 200; i++) {
      if (await ping(this.port, this.#tls)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`redis-server did not answer on port ${this.port}: ${this.#log()}`);
  }

  #log(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'redis.log'), 'utf8').split('\n').slice(-5).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Kills the server at once (SIGKILL) and waits until it is gone (its directory stays, for a restart). */
  async kill(keep = true): Promise<void> {
    if (!this.pid) return;
    const watcher = this.#watcher!;
    const exited = new Promise((resolve) => watcher.once('exit', resolve));
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    this.pid = 0;
    watcher.stdin!.end(keep ? 'keep\n' : ''); // the watching shell goes on from its `read` and exits
    await exited;
  }

  /** Starts it again on the same port and directory: what it had written to its append-only file is back. */
  async restart(): Promise<void> {
    await this.kill();
    await this.#launch();
  }

  pause(): void {
    process.kill(this.pid, 'SIGSTOP');
  }

  resume(): void {
    process.kill(this.pid, 'SIGCONT');
  }

  /** Stops the server and removes its directory. */
  async stop(): Promise<void> {
    if (this.pid) {
      try {
        process.kill(this.pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
    await this.kill(false);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
